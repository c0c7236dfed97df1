//! The store's errors.

use berth_oci::{ErrorKind, IoError};
use std::path::Path;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading, writing, unpacking or archiving images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    /// A bad digest, reference or document, or content that does not match its digest.
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    #[error("No such image: {0}")]
    ImageNotFound(String),
    #[error("blob {0} not found in the store")]
    BlobNotFound(String),
    #[error("unsafe archive entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error that names the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io(IoError::new(path, source))
    }

    /// A malformed document (manifest, config, index, archive...).
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Oci(berth_oci::Error::malformed(what, reason))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::Oci(e) => e.kind(),
            Error::ImageNotFound(_) | Error::BlobNotFound(_) => ErrorKind::NotFound,
            Error::UnsafeEntry { .. } | Error::Unsupported(_) => ErrorKind::InvalidArgument,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Other(_) => ErrorKind::Internal,
        }
    }
}

/// A path that could not be resolved inside a root (a layer's, a container's): named with
/// the root, keeping the errno (ELOOP for a symlink chain past the kernel's limit).
impl From<berth_sys::inroot::Error> for Error {
    fn from(e: berth_sys::inroot::Error) -> Error {
        let source = std::io::Error::new(e.source.kind(), format!("inside {}: {}", e.root.display(), e.source));
        Error::Io(IoError { path: e.path, source })
    }
}
