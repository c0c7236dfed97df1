//! The OCI vocabulary's errors, and the failure kinds every berth crate shares.
//!
//! Each library crate has its own error enum; what they share is [`ErrorKind`], the one
//! question a caller (the CLI's exit codes, an API's status codes, a retry loop) asks of any
//! of them, and [`IoError`], an I/O failure that names the path it happened on.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is, whichever crate made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named object (image, container, blob, network...) does not exist.
    NotFound,
    /// The object exists, or is in use, or is in a state that forbids the operation.
    Conflict,
    /// The caller's input is malformed or not allowed.
    InvalidArgument,
    /// Something berth talks to (a registry, the kernel, a peer program) refused or failed.
    Unavailable,
    /// A failure of berth itself or of the machine (I/O, corrupt state).
    Internal,
}

/// Errors in digests, references, platforms and documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("digest mismatch for {expected}: content has digest {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    #[error("invalid platform {platform:?}: {reason} (expected os/arch[/variant])")]
    InvalidPlatform { platform: String, reason: String },
    #[error("invalid signal: {0}")]
    InvalidSignal(String),
}

impl Error {
    /// A malformed document (manifest, config, index, archive...).
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Malformed { what: what.into(), reason: reason.to_string() }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// An I/O error and the path it happened on; every crate's error wraps it transparently.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(path: impl AsRef<Path>, source: std::io::Error) -> IoError {
        IoError { path: path.as_ref().to_path_buf(), source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self.source.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::Conflict,
            std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

/// The one message that tells a user who is not root that berth needs root, when `e` denied
/// them `path` (berth's state root, or its state under /run): berth runs containers, so it
/// needs root, as Docker's daemon does.
pub fn needs_root(path: &Path, e: &std::io::Error) -> Option<String> {
    (e.kind() == std::io::ErrorKind::PermissionDenied && !nix::unistd::geteuid().is_root()).then(|| {
        format!("berth needs root: permission denied on {} (run berth as root, e.g. with sudo)", path.display())
    })
}

/// Adds the path to an `io::Result`; `?` turns the [`IoError`] into the caller's error.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(path, e))
    }
}
