//! `berth compose`: multi-service applications from one compose file, as Docker Compose v2
//! runs them, over berth's engine (native and wasm services alike).
//!
//! Two halves, as compose-go and Compose v2 split them. [`load`] turns the files on disk into
//! one resolved model: it finds the files, parses the YAML (anchors, merge keys, `x-`
//! extensions), interpolates `${VAR}` from the environment and `.env`, merges several `-f`
//! files by the compose-spec rules, follows `extends` and `include`, applies profiles and
//! normalises every short form to its long form, so the tree it returns is what `compose
//! config` prints. [`model`] reads that tree into typed services, networks and volumes, and
//! [`project`] converges the engine's containers, networks and volumes on it (`up`, `down`,
//! `ps`, `logs` and the rest): names, labels and config hashes as Compose v2 writes them, so
//! `berth ps --filter label=com.docker.compose.project=…` finds a project's containers.
//! No compose logic lives in the CLI.

#![forbid(unsafe_code)]

mod error;
pub mod load;
pub mod model;
pub mod project;

pub use error::{Error, Result};
