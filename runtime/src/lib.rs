//! The runtime interface of berth: what every runtime that runs an OCI bundle (a `config.json`
//! and a rootfs) offers, and the types its callers and implementations share.
//!
//! The [`Runtime`] trait holds the lifecycle verbs of an OCI runtime (runc's: create, start,
//! kill, wait, delete, state, pause, resume, exec, run); [`CreateOptions`], [`RunOptions`] and
//! [`ExecOptions`] their options; [`State`] and [`Status`] what `state` reports (the OCI state
//! plus what berth needs to find a container again); [`ExitStatus`] how a process ended;
//! [`Error`] what can go wrong, with its [`ErrorKind`]. [`Kind`] (Linux or wasm: the workload)
//! and [`Program`] (berth's own runtime, runc or crun) name the runtimes as the container
//! records spell them.
//!
//! This crate is the seam between the engine and the runtimes: the implementations live in
//! `berth-runtime-linux` (namespaces, cgroups, seccomp) and `berth-runtime-wasm` (wasmtime), so
//! whoever only needs the interface (the builder, tests with a fake runtime) links neither the
//! Linux setup code nor wasmtime.
//!
//! The verbs fork in the calling process, so `create`, `run` and `exec` are called from a fresh
//! single-threaded process (`berth runtime ...`, or the shim): see the implementations.

#![forbid(unsafe_code)]

pub mod error;
mod kind;
pub mod state;

pub use berth_sys::process::ExitStatus;
pub use error::{exec_error_code, Error, ErrorKind, IoContext, Result};
pub use kind::{Kind, Program};
pub use state::{rfc3339, Cgroup, CgroupDir, State, Status, OOM_ANNOTATION};

use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};
use std::path::{Path, PathBuf};

/// Where container state lives unless told otherwise (runc uses /run/runc).
pub const DEFAULT_STATE_ROOT: &str = "/run/berth/runtime";

/// The OCI runtime spec version berth implements.
pub const OCI_VERSION: &str = "1.0.2";

/// Options of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// A unix socket to send the pty master to when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// A file to write the init's host pid to.
    pub pid_file: Option<PathBuf>,
    /// How many descriptors from 3 up the container's process inherits.
    pub preserve_fds: u32,
    /// The init is killed (SIGKILL) when the calling thread exits: for a supervisor that
    /// creates the container itself and must not leave it running unsupervised (berth's
    /// shim). Not for `berth runtime create`, which exits right after.
    pub die_with_parent: bool,
}

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Keep the stopped container (its state, cgroup and OOM verdict) instead of deleting it.
    pub keep: bool,
}

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
}

/// The lifecycle verbs of an OCI runtime.
pub trait Runtime {
    /// Creates the container from the bundle; its process waits for [`Runtime::start`].
    fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State>;
    /// Lets a created container's process run.
    fn start(&self, id: &str) -> Result<()>;
    /// Sends a signal to the container's init (`all`: to every process in its cgroup).
    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()>;
    /// Waits for the init to exit; its status when this process is its parent (or subreaper).
    fn wait(&self, id: &str) -> Result<Option<ExitStatus>>;
    /// Removes a stopped container (`force`: kill it first if it still runs).
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// The container's current state.
    fn state(&self, id: &str) -> Result<State>;
    /// Freezes every process of the container.
    fn pause(&self, id: &str) -> Result<()>;
    /// Thaws a paused container.
    fn resume(&self, id: &str) -> Result<()>;
    /// Starts `process` in the running container; returns its status unless `detach`.
    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<Option<ExitStatus>>;
    /// create + start + wait (+ delete unless `keep`); the container's exit status, or None
    /// when detached.
    fn run(&self, id: &str, bundle: &Path, opts: &RunOptions) -> Result<Option<ExitStatus>> {
        self.create(id, bundle, &opts.create)?;
        self.start(id)?;
        if opts.detach {
            return Ok(None);
        }
        let status = self.wait(id)?;
        if !opts.keep {
            self.delete(id, false)?;
        }
        Ok(status)
    }
}

/// Container ids: what runc accepts (and what is safe as a directory name).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// Reads `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "web-1", "x_y.z", "0123456789abcdef"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
