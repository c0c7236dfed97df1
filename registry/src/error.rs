//! The registry client's and server's errors.

use berth_oci::{ErrorKind, IoError};
use std::path::Path;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a registry, pulling, pushing or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    /// A bad digest, reference or document, or content that does not match its digest.
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    /// The registry answered with an error, or could not be reached.
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("No such image: {0}")]
    ImageNotFound(String),
    #[error("blob {0} not found in the store")]
    BlobNotFound(String),
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

    /// A malformed document (manifest, config, index, token...).
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Oci(berth_oci::Error::malformed(what, reason))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::Oci(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Registry { .. } | Error::Unauthorized(_) => ErrorKind::Unavailable,
            Error::ImageNotFound(_) | Error::BlobNotFound(_) => ErrorKind::NotFound,
            Error::Unsupported(_) => ErrorKind::InvalidArgument,
            Error::Other(_) => ErrorKind::Internal,
        }
    }
}
