//! Process plumbing: fork, exec, wait, the parent/child sync pipe, signal forwarding, and
//! reading a process's identity from /proc.
//!
//! berth forks the container's init straight from `berth runtime` (one fork; the parent first
//! unshares the PID namespace so that the child is PID 1 in it), which is only sound in a
//! single-threaded process: [`ensure_single_threaded`] refuses otherwise. The child reports
//! back over a close-on-exec pipe: one message `R` when it is set up and waits for `start`, or
//! `E<code><message>` when it fails; end-of-file without a message means exec succeeded.

use crate::error::{Error, Result};
use berth_runtime::ExitStatus;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Refuses to fork from a multi-threaded process (the child would inherit locks held by
/// threads that do not exist in it).
pub fn ensure_single_threaded() -> Result<()> {
    let threads = berth_sys::process::thread_count().map_err(|e| Error::io("/proc/self/stat", e))?;
    if threads > 1 {
        return Err(Error::Init(format!(
            "the runtime must run in a single-threaded process (this one has {threads} threads): use `berth runtime`"
        )));
    }
    Ok(())
}

pub use berth_sys::process::{cloexec_from, close_fds_except, start_time_and_state, Forked};

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))
}

/// Forks. Only from a single-threaded process (see [`ensure_single_threaded`]): berth-sys
/// refuses otherwise.
pub fn fork() -> Result<Forked> {
    berth_sys::process::fork().map_err(|source| Error::Sys { what: "fork".into(), source })
}

/// Ends a forked child without running the parent's exit handlers or flushing its buffers.
pub fn exit_child(code: u8) -> ! {
    berth_sys::process::exit_now(code)
}

/// Restores default signal handling before exec: Rust ignores SIGPIPE at startup and the
/// runtime may have installed forwarding handlers; an ignored signal would stay ignored in the
/// container.
pub use berth_sys::process::reset_signals;

/// Makes this process non-dumpable: no other process (short of one with CAP_SYS_PTRACE over
/// it) may ptrace it or open its /proc files (`fd/`, `exe`, `mem`, `environ`). Called before a
/// process joins a container's namespaces, so a process in the container cannot hijack it
/// while it still holds the runtime's privileges and descriptors; the flag lives in the
/// memory map, so a fork inherits it, and the kernel clears it again at `execve` of the
/// container's program, which then runs confined (runc's init does the same).
pub fn set_non_dumpable() -> Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("prctl(PR_SET_DUMPABLE, 0)", e))
}

/// Asks for SIGKILL when the thread that forked this process exits, then makes sure that has not
/// already happened: the parent holds the only read end of the `sync` pipe, whose write end
/// reports an error once nobody can read it.
pub fn die_with_parent(sync: RawFd) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| Error::sys("prctl(PR_SET_PDEATHSIG)", e))?;
    if berth_sys::process::reader_gone(sync) {
        return Err(Error::Init("the runtime's caller exited while the container was being created".into()));
    }
    Ok(())
}

/// Replaces the process image; returns only on failure, with the errno.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> Errno {
    let cpath = match CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => return Errno::EINVAL,
    };
    let to_c = |v: &[String]| v.iter().map(|s| CString::new(s.as_bytes())).collect::<std::result::Result<Vec<_>, _>>();
    let (Ok(cargs), Ok(cenv)) = (to_c(args), to_c(env)) else { return Errno::EINVAL };
    match nix::unistd::execve(&cpath, &cargs, &cenv) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Waits for a child, retrying on EINTR. Waiting for a process that is not our child
/// (`ECHILD`) is an error: see [`wait_any`].
pub fn wait_child(pid: i32) -> Result<ExitStatus> {
    match berth_sys::process::wait_status(pid, false) {
        Ok(Some((_, status))) => Ok(status),
        Ok(None) => Err(Error::sys(format!("wait for process {pid}"), Errno::ECHILD)),
        Err(source) => Err(Error::Sys { what: format!("wait for process {pid}"), source }),
    }
}

/// Waits until `pid` (not necessarily our child) exits, with a pidfd.
pub fn wait_any(pid: i32) -> Result<()> {
    berth_sys::process::wait_for_exit(pid).map_err(|source| Error::Sys { what: format!("pidfd_open {pid}"), source })
}

/// Forwards the signals a user sends to a foreground `berth runtime run` to the container.
pub fn forward_signals_to(pid: i32) {
    let _ = berth_sys::process::forward_signals(
        pid,
        &[
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGWINCH,
        ],
    );
}

/// What the container's init told the runtime.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ready,
    Failed(u8, String),
    /// The pipe closed without a message: the init exec'd (or died silently).
    Eof,
}

/// Child side: set up and waiting for `start`.
pub fn send_ready(fd: RawFd) -> Result<()> {
    berth_sys::process::write_fd(fd, b"R")
        .map(drop)
        .map_err(|source| Error::Sys { what: "report readiness".into(), source })
}

/// Child side: report a failure (best effort: the parent may be gone).
pub fn send_error(fd: RawFd, err: &Error) {
    let mut msg = vec![b'E', err.exit_code()];
    let text = err.to_string();
    // One write below PIPE_BUF is atomic: the parent sees the whole message or nothing.
    msg.extend_from_slice(&text.as_bytes()[..text.len().min(4000)]);
    // `fd` is the child's end of the sync pipe, open until exec or exit.
    let _ = berth_sys::process::write_fd(fd, &msg);
}

/// Parent side: reads the init's reply.
pub fn read_reply(fd: OwnedFd) -> Result<Reply> {
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf[0] == b'R' {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Sys { what: "read from the container's init".into(), source: e }),
        }
    }
    Ok(match buf.first() {
        None => Reply::Eof,
        Some(b'R') => Reply::Ready,
        Some(_) if buf.len() >= 2 => Reply::Failed(buf[1], String::from_utf8_lossy(&buf[2..]).into_owned()),
        Some(_) => Reply::Failed(125, "malformed message from the container's init".into()),
    })
}

/// Sends `sig` to `pid`.
pub fn kill(pid: i32, sig: Signal) -> Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(|e| Error::sys(format!("kill {pid} with {sig}"), e))
}

/// Parses a signal given as a name (`TERM`, `SIGTERM`, `term`) or a number.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Spec(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    name.parse::<Signal>().map_err(|_| Error::Spec(format!("invalid signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(ExitStatus::Signal(9).code(), 137);
        assert_eq!(ExitStatus::Code(3).code(), 3);
    }

    #[test]
    fn replies_round_trip() {
        let (r, w) = pipe().unwrap();
        send_error(w.as_raw_fd(), &Error::Exec { code: 127, message: "exec: \"x\": nope".into() });
        drop(w);
        assert_eq!(read_reply(r).unwrap(), Reply::Failed(127, "exec: \"x\": nope".into()));
        let (r, w) = pipe().unwrap();
        send_ready(w.as_raw_fd()).unwrap();
        assert_eq!(read_reply(r).unwrap(), Reply::Ready);
        let (r, w) = pipe().unwrap();
        drop(w);
        assert_eq!(read_reply(r).unwrap(), Reply::Eof);
    }
}
