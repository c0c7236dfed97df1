//! The container's init: what the forked child does between fork and exec.
//!
//! Order (runc's, so the result is the same): join the cgroup (writing "0" to each
//! `cgroup.procs`, so the pid-namespace pid need not be known); oom_score_adj; enter the
//! namespaces given by path (`setns`, e.g. the engine's network namespace) and create the others
//! with one `unshare` (the cgroup namespace after joining the cgroup, so its root is the
//! container's cgroup); the rootfs ([`crate::rootfs`]); the terminal; hostname and sysctls;
//! masked/read-only paths; HOME; user, capabilities, rlimits, seccomp
//! ([`crate::container_process`]); the executable lookup. Then, for `create`, report readiness
//! and block on the state directory's `exec.fifo` until `start` opens it; for `run`, exec at
//! once.
//!
//! [`setup`] holds every step that goes through [`Syscall`] and is unit-tested with the
//! recording double; [`child_main`] adds the parts that need real descriptors.

use crate::container_process::{self, ProcessPlan};
use crate::error::{Error, Result};
use crate::process;
use crate::rootfs::{self, RootfsPlan};
use crate::syscall::Syscall;
use nix::sched::CloneFlags;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// Everything the child needs, prepared by the runtime before forking.
#[derive(Debug, Clone)]
pub struct InitPlan {
    /// Namespaces to create (the PID namespace is handled by the parent before fork).
    pub unshare: CloneFlags,
    /// Namespaces to enter, as descriptors the parent opened.
    pub join: Vec<(CloneFlags, RawFd)>,
    /// `cgroup.procs` files of the container's cgroup.
    pub cgroup_procs: Vec<PathBuf>,
    pub rootfs: RootfsPlan,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub process: ProcessPlan,
}

/// How the child waits before exec.
#[derive(Debug, Clone, Copy)]
pub enum Gate {
    /// `run`: exec as soon as the setup is done.
    None,
    /// `create`: report readiness, then wait until `start` opens the fifo (an O_PATH descriptor
    /// opened before pivot_root, re-opened for writing through /proc/self/fd).
    Fifo(RawFd),
}

/// Joins the cgroup and enters/creates the namespaces (also used by exec, minus unshare).
pub fn enter(
    sys: &dyn Syscall,
    cgroup_procs: &[PathBuf],
    join: &[(CloneFlags, RawFd)],
    oom: Option<i32>,
) -> Result<()> {
    for p in cgroup_procs {
        sys.write_file(p, "0").map_err(|e| Error::Cgroup(format!("join {}: {e}", p.display())))?;
    }
    if let Some(v) = oom {
        let path = Path::new("/proc/self/oom_score_adj");
        let current = sys.read_file(path).ok();
        if current.as_deref().map(str::trim) != Some(v.to_string().as_str()) {
            sys.write_file(path, &v.to_string())?;
        }
    }
    for (flag, fd) in join {
        sys.setns(*fd, *flag)?;
    }
    Ok(())
}

/// Every step up to the executable lookup; returns the executable's path. `console` allocates
/// the terminal (real descriptors; tests pass a no-op).
pub fn setup(
    sys: &dyn Syscall,
    plan: &mut InitPlan,
    console: &mut dyn FnMut(&dyn Syscall) -> Result<()>,
) -> Result<PathBuf> {
    enter(sys, &plan.cgroup_procs, &plan.join, plan.process.oom_score_adj)?;
    if !plan.unshare.is_empty() {
        sys.unshare(plan.unshare)?;
    }
    rootfs::prepare(sys, &plan.rootfs)?;
    rootfs::pivot(sys, &plan.rootfs.rootfs)?;
    if plan.process.terminal {
        console(sys)?;
    }
    if let Some(h) = plan.hostname.as_deref().filter(|h| !h.is_empty()) {
        sys.sethostname(h)?;
    }
    if let Some(d) = plan.domainname.as_deref().filter(|d| !d.is_empty()) {
        sys.setdomainname(d)?;
    }
    for (key, value) in &plan.sysctl {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        sys.write_file(&path, value).map_err(|e| Error::Init(format!("sysctl {key}={value}: {e}")))?;
    }
    rootfs::finalize(sys, &plan.rootfs)?;
    let passwd = sys.read_file(Path::new("/etc/passwd")).ok();
    plan.process.default_home(passwd.as_deref());
    container_process::apply_identity(sys, &plan.process)?;
    container_process::lookup_executable(&plan.process.args[0], plan.process.env_var("PATH"))
}

/// Waits at the gate, finishes the process and execs. Returns only on failure.
pub fn finish(
    sys: &dyn Syscall,
    process: &ProcessPlan,
    exe: &Path,
    sync: RawFd,
    gate: Gate,
    preserve_fds: u32,
) -> Error {
    if !process.terminal {
        if let Err(e) = sys.setsid() {
            return e;
        }
    }
    if let Gate::Fifo(fifo) = gate {
        if let Err(e) = process::send_ready(sync) {
            return e;
        }
        if let Err(e) = wait_for_start(fifo) {
            return e;
        }
    }
    if let Err(e) = container_process::apply_late_seccomp(sys, process) {
        return e;
    }
    process::cloexec_from(3 + preserve_fds);
    let errno = process::execve(exe, &process.args, &process.env);
    container_process::execve_error(&process.args[0], errno)
}

fn wait_for_start(fifo: RawFd) -> Result<()> {
    use std::io::Write;
    let path = format!("/proc/self/fd/{fifo}");
    // Blocks until `berth runtime start` opens the other end.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| Error::Init(format!("open the exec fifo: {e}")))?;
    f.write_all(b"0").map_err(|e| Error::Init(format!("write the exec fifo: {e}")))?;
    Ok(())
}

/// The descriptors the init's setup uses, inherited from the runtime.
#[derive(Debug, Clone, Copy)]
pub struct ChildFds {
    /// The sync pipe's write end.
    pub sync: RawFd,
    pub gate: Gate,
    /// The console socket, when the process has a terminal.
    pub console: Option<RawFd>,
}

/// The whole child: never returns. Errors go to the parent over `sync` (and to stderr once the
/// parent is gone), with Docker's exit codes. With `die_with_parent` the init gets SIGKILL when
/// the thread that forked it exits (set again once its credentials are final: changing them
/// clears the parent-death signal), and gives up if that already happened.
pub fn child_main(sys: &dyn Syscall, mut plan: InitPlan, fds: ChildFds, preserve_fds: u32, die_with_parent: bool) -> ! {
    let ChildFds { sync, gate, console: console_socket } = fds;
    process::reset_signals();
    if die_with_parent {
        if let Err(e) = process::die_with_parent(sync) {
            report_and_exit(sync, gate, &e)
        }
    }
    // Before anything joins the container: no ptrace, no /proc/<pid>/fd from inside it, and
    // nothing of the parent's but what the setup needs (and the preserved descriptors).
    let mut keep = vec![sync];
    keep.extend(console_socket);
    if let Gate::Fifo(f) = gate {
        keep.push(f);
    }
    keep.extend(plan.join.iter().map(|(_, fd)| *fd));
    if let Err(e) = process::set_non_dumpable() {
        report_and_exit(sync, gate, &e)
    }
    process::close_fds_except(3 + preserve_fds, &keep);
    let size = plan.process.console_size;
    let mut console = |s: &dyn Syscall| match console_socket {
        Some(sock) => crate::console::setup(s, sock, size, true),
        None => Err(Error::Spec("process.terminal is true but no console socket was given".into())),
    };
    let err = match setup(sys, &mut plan, &mut console) {
        Ok(_) if die_with_parent && process::die_with_parent(sync).is_err() => process::exit_child(137),
        Ok(exe) => finish(sys, &plan.process, &exe, sync, gate, preserve_fds),
        Err(e) => e,
    };
    report_and_exit(sync, gate, &err)
}

/// Reports a child-side failure and exits with its code.
pub fn report_and_exit(sync: RawFd, gate: Gate, err: &Error) -> ! {
    process::send_error(sync, err);
    if let Gate::Fifo(_) = gate {
        // After readiness nobody reads the pipe any more: say it where a user will see it.
        eprintln!("berth: {err}");
    }
    process::exit_child(err.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::{default_devices, CgroupMounts};
    use crate::syscall::RecordingSyscall;
    use nix::mount::MsFlags;

    fn plan(terminal: bool) -> InitPlan {
        let process = ProcessPlan::new(
            &serde_json::from_str(&format!(
                r#"{{"terminal":{terminal},"user":{{"uid":0,"gid":0}},"args":["/bin/true"],"cwd":"/","env":["PATH=/bin"],"oomScoreAdj":5}}"#
            ))
            .unwrap(),
            None,
        )
        .unwrap();
        InitPlan {
            unshare: CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWCGROUP,
            join: vec![(CloneFlags::CLONE_NEWNET, 7)],
            cgroup_procs: vec!["/sys/fs/cgroup/memory/berth/c/cgroup.procs".into()],
            rootfs: RootfsPlan {
                rootfs: "/b/rootfs".into(),
                readonly: false,
                propagation: MsFlags::MS_SLAVE | MsFlags::MS_REC,
                mounts: serde_json::from_str(r#"[{"destination": "/proc", "type": "proc", "source": "proc"}]"#)
                    .unwrap(),
                devices: default_devices(),
                masked_paths: vec![],
                readonly_paths: vec![],
                cgroup_mounts: CgroupMounts::None,
                cwd: "/".into(),
            },
            hostname: Some("box".into()),
            domainname: None,
            sysctl: vec![("net.ipv4.ip_forward".into(), "1".into())],
            process,
        }
    }

    #[test]
    fn setup_order() {
        let sys = RecordingSyscall::new();
        sys.add_file("/proc/self/oom_score_adj", "0\n");
        sys.add_dir("/b/rootfs");
        sys.add_file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        let mut p = plan(false);
        // The lookup runs on the real file system: use a path that exists everywhere.
        p.process.args = vec!["/".into()];
        let err = setup(&sys, &mut p, &mut |_| panic!("no terminal")).unwrap_err();
        assert_eq!(err.exit_code(), 126, "/ is a directory: {err}");
        let at = |prefix: &str| sys.position(prefix).unwrap_or_else(|| panic!("no {prefix} in {:?}", sys.calls()));
        assert_eq!(sys.calls()[0], "write /sys/fs/cgroup/memory/berth/c/cgroup.procs 0");
        assert!(at("write /proc/self/oom_score_adj 5") < at("setns fd=7 CLONE_NEWNET"));
        assert!(at("setns") < at("unshare CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS"));
        assert!(at("unshare") < at("mount none -> /"));
        assert!(at("pivot_root") < at("sethostname box"));
        assert!(at("sethostname") < at("write /proc/sys/net/ipv4/ip_forward 1"));
        assert!(at("write /proc/sys") < at("setresuid 0"));
        assert_eq!(p.process.env_var("HOME"), Some("/root"));
    }

    #[test]
    fn terminal_is_set_up_after_pivot() {
        let sys = RecordingSyscall::new();
        let mut p = plan(true);
        p.process.args = vec!["/".into()];
        let mut calls_before = None;
        let _ = setup(&sys, &mut p, &mut |_| {
            calls_before = Some(sys.calls());
            Ok(())
        });
        assert_eq!(calls_before.unwrap().last().map(String::as_str), Some("chdir /"));
    }

    #[test]
    fn oom_score_adj_not_rewritten_when_equal() {
        let sys = RecordingSyscall::new();
        sys.add_file("/proc/self/oom_score_adj", "5\n");
        enter(&sys, &[], &[], Some(5)).unwrap();
        assert!(sys.calls().is_empty());
    }
}
