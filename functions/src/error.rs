//! The function crate's errors.

/// Why a function operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input (a flag, a functions file, a component without the handler export...).
    #[error("{0}")]
    Invalid(String),
    /// No such function.
    #[error("{0}")]
    NotFound(String),
    /// A route or name already taken.
    #[error("{0}")]
    Conflict(String),
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] berth_engine::Error),
    /// Anything else, already worded for the user.
    #[error("{0}")]
    Other(String),
}

/// The function crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
