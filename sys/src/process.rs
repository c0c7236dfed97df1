//! Process plumbing for the runtimes, the supervisor and the CLI: forking (single-threaded
//! only), detached spawns, descriptors a forked child closes, signal disposition, forwarding
//! and catching, reaping and waiting, reading a process's identity from /proc, and trimming an
//! idle process's memory footprint.
//!
//! Each function here needs a raw call that `nix` does not offer safely (forking, signal
//! handlers, `madvise`, `close_range`, pidfds, taking ownership of an inherited descriptor,
//! `pre_exec` hooks); the function's shape is what makes that call sound, as each `// SAFETY:`
//! comment says.

use nix::sys::signal::Signal;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The shell's encoding, which Docker and runc use as their own exit code: the exit code, or
    /// 128 + the signal number.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Code(c) => c as u8,
            ExitStatus::Signal(s) => (128 + s) as u8,
        }
    }
}

/// Makes `cmd`, once spawned, a detached grandchild: between fork and exec the child forks
/// again and exits (so the program is nobody's child and outlives the caller), calls `setsid`
/// (no controlling terminal, its own session) and, with `pass = Some((fd, target))`, puts `fd`
/// on descriptor `target` (which `dup2` leaves inheritable). The caller reaps the intermediate
/// process with `Child::wait` and must keep `fd` open until `spawn` returns.
pub fn detach_on_spawn(cmd: &mut Command, pass: Option<(RawFd, RawFd)>) {
    // SAFETY: the hook runs in the forked child, where only async-signal-safe calls are
    // allowed: it makes only fork, _exit, setsid, dup2 and fcntl system calls and allocates
    // nothing.
    unsafe {
        cmd.pre_exec(move || {
            match libc::fork() {
                -1 => return Err(io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            if let Some((fd, target)) = pass {
                // dup2 onto itself would leave the descriptor close-on-exec.
                let r = if fd == target { libc::fcntl(fd, libc::F_SETFD, 0) } else { libc::dup2(fd, target) };
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Makes `cmd`, once spawned, inherit `fd` as descriptor `target` (`dup2` leaves it
/// inheritable), as a shell's `9<file` does. The caller keeps `fd` open until `spawn` returns.
pub fn pass_fd_on_spawn(cmd: &mut Command, fd: RawFd, target: RawFd) {
    // SAFETY: the hook runs in the forked child and only makes the dup2 or fcntl system call:
    // async-signal-safe, nothing allocated.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would leave the descriptor close-on-exec.
            let r = if fd == target { libc::fcntl(fd, libc::F_SETFD, 0) } else { libc::dup2(fd, target) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes `cmd`, once spawned, the leader of a session of its own whose controlling terminal is
/// the terminal on its stdin (set with `Command::stdin`): how a terminal runs a program in the
/// foreground, so that it gets the terminal's signals (Ctrl-C) and can open `/dev/tty`.
pub fn controlling_terminal_on_spawn(cmd: &mut Command) {
    // SAFETY: the hook runs in the forked child and only makes the setsid and ioctl system
    // calls, with integer arguments: async-signal-safe, nothing allocated.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
}

/// Makes `cmd`, once spawned, run in a private mount namespace (propagation from the host
/// kept, none back) in which `target` is lazily unmounted.
pub fn hide_mount_on_spawn(cmd: &mut Command, target: &'static CStr) {
    // SAFETY: the hook runs in the forked child and only makes the unshare, mount and umount2
    // system calls on static C strings: async-signal-safe, nothing allocated.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            );
            libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            Ok(())
        });
    }
}

/// Sends signal number `sig` to `pid` (any number the kernel knows, real-time ones
/// included, which `nix::sys::signal::Signal` cannot name). A vanished process is not an
/// error (`ESRCH` maps to `Ok(false)`); `Ok(true)` when delivered.
pub fn send_signal(pid: i32, sig: i32) -> io::Result<bool> {
    // SAFETY: kill(2) takes no pointers; any argument values are memory-safe.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Reaps a child: `pid` (or any child with `-1`), waiting for it unless `nohang`. Returns its
/// pid and how it ended (real-time signals included, which `nix::sys::wait` cannot report);
/// `None` when no child has ended (with `nohang`) or none is left (`ECHILD`).
pub fn wait_status(pid: i32, nohang: bool) -> io::Result<Option<(i32, ExitStatus)>> {
    let mut st = 0;
    loop {
        // SAFETY: waitpid writes the status to a local int; no other pointer is involved.
        let r = unsafe { libc::waitpid(pid, &mut st, if nohang { libc::WNOHANG } else { 0 }) };
        if r > 0 {
            if libc::WIFEXITED(st) {
                return Ok(Some((r, ExitStatus::Code(libc::WEXITSTATUS(st)))));
            }
            if libc::WIFSIGNALED(st) {
                return Ok(Some((r, ExitStatus::Signal(libc::WTERMSIG(st)))));
            }
            // Stopped or continued (a traced child): it has not ended.
            continue;
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// [`wait_status`] with the status in the shell's encoding (the exit code, or 128 + the
/// signal number).
pub fn wait_child(pid: i32, nohang: bool) -> io::Result<Option<(i32, i32)>> {
    Ok(wait_status(pid, nohang)?.map(|(p, st)| (p, i32::from(st.code()))))
}

/// Sets `signals` to be ignored (inherited across exec, as SIG_IGN is).
pub fn ignore_signals(signals: &[Signal]) -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for s in signals {
        // SAFETY: SIG_IGN runs no code of ours, so no handler can break an invariant.
        unsafe { sigaction(*s, &ign) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// Restores the default SIGPIPE disposition, which Rust's runtime sets to "ignore", so a
/// printing command whose reader went away (`berth images | head`) ends quietly, as other
/// command-line tools do, instead of failing on EPIPE.
pub fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler code; it only changes this process's disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes no pointers.
        unsafe { libc::kill(pid, sig) };
    }
}

/// From now on, each of `signals` this process receives is sent on to `pid` instead of
/// having its default effect (Docker's sig-proxy). One target per process: a later call
/// replaces it.
pub fn forward_signals(pid: i32, signals: &[Signal]) -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    FORWARD_TO.store(pid, Ordering::Relaxed);
    let act = SigAction::new(SigHandler::Handler(forward_signal), SaFlags::SA_RESTART, SigSet::empty());
    for s in signals {
        // SAFETY: the handler only reads an atomic and calls kill(2), both async-signal-safe.
        unsafe { sigaction(*s, &act) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// Descriptors 0..64 already claimed by [`claim_inherited_fd`].
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// Takes ownership of descriptor `fd` (3..64) inherited across exec from whoever started this
/// process, marking it close-on-exec. `None` when it is not open or was already claimed.
/// Call it at start-up, for a descriptor number the parent promised to pass (the shim's
/// attach socket), before the process opens descriptors of its own that could take it.
pub fn claim_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    if !(3..64).contains(&fd) {
        return None;
    }
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).ok()?;
    let bit = 1u64 << fd;
    if CLAIMED.fetch_or(bit, Ordering::SeqCst) & bit != 0 {
        return None;
    }
    let cloexec = nix::fcntl::FdFlag::from_bits_truncate(flags) | nix::fcntl::FdFlag::FD_CLOEXEC;
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(cloexec));
    // SAFETY: the descriptor is open; by this function's contract it was inherited (nothing
    // else in the process owns it), and the CLAIMED bit makes this the only OwnedFd made for
    // it here, so it is closed once.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Field `n` (1-based, as in proc(5)) of a /proc/<pid>/stat line.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3)
}

/// The number of threads of this process.
pub fn thread_count() -> io::Result<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    Ok(stat_field(&stat, 20).and_then(|t| t.parse::<u32>().ok()).unwrap_or(1))
}

/// The start time (clock ticks since boot) and state letter of `pid`, or None when it is gone.
pub fn start_time_and_state(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat_field(&stat, 3)?.chars().next()?;
    let start = stat_field(&stat, 22)?.parse().ok()?;
    Some((start, state))
}

/// Which side of a fork we are on.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent(i32),
}

/// Forks this process, which must be single-threaded: the child of a multi-threaded process
/// inherits locks (the allocator's among them) held by threads that do not exist in it. A
/// process with more than one thread gets an error instead.
pub fn fork() -> io::Result<Forked> {
    let threads = thread_count()?;
    if threads > 1 {
        return Err(io::Error::other(format!("cannot fork a process with {threads} threads")));
    }
    // SAFETY: the process has one thread (checked just above, and only this thread could have
    // started another since), so the child gets a consistent copy of the heap and every lock.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
    }
}

/// Ends this process at once, without running exit handlers or flushing stdio buffers: what
/// a forked child does, since those belong to its parent.
pub fn exit_now(code: u8) -> ! {
    // SAFETY: _exit takes an integer and does not return.
    unsafe { libc::_exit(code as libc::c_int) }
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

/// Closes every descriptor from `min` up except those in `keep`: what a process forked toward
/// a container must not carry into it (its parent's sockets, logs, directories; the caller's
/// `9</host/dir`), closed before it joins the container, not merely marked close-on-exec.
/// Only for a freshly forked child, in which nothing owns those descriptors any more.
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

/// Whether nobody can read the pipe whose write end is descriptor number `fd` any more (its
/// read end closed everywhere), sampled without blocking.
pub fn reader_gone(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd on the stack; a zero timeout only samples the pipe's state.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Writes `buf` to descriptor number `fd` (a pipe end a forked child inherited), once.
pub fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buf`, valid for the call; a descriptor number
    // that is not open fails with EBADF.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Waits until `pid` (not necessarily our child) exits, with a pidfd. A process that is gone
/// already is not an error.
pub fn wait_for_exit(pid: i32) -> io::Result<()> {
    // SAFETY: pidfd_open takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(()) } else { Err(e) };
    }
    // SAFETY: the descriptor was just created for us; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd on the stack.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Ok(());
        }
    }
}

/// Restores default signal handling (every signal at its default action, none blocked), as a
/// process about to exec a container's program needs: Rust ignores SIGPIPE at startup and the
/// runtime may have installed handlers; an ignored signal would stay ignored after exec.
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

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn record_signal(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe. Whoever polls [`caught_signal`] does the rest.
    CAUGHT.store(sig, Ordering::Relaxed);
}

/// From now on, each of `signals` this process receives is recorded (see [`caught_signal`])
/// instead of having its default effect. Blocked signals stay pending for `sigwait`: for a
/// PID 1, which the kernel sends no signal left at its default action, this is what makes
/// them arrive at all.
pub fn catch_signals(signals: &[Signal]) -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let act = SigAction::new(SigHandler::Handler(record_signal), SaFlags::SA_RESTART, SigSet::empty());
    for s in signals {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(*s, &act) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// The last signal [`catch_signals`] recorded (0: none yet).
pub fn caught_signal() -> i32 {
    CAUGHT.load(Ordering::Relaxed)
}

/// Gives back memory an idle process no longer needs: the clean pages of every read-only
/// file mapping (code, read-only data, and the untouched pages of relocated data) are dropped
/// from the page tables, to be faulted back from the page cache when touched again; free heap
/// is returned to the system. Pages a mapping holds privately (written by the dynamic loader
/// before it was made read-only) stay. Everything is planned first and the `madvise` calls
/// come last, in one tight loop, so that little code runs (and faults back) afterwards.
pub fn trim_footprint() {
    const MAX: usize = 256;
    let mut ranges = [(0usize, 0usize); MAX];
    let mut n = 0;
    if let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") {
        let pagemap = std::fs::File::open("/proc/self/pagemap").ok();
        let mut push = |r: (usize, usize)| {
            if n < MAX && r.1 > r.0 {
                ranges[n] = r;
                n += 1;
            }
        };
        let mut plan = |m: Option<(usize, usize)>, anon_kb: u64| {
            let Some((start, end)) = m else { return };
            if anon_kb == 0 {
                push((start, end));
            } else if let Some(pm) = &pagemap {
                // Only the runs of present pages still backed by the file (pagemap bit 61);
                // a page the process wrote to is anonymous and must keep its contents.
                for (a, b) in file_page_runs(pm, start, end) {
                    push((a, b));
                }
            }
        };
        let mut cur: Option<(usize, usize)> = None;
        let mut anon = 0u64;
        for line in smaps.lines() {
            let mut f = line.split_whitespace();
            let first = f.next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-').filter(|(a, _)| a.bytes().all(|c| c.is_ascii_hexdigit())) {
                plan(cur.take(), anon);
                anon = 0;
                let perms = f.next().unwrap_or("");
                let path = line.split_whitespace().nth(5).unwrap_or("");
                let eligible =
                    perms.starts_with('r') && perms.as_bytes().get(1) == Some(&b'-') && path.starts_with('/');
                if let (true, Ok(a), Ok(b)) = (eligible, usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                    cur = Some((a, b));
                }
            } else if first == "Anonymous:" {
                // Unparsable counts as "has private pages": then only pagemap decides.
                anon = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            }
        }
        plan(cur.take(), anon);
    }
    malloc_trim();
    for &(start, end) in &ranges[..n] {
        // SAFETY: the range lies in a mapping of ours that is backed by a file, readable and
        // not writable, and holds no private (anonymous) page (the whole mapping had none, or
        // pagemap said each of these pages is the file's): its contents are exactly the file's,
        // so dropping the pages only makes later accesses fault the same bytes back in. No
        // Rust reference can observe a change. (Were the mapping replaced meanwhile, which
        // this single caller does not do, the range would still be read-only file data.)
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// The runs of pages in `start..end` that are present and still file pages (not written to
/// privately), from /proc/self/pagemap.
fn file_page_runs(pagemap: &std::fs::File, start: usize, end: usize) -> Vec<(usize, usize)> {
    use std::os::unix::fs::FileExt;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as usize;
    let pages = (end - start) / page;
    let mut buf = vec![0u8; pages * 8];
    if pagemap.read_exact_at(&mut buf, (start / page * 8) as u64).is_err() {
        return Vec::new();
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, e) in buf.chunks_exact(8).enumerate() {
        let v = u64::from_le_bytes(e.try_into().expect("8 bytes"));
        let (present, file) = (v >> 63 & 1 == 1, v >> 61 & 1 == 1);
        if present && file {
            let a = start + i * page;
            match runs.last_mut() {
                Some(r) if r.1 == a => r.1 = a + page,
                _ => runs.push((a, a + page)),
            }
        }
    }
    runs
}

/// Returns the allocator's free heap memory to the system (glibc's `malloc_trim`).
pub fn malloc_trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
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
        assert!(thread_count().unwrap() >= 1);
    }

    #[test]
    fn a_multi_threaded_process_is_not_forked() {
        // The test harness runs tests on threads of their own: this process has several.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(fork().is_err());
        drop(tx);
        let _ = t.join();
    }

    #[test]
    fn waits_for_a_process_that_is_not_a_child() {
        let mut c = Command::new("sleep").arg("0.1").spawn().unwrap();
        wait_for_exit(c.id() as i32).unwrap();
        assert_eq!(start_time_and_state(c.id() as i32).map(|s| s.1), Some('Z'), "exited, not yet reaped");
        c.wait().unwrap();
        wait_for_exit(c.id() as i32).unwrap();
    }

    #[test]
    fn a_pipe_without_a_reader_is_seen() {
        let (r, w) = nix::unistd::pipe().unwrap();
        assert!(!reader_gone(w.as_raw_fd()));
        assert_eq!(write_fd(w.as_raw_fd(), b"R").unwrap(), 1);
        drop(r);
        assert!(reader_gone(w.as_raw_fd()));
    }

    #[test]
    fn signals_to_a_gone_process_are_not_errors() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!send_signal(pid, 0).unwrap());
        assert!(send_signal(std::process::id() as i32, 0).unwrap());
    }

    #[test]
    #[allow(clippy::zombie_processes, reason = "wait_child is what reaps them")]
    fn reaps_with_shell_exit_codes() {
        let c = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        assert_eq!(wait_child(c.id() as i32, false).unwrap(), Some((c.id() as i32, 7)));
        let c = Command::new("sh").args(["-c", "kill -KILL $$"]).spawn().unwrap();
        assert_eq!(wait_child(c.id() as i32, false).unwrap(), Some((c.id() as i32, 137)));
        assert_eq!(wait_child(c.id() as i32, true).unwrap(), None);
    }

    #[test]
    fn claims_an_fd_once() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
        assert!(fd < 64);
        let owned = claim_inherited_fd(fd).expect("open fd");
        assert!(claim_inherited_fd(fd).is_none(), "second claim refused");
        drop(owned);
        assert!(claim_inherited_fd(1000).is_none());
    }

    /// The relocated-data case: a private file mapping, one page written, then read-only.
    /// Trimming must drop the clean pages and keep the written one.
    #[test]
    fn trimming_keeps_privately_written_pages() {
        use std::io::Write;
        let mut f = tempfile_in_tmp();
        f.write_all(&vec![b'f'; 4 * 4096]).unwrap();
        let len = 4 * 4096;
        // SAFETY: a fresh private mapping of our own file, unmapped at the end.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(&f),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let bytes = p as *mut u8;
        // SAFETY: within the mapping.
        unsafe {
            for i in 0..4 {
                let _ = std::ptr::read_volatile(bytes.add(i * 4096)); // all present
            }
            *bytes.add(4096) = b'w';
            assert_eq!(libc::mprotect(p, len, libc::PROT_READ), 0);
        }
        trim_footprint();
        // SAFETY: within the mapping.
        unsafe {
            assert_eq!(*bytes.add(4096), b'w', "the private page kept its contents");
            assert_eq!(*bytes.add(2 * 4096), b'f');
            libc::munmap(p, len);
        }
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("berth-sys-trim-{}", std::process::id()));
        let f = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn trimming_keeps_code_and_data_working() {
        let v: Vec<u64> = (0..100_000).collect();
        trim_footprint();
        assert_eq!(v.iter().sum::<u64>(), 4_999_950_000);
        assert_eq!(format!("{}", 42), "42");
    }
}
