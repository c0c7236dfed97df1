//! The runtime interface ([`Runtime`]) and its Linux implementation ([`Linux`]): berth's
//! equivalent of runc, running OCI runtime bundles (a `config.json` and a rootfs).
//!
//! One verb per file, as in youki's libcontainer: [`create`](create.rs) prepares the container
//! (namespaces, cgroup, mounts, user, capabilities, seccomp) and leaves its init blocked on
//! `exec.fifo`; `start` opens the fifo, which lets the init exec the configured process; `kill`
//! signals it; `wait` waits for it; `delete` removes the cgroup and the state; `state` reports
//! the OCI state; `pause`/`resume` freeze and thaw it; `exec` runs one more process in a running
//! container; `run` is create + start + wait + delete, with a fast path that skips the fifo
//! altogether.
//!
//! State lives under a root directory (runc's `--root`, default [`DEFAULT_STATE_ROOT`]):
//! `<root>/<id>/state.json` and `<root>/<id>/exec.fifo`.
//!
//! Forking happens in the calling process, so `create`, `run` and `exec` must be called from a
//! fresh single-threaded process — `berth runtime ...` is that process, and the engine re-execs
//! it rather than forking from its tokio runtime. The init that `create` leaves behind is
//! reparented when `berth runtime create` exits: a supervisor that wants its exit status makes
//! itself a child subreaper (PR_SET_CHILD_SUBREAPER) before calling `create`, and then `wait`
//! (waitpid) works from the supervisor. A supervisor may also call `create` itself, any number
//! of times (the PID namespace it unshares for the child is undone after the fork): the init is
//! then its child, and with [`CreateOptions::die_with_parent`] dies with it.

pub(crate) mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod run;
pub(crate) mod start;
pub mod state;
mod wait;

pub use state::{State, Status, OOM_ANNOTATION};

use crate::error::{Error, Result};
use crate::process::ExitStatus;
use crate::syscall::{LinuxSyscall, Syscall};
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

/// The Linux namespace runtime.
#[derive(Debug)]
pub struct Linux<S: Syscall = LinuxSyscall> {
    root: PathBuf,
    sys: S,
}

impl Linux<LinuxSyscall> {
    /// A runtime keeping its state under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Linux<LinuxSyscall> {
        Linux { root: root.into(), sys: LinuxSyscall }
    }
}

impl<S: Syscall> Linux<S> {
    /// A runtime with another [`Syscall`] implementation (tests).
    pub fn with_syscall(root: impl Into<PathBuf>, sys: S) -> Linux<S> {
        Linux { root: root.into(), sys }
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ids of the containers under the root.
    pub fn list(&self) -> Result<Vec<State>> {
        let mut out = Vec::new();
        let dir = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        for e in dir.flatten() {
            if let Some(id) = e.file_name().to_str() {
                if let Ok(s) = self.state(id) {
                    out.push(s);
                }
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }
}

impl<S: Syscall> Runtime for Linux<S> {
    fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State> {
        self.create_impl(id, bundle, opts)
    }
    fn start(&self, id: &str) -> Result<()> {
        self.start_impl(id)
    }
    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        self.kill_impl(id, signal, all)
    }
    fn wait(&self, id: &str) -> Result<Option<ExitStatus>> {
        self.wait_impl(id)
    }
    fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.delete_impl(id, force)
    }
    fn state(&self, id: &str) -> Result<State> {
        self.state_impl(id)
    }
    fn pause(&self, id: &str) -> Result<()> {
        self.freeze(id, true)
    }
    fn resume(&self, id: &str) -> Result<()> {
        self.freeze(id, false)
    }
    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<Option<ExitStatus>> {
        self.exec_impl(id, process, opts)
    }
    fn run(&self, id: &str, bundle: &Path, opts: &RunOptions) -> Result<Option<ExitStatus>> {
        self.run_impl(id, bundle, opts)
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
