//! The `create` verb (and the spawn shared with `run`): read the bundle, resolve everything the
//! container's init needs while still in the runtime's process (so configuration errors are
//! reported before anything is forked), make the cgroup, fork the init and wait for it to be
//! ready (create) or to exec (run).
//!
//! The fork happens once: the parent first unshares the PID namespace (or enters the one given
//! by path), which affects only its children, so the child is the new namespace's PID 1
//! without the double fork runc needs. Anything that fails after the state directory exists is
//! undone: the child is killed, the cgroup and the state directory are removed.

use crate::cgroups::{Cgroup, CgroupExt, Layout};
use crate::container_process::ProcessPlan;
use crate::error::{Error, IoContext, Result};
use crate::init::{self, Gate, InitPlan};
use crate::mounts::propagation_flags;
use crate::process::{self, Reply};
use crate::rootfs::{default_devices, CgroupMounts, DeviceNode, RootfsPlan};
use crate::state::Container;
use crate::syscall::{DeviceKind, Syscall};
use crate::Linux;
use berth_runtime::{load_spec, validate_id, CreateOptions, OCI_VERSION};
use berth_runtime::{rfc3339, State, Status};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux as LinuxSpec, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, Spec};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Namespaces as config.json asks for them.
#[derive(Debug)]
pub struct Namespaces {
    /// To create in the child with one unshare (not PID).
    pub unshare: CloneFlags,
    /// To enter, by path (not PID).
    pub join: Vec<(CloneFlags, PathBuf)>,
    pub new_pid: bool,
    pub pid_path: Option<PathBuf>,
    pub uts: bool,
    pub new_cgroup: bool,
}

fn ns_flag(t: LinuxNamespaceType) -> Result<CloneFlags> {
    Ok(match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => {
            return Err(Error::Spec("user namespaces are not supported by berth's runtime yet".into()))
        }
        LinuxNamespaceType::Time => {
            return Err(Error::Spec("time namespaces are not supported by berth's runtime yet".into()))
        }
    })
}

pub fn namespaces(linux: &LinuxSpec) -> Result<Namespaces> {
    let mut ns = Namespaces {
        unshare: CloneFlags::empty(),
        join: Vec::new(),
        new_pid: false,
        pid_path: None,
        uts: false,
        new_cgroup: false,
    };
    let mut mount = false;
    for n in linux.namespaces().iter().flatten() {
        let flag = ns_flag(n.typ())?;
        if flag == CloneFlags::CLONE_NEWCGROUP && n.path().is_none() && !Path::new("/proc/self/ns/cgroup").exists() {
            continue; // kernel without cgroup namespaces: "where available"
        }
        mount |= flag == CloneFlags::CLONE_NEWNS;
        ns.uts |= flag == CloneFlags::CLONE_NEWUTS;
        match (flag, n.path()) {
            (CloneFlags::CLONE_NEWPID, None) => ns.new_pid = true,
            (CloneFlags::CLONE_NEWPID, Some(p)) => ns.pid_path = Some(p.clone()),
            (f, None) => {
                ns.new_cgroup |= f == CloneFlags::CLONE_NEWCGROUP;
                ns.unshare |= f
            }
            (f, Some(p)) => ns.join.push((f, p.clone())),
        }
    }
    if !mount {
        return Err(Error::Spec("linux.namespaces must include a mount namespace".into()));
    }
    if ns.join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNS) {
        return Err(Error::Spec("joining an existing mount namespace is not supported".into()));
    }
    Ok(ns)
}

/// The IPC namespace's sysctls, by name (the others: `fs.mqueue.*`), as runc and Docker list them.
pub const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Refuses sysctls that would change the host: only those of a namespace the container has
/// its own of (or joined) are allowed, as runc does.
pub(crate) fn check_sysctls(sysctl: &[(String, String)], ns: &Namespaces) -> Result<()> {
    let has = |f: CloneFlags| ns.unshare.contains(f) || ns.join.iter().any(|(j, _)| *j == f);
    for (key, _) in sysctl {
        let (needed, what) = if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (CloneFlags::CLONE_NEWIPC, "an IPC")
        } else if key.starts_with("net.") {
            (CloneFlags::CLONE_NEWNET, "a network")
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            (CloneFlags::CLONE_NEWUTS, "a UTS")
        } else {
            return Err(Error::Spec(format!("sysctl {key:?} is not namespaced: it would change the host")));
        };
        if !has(needed) {
            return Err(Error::Spec(format!("sysctl {key:?} needs the container to have {what} namespace")));
        }
    }
    Ok(())
}

fn devices(linux: &LinuxSpec) -> Result<Vec<DeviceNode>> {
    let mut out = default_devices();
    for d in linux.devices().iter().flatten() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {} has type \"a\", which is only for rules",
                    d.path().display()
                )))
            }
        };
        if !d.path().is_absolute() {
            return Err(Error::Spec(format!("device path {:?} must be absolute", d.path())));
        }
        out.retain(|x| x.path != *d.path());
        out.push(DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

fn cgroup_mounts(layout: &Layout, cg: &Cgroup, cgroupns: bool) -> CgroupMounts {
    if layout.is_v1() {
        let hierarchies = layout
            .v1()
            .map(|h| {
                let dir = cg.dirs.iter().find(|d| d.name == h.name).map(|d| d.path.clone()).unwrap_or_default();
                let mut data = h.controllers.join(",");
                if h.controllers.iter().all(|c| c.starts_with("name=")) {
                    data = format!("none,{data}");
                }
                (h.name.clone(), data, dir)
            })
            .collect();
        CgroupMounts::V1 { hierarchies, cgroupns }
    } else if let Some(d) = cg.dirs.iter().find(|d| d.v2) {
        CgroupMounts::V2 { host_dir: d.path.clone(), cgroupns }
    } else {
        CgroupMounts::None
    }
}

/// Bind sources given relative to the bundle, made absolute.
fn absolute_mounts(spec: &Spec, bundle: &Path) -> Vec<oci_spec::runtime::Mount> {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mut mounts {
        let bind =
            m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
        if let Some(src) = m.source().clone() {
            if bind && src.is_relative() {
                m.set_source(Some(bundle.join(src)));
            }
        }
    }
    mounts
}

/// What the parent keeps around while the child starts.
struct Prepared {
    plan: InitPlan,
    ns: Namespaces,
    state: State,
    /// Descriptors the child inherits; kept open until after the fork.
    _fds: Vec<OwnedFd>,
    console: Option<UnixStream>,
    /// Our end of the console socket pair when the caller relays the terminal itself.
    console_local: Option<UnixStream>,
    fifo: Option<OwnedFd>,
}

impl<S: Syscall> Linux<S> {
    pub(crate) fn create_impl(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State> {
        Ok(self.spawn(id, bundle, opts, true, false)?.0.state)
    }

    /// Creates the container; with `fifo` the init waits for `start`, without it execs at once.
    /// With `own_tty` and no console socket, a terminal's master comes back to the caller over
    /// the returned socket (a foreground `run` relays it to its own stdio).
    pub(crate) fn spawn(
        &self,
        id: &str,
        bundle: &Path,
        opts: &CreateOptions,
        fifo: bool,
        own_tty: bool,
    ) -> Result<(Container, Option<UnixStream>)> {
        validate_id(id)?;
        process::ensure_single_threaded()?;
        let bundle = std::fs::canonicalize(bundle).at(bundle)?;
        let spec = load_spec(&bundle)?;
        std::fs::create_dir_all(&self.root).at(&self.root)?;
        let dir = self.root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists(id.to_string())),
            Err(e) => return Err(Error::io(&dir, e)),
        }
        let mut cgroup: Option<Cgroup> = None;
        let mut child: Option<i32> = None;
        let result = self.spawn_in(id, &bundle, &spec, &dir, opts, (fifo, own_tty), &mut cgroup, &mut child);
        if result.is_err() {
            if let Some(pid) = child {
                let _ = process::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = process::wait_child(pid);
            }
            if let Some(cg) = &cgroup {
                let _ = cg.destroy(&self.sys);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_in(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        dir: &Path,
        opts: &CreateOptions,
        (fifo, own_tty): (bool, bool),
        cgroup_out: &mut Option<Cgroup>,
        child_out: &mut Option<i32>,
    ) -> Result<(Container, Option<UnixStream>)> {
        let p = self.prepare(id, bundle, spec, dir, opts, (fifo, own_tty), cgroup_out)?;
        let Prepared { plan, ns, state, _fds, console, console_local, fifo: fifo_fd } = p;

        // Only the children of this process land in these PID namespaces; this process's own
        // is restored after the fork, so that it can create again (a restart).
        let own_pid_ns = if ns.new_pid || ns.pid_path.is_some() {
            Some(File::open("/proc/self/ns/pid").at("/proc/self/ns/pid")?)
        } else {
            None
        };
        if ns.new_pid {
            self.sys.unshare(CloneFlags::CLONE_NEWPID)?;
        }
        if let Some(path) = &ns.pid_path {
            let f = File::open(path).at(path)?;
            self.sys.setns(f.as_raw_fd(), CloneFlags::CLONE_NEWPID)?;
        }
        // Inherited by the init: not dumpable from its first instruction (it may be entering
        // a PID namespace others already live in).
        process::set_non_dumpable()?;
        let (reader, writer) = process::pipe()?;
        let gate = match &fifo_fd {
            Some(f) => Gate::Fifo(f.as_raw_fd()),
            None => Gate::None,
        };
        let console_fd = console.as_ref().map(|c| c.as_raw_fd());
        let forked = process::fork();
        if let Some(f) = &own_pid_ns {
            if !matches!(forked, Ok(process::Forked::Child)) {
                self.sys.setns(f.as_raw_fd(), CloneFlags::CLONE_NEWPID)?;
            }
        }
        match forked? {
            process::Forked::Child => {
                drop(reader);
                drop(own_pid_ns);
                let fds = init::ChildFds { sync: writer.as_raw_fd(), gate, console: console_fd };
                init::child_main(&self.sys, plan, fds, opts.preserve_fds, opts.die_with_parent)
            }
            process::Forked::Parent(pid) => {
                drop(writer);
                drop(console);
                *child_out = Some(pid);
                let mut c = Container { dir: dir.to_path_buf(), state };
                c.state.pid = pid;
                c.state.pid_start_time = process::start_time_and_state(pid).map(|(s, _)| s).unwrap_or(0);
                c.state.status = Status::Created;
                c.save()?;
                match process::read_reply(reader)? {
                    // create: the init is set up and waits at the fifo.
                    Reply::Ready => {}
                    // run: the init exec'd (or died, which waiting for it will tell).
                    Reply::Eof if !fifo => {}
                    Reply::Eof => {
                        let status = process::wait_child(pid)?;
                        *child_out = None;
                        return Err(Error::Init(format!(
                            "the container's init exited ({status:?}) before it was ready"
                        )));
                    }
                    Reply::Failed(code, message) => {
                        let _ = process::wait_child(pid);
                        *child_out = None;
                        return Err(if code == 126 || code == 127 {
                            Error::Exec { code, message }
                        } else {
                            Error::Init(message)
                        });
                    }
                }
                if let Some(pf) = &opts.pid_file {
                    std::fs::write(pf, pid.to_string()).at(pf)?;
                }
                drop(fifo_fd);
                Ok((c, console_local))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        dir: &Path,
        opts: &CreateOptions,
        (fifo, own_tty): (bool, bool),
        cgroup_out: &mut Option<Cgroup>,
    ) -> Result<Prepared> {
        let default_linux = LinuxSpec::default();
        let linux = spec.linux().as_ref().unwrap_or(&default_linux);
        let root = spec.root().as_ref().ok_or_else(|| Error::Spec("root.path is missing".into()))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
        let rootfs =
            std::fs::canonicalize(&rootfs).map_err(|e| Error::Spec(format!("rootfs {}: {e}", rootfs.display())))?;
        let process_spec = spec.process().as_ref().ok_or_else(|| Error::Spec("process is missing".into()))?;
        let process = ProcessPlan::new(process_spec, linux.seccomp().as_ref())?;
        let ns = namespaces(linux)?;
        if spec.hooks().is_some() {
            tracing::warn!("config.json has hooks: berth's runtime does not run OCI hooks, they are ignored");
        }
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !ns.uts {
            return Err(Error::Spec("unable to set the hostname without a UTS namespace".into()));
        }

        let layout = Layout::detect()?;
        let default_path = PathBuf::from("/berth").join(id);
        let cg = layout.cgroup(linux.cgroups_path().as_deref().unwrap_or(&default_path))?;
        cg.create(&self.sys)?;
        *cgroup_out = Some(cg.clone());
        if let Some(res) = linux.resources() {
            let mut res = res.clone();
            if let Some(rules) = res.devices_mut() {
                // Devices config.json creates must also be usable, unless a rule of its own
                // says how (`--device HOST:CTR:r`): that rule's access stands, as under runc.
                let implicit: Vec<LinuxDeviceCgroup> = linux
                    .devices()
                    .iter()
                    .flatten()
                    .filter(|d| {
                        !rules.iter().any(|r| {
                            r.allow()
                                && r.typ() == Some(d.typ())
                                && r.major() == Some(d.major())
                                && r.minor() == Some(d.minor())
                        })
                    })
                    .map(LinuxDeviceCgroup::from)
                    .collect();
                rules.extend(implicit);
            }
            cg.apply(&self.sys, &res)?;
        }

        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut join = Vec::new();
        for (flag, path) in &ns.join {
            let f = File::open(path).map_err(|e| Error::Spec(format!("namespace {}: {e}", path.display())))?;
            join.push((*flag, f.as_raw_fd()));
            fds.push(f.into());
        }
        let mut console_local = None;
        let console = match (&opts.console_socket, process.terminal) {
            (Some(path), true) => Some(
                UnixStream::connect(path)
                    .map_err(|e| Error::Init(format!("connect to the console socket {}: {e}", path.display())))?,
            ),
            (None, true) if own_tty => {
                let (ours, theirs) = UnixStream::pair().map_err(|e| Error::Init(format!("socketpair: {e}")))?;
                console_local = Some(ours);
                Some(theirs)
            }
            (None, true) => {
                return Err(Error::Spec(
                    "process.terminal is true: a console socket (--console-socket) is required".into(),
                ))
            }
            _ => None,
        };
        let fifo_fd = if fifo {
            let path = dir.join("exec.fifo");
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o622))
                .map_err(|e| Error::sys(format!("mkfifo {}", path.display()), e))?;
            // O_PATH: a handle on the fifo that opens neither end (std adds O_CLOEXEC).
            let fd = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(&path)
                .map_err(|e| Error::Sys { what: format!("open {}", path.display()), source: e })?;
            Some(OwnedFd::from(fd))
        } else {
            None
        };

        let propagation = match linux.rootfs_propagation().as_deref() {
            None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
            Some(p) => propagation_flags(p).ok_or_else(|| Error::Spec(format!("invalid rootfsPropagation {p:?}")))?,
        };
        let mut sysctl: Vec<(String, String)> =
            linux.sysctl().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        sysctl.sort();
        check_sysctls(&sysctl, &ns)?;
        let rootfs_plan = RootfsPlan {
            rootfs: rootfs.clone(),
            readonly: root.readonly().unwrap_or(false),
            propagation,
            mounts: absolute_mounts(spec, bundle),
            devices: devices(linux)?,
            masked_paths: linux.masked_paths().clone().unwrap_or_default(),
            readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
            cgroup_mounts: cgroup_mounts(&layout, &cg, ns.new_cgroup),
            cwd: process.cwd.clone(),
        };
        let plan = InitPlan {
            unshare: ns.unshare,
            join,
            cgroup_procs: cg.procs_files(),
            rootfs: rootfs_plan,
            hostname: spec.hostname().clone(),
            domainname: spec.domainname().clone(),
            sysctl,
            process,
        };
        let state = State {
            oci_version: OCI_VERSION.into(),
            id: id.to_string(),
            status: Status::Creating,
            pid: 0,
            bundle: bundle.to_path_buf(),
            annotations: spec.annotations().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect(),
            rootfs,
            created: rfc3339(std::time::SystemTime::now()),
            oom_killed: false,
            exit_status: None,
            pid_start_time: 0,
            cgroup: Some(cg),
        };
        Ok(Prepared { plan, ns, state, _fds: fds, console, console_local, fifo: fifo_fd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_from_config() {
        let linux: LinuxSpec = serde_json::from_str(
            r#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/x"},{"type":"mount"},{"type":"uts"},{"type":"ipc"}]}"#,
        )
        .unwrap();
        let ns = namespaces(&linux).unwrap();
        assert!(ns.new_pid && ns.uts);
        assert_eq!(ns.unshare, CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC);
        assert_eq!(ns.join, vec![(CloneFlags::CLONE_NEWNET, PathBuf::from("/var/run/netns/x"))]);

        let linux: LinuxSpec = serde_json::from_str(r#"{"namespaces":[{"type":"pid"}]}"#).unwrap();
        assert!(namespaces(&linux).unwrap_err().to_string().contains("mount namespace"));
        let linux: LinuxSpec = serde_json::from_str(r#"{"namespaces":[{"type":"mount"},{"type":"user"}]}"#).unwrap();
        assert!(namespaces(&linux).unwrap_err().to_string().contains("user namespaces"));
    }

    #[test]
    fn only_namespaced_sysctls() {
        let linux: LinuxSpec = serde_json::from_str(r#"{"namespaces":[{"type":"mount"},{"type":"ipc"}]}"#).unwrap();
        let ns = namespaces(&linux).unwrap();
        let one = |k: &str| vec![(k.to_string(), "1".to_string())];
        check_sysctls(&one("kernel.shmmax"), &ns).unwrap();
        check_sysctls(&one("fs.mqueue.msg_max"), &ns).unwrap();
        assert!(check_sysctls(&one("net.ipv4.ip_forward"), &ns).unwrap_err().to_string().contains("network namespace"));
        assert!(check_sysctls(&one("vm.swappiness"), &ns).unwrap_err().to_string().contains("not namespaced"));
        let linux: LinuxSpec =
            serde_json::from_str(r#"{"namespaces":[{"type":"mount"},{"type":"network","path":"/run/netns/x"}]}"#)
                .unwrap();
        check_sysctls(&one("net.ipv4.ip_forward"), &namespaces(&linux).unwrap()).unwrap();
    }

    #[test]
    fn config_devices_replace_defaults() {
        let linux: LinuxSpec = serde_json::from_str(
            r#"{"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":8630},
                           {"path":"/dev/null","type":"c","major":1,"minor":3,"uid":5}]}"#,
        )
        .unwrap();
        let d = devices(&linux).unwrap();
        assert_eq!(d.len(), 7);
        let fuse = d.iter().find(|x| x.path == Path::new("/dev/fuse")).unwrap();
        assert_eq!((fuse.major, fuse.minor, fuse.mode), (10, 229, 0o666));
        assert_eq!(d.iter().filter(|x| x.path == Path::new("/dev/null")).count(), 1);
        assert_eq!(d.iter().find(|x| x.path == Path::new("/dev/null")).unwrap().uid, 5);
    }

    #[test]
    fn relative_bind_sources_are_bundle_relative() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/data","type":"bind","source":"data","options":["rbind"]},
               {"destination":"/proc","type":"proc","source":"proc"}]}"#,
        )
        .unwrap();
        let m = absolute_mounts(&spec, Path::new("/bundles/b"));
        assert_eq!(m[0].source().as_deref(), Some(Path::new("/bundles/b/data")));
        assert_eq!(m[1].source().as_deref(), Some(Path::new("proc")));
    }
}
