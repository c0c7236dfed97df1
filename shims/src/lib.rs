//! berth's runtimes and the per-container supervisor (the shim).
//!
//! This crate knows OCI runtime bundles (a `config.json` and a rootfs) and nothing of images,
//! registries or networks: the engine prepares a bundle, this crate runs it.
