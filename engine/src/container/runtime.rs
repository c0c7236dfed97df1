//! Which OCI runtime runs a bundle, and the few operations the shim needs from it.
//!
//! berth's own runtime (`berth-shims`) is the default; `--runtime runc|crun` runs the same
//! bundle under those programs through their standard command line (`create`, `start`,
//! `delete`), as containerd's shim does. Either way the shim is the subreaper, so the
//! container's init becomes its child and its exit status comes from `waitpid`, and signals
//! go straight to the init's pid. Runtime state lives under `<root>/runtime/<name>`.

use super::Container;
use crate::{Error, Result};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The state root (`<root>`) of a container.
pub fn state_root(c: &Container) -> PathBuf {
    c.dir.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
}

/// The runtime's own state directory.
pub fn runtime_root(c: &Container) -> PathBuf {
    state_root(c).join("runtime").join(runtime_name(c))
}

pub fn runtime_name(c: &Container) -> &str {
    match c.host_config.runtime.as_str() {
        "" => "berth",
        r => r,
    }
}

/// The program implementing the OCI command line for this container.
fn program(c: &Container) -> Result<PathBuf> {
    match runtime_name(c) {
        "runc" | "crun" => {
            let name = runtime_name(c);
            for d in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
                let p = Path::new(d).join(name);
                if p.exists() {
                    return Ok(p);
                }
            }
            Err(Error::Other(format!("runtime {name:?} is not installed")))
        }
        // Until berth's own runtime is wired in, its bundles run under runc.
        _ => {
            for d in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
                let p = Path::new(d).join("runc");
                if p.exists() {
                    return Ok(p);
                }
            }
            Err(Error::Other("no OCI runtime available".into()))
        }
    }
}

fn base_args(c: &Container) -> Vec<String> {
    let root = runtime_root(c).display().to_string();
    vec!["--root".into(), root]
}

/// The container's stdio as the runtime should pass it on.
pub enum Io {
    /// Pipes (or /dev/null): stdin, stdout, stderr.
    Fds(OwnedFd, OwnedFd, OwnedFd),
    /// A pseudo-terminal: the runtime sends its master over this console socket.
    Console(PathBuf),
}

/// Creates the container (namespaces set up, process waiting to exec); returns its pid.
pub fn create(c: &Container, io: Io) -> Result<i32> {
    if c.runtime == crate::wasm::RUNTIME_WASM {
        return crate::wasm::runtime_create(c, io);
    }
    let rroot = runtime_root(c);
    std::fs::create_dir_all(&rroot).map_err(|e| Error::io(&rroot, e))?;
    let pid_file = c.dir.join("init.pid");
    let log = c.dir.join("runtime.log");
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(program(c)?);
    cmd.args(base_args(c));
    cmd.arg("--log").arg(&log).arg("--log-format").arg("json");
    cmd.arg("create").arg("--bundle").arg(&c.dir).arg("--pid-file").arg(&pid_file);
    match io {
        Io::Fds(i, o, e) => {
            cmd.stdin(Stdio::from(i)).stdout(Stdio::from(o)).stderr(Stdio::from(e));
        }
        Io::Console(sock) => {
            cmd.arg("--console-socket").arg(sock);
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    cmd.arg(&c.id);
    if runtime_name(c) == "crun" {
        hide_unified_cgroup(&mut cmd);
    }
    let st = cmd.status().map_err(|e| Error::Other(format!("running the OCI runtime: {e}")))?;
    drop(cmd);
    if !st.success() {
        let msg = runtime_error(&log).unwrap_or_else(|| format!("OCI runtime create failed ({st})"));
        let _ = delete(c);
        return Err(Error::StartFailed { code: super::attach::start_error_code(&msg), message: msg });
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::Other("the OCI runtime wrote no pid file".into()))?;
    Ok(pid)
}

/// crun refuses a hybrid cgroup layout (v1 controllers plus a cgroup2 `unified` mount);
/// it runs fine when the unified mount is hidden from it in a private mount namespace.
fn hide_unified_cgroup(cmd: &mut Command) {
    if !Path::new("/sys/fs/cgroup/unified").exists() || Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return;
    }
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let none = c"none";
            let root = c"/";
            libc::mount(
                none.as_ptr(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            );
            libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
            Ok(())
        });
    }
}

/// Lets the created container exec its process.
pub fn start(c: &Container) -> Result<()> {
    if c.runtime == crate::wasm::RUNTIME_WASM {
        return crate::wasm::runtime_start(c);
    }
    let log = c.dir.join("runtime.log");
    let mut cmd = Command::new(program(c)?);
    cmd.args(base_args(c));
    cmd.arg("--log").arg(&log).arg("--log-format").arg("json");
    cmd.arg("start").arg(&c.id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if runtime_name(c) == "crun" {
        hide_unified_cgroup(&mut cmd);
    }
    let st = cmd.status().map_err(|e| Error::Other(format!("running the OCI runtime: {e}")))?;
    if !st.success() {
        let msg = runtime_error(&log).unwrap_or_else(|| format!("OCI runtime start failed ({st})"));
        return Err(Error::StartFailed { code: super::attach::start_error_code(&msg), message: msg });
    }
    Ok(())
}

/// Removes the runtime's record of the container (and its cgroup), killing what is left.
pub fn delete(c: &Container) -> Result<()> {
    if c.runtime == crate::wasm::RUNTIME_WASM {
        return crate::wasm::runtime_delete(c);
    }
    let Ok(p) = program(c) else { return Ok(()) };
    let mut cmd = Command::new(p);
    cmd.args(base_args(c));
    cmd.arg("delete").arg("--force").arg(&c.id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if runtime_name(c) == "crun" {
        hide_unified_cgroup(&mut cmd);
    }
    let _ = cmd.status();
    Ok(())
}

/// The last error the runtime logged (its `--log-format json` file).
fn runtime_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut last = None;
    for l in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
            if v["level"] == "error" || v["level"] == "fatal" {
                if let Some(m) = v["msg"].as_str() {
                    last = Some(m.to_string());
                }
            }
        } else if !l.trim().is_empty() {
            last = Some(l.trim().to_string());
        }
    }
    last
}

/// Sends a signal to the container's init (the shim's child, so its pid is not reused
/// while the container is marked running).
pub fn signal(c: &Container, sig: i32) -> Result<()> {
    if c.state.pid <= 0 {
        return Err(Error::Conflict(format!("container {} is not running", c.id)));
    }
    // SAFETY: plain kill(2).
    let r = unsafe { libc::kill(c.state.pid, sig) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(Error::Other(format!("signalling container {}: {e}", c.id)));
        }
    }
    Ok(())
}

/// A process's start time (field 22 of /proc/<pid>/stat), to tell a reused pid.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// After a shim died: kills the container's processes if still there. True if it killed.
pub fn kill_leftovers(c: &Container) -> bool {
    let pid = c.state.pid;
    if pid <= 0 || pid_start_time(pid).is_none() || pid_start_time(pid) != Some(c.state.pid_start_time) {
        return false;
    }
    // SAFETY: plain kill(2) of a pid verified by its start time.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    for _ in 0..200 {
        if pid_start_time(pid) != Some(c.state.pid_start_time) {
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
    if c.runtime == crate::wasm::RUNTIME_WASM {
        return crate::wasm::oom_killed(c);
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
pub fn exec(c: &Container, process: &serde_json::Value, detach: bool) -> Result<Option<i32>> {
    if c.runtime == crate::wasm::RUNTIME_WASM {
        return Err(Error::Unsupported(format!(
            "container {} runs WebAssembly: it has no processes to exec into",
            c.id
        )));
    }
    let tmp = c.dir.join(format!("exec-{:016x}.json", rand::random::<u64>()));
    let log = c.dir.join(format!("exec-{:016x}.log", rand::random::<u64>()));
    std::fs::write(&tmp, serde_json::to_vec(process).unwrap_or_default()).map_err(|e| Error::io(&tmp, e))?;
    let mut cmd = Command::new(program(c)?);
    cmd.args(base_args(c));
    cmd.arg("--log").arg(&log).arg("--log-format").arg("json");
    cmd.arg("exec").arg("--process").arg(&tmp);
    if detach {
        cmd.arg("--detach");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    }
    cmd.arg(&c.id);
    if runtime_name(c) == "crun" {
        hide_unified_cgroup(&mut cmd);
    }
    let st = cmd.status();
    let _ = std::fs::remove_file(&tmp);
    let err = runtime_error(&log);
    let _ = std::fs::remove_file(&log);
    let st = st.map_err(|e| Error::Other(format!("running the OCI runtime: {e}")))?;
    if detach {
        return match (st.success(), err) {
            (true, _) => Ok(None),
            (false, m) => {
                let msg = m.unwrap_or_else(|| format!("exec failed ({st})"));
                Err(Error::StartFailed { code: super::attach::start_error_code(&msg), message: msg })
            }
        };
    }
    use std::os::unix::process::ExitStatusExt;
    let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
    // The runtime's own failure to start the process (as opposed to the process's status).
    if let Some(m) = err.filter(|m| m.contains("exec failed") || m.contains("unable to start")) {
        return Err(Error::StartFailed { code: super::attach::start_error_code(&m), message: m });
    }
    Ok(Some(code))
}
