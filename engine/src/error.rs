//! The engine's error type.
//!
//! The engine's own failures (containers, volumes, build steps, networks) are variants here;
//! what the crates below it report ([`berth_store`], [`berth_registry`], [`berth_builder`],
//! [`berth_oci`]) is kept whole as their error, so its `source` chain survives. Every error answers
//! [`Error::kind`], which the CLI maps onto Docker's exit codes (125 for berth's own
//! failures) in one place.

use berth_oci::{ErrorKind, IoError};
use std::path::Path;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error(transparent)]
    Registry(#[from] berth_registry::Error),
    /// A Dockerfile or `--change` that does not parse, or a build step that failed.
    #[error(transparent)]
    Build(#[from] berth_builder::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
    /// A flag value or combination Docker's CLI itself refuses (before any daemon sees it), so
    /// `create` exits 125 for it as `docker create` does, not 1 as for what the engine refuses.
    #[error("{0}")]
    BadFlag(String),
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
        Error::Io(IoError::new(path, source))
    }

    /// A malformed document (manifest, config, index, archive...).
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> Error {
        Error::Oci(berth_oci::Error::malformed(what, reason))
    }

    /// What kind of failure this is, whichever crate reported it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::Oci(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Registry(e) => e.kind(),
            Error::Network(e) => e.kind(),
            Error::Build(e) => e.kind(),
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Unsupported(_) | Error::BadFlag(_) => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Other(_) | Error::StartFailed { .. } => ErrorKind::Internal,
        }
    }

    /// Whether this says an image is not in the store (a `run` then pulls it).
    pub fn is_image_not_found(&self) -> bool {
        matches!(
            self,
            Error::Store(berth_store::Error::ImageNotFound(_))
                | Error::Registry(berth_registry::Error::ImageNotFound(_))
        )
    }

    /// Whether a registry refused or could not be reached, or has no such image.
    pub fn is_registry_failure(&self) -> bool {
        self.is_image_not_found()
            || matches!(
                self,
                Error::Registry(berth_registry::Error::Registry { .. } | berth_registry::Error::Unauthorized(_))
            )
    }
}

/// A path that could not be resolved inside a container's (or a volume's) root: named with
/// the root, keeping the errno (ELOOP for a symlink chain past the kernel's limit).
impl From<berth_sys::inroot::Error> for Error {
    fn from(e: berth_sys::inroot::Error) -> Error {
        Error::Store(e.into())
    }
}
