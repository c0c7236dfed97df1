//! The engine's error type.
//!
//! Every variant carries what a user needs to act on it: the path, reference or digest involved.
//! The CLI maps these onto Docker's exit codes (125 for berth's own failures).

use std::path::{Path, PathBuf};

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("digest mismatch for {expected}: content has digest {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("No such image: {0}")]
    ImageNotFound(String),
    #[error("blob {0} not found in the store")]
    BlobNotFound(String),
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    #[error("unsafe archive entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
    /// A container, volume or other object that does not exist (Docker's "No such ...").
    #[error("{0}")]
    NotFound(String),
    /// A container's process could not be started; `code` is Docker's 125, 126 or 127.
    #[error("{message}")]
    StartFailed { code: u8, message: String },
    /// Networking (networks, sandboxes, published ports, DNS) failed; its own kind and source.
    #[error(transparent)]
    Network(#[from] berth_network::Error),
}

impl Error {
    /// An I/O error that names the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// A malformed document (manifest, config, index, archive...).
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Malformed { what: what.into(), reason: reason.to_string() }
    }
}

/// A path that could not be resolved inside a container's (or a volume's) root: named with
/// the root, keeping the errno (ELOOP for a symlink chain past the kernel's limit).
impl From<berth_sys::inroot::Error> for Error {
    fn from(e: berth_sys::inroot::Error) -> Error {
        let source = std::io::Error::new(e.source.kind(), format!("inside {}: {}", e.root.display(), e.source));
        Error::Io { path: e.path, source }
    }
}

/// Adds the path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
