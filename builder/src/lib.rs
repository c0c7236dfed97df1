//! berth's Dockerfile builder: `berth build`'s Dockerfiles into OCI images, with BuildKit's
//! semantics, and `import --change`'s instructions onto an image config.
//!
//! A crate of its own so that the Dockerfile language has one interpreter, testable without
//! containers: it reads and writes images through [`berth_store`] and runs nothing itself. A
//! RUN step goes through the [`StepRunner`] trait, which the engine implements with a real
//! container (overlay snapshot, network sandbox, berth's runtime) and the tests with a fake;
//! a base image the store lacks comes from a pull callback the caller supplies.
//!
//! The pipeline: [`parser`] turns text into positioned instructions, [`instructions`] types
//! and checks them, [`plan`] splits stages and orders the ones the target needs, [`context`]
//! reads the build context in place through `.dockerignore`, and [`exec`] runs each step —
//! RUN through the [`StepRunner`] over the parent's layers, the step's upper directory
//! becoming its layer; COPY/ADD into a staging directory that becomes a layer; the rest
//! editing the image config — consulting the persistent [`cache`] (keyed by the parent step,
//! the expanded instruction, the ARGs in scope and the content of the files copied) so an
//! unchanged step is never executed twice. [`apply_changes`] applies the config-editing
//! instructions alone, with the same code, for `import --change`.

#![forbid(unsafe_code)]

pub mod cache;
pub mod context;
pub mod error;
pub mod exec;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod step;

pub use error::{Error, Result};
pub use exec::{apply_changes, build, BuildOptions, BuildOutput, Host, Puller};
pub use step::{MountKind, Network, RunMount, RunOutcome, RunStep, StepRunner};

use berth_oci::Digest;
