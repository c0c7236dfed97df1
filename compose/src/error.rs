//! The compose crate's errors: what a user sees names the file, the line and the key.

/// Why a compose operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The compose files are wrong (syntax, type, reference, interpolation): the message names
    /// the file, line and key.
    #[error("{0}")]
    Invalid(String),
    /// No compose file was found.
    #[error("{0}")]
    NotFound(String),
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::Error),
    /// Anything else (I/O and the like), already worded for the user.
    #[error("{0}")]
    Other(String),
}

/// The compose crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
