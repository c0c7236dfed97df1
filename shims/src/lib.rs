//! berth's runtimes and the per-container supervisor (the shim).
//!
//! This crate knows OCI runtime bundles (a `config.json` and a rootfs) and nothing of images,
//! registries or networks: the engine prepares a bundle, this crate runs it.
//!
//! The Linux runtime ([`runtime::Linux`], behind the [`runtime::Runtime`] trait) is berth's
//! equivalent of runc/crun, reached from the command line as the hidden `berth runtime`
//! command group (`create`, `start`, `run`, `kill`, `delete`, `state`, `exec`). Its parts:
//!
//! * [`runtime`]: the lifecycle verbs and the state directory;
//! * [`init`]: what the container's init does between fork and exec;
//! * [`rootfs`] and [`mounts`]: mounts, /dev, pivot_root, masked and read-only paths;
//! * [`cgroups`] and [`device_filter`]: cgroup v1 (and hybrid) and v2 limits, device rules
//!   (v1 files or a v2 eBPF program), OOM detection, cleanup;
//! * [`container_process`], [`seccomp`], [`console`]: user, capabilities, rlimits, the
//!   seccomp filter and the terminal of the container's process;
//! * [`syscall`]: every system call the setup makes, behind a trait with a recording double,
//!   so the setup logic is unit-tested without root; [`process`]: fork/exec/wait plumbing.
//!
//! This crate is the only place in berth with `unsafe` code: system calls and `fork`.

pub mod cgroups;
pub mod console;
pub mod container_process;
pub mod device_filter;
pub mod error;
pub mod init;
pub mod mounts;
pub mod process;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod syscall;
pub mod wasm;

pub use error::{Error, Result};
pub use process::ExitStatus;
pub use runtime::{CreateOptions, ExecOptions, Linux, RunOptions, Runtime, State, Status};
pub use wasm::Wasm;

/// Restores the default SIGPIPE disposition, which Rust's runtime sets to "ignore", so a
/// printing command whose reader went away (`berth images | head`) ends quietly, as other
/// command-line tools do, instead of failing on EPIPE.
pub fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler code; it only changes this process's disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
