//! The network crate's error type.
//!
//! The messages are the ones `berth network ...` and a failed start have always printed (they
//! follow Docker's wording); the variant says what kind of failure it is, which
//! [`Error::kind`] reports so callers (the CLI's exit codes, `--force` flags) need not parse
//! text.

use berth_oci::IoError;
use std::path::Path;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use berth_oci::ErrorKind;

/// Everything that can go wrong in berth's networking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    /// A netlink or namespace operation failed. The errno is kept as data, not as
    /// `#[source]`: the message already ends with it, and the CLI prints the source chain, so
    /// it would appear twice.
    #[error("{what}: {errno}")]
    Kernel { what: String, errno: std::io::Error },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// Valid, but not something berth's networks do (IPv6 host addresses, SCTP).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error that names the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io(IoError::new(path, source))
    }

    /// A malformed record.
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Malformed { what: what.into(), reason: reason.to_string() }
    }

    /// A failed kernel operation, named by what was being done.
    pub fn kernel(what: impl Into<String>, errno: std::io::Error) -> Error {
        Error::Kernel { what: what.into(), errno }
    }

    pub fn kind(&self) -> ErrorKind {
        let errno_kind = |e: &std::io::Error| match e.raw_os_error() {
            Some(libc::EEXIST) | Some(libc::EADDRINUSE) => ErrorKind::Conflict,
            Some(libc::ENOENT) | Some(libc::ENODEV) => ErrorKind::NotFound,
            Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOSPC) | Some(libc::ENOMEM) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        match self {
            Error::Io(e) => errno_kind(&e.source),
            Error::Kernel { errno, .. } => errno_kind(errno),
            Error::Malformed { .. } | Error::Other(_) => ErrorKind::Internal,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidArgument(_) | Error::Unsupported(_) => ErrorKind::InvalidArgument,
            Error::Unavailable(_) => ErrorKind::Unavailable,
        }
    }
}
