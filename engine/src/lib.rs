//! berth's engine: everything berth knows how to do, as a library.
//!
//! The CLI is a thin layer over [`Engine`]; tests drive the same methods. The engine owns the
//! state root (`--root`, default `/var/lib/berth`): an OCI image layout that is the content
//! store, the unpacked-layer cache, containers, networks, volumes and the build and wasm
//! caches. Nothing here runs a container's process itself: that is the job of the runtimes (`berth-runtime-linux`, `berth-runtime-wasm`),
//! which never imports this crate.

// Every unsafe block of berth lives in berth-sys (sys/).
#![forbid(unsafe_code)]

mod build_run;
pub mod container;
pub mod error;
mod images;
pub mod network;
pub mod wasm;

pub use error::{Error, Result};

// The crates the engine's API speaks in, under the names its callers know them by.
pub use berth_builder as build;
pub use berth_oci::{digest, media, platform, reference, Digest, ErrorKind, Reference};
pub use berth_registry::{self as registry, progress, pull, push};
pub use berth_store::{self as store, archive, image, layer, Image};

use std::path::{Path, PathBuf};

/// Default state root, as Docker's `/var/lib/docker`.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// Creates the state root 0700 (its parents as usual), or takes group and other bits away
/// from an existing one.
/// The error for a state root berth may not use: when that is for want of root, says so
/// (berth runs containers, so it needs root, as Docker's daemon does).
fn needs_root(root: &Path, e: std::io::Error) -> Error {
    match berth_oci::error::needs_root(root, &e) {
        Some(m) => Error::Other(m),
        None => Error::io(root, e),
    }
}

fn private_root(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::metadata(root) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            match std::fs::set_permissions(root, std::fs::Permissions::from_mode(m.permissions().mode() & 0o700)) {
                // Someone else's root (a non-root user pointed at it): theirs to tighten.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    tracing::warn!("{}: cannot make the state root private: {e}", root.display());
                    Ok(())
                }
                r => r,
            }
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(root) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => private_root(root),
                r => r,
            }
        }
        Err(e) => Err(e),
    }
}

/// The engine: one state root and the store inside it.
pub struct Engine {
    root: PathBuf,
    store: store::Store,
}

impl Engine {
    /// Opens (creating if needed) the state root at `root`. The root is private to its owner
    /// (0700): it holds unpacked layers (setuid binaries of any image), records with the
    /// containers' environments, logs and live root filesystems. A root left more open (by
    /// an older berth, or made by hand) is tightened here: one `stat` per command.
    pub fn open(root: impl AsRef<Path>) -> Result<Engine> {
        let root = root.as_ref().to_path_buf();
        private_root(&root).map_err(|e| needs_root(&root, e))?;
        // Root's own state root, there already: it is not ours to read.
        use nix::unistd::{access, AccessFlags};
        if let Err(e) = access(&root, AccessFlags::R_OK | AccessFlags::W_OK | AccessFlags::X_OK) {
            return Err(needs_root(&root, e.into()));
        }
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
