//! Which OCI runtime runs a bundle, and the few operations the shim needs from it.
//!
//! berth's own runtime (`berth-runtime-linux`) is the default; `--runtime runc|crun` runs the same
//! bundle under those programs through their standard command line (`create`, `start`,
//! `delete`), as containerd's shim does. Either way the shim is the subreaper, so the
//! container's init becomes its child and its exit status comes from `waitpid`, and signals
//! go straight to the init's pid. Runtime state lives under `<root>/runtime/<name>`.

use super::Container;
use crate::{Error, Result};
use berth_runtime::{Kind, Program, Runtime};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The state root (`<root>`) of a container.
pub fn state_root(c: &Container) -> PathBuf {
    c.dir.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
}

/// The runtime's own state directory (`<root>/runtime/<berth|runc|crun|wasm>`).
pub fn runtime_root(c: &Container) -> PathBuf {
    let dir = match c.kind() {
        Kind::Wasm => "wasm",
        Kind::Linux => c.program().as_str(),
    };
    state_root(c).join("runtime").join(dir)
}

/// The runtime that runs `c`: the one place a container record becomes a runtime. The record
/// says which once, at create (its workload [`Kind`], decided by the dispatch rule, and its
/// `--runtime` [`Program`]); every verb then goes through this trait object.
pub fn for_container(c: &Container) -> Result<Box<dyn Runtime>> {
    let root = runtime_root(c);
    Ok(match (c.kind(), c.program()) {
        (Kind::Wasm, _) => Box::new(berth_runtime_wasm::Wasm::new(root)),
        (Kind::Linux, Program::Builtin) => Box::new(berth_runtime_linux::Linux::new(root)),
        (Kind::Linux, p) => Box::new(berth_runtime_linux::external::External::new(p, root).map_err(start_failed)?),
    })
}

/// A built-in runtime's failure to create or start, with its Docker exit code.
pub(crate) fn start_failed(e: berth_runtime::Error) -> Error {
    Error::StartFailed { code: e.exit_code(), message: e.to_string() }
}

/// Puts `fds` on 0, 1, 2 for the duration of `f` (the built-in runtime forks from this
/// process, and the container inherits its stdio), then restores the originals.
pub(crate) fn with_stdio<T>(fds: [std::os::fd::RawFd; 3], f: impl FnOnce() -> T) -> T {
    use nix::fcntl::{fcntl, FcntlArg};
    let mut saved = [-1; 3];
    for (i, s) in saved.iter_mut().enumerate() {
        *s = fcntl(i as i32, FcntlArg::F_DUPFD_CLOEXEC(10)).unwrap_or(-1);
        let _ = nix::unistd::dup2(fds[i], i as i32);
    }
    let r = f();
    for (i, s) in saved.iter().enumerate() {
        if *s >= 0 {
            let _ = nix::unistd::dup2(*s, i as i32);
            let _ = nix::unistd::close(*s);
        }
    }
    r
}

/// The container's stdio as the runtime should pass it on.
pub enum Io {
    /// Pipes (or /dev/null): stdin, stdout, stderr.
    Fds(OwnedFd, OwnedFd, OwnedFd),
    /// A pseudo-terminal: the runtime sends its master over this console socket.
    Console(PathBuf),
}

/// Runs a built-in runtime's `create` (berth's Linux runtime or the wasm one) in this process
/// (the shim) with `io` as the container's stdio; returns the container's pid.
///
/// The container's first process is this process's child and dies with it
/// (`die_with_parent`): a killed shim leaves no container running unsupervised and no init
/// blocked on its exec fifo. The runtimes restore this process's own PID namespace for
/// children after their fork, so a restart can create again.
pub(crate) fn create_here(
    io: Io,
    create: impl FnOnce(&berth_runtime::CreateOptions) -> berth_runtime::Result<berth_runtime::State>,
) -> Result<i32> {
    use std::os::fd::AsRawFd;
    let (mut opts, fds) = match &io {
        Io::Fds(i, o, e) => {
            (berth_runtime::CreateOptions::default(), Some([i.as_raw_fd(), o.as_raw_fd(), e.as_raw_fd()]))
        }
        Io::Console(sock) => {
            (berth_runtime::CreateOptions { console_socket: Some(sock.clone()), ..Default::default() }, None)
        }
    };
    opts.die_with_parent = true;
    let r = match fds {
        Some(fds) => with_stdio(fds, || create(&opts)),
        None => create(&opts),
    };
    drop(io);
    r.map(|st| st.pid).map_err(start_failed)
}

/// Creates the container (namespaces set up, process waiting to exec) from this process (the
/// shim), with `io` as its stdio; returns its pid.
pub fn create(c: &Container, io: Io) -> Result<i32> {
    let rt = for_container(c)?;
    let rroot = runtime_root(c);
    std::fs::create_dir_all(&rroot).map_err(|e| Error::io(&rroot, e))?;
    let _ = std::fs::remove_file(c.dir.join(berth_runtime_wasm::OOM_MARKER));
    let _ = rt.delete(&c.id, true); // a stale record of an earlier run
    create_here(io, |opts| rt.create(&c.id, &c.dir, opts))
}

/// Lets the created container exec its process.
pub fn start(c: &Container) -> Result<()> {
    for_container(c)?.start(&c.id).map_err(start_failed)
}

/// Removes the runtime's record of the container (and its cgroup), killing what is left.
/// Forks nothing: safe from any process.
pub fn delete(c: &Container) -> Result<()> {
    if let Ok(rt) = for_container(c) {
        let _ = rt.delete(&c.id, true);
    }
    Ok(())
}

/// Sends a signal to the container's init (the shim's child, so its pid is not reused
/// while the container is marked running).
pub fn signal(c: &Container, sig: i32) -> Result<()> {
    if c.state.pid <= 0 {
        return Err(Error::Conflict(format!("container {} is not running", c.id)));
    }
    berth_sys::process::send_signal(c.state.pid, sig)
        .map(drop)
        .map_err(|e| Error::Other(format!("signalling container {}: {e}", c.id)))
}

/// A process's start time (field 22 of /proc/<pid>/stat), to tell a reused pid.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.1
}

/// Whether `pid` is the live (not exited, not a zombie) process that started at `start`.
pub fn pid_alive_since(pid: i32, start: u64) -> bool {
    matches!(stat_fields(pid), Some((state, Some(t)))  if t == start && state != 'Z' && state != 'X')
}

/// A process's state letter and start time, from /proc/<pid>/stat.
fn stat_fields(pid: i32) -> Option<(char, Option<u64>)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let state = rest.chars().next()?;
    Some((state, rest.split(' ').nth(19).and_then(|t| t.parse().ok())))
}

/// After a shim died: kills the container's processes if still there. True if it killed.
pub fn kill_leftovers(c: &Container) -> bool {
    let (pid, start) = (c.state.pid, c.state.pid_start_time);
    if pid <= 0 || !pid_alive_since(pid, start) {
        return false;
    }
    // A pid verified by its start time; dead once gone or a zombie (its parent may reap late).
    let _ = berth_sys::process::send_signal(pid, libc::SIGKILL);
    for _ in 0..200 {
        if !pid_alive_since(pid, start) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// Every cgroup directory of a container, in each mounted hierarchy.
pub fn cgroup_dirs(c: &Container) -> Vec<PathBuf> {
    let rel = c.cgroup_path();
    let rel = rel.trim_start_matches('/');
    let base = Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    if base.join("cgroup.controllers").exists() {
        out.push(base.join(rel));
    } else if let Ok(rd) = std::fs::read_dir(base) {
        for e in rd.flatten() {
            out.push(e.path().join(rel));
        }
    }
    out.into_iter().filter(|p| p.exists()).collect()
}

/// Removes what the runtime left of a container: its state and cgroups.
pub fn cleanup_after(c: &Container) {
    let _ = delete(c);
    for d in cgroup_dirs(c) {
        // A cgroup can be removed only once its processes are gone; they were killed.
        for _ in 0..50 {
            if std::fs::remove_dir(&d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Whether the container's memory cgroup recorded an OOM kill (read before `delete`).
pub fn oom_killed(c: &Container) -> bool {
    // A guest's limit is its store's, not a cgroup's: the wasm runtime leaves a marker.
    if c.kind() == Kind::Wasm {
        return c.dir.join(berth_runtime_wasm::OOM_MARKER).exists();
    }
    for d in cgroup_dirs(c) {
        for f in ["memory.events", "memory.oom_control"] {
            if let Ok(s) = std::fs::read_to_string(d.join(f)) {
                for l in s.lines() {
                    if let Some(n) = l.strip_prefix("oom_kill ") {
                        if n.trim().parse::<u64>().unwrap_or(0) > 0 {
                            return true;
                        }
                    }
                }
            }
        }
    }
    false
}

/// Runs one more process in the running container (`process` is an OCI `Process`), with this
/// process's stdio; returns its exit status (`None` when detached).
pub fn exec(c: &Container, process: &serde_json::Value, detach: bool, detach_keys: &[u8]) -> Result<Option<i32>> {
    exec_publishing(c, process, detach, detach_keys, None)
}

/// [`exec`], writing the process's pid to `pid_out` as soon as it runs (a health probe's
/// supervisor kills it by that pid when it outlives its timeout).
pub fn exec_publishing(
    c: &Container,
    process: &serde_json::Value,
    detach: bool,
    detach_keys: &[u8],
    pid_out: Option<&Path>,
) -> Result<Option<i32>> {
    if c.kind() == Kind::Wasm {
        return Err(Error::Unsupported(format!(
            "container {} runs WebAssembly: it has no processes to exec into",
            c.id
        )));
    }
    let rt = for_container(c)?;
    let p: oci_spec::runtime::Process =
        serde_json::from_value(process.clone()).map_err(|e| Error::Other(format!("exec process: {e}")))?;
    match c.program() {
        // The built-in runtime forks the process from this one, which can then wait for it and
        // relay its stdio rather than hand it ours.
        Program::Builtin => exec_relayed(c, rt.as_ref(), &p, detach, detach_keys, pid_out),
        // runc and crun fork it from themselves: they run it on this process's stdio.
        Program::Runc | Program::Crun => {
            let opts =
                berth_runtime::ExecOptions { detach, pid_file: pid_out.map(Path::to_path_buf), ..Default::default() };
            rt.exec(&c.id, &p, &opts).map(|st| st.map(|s| s.code() as i32)).map_err(start_failed)
        }
    }
}

/// `exec` through the built-in runtime, from this (single-threaded) process. The process never
/// gets this process's own stdio (a terminal the user types into, say): without a terminal it
/// gets pipes (stdin, stdout, stderr), with one a pty from the runtime, and this process relays
/// between them and its own stdio until the process exits.
fn exec_relayed(
    c: &Container,
    rt: &dyn Runtime,
    p: &oci_spec::runtime::Process,
    detach: bool,
    detach_keys: &[u8],
    pid_out: Option<&Path>,
) -> Result<Option<i32>> {
    use std::os::fd::AsRawFd;
    let tty = p.terminal().unwrap_or(false);
    let pid_file = c.dir.join(format!("exec-{:08x}.pid", rand::random::<u32>()));
    let read_pid = || {
        let pid: i32 = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        let _ = std::fs::remove_file(&pid_file);
        if let Some(out) = pid_out.filter(|_| pid > 0) {
            let _ = std::fs::write(out, pid.to_string());
        }
        pid
    };
    if !tty {
        if detach {
            let null = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::io("/dev/null", e))?;
            let fd = null.as_raw_fd();
            let opts = berth_runtime::ExecOptions { detach, ..Default::default() };
            return with_stdio([fd, fd, fd], || rt.exec(&c.id, p, &opts)).map(|_| None).map_err(start_failed);
        }
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Other(format!("pipe: {e}")));
        let ((in_r, in_w), (out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?, pipe()?);
        let opts = berth_runtime::ExecOptions { pid_file: Some(pid_file.clone()), detach: true, ..Default::default() };
        let r = with_stdio([in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()], || rt.exec(&c.id, p, &opts));
        let pid = read_pid();
        drop((in_r, out_w, err_w));
        r.map_err(start_failed)?;
        return Ok(relay(pid, &[(&out_r, 1), (&err_r, 2)], Input::Pipe(in_w), None, &[]));
    }
    let sock =
        std::env::temp_dir().join(format!("berth-exec-{}-{:08x}.sock", std::process::id(), rand::random::<u32>()));
    let listener = std::os::unix::net::UnixListener::bind(&sock).map_err(|e| Error::io(&sock, e))?;
    let holder = if detach || detach_keys.is_empty() { None } else { Some(super::supervisor::terminal_holder()?) };
    let opts = berth_runtime::ExecOptions {
        console_socket: Some(sock.clone()),
        pid_file: Some(pid_file.clone()),
        detach: true,
        ..Default::default()
    };
    let r = rt.exec(&c.id, p, &opts);
    let _ = std::fs::remove_file(&sock);
    let pid = read_pid();
    r.map_err(start_failed)?;
    listener.set_nonblocking(true).ok();
    let (conn, _) = listener.accept().map_err(|e| Error::Other(format!("console socket: {e}")))?;
    let (master, _) =
        berth_sys::term::recv_fd(conn.as_raw_fd()).map_err(|e| Error::Other(format!("receiving the terminal: {e}")))?;
    if detach {
        return Ok(None);
    }
    let r = relay(pid, &[(&master, 1)], Input::Pty, Some(&master), detach_keys);
    if let (None, Some(h)) = (r, holder) {
        super::supervisor::hand_over_terminal(h, &master)?;
    }
    Ok(r)
}

/// Where `relay` sends what it reads from this process's stdin.
enum Input {
    /// The write end of the process's stdin pipe (closed at our stdin's end).
    Pipe(OwnedFd),
    /// The pty master (the first output), which stays open.
    Pty,
}

/// Copies each output to this process's descriptor (1 or 2) and our stdin to the process
/// (window size to `pty` included) until the outputs close, or the process (our child: the
/// runtime forked it from us) has exited and they stayed quiet for half a second (a background
/// process may hold them); returns the process's exit code, or `None` when the user typed
/// `detach_keys` (with a terminal).
fn relay(pid: i32, outs: &[(&OwnedFd, i32)], input: Input, pty: Option<&OwnedFd>, detach_keys: &[u8]) -> Option<i32> {
    use nix::poll::{PollFd, PollFlags};
    use std::os::fd::{AsFd, AsRawFd};
    let stdin = std::io::stdin();
    let mut buf = [0u8; 8192];
    let (mut input, mut stdin_open) = match input {
        Input::Pipe(w) => (Some(w), true),
        Input::Pty => (None, true),
    };
    let mut open: Vec<bool> = vec![true; outs.len()];
    let mut last = (0u16, 0u16);
    let mut exit: Option<(i32, std::time::Instant)> = None;
    let mut escape = super::attach::Escape::new(if pty.is_some() { detach_keys } else { &[] });
    let mut pass = Vec::new();
    loop {
        if exit.is_none() {
            if let Ok(Some((_, code))) = berth_sys::process::wait_child(pid, true) {
                exit = Some((code, std::time::Instant::now()));
            }
        }
        match exit {
            Some((code, at)) if !open.contains(&true) || at.elapsed() > std::time::Duration::from_millis(500) => {
                return Some(code);
            }
            None if !open.contains(&true) => {
                return Some(berth_sys::process::wait_child(pid, false).ok().flatten().map_or(0, |(_, c)| c));
            }
            _ => {}
        }
        if let (Some(m), Some(sz)) = (pty, super::attach::terminal_size()) {
            if sz != last {
                last = sz;
                let _ = berth_sys::term::set_window_size(m, sz.0, sz.1);
            }
        }
        let mut fds: Vec<PollFd> = outs
            .iter()
            .zip(&open)
            .map(|((f, _), o)| PollFd::new(f.as_fd(), if *o { PollFlags::POLLIN } else { PollFlags::empty() }))
            .collect();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if nix::poll::poll(&mut fds, 100u8).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|p| p.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        for (i, (f, dest)) in outs.iter().enumerate() {
            if !open[i] || !ready[i] {
                continue;
            }
            match nix::unistd::read(f.as_raw_fd(), &mut buf) {
                Ok(n @ 1..) => {
                    use std::io::Write;
                    let _ = if *dest == 2 {
                        std::io::stderr().write_all(&buf[..n])
                    } else {
                        std::io::stdout().write_all(&buf[..n]).and_then(|_| std::io::stdout().flush())
                    };
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                _ => open[i] = false,
            }
        }
        if stdin_open && ready.get(outs.len()).copied().unwrap_or(false) {
            let to = input.as_ref().map(|w| w.as_fd()).or(pty.map(|m| m.as_fd()));
            match (nix::unistd::read(0, &mut buf), to) {
                (Ok(n @ 1..), Some(to)) => {
                    pass.clear();
                    let detach = escape.feed(&buf[..n], &mut pass);
                    let _ = super::supervisor::write_all_fd(to, &pass);
                    if detach {
                        return None;
                    }
                }
                _ => {
                    stdin_open = false;
                    input = None; // end of input: the process sees EOF on its stdin pipe
                }
            }
        }
    }
}
