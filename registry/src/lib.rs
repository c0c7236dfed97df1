//! berth's side of the OCI distribution protocol: the client, pull and push, and the
//! embedded registry server.
//!
//! [`client`] speaks the distribution API (anonymous, Basic and Bearer auth from
//! [`auth`], Docker's `config.json` credentials, insecure registries, stall deadlines);
//! [`pull`] and [`push`] move images between a registry and a [`berth_store::Store`], several
//! blobs at a time, with Docker's progress lines ([`progress`]); [`sources`] remembers where
//! blobs came from so a push can mount instead of upload; [`server`] is `berth registry serve`,
//! a distribution-spec registry over its own storage. Nothing here runs containers.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod error;
pub mod progress;
pub mod pull;
pub mod push;
pub mod server;
pub mod sources;

pub use client::{RegistryClient, Repo};
pub use error::{Error, Result};
pub use progress::Progress;
pub use pull::{pull, registry_client, PullOptions};
pub use push::{push, PushOptions};

// The OCI vocabulary, by the short names the modules use.
use berth_oci::{media, Digest, Reference};
