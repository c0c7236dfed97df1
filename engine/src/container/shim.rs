//! The per-container supervisor: `berth shim ROOT ID`, one small process per running container.
//!
//! There is no daemon, so something must outlive the CLI to hold a container's stdio, write
//! its log, reap it and record how it ended. That is the shim: a fresh re-exec of the berth
//! binary (so the container is spawned by a single-threaded process that never ran tokio),
//! double-forked and `setsid` so it belongs to no terminal or CLI, and the child subreaper of
//! everything the runtime starts, so the container's init is its child and `waitpid` gives
//! its status. It holds `shim.lock` for its whole life: that is how other berth commands know
//! it lives. It is plain blocking code around one `poll` loop, with small buffers and no
//! threads, to keep its idle footprint tiny. It applies the restart policy with Docker's
//! back-off (100 ms, doubling, reset after 10 s of running), and removes `--rm` containers.

use super::attach::{self, write_frame};
use super::{logs::LogWriter, runtime, snapshot, Container, State};
use crate::{Error, Result};
use fs4::fs_std::FileExt;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fd on which a shim finds its first client (the CLI that spawned it).
const ATTACH_FD: RawFd = 3;

/// Spawns the shim of `c` and returns the CLI's end of its attach stream.
pub fn spawn(root: &Path, c: &Container) -> Result<attach::Session> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
    // /proc/self/exe, not the path: it works even if the binary was replaced meanwhile.
    let mut cmd = std::process::Command::new("/proc/self/exe");
    std::os::unix::process::CommandExt::arg0(&mut cmd, "berth");
    cmd.arg("shim").arg(root).arg(&c.id);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let fd = theirs.as_raw_fd();
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls: fork (the intermediate
    // exits at once, so the shim is not our child and outlives us), setsid, dup2.
    unsafe {
        cmd.pre_exec(move || {
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            if libc::dup2(fd, ATTACH_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::Other(format!("starting the shim: {e}")))?;
    let _ = child.wait(); // the intermediate process
    drop(theirs);
    Ok(attach::Session::new(ours))
}

/// Entry point of `berth shim ROOT ID`; returns the process exit code.
pub fn main(args: &[OsString]) -> i32 {
    let (Some(root), Some(id)) = (args.first(), args.get(1)) else {
        eprintln!("usage: berth shim ROOT ID");
        return 2;
    };
    let dir = PathBuf::from(root).join("containers").join(id);
    // SAFETY: fd 3 was set up by `spawn`; if it is not a socket the first write fails and the
    // client is dropped.
    let client = unsafe {
        if libc::fcntl(ATTACH_FD, libc::F_GETFD) >= 0 {
            libc::fcntl(ATTACH_FD, libc::F_SETFD, libc::FD_CLOEXEC);
            Some(UnixStream::from_raw_fd(ATTACH_FD))
        } else {
            None
        }
    };
    match supervise(&dir, client) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

struct Client(Option<UnixStream>);

impl Client {
    fn send(&mut self, kind: u8, data: &[u8]) {
        if let Some(s) = self.0.as_mut() {
            if write_frame(s, kind, data).is_err() {
                self.0 = None; // the CLI went away: detached
            }
        }
    }
    fn fd(&self) -> Option<RawFd> {
        self.0.as_ref().map(|s| s.as_raw_fd())
    }
}

fn load(dir: &Path) -> Result<Container> {
    let p = dir.join("config.v2.json");
    let b = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
    let mut c: Container = serde_json::from_slice(&b).map_err(|e| Error::malformed(p.display().to_string(), e))?;
    c.dir = dir.to_path_buf();
    c.state = super::read_state(dir)?;
    Ok(c)
}

fn supervise(dir: &Path, client: Option<UnixStream>) -> Result<()> {
    let mut client = Client(client);
    // SAFETY: process-wide settings made while single-threaded, before spawning anything.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let lock_path = dir.join("shim.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    if !matches!(FileExt::try_lock_exclusive(&lock), Ok(true)) {
        let msg = b"\x7dthe container is already running";
        client.send(attach::ERROR, msg);
        return Err(Error::Conflict("already supervised".into()));
    }
    let mut c = match load(dir) {
        Ok(c) => c,
        Err(e) => {
            let mut m = vec![125u8];
            m.extend_from_slice(e.to_string().as_bytes());
            client.send(attach::ERROR, &m);
            return Err(e);
        }
    };
    let sigfd = sigchld_fd()?;
    let mut delay = Duration::from_millis(100);
    // The last word to the attached CLI goes out only once the container is fully stopped
    // (and removed, with --rm), so the CLI's next command sees the final state.
    let mut last_word: Option<(u8, Vec<u8>)> = None;
    loop {
        let t0 = Instant::now();
        let outcome = run_once(&mut c, &mut client, &sigfd);
        let _ = snapshot::release(&c);
        match outcome {
            Err(e) => {
                let (code, msg) = match &e {
                    Error::StartFailed { code, message } => (*code, message.clone()),
                    other => (125, other.to_string()),
                };
                let _ = c.update_state(|s| {
                    s.status = if s.restart_count > 0 { "exited".into() } else { "created".into() };
                    s.running = false;
                    s.restarting = false;
                    s.pid = 0;
                    s.shim_pid = 0;
                    s.exit_code = code as i32;
                    s.error = msg.clone();
                    if s.restart_count > 0 {
                        s.finished_at = super::now_rfc3339();
                    }
                });
                let mut m = vec![code];
                m.extend_from_slice(msg.as_bytes());
                last_word = Some((attach::ERROR, m));
                break;
            }
            Ok((code, oom)) => {
                let _ = c.update_state(|s| {
                    s.status = "exited".into();
                    s.running = false;
                    s.pid = 0;
                    s.exit_code = code;
                    s.oom_killed = oom;
                    s.finished_at = super::now_rfc3339();
                });
                if !should_restart(&c.host_config.restart_policy, &c.state, code) {
                    last_word = Some((attach::EXIT, code.to_be_bytes().to_vec()));
                    break;
                }
                client.send(attach::EXIT, &code.to_be_bytes());
                client.0 = None;
                // Docker's back-off: doubling from 100 ms, reset after 10 s of running.
                if t0.elapsed() >= Duration::from_secs(10) {
                    delay = Duration::from_millis(100);
                }
                let _ = c.update_state(|s| {
                    s.restarting = true;
                    s.status = "restarting".into();
                });
                let until = Instant::now() + delay;
                let mut stopped = false;
                while Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
                    if c.reload_state().is_err() || c.state.has_been_manually_stopped {
                        stopped = true;
                        break;
                    }
                }
                delay = (delay * 2).min(Duration::from_secs(60));
                if stopped {
                    let _ = c.update_state(|s| {
                        s.restarting = false;
                        s.status = "exited".into();
                    });
                    break;
                }
                let _ = c.update_state(|s| s.restart_count += 1);
            }
        }
    }
    crate::network::container::teardown(&c);
    if c.host_config.auto_remove {
        let root = runtime::state_root(&c);
        if let Ok(e) = crate::Engine::open(&root) {
            let _ = e.remove_container_files(&c, true);
        }
    } else {
        let _ = c.update_state(|s| {
            s.shim_pid = 0;
            s.restarting = false;
            if s.status == "restarting" || s.status == "running" {
                s.status = "exited".into();
            }
        });
    }
    if let Some((kind, data)) = last_word {
        client.send(kind, &data);
    }
    drop(client);
    drop(lock);
    Ok(())
}

fn should_restart(p: &super::RestartPolicy, st: &State, code: i32) -> bool {
    if st.has_been_manually_stopped {
        return false;
    }
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0 && (p.maximum_retry_count == 0 || st.restart_count < p.maximum_retry_count),
        _ => false,
    }
}

/// A signalfd for SIGCHLD (blocked, so it is only ever read from the fd).
fn sigchld_fd() -> Result<OwnedFd> {
    // SAFETY: sigset manipulation and signalfd on valid pointers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(Error::Other(format!("signalfd: {}", std::io::Error::last_os_error())));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Other(format!("pipe: {e}")))
}

fn devnull() -> Result<OwnedFd> {
    Ok(File::options().read(true).write(true).open("/dev/null").map_err(|e| Error::io("/dev/null", e))?.into())
}

/// Where the container's output comes from.
enum Output {
    Pipes { out: Option<OwnedFd>, err: Option<OwnedFd>, stdin: Option<OwnedFd> },
    Pty(OwnedFd),
}

/// Runs the container once: create, start, pump output until it exits. Returns its exit
/// code (128+signal when killed) and whether it was OOM-killed.
fn run_once(c: &mut Container, client: &mut Client, sigfd: &OwnedFd) -> Result<(i32, bool)> {
    // The network namespace the runtime joins (idempotent across restarts).
    crate::network::container::setup(c, &c.net)?;
    snapshot::prepare(c)?;
    let cwd = super::spec::secure_join(&c.rootfs(), &c.process.cwd);
    if !cwd.exists() {
        let _ = std::fs::create_dir_all(&cwd);
    }
    let (io, mut output, console) = if c.config.tty {
        let sock = std::env::temp_dir().join(format!(
            "berth-console-{}-{:08x}.sock",
            std::process::id(),
            rand::random::<u32>()
        ));
        let listener = std::os::unix::net::UnixListener::bind(&sock).map_err(|e| Error::io(&sock, e))?;
        (runtime::Io::Console(sock.clone()), None, Some((listener, sock)))
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (stdin_ours, stdin_theirs) = if c.config.open_stdin {
            let (r, w) = pipe()?;
            (Some(w), r)
        } else {
            (None, devnull()?)
        };
        (
            runtime::Io::Fds(stdin_theirs, out_w, err_w),
            Some(Output::Pipes { out: Some(out_r), err: Some(err_r), stdin: stdin_ours }),
            None,
        )
    };
    // The runtime connects to the console socket and sends the pty master during create;
    // the connection waits in the listener's backlog, so it is accepted afterwards (no
    // thread: the built-in runtime forks from this process and refuses to if threaded).
    let pid = match &console {
        Some((listener, sock)) => {
            let r = runtime::create(c, io);
            let pty = if r.is_ok() {
                listener.set_nonblocking(true).ok();
                recv_pty(listener)
            } else {
                None
            };
            let _ = std::fs::remove_file(sock);
            let pid = r?;
            match pty {
                Some(p) => output = Some(Output::Pty(p)),
                None => {
                    let _ = runtime::delete(c);
                    return Err(Error::Other("the runtime sent no terminal".into()));
                }
            }
            pid
        }
        None => runtime::create(c, io)?,
    };
    drop(console);
    let start_time = runtime::pid_start_time(pid).unwrap_or(0);
    let shim_pid = std::process::id() as i32;
    c.update_state(|s| {
        s.pid = pid;
        s.pid_start_time = start_time;
        s.shim_pid = shim_pid;
    })?;
    if let Err(e) = runtime::start(c) {
        let _ = runtime::delete(c);
        reap_all(sigfd);
        return Err(e);
    }
    let started = super::now_rfc3339();
    c.update_state(|s| {
        s.status = "running".into();
        s.running = true;
        s.restarting = false;
        s.oom_killed = false;
        s.exit_code = 0;
        s.error.clear();
        s.started_at = started.clone();
    })?;
    client.send(attach::STARTED, &pid.to_be_bytes());
    trim_footprint();
    let mut log = LogWriter::open(&c.log_path()).map_err(|e| Error::io(c.log_path(), e))?;
    let status = pump(pid, output.expect("set above"), client, sigfd, &mut log);
    log.flush();
    let oom = runtime::oom_killed(c);
    runtime::cleanup_after(c);
    Ok((status, oom))
}

/// Gives back what starting the container paged in: the shim then idles in a poll loop
/// that touches a few pages. Clean, read-only file mappings (code, read-only data; never
/// the relocated, dirty ones) are dropped from the page tables and later faulted back from
/// the page cache on demand, without read-around; the heap is trimmed.
fn trim_footprint() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    let mut cur: Option<(usize, usize, bool)> = None;
    let apply = |m: Option<(usize, usize, bool)>, anon_kb: u64| {
        if let Some((start, end, eligible)) = m {
            if eligible && anon_kb == 0 {
                // SAFETY: the range is a whole read-only, unmodified file mapping of ours;
                // dropping its pages only makes later accesses fault them back in.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_RANDOM);
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    };
    let mut anon = 0u64;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|(a, _)| a.bytes().all(|c| c.is_ascii_hexdigit())) {
            apply(cur.take(), anon);
            anon = 0;
            let perms = f.next().unwrap_or("");
            let path = line.split_whitespace().nth(5).unwrap_or("");
            let eligible = perms.starts_with('r') && perms.as_bytes().get(1) == Some(&b'-') && path.starts_with('/');
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                cur = Some((a, b, eligible));
            }
        } else if first == "Anonymous:" {
            anon = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
        }
    }
    apply(cur.take(), anon);
    // SAFETY: glibc's malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn recv_pty(l: &std::os::unix::net::UnixListener) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (s, _) = l.accept().ok()?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
    for m in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = m {
            if let Some(fd) = fds.first() {
                // SAFETY: the fd was just received and is ours.
                return Some(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    None
}

fn reap_all(sigfd: &OwnedFd) {
    drain_sigfd(sigfd);
    loop {
        let mut st = 0;
        // SAFETY: waitpid on any child, non-blocking.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
}

fn drain_sigfd(sigfd: &OwnedFd) {
    let mut buf = [0u8; 128];
    // SAFETY: reading into a local buffer from our own non-blocking fd.
    while unsafe { libc::read(sigfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: reading into a buffer we own.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

/// Pumps output and input until the container's init exits and its output is drained.
fn pump(pid: i32, output: Output, client: &mut Client, sigfd: &OwnedFd, log: &mut LogWriter) -> i32 {
    let mut buf = vec![0u8; 16 * 1024];
    let (mut out, mut err, mut stdin, pty) = match output {
        Output::Pipes { out, err, stdin } => (out, err, stdin, None),
        Output::Pty(p) => (None, None, None, Some(p)),
    };
    let mut pty = pty;
    let mut exit: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut client_file = client.0.as_ref().and_then(|s| s.try_clone().ok());
    loop {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
        let mut roles: Vec<u8> = Vec::with_capacity(5);
        let mut add = |fd: RawFd, role: u8| {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
            roles.push(role);
        };
        add(sigfd.as_raw_fd(), 0);
        if let Some(f) = &out {
            add(f.as_raw_fd(), 1);
        }
        if let Some(f) = &err {
            add(f.as_raw_fd(), 2);
        }
        if let Some(f) = &pty {
            add(f.as_raw_fd(), 3);
        }
        if let (Some(_), Some(fd)) = (&client_file, client.fd()) {
            add(fd, 4);
        }
        if exit.is_some() && out.is_none() && err.is_none() && pty.is_none() {
            break;
        }
        // After the init exited, give stragglers holding the pipes a moment, not forever.
        let timeout = match exited_at {
            Some(t) => {
                let left = Duration::from_millis(500).saturating_sub(t.elapsed());
                if left.is_zero() {
                    break;
                }
                left.as_millis() as i32
            }
            None => -1,
        };
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        for (i, p) in fds.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            match roles[i] {
                0 => {
                    drain_sigfd(sigfd);
                    loop {
                        let mut st = 0;
                        // SAFETY: waitpid on any child, non-blocking.
                        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                        if r <= 0 {
                            break;
                        }
                        if r == pid {
                            let code = if libc::WIFEXITED(st) {
                                libc::WEXITSTATUS(st)
                            } else if libc::WIFSIGNALED(st) {
                                128 + libc::WTERMSIG(st)
                            } else {
                                0
                            };
                            exit = Some(code);
                            exited_at = Some(Instant::now());
                            stdin = None;
                        }
                    }
                }
                role @ 1..=3 => {
                    let fd = p.fd;
                    let r = read_fd(fd, &mut buf);
                    if r > 0 {
                        let d = &buf[..r as usize];
                        let stream = if role == 2 { 2 } else { 1 };
                        log.write(stream, d);
                        client.send(if stream == 2 { attach::STDERR } else { attach::STDOUT }, d);
                        if client.0.is_none() {
                            client_file = None;
                        }
                    } else if r == 0 || (r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
                        match role {
                            1 => out = None,
                            2 => err = None,
                            _ => pty = None,
                        }
                    }
                }
                _ => {
                    let Some(cf) = client_file.as_mut() else { continue };
                    match attach::read_frame(cf) {
                        Ok(Some((attach::STDIN, d))) => {
                            if let Some(s) = &stdin {
                                let _ = write_all_fd(s.as_raw_fd(), &d);
                            } else if let Some(p) = &pty {
                                let _ = write_all_fd(p.as_raw_fd(), &d);
                            }
                        }
                        Ok(Some((attach::STDIN_EOF, _))) => {
                            stdin = None;
                        }
                        Ok(Some((attach::RESIZE, d))) if d.len() == 4 => {
                            if let Some(p) = &pty {
                                let ws = libc::winsize {
                                    ws_row: u16::from_be_bytes([d[0], d[1]]),
                                    ws_col: u16::from_be_bytes([d[2], d[3]]),
                                    ws_xpixel: 0,
                                    ws_ypixel: 0,
                                };
                                // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
                                unsafe { libc::ioctl(p.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            // Detached; stdin (if the CLI owned it) is closed like Docker's
                            // `--attach`/`-i` once the CLI goes away.
                            client_file = None;
                            client.0 = None;
                        }
                    }
                }
            }
        }
    }
    exit.unwrap_or_else(|| wait_blocking(pid))
}

fn wait_blocking(pid: i32) -> i32 {
    let mut st = 0;
    // SAFETY: waitpid on our child.
    let r = unsafe { libc::waitpid(pid, &mut st, 0) };
    if r == pid && libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if r == pid && libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        255
    }
}

fn write_all_fd(fd: RawFd, mut d: &[u8]) -> std::io::Result<()> {
    while !d.is_empty() {
        // SAFETY: writing from a buffer we own.
        let n = unsafe { libc::write(fd, d.as_ptr().cast(), d.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        d = &d[n as usize..];
    }
    Ok(())
}

#[allow(dead_code)]
fn _assert_read(_: &mut dyn Read, _: &mut dyn Write) {}
