//! `berth build`: Dockerfiles into OCI images, with BuildKit's semantics.
//!
//! The pipeline: [`parser`] turns text into positioned instructions, [`instructions`] types
//! and checks them, [`plan`] splits stages and orders the ones the target needs, [`context`]
//! reads the build context in place through `.dockerignore`, and [`exec`] runs each step —
//! RUN in a container through berth's own runtime over an overlay of the parent's layers, the
//! overlay's upper directory becoming the step's layer; COPY/ADD into a staging directory that
//! becomes a layer; the rest editing the image config — consulting the persistent [`cache`]
//! (keyed by the parent step, the expanded instruction, the ARGs in scope and the content of
//! the files copied) so an unchanged step is never executed twice.

pub mod cache;
pub mod context;
pub mod exec;
pub mod instructions;
pub mod parser;
pub mod plan;

pub use exec::{BuildOptions, BuildOutput};
