//! The builder's errors.
//!
//! Positions are data: a Dockerfile that does not parse or type-check is a
//! [`ParseError`](crate::parser::ParseError) (file, line, column, message); a step that fails
//! is [`Error::Step`] (file, line and the line's text) around the step's own error. What the
//! engine's callbacks (the pull of a base image, the RUN step's container) report comes back
//! as [`Error::External`] with its kind and its error as the source. Display texts are
//! BuildKit's and Docker's, which the tests and users match.

use crate::parser::ParseError;
use berth_oci::{ErrorKind, IoError};
use std::path::Path;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building an image or applying `--change` instructions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Dockerfile (or a `--change`) does not parse or an instruction is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A step failed: BuildKit's frame (file and line, the line shown) around the cause.
    #[error("{file}:{line}\n--------------------\n{line:>4} | >>> {text}\n--------------------\n{source}")]
    Step {
        file: String,
        /// 1-based line of the step's instruction.
        line: usize,
        /// The line as written.
        text: String,
        #[source]
        source: Box<Error>,
    },
    /// A stage's base image could not be had.
    #[error("{file}:{line}: FROM {base}: {source}")]
    Base {
        file: String,
        line: usize,
        base: String,
        #[source]
        source: Box<Error>,
    },
    /// A RUN step's command exited non-zero (BuildKit's text, with the step's output).
    #[error(
        "process \"{command}\" did not complete successfully: exit code: {code}\n------\n > {step}:\n{output}------"
    )]
    RunFailed { command: String, code: i32, step: String, output: String },
    /// A `--change` that is not a Dockerfile instruction Docker allows there.
    #[error("{0} is not a valid change command")]
    NotAChangeCommand(String),
    /// A `--change` instruction that is malformed. The reason is text, not a source: the
    /// change is one line, quoted whole, and `berth: {:#}` would print a source twice.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },
    /// An argument, flag or value of an instruction is not valid.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unsupported(String),
    /// A source `ADD` names (a URL, a git repository) could not be had.
    #[error("{0}")]
    Unavailable(String),
    /// `ADD <url>`: the request failed.
    #[error("ADD {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// What the engine's callbacks (pulling a base image, running a RUN step) failed with.
    #[error("{source}")]
    External {
        kind: ErrorKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error that names the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io(IoError::new(path, source))
    }

    /// What a callback of the caller (pull, RUN step) failed with, keeping it as the source.
    pub fn external(kind: ErrorKind, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::External { kind, source: Box::new(source) }
    }

    /// A `--change` refused for `e`: a parse error's message alone (the change is quoted
    /// already, its one line needs no frame), anything else as it says itself.
    pub(crate) fn invalid_change(change: &str, e: Error) -> Error {
        let reason = match e {
            Error::Parse(p) => p.message,
            e => e.to_string(),
        };
        Error::InvalidChange { change: change.to_string(), reason }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Parse(_) | Error::Invalid(_) | Error::Unsupported(_) | Error::NotAChangeCommand(_) => {
                ErrorKind::InvalidArgument
            }
            Error::InvalidChange { .. } => ErrorKind::InvalidArgument,
            Error::Step { source, .. } | Error::Base { source, .. } => source.kind(),
            Error::RunFailed { .. } | Error::Other(_) => ErrorKind::Internal,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unavailable(_) | Error::Fetch { .. } => ErrorKind::Unavailable,
            Error::External { kind, .. } => *kind,
            Error::Io(e) => e.kind(),
            Error::Oci(e) => e.kind(),
            Error::Store(e) => e.kind(),
        }
    }

    /// Whether an image could not be had: not in the store, not in the registry, or the
    /// registry refused or could not be reached.
    pub fn is_image_unavailable(&self) -> bool {
        matches!(self, Error::Store(berth_store::Error::ImageNotFound(_)))
            || matches!(self, Error::External { kind: ErrorKind::NotFound | ErrorKind::Unavailable, .. })
    }
}

/// A path that could not be resolved inside a root (the context's, a stage's).
impl From<berth_sys::inroot::Error> for Error {
    fn from(e: berth_sys::inroot::Error) -> Error {
        Error::Store(e.into())
    }
}
