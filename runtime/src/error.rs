//! The runtimes' error type, shared by the interface and its implementations.
//!
//! Every variant names what failed (the container id, the path, the system call) so that the
//! message printed by `berth runtime` is enough to act on. [`Error::exit_code`] maps errors onto
//! the exit codes Docker users know: 127 for a command that is not there, 126 for one that cannot
//! be run, 125 for everything that is the runtime's own failure.

use std::path::{Path, PathBuf};

/// Result alias used across the runtime crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, running or managing a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed; `what` says which and on what.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Spec(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', at most 1024")]
    InvalidId(String),
    #[error("container {id:?} is {status}: {reason}")]
    InvalidState { id: String, status: String, reason: String },
    /// The container's command could not be started; `code` is 126 or 127, like Docker's.
    #[error("{message}")]
    Exec { code: u8, message: String },
    /// The container's init reported a failure while setting the container up.
    #[error("container init: {0}")]
    Init(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("cgroups: {0}")]
    Cgroup(String),
}

impl Error {
    /// An I/O error that names the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// A failed system call; `what` names the call and its arguments.
    pub fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Error {
        Error::Sys { what: what.into(), source: std::io::Error::from_raw_os_error(errno as i32) }
    }

    /// What kind of failure this is, for callers that map errors onto their own (the CLI's
    /// exit codes, the engine's error kinds).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Exists(_) | Error::InvalidState { .. } => ErrorKind::Conflict,
            Error::Spec(_) | Error::InvalidId(_) | Error::Exec { .. } => ErrorKind::InvalidArgument,
            Error::Io { .. } | Error::Sys { .. } | Error::Init(_) | Error::Seccomp(_) | Error::Cgroup(_) => {
                ErrorKind::Internal
            }
        }
    }

    /// The exit status `berth runtime` ends with when this error stops it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Exec { code, .. } => *code,
            _ => 125,
        }
    }

    /// The errno behind this error, if it is a failed system call or I/O.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Sys { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Docker's mapping of a runtime's start error message to the CLI's exit code: 127 when the
/// command is not there, 126 when it cannot be run, 125 for the runtime's own failures. For
/// runtimes that report errors as text (runc, crun, the shim's attach stream).
pub fn exec_error_code(msg: &str) -> u8 {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

/// The kinds of failure callers tell apart: the workspace's one vocabulary.
pub use berth_oci::ErrorKind;

/// Adds the path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
