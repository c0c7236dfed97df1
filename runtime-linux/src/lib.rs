//! berth's Linux namespace runtime: its equivalent of runc/crun, running OCI runtime bundles
//! (a `config.json` and a rootfs) in namespaces, behind [`berth_runtime::Runtime`].
//!
//! This crate knows OCI runtime bundles and nothing of images, registries or networks: the
//! engine prepares a bundle, this crate runs it. It is reached from the command line as the
//! hidden `berth runtime` command group (`create`, `start`, `run`, `kill`, `delete`, `state`,
//! `exec`), which the engine re-execs, and is called in-process by the shim. Its parts:
//!
//! * one verb per module, as in youki's libcontainer: `create` prepares the container
//!   (namespaces, cgroup, mounts, user, capabilities, seccomp) and leaves its init blocked on
//!   `exec.fifo`; `start` opens the fifo, which lets the init exec the configured process;
//!   `kill` signals it; `wait` waits for it; `delete` removes the cgroup and the state; [`state`]
//!   reports the OCI state; `pause`/`resume` freeze and thaw it; `exec` runs one more process
//!   in a running container; `run` is create + start + wait + delete, with a fast path that
//!   skips the fifo altogether;
//! * [`init`]: what the container's init does between fork and exec;
//! * [`rootfs`] and [`mounts`]: mounts, /dev, pivot_root, masked and read-only paths;
//! * [`cgroups`] and [`device_filter`]: cgroup v1 (and hybrid) and v2 limits, device rules
//!   (v1 files or a v2 eBPF program), OOM detection, cleanup;
//! * [`container_process`], [`seccomp`], [`console`]: user, capabilities, rlimits, the
//!   seccomp filter and the terminal of the container's process;
//! * [`syscall`]: every system call the setup makes, behind a trait with a recording double,
//!   so the setup logic is unit-tested without root; [`process`]: fork/exec/wait plumbing.
//!
//! State lives under a root directory (runc's `--root`, default
//! [`berth_runtime::DEFAULT_STATE_ROOT`]): `<root>/<id>/state.json` and `<root>/<id>/exec.fifo`.
//!
//! Forking happens in the calling process, so `create`, `run` and `exec` must be called from a
//! fresh single-threaded process — `berth runtime ...` is that process, and the engine re-execs
//! it rather than forking from its tokio runtime. The init that `create` leaves behind is
//! reparented when `berth runtime create` exits: a supervisor that wants its exit status makes
//! itself a child subreaper (PR_SET_CHILD_SUBREAPER) before calling `create`, and then `wait`
//! (waitpid) works from the supervisor. A supervisor may also call `create` itself, any number
//! of times (the PID namespace it unshares for the child is undone after the fork): the init is
//! then its child, and with [`CreateOptions::die_with_parent`] dies with it.
//!
//! The wasm runtime (`berth-runtime-wasm`) confines its guest process with this crate's pieces
//! (cgroups, namespaces, capabilities, seccomp) and shares its state directory's format.

#![forbid(unsafe_code)]

pub mod cgroups;
pub mod console;
pub mod container_process;
pub mod create;
mod delete;
pub mod device_filter;
mod exec;
pub mod external;
pub mod init;
mod kill;
pub mod mounts;
mod pause;
pub mod process;
pub mod rootfs;
mod run;
pub mod seccomp;
pub mod start;
pub mod state;
pub mod syscall;
mod wait;

// The runtimes' shared error type, under the name the modules here use.
pub(crate) use berth_runtime::error;

use berth_runtime::{CreateOptions, Error, ExecOptions, ExitStatus, Result, RunOptions, Runtime, State};
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;
use std::path::{Path, PathBuf};
use syscall::{LinuxSyscall, Syscall};

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
