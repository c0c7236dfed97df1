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
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Refuses to fork from a multi-threaded process (the child would inherit locks held by
/// threads that do not exist in it).
pub fn ensure_single_threaded() -> Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| Error::io("/proc/self/stat", e))?;
    let threads = stat_field(&stat, 20).and_then(|t| t.parse::<u32>().ok()).unwrap_or(1);
    if threads > 1 {
        return Err(Error::Init(format!(
            "the runtime must run in a single-threaded process (this one has {threads} threads): use `berth runtime`"
        )));
    }
    Ok(())
}

/// Field `n` (1-based, as in proc(5)) of a /proc/<pid>/stat line.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3)
}

/// The start time (clock ticks since boot) and state letter of `pid`, or None when it is gone.
pub fn start_time_and_state(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat_field(&stat, 3)?.chars().next()?;
    let start = stat_field(&stat, 22)?.parse().ok()?;
    Some((start, state))
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))
}

/// Which side of a fork we are on.
pub enum Forked {
    Child,
    Parent(i32),
}

/// Forks. Only call from a single-threaded process.
pub fn fork() -> Result<Forked> {
    // SAFETY: callers ensure the process is single-threaded (ensure_single_threaded), so the
    // child gets a consistent copy of the heap and of every lock.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))? {
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
    }
}

/// Ends a forked child without running the parent's exit handlers or flushing its buffers.
pub fn exit_child(code: u8) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code as libc::c_int) }
}

/// Restores default signal handling before exec: Rust ignores SIGPIPE at startup and the
/// runtime may have installed forwarding handlers; an ignored signal would stay ignored in the
/// container.
pub fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler code to be unsafe about.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Marks every descriptor from `min` up close-on-exec (so only stdio and the preserved fds reach
/// the container's process).
pub fn cloexec_from(min: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, min, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        // Kernels before 5.11: walk /proc/self/fd.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> =
                dir.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect();
            for fd in fds.into_iter().filter(|fd| *fd >= min as i32) {
                let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
            }
        }
    }
}

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
    let mut pfd = libc::pollfd { fd: sync, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd on the stack; a zero timeout only samples the pipe's state.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    if rc > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
        return Err(Error::Init("the runtime's caller exited while the container was being created".into()));
    }
    Ok(())
}

/// Closes every descriptor from `min` up except those in `keep`: what a process forked toward
/// a container must not carry into it (its parent's sockets, logs, directories; the caller's
/// `9</host/dir`), closed before it joins the container, not merely marked close-on-exec.
pub fn close_fds_except(min: u32, keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().filter(|&&fd| fd >= 0 && fd as u32 >= min).map(|&fd| fd as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = min;
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    for k in keep.iter().copied() {
        if k > lo {
            ranges.push((lo, k - 1));
        }
        lo = k + 1;
    }
    ranges.push((lo, u32::MAX));
    for (a, b) in ranges {
        // SAFETY: close_range takes integers; the descriptors it closes belong to this freshly
        // forked process, in which nothing else will use them (the ones still needed are kept).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, a, b, 0) };
        if rc != 0 {
            // Kernels before 5.9: close what /proc/self/fd lists (collected first: reading
            // the directory opens a descriptor of its own).
            let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
                .map(|d| d.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect())
                .unwrap_or_default();
            for fd in fds.into_iter().filter(|&fd| fd as u32 >= a && fd as u32 <= b) {
                let _ = nix::unistd::close(fd);
            }
        }
    }
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

/// Waits for a child, retrying on EINTR.
pub fn wait_child(pid: i32) -> Result<ExitStatus> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::Code(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ExitStatus::Signal(sig as i32)),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("wait for process {pid}"), e)),
        }
    }
}

/// Waits until `pid` (not necessarily our child) exits, with a pidfd.
pub fn wait_any(pid: i32) -> Result<()> {
    // SAFETY: pidfd_open takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = Errno::last();
        return if e == Errno::ESRCH { Ok(()) } else { Err(Error::sys(format!("pidfd_open {pid}"), e)) };
    }
    // SAFETY: the descriptor was just created for us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc >= 0 || Errno::last() != Errno::EINTR {
            return Ok(());
        }
    }
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Forwards the signals a user sends to a foreground `berth runtime run` to the container.
pub fn forward_signals_to(pid: i32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    FORWARD_TO.store(pid, Ordering::Relaxed);
    let act = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &act) };
    }
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
    nix::unistd::write(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, b"R")
        .map(drop)
        .map_err(|e| Error::sys("report readiness", e))
}

/// Child side: report a failure (best effort: the parent may be gone).
pub fn send_error(fd: RawFd, err: &Error) {
    let mut msg = vec![b'E', err.exit_code()];
    let text = err.to_string();
    // One write below PIPE_BUF is atomic: the parent sees the whole message or nothing.
    msg.extend_from_slice(&text.as_bytes()[..text.len().min(4000)]);
    // SAFETY: `fd` is the child's end of the sync pipe, open until exec or exit.
    let _ = nix::unistd::write(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, &msg);
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

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 20), Some("1"));
        assert_eq!(stat_field(stat, 22), Some("98765"));
    }

    #[test]
    fn own_start_time_is_readable() {
        let (start, state) = start_time_and_state(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(state != 'Z');
    }

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
