//! The engine's side of a container's supervisor (the shim, crate `berth-shim`): starting it.
//!
//! There is no daemon, so something must outlive the CLI to hold a container's stdio, write
//! its log, reap it and record how it ended: the shim, a fresh re-exec of the berth binary
//! (`berth shim ROOT ID`, see the `berth-shim` crate). The engine only spawns it, detached,
//! with the CLI's end of the attach stream ([`super::attach`]) on a known descriptor.

use super::{attach, Container};
use crate::{Error, Result};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The fd on which a shim finds its first client (the CLI that spawned it).
pub const ATTACH_FD: RawFd = 3;

/// Spawns the shim of `c` and returns the CLI's end of its attach stream.
pub fn spawn(root: &Path, c: &Container) -> Result<attach::Session> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
    // `berth shim ROOT ID`, from a sealed view of this binary (the container's init is forked
    // from the shim, so it must not be the host's binary, writable through /proc/<pid>/exe).
    let berth_sys::exe::Reexec { command: mut cmd, sealed } =
        berth_sys::exe::command(berth_sys::exe::Role::Shim { root, id: &c.id })
            .map_err(|e| Error::Other(format!("sealing the berth binary: {e}")))?;
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // The intermediate process exits at once, so the shim is not our child and outlives us.
    berth_sys::process::detach_on_spawn(&mut cmd, Some((theirs.as_raw_fd(), ATTACH_FD)));
    let mut child = cmd.spawn().map_err(|e| Error::Other(format!("starting the shim: {e}")))?;
    let _ = child.wait(); // the intermediate process
    drop((cmd, theirs, sealed));
    Ok(attach::Session::new(ours))
}

/// Starts a detached `berth shim --hold-terminal` for an `exec -it` session: if the user
/// detaches, [`hand_over_terminal`] gives it the pty master, so the process keeps its terminal
/// once this CLI exits; otherwise dropping the returned socket ends it. It is started before
/// the exec, while this process's children are still born in the host's PID namespace.
pub fn terminal_holder() -> Result<UnixStream> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
    let berth_sys::exe::Reexec { command: mut cmd, sealed } =
        berth_sys::exe::command(berth_sys::exe::Role::HoldTerminal)
            .map_err(|e| Error::Other(format!("holding the terminal: {e}")))?;
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    berth_sys::process::detach_on_spawn(&mut cmd, Some((theirs.as_raw_fd(), ATTACH_FD)));
    let mut child = cmd.spawn().map_err(|e| Error::Other(format!("holding the terminal: {e}")))?;
    let _ = child.wait(); // the intermediate process
    drop((cmd, theirs, sealed));
    Ok(ours)
}

/// Gives the terminal holder the pty master of the session the user detached from.
pub fn hand_over_terminal(holder: UnixStream, master: &std::os::fd::OwnedFd) -> Result<()> {
    berth_sys::term::send_fd(holder.as_raw_fd(), master.as_raw_fd(), "pty")
        .map_err(|e| Error::Other(format!("handing over the terminal: {e}")))
}

/// Writes all of `d` to `fd`, retrying interrupted writes.
pub fn write_all_fd(fd: impl AsFd, mut d: &[u8]) -> nix::Result<()> {
    while !d.is_empty() {
        match nix::unistd::write(fd.as_fd(), d) {
            Ok(n) => d = &d[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
