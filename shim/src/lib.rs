//! berth's per-container supervisor, the shim: `berth shim ROOT ID`, one small process per
//! running container.
//!
//! There is no daemon, so something must outlive the CLI to hold a container's stdio, write
//! its log, reap it and record how it ended. That is the shim: a fresh re-exec of the berth
//! binary (so the container is spawned by a single-threaded process that never ran tokio),
//! double-forked and `setsid` so it belongs to no terminal or CLI, and the child subreaper of
//! everything the runtime starts, so the container's init is its child and `waitpid` gives
//! its status. It holds `shim.lock` for its whole life: that is how other berth commands know
//! it lives. It is plain blocking code around one `poll` loop, with small buffers and no
//! threads, to keep its idle footprint tiny. Besides the CLI that started it, any number of
//! `berth attach` clients connect to a socket it listens on in the container's directory: all
//! get the output, any may send input. It applies the restart policy with Docker's
//! back-off (100 ms, doubling, reset after 10 s of running), removes `--rm` containers, and
//! runs the container's health checks ([`health`]). It writes the log through the engine's
//! `LogWriter`, which rotates it as `--log-opt` says. If the shim itself dies, the next berth
//! command that looks at the container cleans up and, as the policy says, starts a new shim
//! (`berth_engine::container::recover`).

//!
//! It is a client of the engine library: it reads and updates the container's record, sets up
//! its network, and creates it through the runtime the record names, as every other berth
//! command does; the engine only spawns it ([`berth_engine::container::supervisor`]).

#![forbid(unsafe_code)]

mod health;

use berth_engine::container::attach::{self, write_frame};
use berth_engine::container::supervisor::{write_all_fd, ATTACH_FD};
use berth_engine::container::{logs::LogWriter, runtime, snapshot, Container};
use berth_engine::{Error, Result};
use fs4::fs_std::FileExt;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Entry point of `berth shim ROOT ID`; returns the process exit code.
pub fn main(args: &[OsString]) -> i32 {
    if args.first().is_some_and(|a| a == "--hold-terminal") {
        return hold_terminal();
    }
    let (Some(root), Some(id)) = (args.first(), args.get(1)) else {
        eprintln!("usage: berth shim ROOT ID");
        return 2;
    };
    let dir = PathBuf::from(root).join("containers").join(id);
    // Exec'd through a descriptor of the sealed binary, the kernel named us after its number.
    let _ = nix::sys::prctl::set_name(c"berth");
    // Set up by `spawn`; if it is not a socket the first write fails and the client is dropped.
    let client = berth_sys::process::claim_inherited_fd(ATTACH_FD).map(UnixStream::from);
    match supervise(&dir, client) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// `berth shim --hold-terminal`: waits on the socket on fd 3 for the pty master of an
/// `exec -it` session the user detaches from (the CLI closes the socket when the session ends
/// otherwise), then reads (and drops) what the process writes to its terminal until it closes
/// it, so the process keeps a terminal, as under Docker's daemon.
fn hold_terminal() -> i32 {
    let Some(sock) = berth_sys::process::claim_inherited_fd(ATTACH_FD) else { return 1 };
    let Ok((master, _)) = berth_sys::term::recv_fd(sock.as_raw_fd()) else { return 0 };
    drop(sock);
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(master.as_raw_fd(), &mut buf) {
            Ok(0) => return 0,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // EIO: every slave descriptor is closed.
            Err(_) => return 0,
        }
    }
}

/// The attached CLIs: the one that started the container (on fd 3) and `berth attach`es.
struct Clients {
    conns: Vec<(u64, UnixStream)>,
    next: u64,
    listener: Option<UnixListener>,
}

impl Clients {
    fn new(first: Option<UnixStream>) -> Clients {
        let mut c = Clients { conns: Vec::new(), next: 0, listener: None };
        if let Some(s) = first {
            c.add(s);
        }
        c
    }

    fn add(&mut self, s: UnixStream) {
        // A client that stops reading (or sends half a frame) is dropped, not waited for.
        let _ = s.set_nonblocking(false);
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        self.conns.push((self.next, s));
        self.next += 1;
    }

    /// Takes the clients waiting on the listener.
    fn accept(&mut self) {
        while let Some(Ok((s, _))) = self.listener.as_ref().map(|l| l.accept()) {
            self.add(s);
        }
    }

    /// Sends a frame to every client; one that went away has detached.
    fn send(&mut self, kind: u8, data: &[u8]) {
        self.conns.retain_mut(|(_, s)| write_frame(s, kind, data).is_ok());
    }

    fn get(&self, id: u64) -> Option<&UnixStream> {
        self.conns.iter().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    fn remove(&mut self, id: u64) {
        self.conns.retain(|(i, _)| *i != id);
    }
}

fn load(dir: &Path) -> Result<Container> {
    let p = dir.join("config.v2.json");
    let b = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
    let mut c: Container = serde_json::from_slice(&b).map_err(|e| Error::malformed(p.display().to_string(), e))?;
    c.dir = dir.to_path_buf();
    c.state = berth_engine::container::read_state(dir)?;
    Ok(c)
}

fn supervise(dir: &Path, client: Option<UnixStream>) -> Result<()> {
    let mut client = Clients::new(client);
    let _ = berth_sys::process::ignore_signals(&[Signal::SIGPIPE, Signal::SIGHUP, Signal::SIGINT]);
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let lock_path = dir.join("shim.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    // The previous shim of a just-stopped container may still hold the lock while it finishes
    // its clean-up (`restart` starts right after the stop is recorded): wait for that one, but
    // not for a shim whose container is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(FileExt::try_lock_exclusive(&lock), Ok(true)) {
        let active = berth_engine::container::read_state(dir).map(|s| s.is_active()).unwrap_or(true);
        if active || Instant::now() >= deadline {
            let msg = b"\x7dthe container is already running";
            client.send(attach::ERROR, msg);
            return Err(Error::Conflict("already supervised".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Later clients (`berth attach`); without the socket the container runs all the same.
    client.listener = attach::listen(dir).ok();
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
        berth_engine::container::security::release_shm(&c.dir);
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
                        s.finished_at = berth_engine::container::now_rfc3339();
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
                    s.finished_at = berth_engine::container::now_rfc3339();
                    berth_engine::container::health::on_stop(s);
                });
                if !c.host_config.restart_policy.should_restart(&c.state, code) {
                    last_word = Some((attach::EXIT, code.to_be_bytes().to_vec()));
                    break;
                }
                client.send(attach::EXIT, &code.to_be_bytes());
                client.conns.clear();
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
    berth_engine::container::net::teardown(&c);
    if c.host_config.auto_remove {
        let root = runtime::state_root(&c);
        if let Ok(e) = berth_engine::Engine::open(&root) {
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
    if client.listener.take().is_some() {
        let _ = std::fs::remove_file(dir.join(attach::SOCKET));
    }
    drop(client);
    drop(lock);
    Ok(())
}

/// A signalfd for SIGCHLD (blocked, so it is only ever read from the fd).
fn sigchld_fd() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.thread_block().map_err(|e| Error::Other(format!("blocking SIGCHLD: {e}")))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::Other(format!("signalfd: {e}")))
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
fn run_once(c: &mut Container, client: &mut Clients, sigfd: &SignalFd) -> Result<(i32, bool)> {
    // The network namespace the runtime joins (idempotent across restarts).
    berth_engine::container::net::setup(c, &c.net)?;
    berth_engine::container::security::prepare(c)?;
    snapshot::prepare(c)?;
    // Created inside the root (the runtime reports what fails: a chain too long, a file there).
    if let Ok(root) = berth_sys::inroot::Root::open(c.rootfs()) {
        let _ = root.mkdir_all(&c.process.cwd, 0o755);
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
    let hc = c.config.healthcheck.clone();
    c.update_state(|s| {
        s.mark_running(berth_engine::container::now_rfc3339());
        berth_engine::container::health::on_start(s, hc.as_ref());
    })?;
    let mut monitor = health::Monitor::new(c);
    // A stop recorded while the restart policy was bringing the container back found no
    // process to signal and now waits for this shim: stop it here. The state lock orders
    // the two, so a stop recorded after this update sees it running and signals it itself.
    if c.state.has_been_manually_stopped {
        let _ = runtime::signal(c, libc::SIGKILL);
    }
    client.send(attach::STARTED, &pid.to_be_bytes());
    let mut log = LogWriter::open(&c.log_path(), &c.host_config.log_config).map_err(|e| Error::io(c.log_path(), e))?;
    let status = pump(pid, output.expect("set above"), client, sigfd, &mut log, &mut monitor);
    drop(monitor);
    log.flush();
    let oom = runtime::oom_killed(c);
    runtime::cleanup_after(c);
    Ok((status, oom))
}

fn recv_pty(l: &std::os::unix::net::UnixListener) -> Option<OwnedFd> {
    let (s, _) = l.accept().ok()?;
    berth_sys::term::recv_fd(s.as_raw_fd()).ok().map(|(fd, _)| fd)
}

fn reap_all(sigfd: &SignalFd) {
    drain_sigfd(sigfd);
    while let Ok(Some(_)) = berth_sys::process::wait_child(-1, true) {}
}

fn drain_sigfd(sigfd: &SignalFd) {
    while let Ok(Some(_)) = sigfd.read_signal() {}
}

/// How long the container must be quiet before the shim gives back the pages its last burst
/// of work touched.
const IDLE_TRIM_AFTER: Duration = Duration::from_secs(1);

/// Pumps output and input until the container's init exits and its output is drained.
fn pump(
    pid: i32,
    output: Output,
    client: &mut Clients,
    sigfd: &SignalFd,
    log: &mut LogWriter,
    monitor: &mut Option<health::Monitor>,
) -> i32 {
    let mut buf = vec![0u8; 16 * 1024];
    let (mut out, mut err, mut stdin, mut pty) = match output {
        Output::Pipes { out, err, stdin } => (out, err, stdin, None),
        Output::Pty(p) => (None, None, None, Some(p)),
    };
    let mut exit: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    // When to give back the pages the last burst of work touched: right before the first
    // wait (start-up is over), as soon as the CLI detaches, and once the container has been
    // quiet for a while after anything else woke us (the shim mostly sleeps).
    let mut trim_at = Some(Instant::now());
    loop {
        if exit.is_some() && out.is_none() && err.is_none() && pty.is_none() {
            break;
        }
        if let Some(m) = monitor.as_mut() {
            m.tick();
        }
        if exited_at.is_none() && trim_at.is_some_and(|t| t <= Instant::now()) {
            berth_sys::process::trim_footprint();
            trim_at = None;
        }
        // After the init exited, give stragglers holding the pipes a moment, not forever.
        let timeout = match exited_at {
            Some(t) => {
                let left = Duration::from_millis(500).saturating_sub(t.elapsed());
                if left.is_zero() {
                    break;
                }
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
            None => match trim_at {
                // Rounded up: a timeout cut to 0 ms would spin until the deadline.
                Some(t) => {
                    PollTimeout::try_from(t.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000))
                        .unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            },
        };
        // The next health probe (or the running one's timeout) bounds the wait too.
        let timeout = match monitor.as_ref() {
            Some(m) => {
                let ms = m.wake_at().saturating_duration_since(Instant::now()).as_micros().div_ceil(1000);
                let h = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
                if timeout == PollTimeout::NONE || i32::from(h) < i32::from(timeout) {
                    h
                } else {
                    timeout
                }
            }
            None => timeout,
        };
        let mut polled: Vec<(Role, BorrowedFd)> = vec![(Role::Signal, sigfd.as_fd())];
        let outputs = [(Role::Out, &out), (Role::Err, &err), (Role::Pty, &pty)];
        polled.extend(outputs.iter().filter_map(|(r, f)| f.as_ref().map(|f| (*r, f.as_fd()))));
        polled.extend(client.listener.as_ref().map(|l| (Role::Listener, l.as_fd())));
        polled.extend(client.conns.iter().map(|(id, s)| (Role::Client(*id), s.as_fd())));
        polled.extend(monitor.as_ref().and_then(|m| m.fd()).map(|fd| (Role::Health, fd)));
        let mut fds: Vec<PollFd> = polled.iter().map(|(_, fd)| PollFd::new(*fd, PollFlags::POLLIN)).collect();
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => trim_at = Some(Instant::now() + IDLE_TRIM_AFTER),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<(Role, std::os::fd::RawFd)> = fds
            .iter()
            .zip(&polled)
            .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, (role, fd))| (*role, fd.as_raw_fd()))
            .collect();
        drop(fds);
        drop(polled);
        for (role, fd) in ready {
            match role {
                Role::Signal => {
                    drain_sigfd(sigfd);
                    while let Ok(Some((r, code))) = berth_sys::process::wait_child(-1, true) {
                        if r == pid {
                            exit = Some(code);
                            exited_at = Some(Instant::now());
                            stdin = None;
                            // No probes of a stopped container (one under way is killed).
                            *monitor = None;
                        } else if let Some(m) = monitor.as_mut() {
                            m.child_exited(r, code);
                        }
                    }
                }
                Role::Out | Role::Err | Role::Pty => match nix::unistd::read(fd, &mut buf) {
                    Ok(n) if n > 0 => {
                        let d = &buf[..n];
                        let stream = if role == Role::Err { 2 } else { 1 };
                        log.write(stream, d);
                        client.send(if stream == 2 { attach::STDERR } else { attach::STDOUT }, d);
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    _ => match role {
                        Role::Out => out = None,
                        Role::Err => err = None,
                        _ => pty = None,
                    },
                },
                Role::Health => {
                    if let Some(m) = monitor.as_mut() {
                        m.read_output();
                    }
                }
                Role::Listener => client.accept(),
                Role::Client(id) => {
                    let Some(mut cf) = client.get(id) else { continue };
                    match attach::read_frame(&mut cf) {
                        Ok(Some((attach::STDIN, d))) => {
                            if let Some(s) = stdin.as_ref().or(pty.as_ref()) {
                                let _ = write_all_fd(s, &d);
                            }
                        }
                        Ok(Some((attach::STDIN_EOF, _))) => {
                            stdin = None;
                        }
                        Ok(Some((attach::RESIZE, d))) if d.len() == 4 => {
                            if let Some(p) = &pty {
                                let rows = u16::from_be_bytes([d[0], d[1]]);
                                let cols = u16::from_be_bytes([d[2], d[3]]);
                                let _ = berth_sys::term::set_window_size(p, rows, cols);
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            // Detached: the container runs on.
                            client.remove(id);
                            trim_at = Some(Instant::now());
                        }
                    }
                }
            }
        }
    }
    exit.unwrap_or_else(|| wait_blocking(pid))
}

/// What a descriptor the pump polls is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Signal,
    Out,
    Err,
    Pty,
    Listener,
    Client(u64),
    /// The running health probe's output.
    Health,
}

fn wait_blocking(pid: i32) -> i32 {
    match berth_sys::process::wait_child(pid, false) {
        Ok(Some((_, code))) => code,
        _ => 255,
    }
}
