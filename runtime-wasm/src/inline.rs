//! A guest run inside the calling process: the foreground fast path of `berth run`.
//!
//! A foreground container whose guest opens no sockets can run on a thread of the CLI itself,
//! which then is its supervisor: no shim re-exec, no guest process, no network setup. The
//! process gets the store limits (memory and tables within `--memory`, bounded instances) and
//! the container's cgroup for the run ([`CgroupStay`]). The thread running the guest is
//! confined as the shim's guest process is, in what Linux keeps per thread (the same
//! [`Confinement`], entered on that thread before it starts any other): mount, IPC and UTS
//! namespaces of its own (and a cgroup one where the spec has it, on cgroup v2), with its own
//! working directory and umask (CLONE_FS); the spec's hostname; the spec's capabilities
//! (Docker's set, bounding set included); no_new_privs; the spec's seccomp filters (Docker's
//! profile) without TSYNC, plus one that fails `socket(2)` ([`NO_SOCKETS`]). The CLI's main
//! thread keeps its privileges for the bookkeeping after the guest (record the exit, unmount,
//! remove). Threads the run starts inherit all of it, being started from the confined
//! thread: the tokio runtime wasmtime-wasi drives host calls on is built there (its worker;
//! its blocking pool, where wasmtime-wasi runs a component's file I/O, is spawned lazily by
//! the thread calling `spawn_blocking`, itself confined), as is wasmtime-wasi's stdin reader.
//! wasmtime's signal handlers (traps) run on the faulting thread, in the same confinement.
//! Threads that existed before (the main thread, compilation's) run no guest code.
//!
//! Left out: a PID namespace (a thread cannot have one, and the guest has no way to name a
//! process anyway); rlimits (the process's: a container with rlimits goes through the shim);
//! and a network namespace, which costs about 0.3 ms to make on the thread plus the kernel's
//! asynchronous teardown, a tenth of a hello world, for a guest that imports no socket
//! interface. `socket(2)` failing on the thread instead shuts out the host's network and its
//! unix sockets (which a network namespace would not) for a few BPF instructions. The thread
//! stays uid 0 (as the shim's guest process does), with no supplementary groups (set with the
//! kernel's per-thread calls: libc's would change the CLI's threads too). Shared with the
//! CLI: the address space, file descriptors and the host's PID and network namespaces. Code
//! that escaped the guest onto its thread is held by the thread's filters and capabilities
//! only until it writes into memory a privileged thread runs (the CLI's main thread): the
//! shim path's guest process is the boundary against such an escape; this path bounds what a
//! confused host call or a partial escape reaches.
//!
//! The caller loads the guest ([`crate::Wasm::load_inline`]), asks whether it needs a network (a guest
//! importing `wasi:sockets` goes through the shim, into the namespace the network code
//! makes), and runs it with its output going to [`Sink`]s (the terminal and the container's
//! log). A stop signal sent to this process ends the run at once with 128+signal, the guest
//! left on its thread: the caller records the exit and ends the process, as the shim's guest
//! process ends on one.

use crate::guest::{self, Confinement, End, GuestConfig, Prepared, STOP_SIGNALS};
use crate::stdio::Stdio;
pub use crate::stdio::{Sink, SinkFn};
use berth_runtime::error::{Error, Result};
use berth_runtime_linux::container_process::ProcessPlan;
use nix::sched::CloneFlags;
use std::time::Duration;

/// Makes the stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2) interrupt an inline
/// guest instead of ending this process. Call it before the container is marked running.
fn catch_stop_signals() -> Result<()> {
    berth_sys::process::catch_signals(&STOP_SIGNALS)
        .map_err(|e| Error::Sys { what: "catch the stop signals".into(), source: e })
}

/// The stop signal this process received, if any (0: none).
pub fn stop_signal() -> i32 {
    berth_sys::process::caught_signal()
}

/// The calling process's stay in a container's cgroup, for the length of an inline run: the
/// process running the guest is in the container's cgroup, as the shim's guest process is
/// (`cgroup.procs` moves every thread of a process; the rest of the confinement is the
/// guest's thread's, see the module doc). [`CgroupStay::leave`] moves the process back to
/// where it was and removes the container's cgroup.
pub struct CgroupStay {
    container: berth_runtime::Cgroup,
    home: berth_runtime::Cgroup,
}

impl CgroupStay {
    /// Makes the container's cgroup from the spec (see [`crate::guest_cgroup`]; device rules
    /// left out: this process keeps working after the guest) and moves this process into it.
    fn join(spec: &oci_spec::runtime::Spec, id: &str) -> Result<CgroupStay> {
        use berth_runtime_linux::syscall::{LinuxSyscall, Syscall};
        let home = berth_runtime_linux::cgroups::Layout::detect()?.own_cgroup()?;
        let mut linux = spec.linux().clone().unwrap_or_default();
        if let Some(r) = linux.resources_mut() {
            r.set_devices(None);
        }
        let container = crate::guest_cgroup(&linux, id)?;
        for f in container.procs_files() {
            if let Err(e) = LinuxSyscall.write_file(&f, "0") {
                let stay = CgroupStay { container, home };
                stay.leave();
                return Err(Error::Cgroup(format!("join {}: {e}", f.display())));
            }
        }
        Ok(CgroupStay { container, home })
    }

    /// Back to this process's own cgroup; the container's removed.
    pub fn leave(self) {
        use berth_runtime_linux::cgroups::CgroupExt;
        use berth_runtime_linux::syscall::{LinuxSyscall, Syscall};
        for f in self.home.procs_files() {
            let _ = LinuxSyscall.write_file(&f, "0");
        }
        let _ = self.container.destroy(&LinuxSyscall);
    }
}

/// A guest loaded for an in-process run.
pub struct Inline {
    cfg: GuestConfig,
    prepared: Prepared,
    confine: Confinement,
}

/// The namespaces a thread can have of its own and the guest's thread makes when the spec
/// asks for them: a PID namespace is a process's (its children's), and the network one is
/// left out (see the module doc: [`NO_SOCKETS`] instead).
const THREAD_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// A filter stacked on the spec's on the guest's thread: `socket(2)` fails with EPERM. Only a
/// guest that imports no `wasi:sockets` runs inline, so nothing on its thread (or the threads
/// it starts: the tokio runtime's use eventfd, epoll and `socketpair`) opens a socket; code
/// that escaped the guest could, in the host's network namespace, and Docker's profile
/// allows `socket` (io_uring, which could open one too, it does not).
const NO_SOCKETS: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;

/// What confines the guest's thread, from the spec: the pieces of the shim's guest process's
/// [`Confinement`] that are per thread (see the module doc).
fn thread_confinement(cfg: &GuestConfig, spec: &oci_spec::runtime::Spec) -> Result<Confinement> {
    let linux = spec.linux().clone().unwrap_or_default();
    let ns = berth_runtime_linux::create::namespaces(&linux)?;
    let process = spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;
    let mut plan = ProcessPlan::new(process, linux.seccomp().as_ref())?;
    // Resource limits are the process's: the CLI's bookkeeping after the guest would run under
    // them (the engine sends a container with rlimits through the shim).
    plan.rlimits.clear();
    let no_sockets = serde_json::from_str(NO_SOCKETS).map_err(|e| Error::Seccomp(e.to_string()))?;
    plan.seccomp.extend(berth_runtime_linux::seccomp::compile(&no_sockets)?);
    Ok(Confinement {
        cgroup_procs: Vec::new(),
        join: Vec::new(),
        // CLONE_FS (which CLONE_NEWNS implies): the thread's working directory and umask are
        // its own, the CLI's stay.
        unshare: (ns.unshare & THREAD_NAMESPACES) | CloneFlags::CLONE_FS,
        hostname: spec.hostname().clone().filter(|_| ns.uts),
        plan,
        needs: cfg.host_paths(),
    })
}

/// How an inline run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub end: End,
    /// A stop signal ended the run: the guest is still on its thread, and the caller must end
    /// the process once it recorded the exit.
    pub abandoned: bool,
}

impl Inline {
    /// Resolves, loads (from the compiled-code cache when it can) and links the guest, with the
    /// same errors a shim's create reports; `spec` (the container's) says how its thread is
    /// confined.
    fn load(cfg: GuestConfig, spec: &oci_spec::runtime::Spec) -> Result<Inline> {
        let confine = thread_confinement(&cfg, spec)?;
        let prepared = guest::prepare(&cfg)?;
        Ok(Inline { cfg, prepared, confine })
    }

    /// Whether the guest imports `wasi:sockets`, so it must run in a network namespace.
    pub fn needs_network(&self) -> bool {
        self.prepared.needs_network
    }

    /// Whether the guest can name files, so it must see its rootfs (see
    /// [`GuestConfig::root_deferred`]).
    pub fn needs_files(&self) -> bool {
        self.prepared.needs_files
    }

    /// The caller made the rootfs of a guest loaded with a deferred one: preopen it as `/`.
    pub fn root_ready(&mut self) {
        self.cfg.root_deferred = false;
        self.confine.needs = self.cfg.host_paths();
    }

    /// Runs the guest to its end on a thread of its own (with a main thread's stack), its
    /// stdout and stderr going to the sinks and stdin this process's when `stdin` is set. The
    /// thread is confined first (see the module doc); one that cannot be ends the run with
    /// 125 before the guest starts. A stop signal ends the run at once, the guest left on its
    /// thread: the caller records the exit and ends the process, as the signal ends a native
    /// process.
    pub fn run(self, stdin: bool, stdout: Sink, stderr: Sink) -> Outcome {
        let (tx, rx) = std::sync::mpsc::channel();
        let Inline { cfg, prepared, mut confine } = self;
        let spawned = std::thread::Builder::new().name("wasm-guest".into()).stack_size(8 << 20).spawn(move || {
            // Before any thread of the run exists: those it starts (the runtime's worker and
            // blocking pool, wasmtime-wasi's stdin reader) are started from this one and
            // inherit its namespaces, capabilities, no_new_privs and filters.
            if let Err(e) = confine.enter_thread() {
                let message = Some(format!("berth: confining the guest's thread: {e}"));
                let _ = tx.send(End { code: 125, message, oom: false });
                return;
            }
            // wasmtime-wasi drives its host calls on the runtime it finds entered, else on a
            // global one sized to the machine (a worker per core, found by reading cgroup
            // files): one worker is all a single guest's host calls need.
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
            let entered = rt.as_ref().ok().map(|r| r.enter());
            let end = guest::run(&cfg, prepared, Stdio::Streams { stdin, stdout, stderr });
            drop(entered);
            if let Ok(rt) = rt {
                rt.shutdown_background();
            }
            let _ = tx.send(end);
        });
        if let Err(e) = spawned {
            let end = End { code: 125, message: Some(format!("berth: starting the guest thread: {e}")), oom: false };
            return Outcome { end, abandoned: false };
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(end) => return Outcome { end, abandoned: false },
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let end = End { code: 125, message: Some("berth: the guest thread failed".into()), oom: false };
                    return Outcome { end, abandoned: false };
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let sig = stop_signal();
                    if sig > 0 {
                        let end = End { code: (128 + sig) as u8, message: None, oom: false };
                        return Outcome { end, abandoned: true };
                    }
                }
            }
        }
    }
}

/// The inline path is a capability of the wasm runtime: what runs a guest in a process of its
/// own (`create`/`start`) can also run it on a thread of the calling process.
impl crate::Wasm {
    /// Resolves, loads (from the compiled-code cache when it can) and links a guest to run on a
    /// thread of this process, with the same errors a shim's create reports; `spec` (the
    /// container's) says how its thread is confined.
    pub fn load_inline(&self, cfg: GuestConfig, spec: &oci_spec::runtime::Spec) -> Result<Inline> {
        Inline::load(cfg, spec)
    }

    /// Moves this process into container `id`'s cgroup (made from `spec`) for an inline run.
    pub fn join_cgroup(&self, spec: &oci_spec::runtime::Spec, id: &str) -> Result<CgroupStay> {
        CgroupStay::join(spec, id)
    }

    /// Makes the stop signals interrupt an inline guest instead of ending this process (see
    /// [`Inline::run`]). Call it before the container is marked running.
    pub fn catch_stop_signals(&self) -> Result<()> {
        catch_stop_signals()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime_linux::seccomp::testing::{docker_like, verdict};

    fn spec() -> oci_spec::runtime::Spec {
        let mut spec: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "hostname": "guest",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["/app.wasm"], "cwd": "/", "noNewPrivileges": true,
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_FSIZE", "hard": 1, "soft": 1}]},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "pid"},
                {"type": "network", "path": "/proc/self/ns/net"}]}}"#,
        )
        .unwrap();
        let mut linux = spec.linux().clone().unwrap();
        linux.set_seccomp(Some(docker_like()));
        spec.set_linux(Some(linux));
        spec
    }

    #[test]
    fn the_guest_thread_gets_the_per_thread_part_of_the_guest_process_confinement() {
        let c = thread_confinement(&GuestConfig::default(), &spec()).unwrap();
        let made = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_FS;
        assert_eq!(c.unshare, made, "a thread makes no PID namespace and joins no network one");
        assert!(c.join.is_empty() && c.cgroup_procs.is_empty());
        assert_eq!(c.hostname.as_deref(), Some("guest"));
        assert!(c.plan.rlimits.is_empty(), "rlimits are the CLI process's");
        // The spec's filters, then one failing socket(2) alone.
        let socket = [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(verdict(&c.plan.seccomp, libc::SYS_socket, socket), eperm);
        assert_eq!(verdict(&c.plan.seccomp, libc::SYS_read, [0; 6]), libc::SECCOMP_RET_ALLOW);
        let own = c.plan.seccomp.last().unwrap();
        assert_eq!(verdict(std::slice::from_ref(own), libc::SYS_socketpair, [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(verdict(std::slice::from_ref(own), libc::SYS_socket, socket), eperm);
    }

    #[test]
    #[ignore = "needs root"]
    fn a_confined_thread_cannot_open_a_socket_while_the_others_can() {
        assert!(nix::unistd::geteuid().is_root(), "needs root (this test is ignored unless asked for)");
        let mut spec = spec();
        // The test's own filter: Docker-like would refuse what the test harness needs.
        let mut linux = spec.linux().clone().unwrap();
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
        let mut c = thread_confinement(&GuestConfig::default(), &spec).unwrap();
        let confined = std::thread::spawn(move || {
            c.enter_thread().unwrap();
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            (std::net::TcpListener::bind("127.0.0.1:0").map(drop).map_err(|e| e.raw_os_error()), status)
        })
        .join()
        .unwrap();
        assert_eq!(confined.0, Err(Some(libc::EPERM)), "{}", confined.1);
        assert!(confined.1.contains("NoNewPrivs:\t1") && confined.1.contains("Seccomp:\t2"), "{}", confined.1);
        assert!(confined.1.contains("CapBnd:\t0000000000000020"), "only CAP_KILL: {}", confined.1);
        // This thread is not filtered.
        std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        assert!(own.contains("Seccomp:\t0"), "{own}");
    }
}
