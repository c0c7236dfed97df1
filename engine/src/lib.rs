//! berth's engine: everything berth knows how to do, as a library.
//!
//! The CLI is a thin layer over [`Engine`]; tests drive the same methods. The engine owns the
//! state root (`--root`, default `/var/lib/berth`): an OCI image layout that is the content
//! store, the unpacked-layer cache, containers, networks, volumes and the build and wasm
//! caches. Nothing here runs a container's process itself: that is the job of `berth-shims`,
//! which never imports this crate.

// Every unsafe block of berth lives under shims/ (berth-shims, berth-sys).
#![forbid(unsafe_code)]

pub mod archive;
pub mod build;
pub mod container;
pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod media;
pub mod network;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
pub mod wasm;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;

use std::path::{Path, PathBuf};

/// Default state root, as Docker's `/var/lib/docker`.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// The engine: one state root and the store inside it.
pub struct Engine {
    root: PathBuf,
    store: store::Store,
}

impl Engine {
    /// Opens (creating if needed) the state root at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Engine> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let store = store::Store::open(&root)?;
        Ok(Engine { root, store })
    }

    /// The state root this engine works in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store (an OCI image layout) under the root.
    pub fn store(&self) -> &store::Store {
        &self.store
    }
}
