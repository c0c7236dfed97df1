//! Process plumbing for the supervisor and the CLI: detached spawns, signal disposition,
//! reaping, and trimming an idle process's memory footprint.
//!
//! Each function here needs a raw call that `nix` does not offer safely (forking, signal
//! handlers, `madvise`, taking ownership of an inherited descriptor, `pre_exec` hooks); the
//! function's shape is what makes that call sound, as each `// SAFETY:` comment says.

use nix::sys::signal::Signal;
use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
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

/// Reaps a child: `pid` (or any child with `-1`), waiting for it unless `nohang`. Returns
/// its pid and status in the shell's encoding (the exit code, or 128 + the signal number:
/// real-time signals included, which `nix::sys::wait` cannot report); `None` when no child
/// has ended (with `nohang`) or none is left (`ECHILD`).
pub fn wait_child(pid: i32, nohang: bool) -> io::Result<Option<(i32, i32)>> {
    let mut st = 0;
    loop {
        // SAFETY: waitpid writes the status to a local int; no other pointer is involved.
        let r = unsafe { libc::waitpid(pid, &mut st, if nohang { libc::WNOHANG } else { 0 }) };
        if r > 0 {
            let code = if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else if libc::WIFSIGNALED(st) {
                128 + libc::WTERMSIG(st)
            } else {
                0
            };
            return Ok(Some((r, code)));
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
        // SAFETY (test): a fresh private mapping of our own file, unmapped at the end.
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
        // SAFETY (test): within the mapping.
        unsafe {
            for i in 0..4 {
                let _ = std::ptr::read_volatile(bytes.add(i * 4096)); // all present
            }
            *bytes.add(4096) = b'w';
            assert_eq!(libc::mprotect(p, len, libc::PROT_READ), 0);
        }
        trim_footprint();
        // SAFETY (test): within the mapping.
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
