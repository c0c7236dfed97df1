//! The OCI distribution protocol: berth's client (pull, push, auth) and its embedded server.

pub mod auth;
pub mod client;
pub mod server;
pub mod sources;

pub use client::{RegistryClient, Repo};
