//! The WebAssembly runtime ([`Wasm`]): the same [`Runtime`] verbs as the Linux one, for bundles
//! whose process is a WASI preview 1 module or a WASI preview 2 (`wasi:cli/command`) component,
//! run on wasmtime instead of in Linux namespaces.
//!
//! A wasm container is still one host process, the shim's child, so everything the shim does
//! with a native container's init (waitpid, signals, start time, logs through its stdio) holds
//! unchanged. `create` forks that process, confined as a native container's init is (its
//! cgroup, always; PID, mount, IPC, UTS namespaces and the bundle's network namespace, so every
//! socket the guest opens through `wasi:sockets` lives there; Docker's capabilities,
//! no_new_privs and seccomp profile: see `guest::Confinement`), loads the module (from the compiled-code cache when it can, see [`cache`]), links it
//! against WASI — which is where a corrupt module or a missing import is reported, as a failed
//! create with Docker's 126 — and then blocks on `exec.fifo` exactly like the Linux init, until
//! `start`. Stop signals are caught on a thread that flushes the guest's stdout and ends the
//! process with 128+signal, so a spinning guest stops at once, as a native process without a
//! handler would (no epoch interruption: its checks would tax every guest, see `guest`).
//!
//! What the guest sees comes from the OCI spec: `process.args`/`env`/`cwd`; the rootfs preopened
//! at `/` (read-only when `root.readonly`) and every directory bind mount preopened at its
//! destination (`ro` honoured); `linux.resources.memory.limit` caps the guest's linear memories
//! and tables together (a [`wasmtime::ResourceLimiter`], which also bounds the number of
//! instances, tables and memories: growth beyond fails inside the guest, and a guest that then
//! traps is reported out of memory with 137 and a `wasm-oom` marker in the bundle).

// Unsafe code stays in berth-sys but for one call this crate cannot hand over: loading
// compiled code from the cache is `unsafe` in wasmtime's API (see `cache::lookup`), and
// berth-sys must not link wasmtime.
#![deny(unsafe_code)]

pub mod cache;
mod guest;
pub mod http;
pub mod inline;
mod stdio;

use berth_runtime::error::{Error, Result};
use berth_runtime::{load_spec, rfc3339, validate_id, CreateOptions, ExecOptions, ExitStatus, Runtime, State, Status};
use berth_runtime::{Cgroup, OCI_VERSION};
use berth_runtime_linux::cgroups::{CgroupExt, Layout};
use berth_runtime_linux::process::{self, Forked, Reply};
use berth_runtime_linux::state::Container;
use berth_runtime_linux::syscall::LinuxSyscall;
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub use guest::{is_component, is_wasm, resolve_in, Confinement, End, GuestConfig, ModuleSource};
pub use inline::{CgroupStay, Inline, Outcome};
pub use stdio::{Sink, SinkFn};

/// The annotation the engine sets on a bundle that this runtime must run (crun's name for it).
pub const HANDLER_ANNOTATION: &str = "run.oci.handler";
/// The annotation naming the directory of the compiled-code cache.
pub const CACHE_ANNOTATION: &str = "io.berth.wasm.cache";
/// The annotation naming what the engine knows of the binary's content
/// ([`ModuleSource::to_annotation`]), so a start finds its compiled code without hashing it.
pub const SOURCE_ANNOTATION: &str = "io.berth.wasm.source";
/// The file a guest that ran out of its memory limit leaves in its bundle.
pub const OOM_MARKER: &str = "wasm-oom";

/// The container's cgroup, made (with the spec's limits but memory's: wasmtime caps the guest's
/// memory itself, where exceeding it fails cleanly inside the guest, and a cgroup limit would
/// also count the runtime's own pages) for the guest's process to join first thing.
pub(crate) fn guest_cgroup(linux: &oci_spec::runtime::Linux, id: &str) -> Result<Cgroup> {
    let default = PathBuf::from(format!("/berth/{id}"));
    let cg = Layout::detect()?.cgroup(linux.cgroups_path().as_deref().unwrap_or(&default))?;
    cg.create(&LinuxSyscall)?;
    if let Some(r) = linux.resources() {
        let mut r = r.clone();
        r.set_memory(None);
        if let Err(e) = cg.apply(&LinuxSyscall, &r) {
            let _ = cg.destroy(&LinuxSyscall);
            return Err(e);
        }
    }
    Ok(cg)
}

/// The wasmtime runtime, keeping its state under a root directory like [`berth_runtime_linux::Linux`]. Like
/// it, `create` unshares the PID namespace of the calling process's future children for its
/// fork, so that the guest process is its namespace's PID 1, then restores the caller's own;
/// with [`CreateOptions::die_with_parent`] the guest dies with the process that created it.
#[derive(Debug)]
pub struct Wasm {
    root: PathBuf,
}

impl Wasm {
    pub fn new(root: impl Into<PathBuf>) -> Wasm {
        Wasm { root: root.into() }
    }

    fn load(&self, id: &str) -> Result<Container> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&LinuxSyscall);
        Ok(c)
    }
}

impl Runtime for Wasm {
    fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State> {
        validate_id(id)?;
        let spec = load_spec(bundle)?;
        let cfg = GuestConfig::from_spec(&spec, bundle)?;
        process::ensure_single_threaded()?;
        // The confinement of a native container's init (see `guest::Confinement`), resolved
        // here so that a bad spec fails the create before anything is forked.
        let linux = spec.linux().clone().unwrap_or_default();
        let ns = berth_runtime_linux::create::namespaces(&linux)?;
        let process_spec = spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;
        let plan = berth_runtime_linux::container_process::ProcessPlan::new(process_spec, linux.seccomp().as_ref())?;
        let mut join_files = Vec::new();
        for (flag, path) in &ns.join {
            let f = std::fs::File::open(path).map_err(|e| Error::Spec(format!("namespace {}: {e}", path.display())))?;
            join_files.push((*flag, f));
        }
        let dir = self.root.join(id);
        if dir.join("state.json").exists() {
            return Err(Error::Exists(id.to_string()));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let fifo = dir.join("exec.fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| Error::sys(format!("mkfifo {}", fifo.display()), e))?;
        let cgroup = match guest_cgroup(&linux, id) {
            Ok(cg) => cg,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let undo = |e: Error| {
            let _ = cgroup.destroy(&LinuxSyscall);
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        };
        // Only the children of this process land in the new PID namespace, so the guest is its
        // PID 1; this process's own is restored after the fork, so that it can create again (a
        // restart), as the Linux runtime does.
        let own_pid_ns = if ns.new_pid || ns.pid_path.is_some() {
            match std::fs::File::open("/proc/self/ns/pid") {
                Ok(f) => Some(f),
                Err(e) => return undo(Error::io(Path::new("/proc/self/ns/pid"), e)),
            }
        } else {
            None
        };
        if ns.new_pid {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID) {
                return undo(Error::sys("unshare(pid)", e));
            }
        }
        if let Some(p) = &ns.pid_path {
            let joined = std::fs::File::open(p).map_err(|e| Error::io(p, e)).and_then(|f| {
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWPID).map_err(|e| Error::sys("setns(pid)", e))
            });
            if let Err(e) = joined {
                return undo(e);
            }
        }
        let confine = guest::Confinement {
            cgroup_procs: cgroup.procs_files(),
            join: join_files.iter().map(|(f, file)| (*f, file.as_raw_fd())).collect(),
            unshare: ns.unshare,
            hostname: spec.hostname().clone().filter(|_| ns.uts),
            plan,
            needs: cfg.host_paths().into_iter().chain([fifo.clone()]).collect(),
        };
        let (r, w) = match process::pipe() {
            Ok(p) => p,
            Err(e) => return undo(e),
        };
        let forked = process::fork();
        if let (Some(f), false) = (&own_pid_ns, matches!(forked, Ok(Forked::Child))) {
            if let Err(e) = nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWPID) {
                if let Ok(Forked::Parent(pid)) = forked {
                    let _ = process::kill(pid, Signal::SIGKILL);
                    let _ = process::wait_child(pid);
                }
                return undo(Error::sys("setns(pid) back", e));
            }
        }
        let forked = match forked {
            Ok(f) => f,
            Err(e) => return undo(e),
        };
        match forked {
            Forked::Child => {
                drop(r);
                drop(own_pid_ns);
                let code =
                    guest::child_main(&cfg, w, &fifo, opts.console_socket.as_deref(), confine, opts.die_with_parent);
                process::exit_child(code)
            }
            Forked::Parent(pid) => {
                drop(w);
                drop(join_files);
                let fail = |code: u8, msg: String| {
                    let _ = process::wait_child(pid);
                    let _ = cgroup.destroy(&LinuxSyscall);
                    let _ = std::fs::remove_dir_all(&dir);
                    Err(Error::Exec { code, message: msg })
                };
                match process::read_reply(r) {
                    Ok(Reply::Ready) => {}
                    Ok(Reply::Failed(code, msg)) => return fail(code, msg),
                    Ok(Reply::Eof) => {
                        return fail(125, format!("wasm container {id:?}: the guest process died during setup"))
                    }
                    Err(e) => {
                        let _ = process::kill(pid, Signal::SIGKILL);
                        return fail(125, e.to_string());
                    }
                }
                let cgroup = Some(cgroup.clone());
                let state = State {
                    oci_version: OCI_VERSION.into(),
                    id: id.to_string(),
                    status: Status::Created,
                    pid,
                    bundle: bundle.to_path_buf(),
                    annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>(),
                    rootfs: cfg.rootfs.clone(),
                    created: rfc3339(std::time::SystemTime::now()),
                    oom_killed: false,
                    exit_status: None,
                    pid_start_time: process::start_time_and_state(pid).map(|s| s.0).unwrap_or(0),
                    cgroup,
                };
                let c = Container { dir, state };
                c.save()?;
                if let Some(p) = &opts.pid_file {
                    std::fs::write(p, pid.to_string()).map_err(|e| Error::io(p, e))?;
                }
                Ok(c.state)
            }
        }
    }

    fn start(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        if c.state.status != Status::Created {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: c.state.status.to_string(),
                reason: "only a created container can be started".into(),
            });
        }
        berth_runtime_linux::start::release_init(&c.fifo(), || c.alive(), &format!("wasm container {id:?}"))
    }

    fn kill(&self, id: &str, signal: Signal, _all: bool) -> Result<()> {
        let c = self.load(id)?;
        if !c.alive() {
            return Err(Error::InvalidState {
                id: id.into(),
                status: c.state.status.to_string(),
                reason: "the container is not running".into(),
            });
        }
        process::kill(c.state.pid, signal)
    }

    fn wait(&self, id: &str) -> Result<Option<ExitStatus>> {
        let c = Container::load(&self.root, id)?;
        match process::wait_child(c.state.pid) {
            Ok(s) => Ok(Some(s)),
            Err(_) => {
                process::wait_any(c.state.pid)?;
                Ok(None)
            }
        }
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let c = self.load(id)?;
        if c.alive() {
            if !force {
                return Err(Error::InvalidState {
                    id: id.into(),
                    status: c.state.status.to_string(),
                    reason: "stop it first or use --force".into(),
                });
            }
            let _ = process::kill(c.state.pid, Signal::SIGKILL);
            let _ = process::wait_any(c.state.pid);
        }
        if let Some(cg) = &c.state.cgroup {
            let _ = cg.destroy(&LinuxSyscall);
        }
        std::fs::remove_dir_all(&c.dir).map_err(|e| Error::io(&c.dir, e))
    }

    fn state(&self, id: &str) -> Result<State> {
        Ok(self.load(id)?.state)
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.kill(id, Signal::SIGSTOP, false)
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.kill(id, Signal::SIGCONT, false)
    }

    fn exec(&self, id: &str, _process: &Process, _opts: &ExecOptions) -> Result<Option<ExitStatus>> {
        Err(Error::InvalidState {
            id: id.into(),
            status: "running".into(),
            reason: "a WebAssembly container has no processes to exec into".into(),
        })
    }
}
