//! The guest process: what the forked child of `create` does, from the OCI spec to the guest's
//! exit status.
//!
//! Order matters: the process is confined ([`Confinement`]: cgroup, namespaces, capabilities)
//! before anything starts a thread (namespaces and capabilities are per thread, and threads
//! inherit their creator's), stop signals are blocked before any thread exists (so only the
//! signal thread receives them), no_new_privs and seccomp go on every thread last, once the
//! guest is loaded and `start` came, and every failure that is the image's fault (missing or
//! corrupt binary, unknown imports) happens before `start`, reported over the sync pipe as a
//! failed create.

use crate::cache::{self, Compiled};
use crate::stdio::Stdio;
use berth_runtime::error::{Error, Result};
use berth_runtime_linux::container_process::{self, ProcessPlan};
use berth_runtime_linux::init;
use berth_runtime_linux::process;
use berth_runtime_linux::syscall::{LinuxSyscall, Syscall};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime::{Config, Engine, Linker, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Whether `bytes` start with the wasm magic (`\0asm`).
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm")
}

/// Whether `bytes` are a component (layer 1) rather than a core module (layer 0).
pub fn is_component(bytes: &[u8]) -> bool {
    is_wasm(bytes) && bytes.len() >= 8 && bytes[6..8] == [1, 0]
}

/// What the guest gets, read from the spec.
#[derive(Debug, Clone, Default)]
pub struct GuestConfig {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub rootfs: PathBuf,
    pub rootfs_readonly: bool,
    /// (host dir, guest path, read-only)
    pub preopens: Vec<(PathBuf, String, bool)>,
    pub memory_limit: Option<u64>,
    pub cache_dir: Option<PathBuf>,
    pub bundle: PathBuf,
    pub terminal: bool,
    /// What the engine knows of the binary's content (the cache key without hashing it).
    pub source: Option<ModuleSource>,
    /// The rootfs is not made (yet): the binary is `source`'s file, and `/` is not preopened.
    /// A guest that cannot name files (see [`needs_files`]) never gets one, so its start
    /// creates no rootfs; the caller makes it and clears this for the others.
    pub root_deferred: bool,
}

/// The binary's content as the engine knows it: its cache key and an immutable host copy (the
/// store's blob or unpacked layer file), which stands for the file the guest names only while
/// both have the same size and modification time (a container that rewrote its own binary is
/// hashed and compiled as what it now is).
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub key: String,
    pub path: PathBuf,
}

impl ModuleSource {
    /// The annotation's value: `KEY:PATH`.
    pub fn to_annotation(&self) -> String {
        format!("{}:{}", self.key, self.path.display())
    }
    fn parse(s: &str) -> Option<ModuleSource> {
        let (key, path) = s.split_once(':')?;
        let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric()) && path.starts_with('/');
        ok.then(|| ModuleSource { key: key.to_string(), path: PathBuf::from(path) })
    }
    /// Whether `bin` (in `rootfs`) is the file this source names, with the content it had.
    fn stands_for(&self, bin: &Path, rootfs: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let rel = bin.strip_prefix(rootfs).unwrap_or(bin);
        if rel.as_os_str().is_empty() || !self.path.ends_with(rel) {
            return false;
        }
        let (Ok(a), Ok(b)) = (std::fs::metadata(bin), std::fs::metadata(&self.path)) else { return false };
        a.is_file() && a.size() == b.size() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()
    }
}

impl GuestConfig {
    pub fn from_spec(spec: &Spec, bundle: &Path) -> Result<GuestConfig> {
        let process = spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::Spec("process.args is empty".into()));
        }
        let env = process
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect();
        let root = spec.root().as_ref().ok_or_else(|| Error::Spec("no root".into()))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
        let mut preopens = Vec::new();
        for m in spec.mounts().as_deref().unwrap_or_default() {
            let opts = m.options().clone().unwrap_or_default();
            let bind = m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
            let Some(src) = m.source() else { continue };
            if !bind || !src.is_dir() {
                continue;
            }
            let dest = m.destination().to_string_lossy().into_owned();
            preopens.push((src.clone(), dest, opts.iter().any(|o| o == "ro")));
        }
        let memory_limit = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit())
            .filter(|l| *l > 0)
            .map(|l| l as u64);
        let cache_dir = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(super::CACHE_ANNOTATION))
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let source = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(super::SOURCE_ANNOTATION))
            .and_then(|s| ModuleSource::parse(s));
        Ok(GuestConfig {
            args,
            env,
            cwd: process.cwd().to_string_lossy().into_owned(),
            rootfs,
            rootfs_readonly: root.readonly().unwrap_or(false),
            preopens,
            memory_limit,
            cache_dir,
            bundle: bundle.to_path_buf(),
            terminal: process.terminal().unwrap_or(false),
            source,
            root_deferred: false,
        })
    }

    /// The host paths the guest's runtime uses (rootfs, bundle, compiled-code cache, the
    /// module's source, preopens): a confinement's mount namespace keeps the mounts holding
    /// them (see [`Confinement::needs`]).
    pub fn host_paths(&self) -> Vec<PathBuf> {
        [self.rootfs.clone(), self.bundle.clone()]
            .into_iter()
            .chain(self.cache_dir.clone())
            .chain(self.source.as_ref().map(|s| s.path.clone()))
            .chain(self.preopens.iter().map(|p| p.0.clone()))
            .collect()
    }

    /// The binary `args[0]` names, resolved in the rootfs (through `PATH` when it has no `/`),
    /// following symlinks without leaving the rootfs.
    pub fn resolve_binary(&self) -> Result<PathBuf> {
        let arg0 = self.args[0].split('#').next().unwrap_or_default();
        let candidates: Vec<String> = if arg0.contains('/') {
            let p = if arg0.starts_with('/') { arg0.to_string() } else { format!("{}/{arg0}", self.cwd) };
            vec![p]
        } else {
            let path = self.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/");
            path.split(':').map(|d| format!("{d}/{arg0}")).collect()
        };
        for c in &candidates {
            if let Some(p) = resolve_in(&self.rootfs, c) {
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(if arg0.contains('/') {
            Error::Exec { code: 127, message: format!("exec {arg0}: no such file or directory") }
        } else {
            Error::Exec { code: 127, message: format!("exec: \"{arg0}\": executable file not found in $PATH") }
        })
    }
}

/// `path` inside `root`, symlinks followed and kept inside `root` (`berth_sys::inroot`, the
/// resolver every other path inside a root goes through; the engine's dispatch rule resolves
/// entrypoints the same way). A chain past the kernel's 40 links resolves to nothing.
pub fn resolve_in(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = berth_sys::inroot::Root::open(root).ok()?.canonical(path).ok()?;
    Some(root.join(rel.strip_prefix("/").unwrap_or(&rel)))
}

/// The store's data: WASI state and the memory limiter.
struct Host {
    p1: Option<WasiP1Ctx>,
    p2: Option<(WasiCtx, ResourceTable)>,
    limits: Limits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = self.p2.as_mut().expect("a component store has a p2 context");
        WasiCtxView { ctx, table }
    }
}

/// What one table element costs the host: a funcref table holds a pointer per element (an
/// externref one 4 bytes; counting 8 for every kind errs on the side of the host).
const TABLE_ELEMENT_BYTES: usize = 8;
/// Table elements a guest may hold in all without `--memory`: 10 million (80 MB), as many as
/// wasmtime's own pooling allocator allows in all of its tables by default.
const DEFAULT_TABLE_ELEMENTS: usize = 10_000_000;
/// Instances, tables and memories one guest may create. A module is one instance with at most
/// a handful of each; a component a few dozen core instances. wasmtime's defaults (10,000
/// each) would let one guest reserve 10,000 linear memories of address space.
const MAX_INSTANCES: usize = 1_000;
const MAX_TABLES: usize = 1_000;
const MAX_MEMORIES: usize = 100;

/// The store's limiter: everything a guest allocates through wasmtime is bounded. Its linear
/// memories and its tables share one budget, `--memory` (`linux.resources.memory.limit`), a
/// table element costing [`TABLE_ELEMENT_BYTES`]: without this, `table.grow` reached 937 MB
/// under `--memory 64m`. Without a limit, memories are unbounded (as a native container's are)
/// and tables hold at most [`DEFAULT_TABLE_ELEMENTS`]. The counts of instances, tables and
/// memories are capped too. A growth beyond fails inside the guest (`memory.grow` and
/// `table.grow` return -1), and marks the run so a guest that then traps is reported out of
/// memory.
pub(crate) struct Limits {
    max: Option<usize>,
    /// Bytes of linear memory and of tables.
    used: usize,
    /// Table elements, in all tables.
    elements: usize,
    hit: Arc<AtomicBool>,
}

impl Limits {
    pub(crate) fn new(max: Option<usize>, hit: Arc<AtomicBool>) -> Limits {
        Limits { max, used: 0, elements: 0, hit }
    }

    /// Whether `used` bytes growing from `current` to `desired` bytes stays within the budget;
    /// the new total if it does.
    fn grow(&mut self, current: usize, desired: usize) -> Option<usize> {
        let total = (self.used - current.min(self.used)).saturating_add(desired);
        if self.max.is_some_and(|max| total > max) {
            self.hit.store(true, Ordering::Relaxed);
            return None;
        }
        Some(total)
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        match self.grow(current, desired) {
            Some(total) => {
                self.used = total;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let elements = (self.elements - current.min(self.elements)).saturating_add(desired);
        if self.max.is_none() && elements > DEFAULT_TABLE_ELEMENTS {
            self.hit.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        let bytes = |n: usize| n.saturating_mul(TABLE_ELEMENT_BYTES);
        match self.grow(bytes(current), bytes(desired)) {
            Some(total) => {
                self.used = total;
                self.elements = elements;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The signals that stop a guest: its process (or, inline, the run) ends with 128+signal.
pub(crate) const STOP_SIGNALS: [Signal; 6] =
    [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

fn stop_sigset() -> SigSet {
    let mut set = SigSet::empty();
    for s in STOP_SIGNALS {
        set.add(s);
    }
    set
}

/// What confines the guest process as a native container's init is confined (the same
/// pieces: [`init::enter`], [`container_process::apply_identity`] and
/// [`container_process::apply_late_seccomp`]): the container's cgroup, joined first; the
/// spec's namespaces (the network one joined by path, mount, IPC, UTS and cgroup ones made
/// here, the PID one by the parent, so this process is its PID 1); the spec's capabilities
/// (Docker's set) and rlimits; no_new_privs and the spec's seccomp profile (Docker's), both
/// installed on every thread once the guest is loaded. What is not done is the rootfs: the
/// guest process keeps the host's file system (in a mount namespace of its own, propagation
/// from the host kept), since a guest reaches files only through its WASI preopens, which
/// the runtime opens by host path. The process stays uid 0 in the sense of the host's files,
/// as a root native container, with only its capabilities.
pub struct Confinement {
    pub cgroup_procs: Vec<PathBuf>,
    /// Namespaces to enter, as descriptors the parent opened.
    pub join: Vec<(CloneFlags, RawFd)>,
    /// Namespaces to make (not PID).
    pub unshare: CloneFlags,
    pub hostname: Option<String>,
    pub plan: ProcessPlan,
    /// Host paths the guest process uses (its rootfs, bundle, preopens, caches, fifo): the
    /// mounts holding them stay in its mount namespace.
    pub needs: Vec<PathBuf>,
}

impl Confinement {
    /// Everything before the guest is loaded, in the still single-threaded child: threads
    /// started later (compilation, WASI's) inherit the namespaces and capabilities.
    fn enter(&mut self, sys: &LinuxSyscall) -> Result<()> {
        init::enter(sys, &self.cgroup_procs, &self.join, self.plan.oom_score_adj)?;
        if !self.unshare.is_empty() {
            sys.unshare(self.unshare)?;
        }
        if self.unshare.contains(CloneFlags::CLONE_NEWNS) {
            // Nothing mounted here reaches the host; the host's unmounts still reach here.
            sys.mount(None, Path::new("/"), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)?;
            self.drop_foreign_mounts(sys)?;
        }
        if let Some(h) = self.hostname.as_deref().filter(|h| !h.is_empty()) {
            sys.sethostname(h)?;
        }
        // The process's working directory is a host path (the guest's is WASI's); user and
        // groups stay root's (see above): capabilities, rlimits and umask are the spec's.
        self.plan.cwd = PathBuf::from("/");
        self.plan.uid = 0;
        self.plan.gid = 0;
        self.plan.additional_gids.clear();
        // A guest never execs: no_new_privs costs it nothing, and the filter goes in late.
        self.plan.no_new_privileges = true;
        container_process::apply_identity(sys, &self.plan)
    }

    /// The namespace holds a copy of every host mount for as long as the guest lives, and
    /// the host's unmounts reach the copy only where the host's mounts are shared (often they
    /// are private): other containers' network namespace pins and root file systems would
    /// outlive their removal here (and their veths with them). A native init drops them all
    /// with its old root; the guest process, which keeps the host's file system, drops these
    /// two kinds, but those holding a path it uses.
    fn drop_foreign_mounts(&self, sys: &LinuxSyscall) -> Result<()> {
        // The calling thread's namespace: on the inline path the process's main thread stays
        // in the host's (`/proc/self` is the main thread's view).
        let text = sys.read_file(Path::new("/proc/thread-self/mountinfo"))?;
        let needs: Vec<PathBuf> = self.needs.iter().map(|p| std::fs::canonicalize(p).unwrap_or(p.clone())).collect();
        for m in berth_runtime_linux::cgroups::parse_mountinfo(&text) {
            let at = Path::new(&m.mountpoint);
            if !matches!(m.fstype.as_str(), "nsfs" | "overlay") || needs.iter().any(|n| n.starts_with(at)) {
                continue;
            }
            // Already gone with a parent it was under: fine.
            let _ = sys.umount(at, nix::mount::MntFlags::MNT_DETACH);
        }
        Ok(())
    }

    /// no_new_privs and the seccomp filter: the last step before the guest runs. On every
    /// thread of the guest process (compilation may have started some); on the calling thread
    /// only (no TSYNC, even if the profile asks for it) when the guest runs on a thread of the
    /// CLI (see `super::inline`), whose other threads go on working after the guest.
    fn seal(&mut self, sys: &LinuxSyscall, all_threads: bool) -> Result<()> {
        let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
        for f in &mut self.plan.seccomp {
            f.flags = if all_threads { f.flags | tsync } else { f.flags & !tsync };
        }
        container_process::apply_late_seccomp(sys, &self.plan)
    }

    /// Confines the calling thread alone (see `super::inline`): everything [`Self::enter`]
    /// and [`Self::seal`] do, without TSYNC. Threads it starts afterwards inherit all of it.
    pub(super) fn enter_thread(&mut self) -> Result<()> {
        let sys = LinuxSyscall;
        self.enter(&sys)?;
        self.seal(&sys, false)
    }
}

/// As its namespace's PID 1, the guest process would never see a signal it left at its
/// default action (the kernel drops them, even from the shim): a handler (which only records
/// the signal) makes the (blocked) stop signals arrive for the signal thread to take.
fn accept_stop_signals() -> Result<()> {
    berth_sys::process::catch_signals(&STOP_SIGNALS)
        .map_err(|e| Error::Sys { what: "catch the stop signals".into(), source: e })
}

/// Runs in the forked child; returns the process's exit code.
pub fn child_main(
    cfg: &GuestConfig,
    sync: OwnedFd,
    fifo: &Path,
    console: Option<&Path>,
    mut confine: Confinement,
    die_with_parent: bool,
) -> u8 {
    process::reset_signals();
    // Dies with the shim that forked it (a supervisor killed leaves no guest running
    // unsupervised), and gives up if that already happened.
    if die_with_parent {
        if let Err(e) = process::die_with_parent(sync.as_raw_fd()) {
            process::send_error(sync.as_raw_fd(), &e);
            return e.exit_code();
        }
    }
    let sys = LinuxSyscall;
    // The cgroup and the namespaces given by path, with the descriptors the parent opened.
    if let Err(e) = init::enter(&sys, &confine.cgroup_procs, &confine.join, None) {
        process::send_error(sync.as_raw_fd(), &e);
        return e.exit_code();
    }
    confine.cgroup_procs.clear();
    confine.join.clear();
    // Nothing of the shim's (its lock, sockets, the log) may stay open in the guest process.
    let keep = sync.as_raw_fd();
    process::close_fds_except(3, &[keep]);
    // Blocked in the (still single) thread; threads created later inherit the mask.
    let _ = stop_sigset().thread_block();
    let prepared = (|| {
        accept_stop_signals()?;
        confine.enter(&sys)?;
        if die_with_parent {
            // Set again once the credentials are final (a change of them clears it).
            process::die_with_parent(sync.as_raw_fd())?;
        }
        if let Some(sock) = console {
            setup_console(sock)?;
        }
        prepare(cfg)
    })();
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            process::send_error(sync.as_raw_fd(), &e);
            return e.exit_code();
        }
    };
    if process::send_ready(sync.as_raw_fd()).is_err() {
        return 125;
    }
    drop(sync);
    // Wait for `start`: it opens the fifo's read end, which completes this open.
    match std::fs::OpenOptions::new().write(true).open(fifo) {
        Ok(mut f) => {
            use std::io::Write;
            if f.write_all(b"0").is_err() {
                return 125;
            }
        }
        Err(_) => return 125,
    }
    if let Err(e) = confine.seal(&sys, true) {
        eprintln!("berth: {e}");
        return e.exit_code();
    }
    spawn_signal_thread();
    let end = run(cfg, prepared, Stdio::Inherit);
    if let Some(m) = &end.message {
        eprintln!("{m}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    end.code
}

/// A compiled guest, linked against WASI and ready to instantiate.
pub(super) struct Prepared {
    pub(super) engine: Engine,
    pre: Pre,
    /// Whether the guest imports `wasi:sockets` (only then does it need a network).
    pub(super) needs_network: bool,
    /// Whether the guest can name files (only then does it need its rootfs).
    pub(super) needs_files: bool,
}

enum Pre {
    Module(wasmtime::InstancePre<Host>),
    Component(wasmtime_wasi::p2::bindings::sync::CommandPre<Host>),
}

fn exec_error(code: u8, message: String) -> Error {
    Error::Exec { code, message }
}

/// The engine every guest runs on: wasmtime's defaults, as its CLI's (the compiled-code cache
/// is keyed by this configuration). No epoch interruption: its checks at every function entry
/// and loop header cost a call-heavy guest a quarter of its time (CRuby `puts 1`: 377 against
/// 301 ms), and a guest never needs interrupting apart from its process here. Each guest has a
/// process of its own to end, the shim's guest process or the CLI running it inline, so a stop
/// signal ends the guest as it ends a native process without a handler.
fn new_engine() -> Result<Engine> {
    Engine::new(&Config::new()).map_err(|e| Error::Init(format!("wasmtime: {e}")))
}

/// Loads the binary `args[0]` names (from the compiled-code cache when it can) and links it.
/// Every failure that is the image's fault is a 126 naming the binary.
pub(super) fn prepare(cfg: &GuestConfig) -> Result<Prepared> {
    let (bin, known) = match (&cfg.source, cfg.root_deferred) {
        (Some(s), true) => (s.path.clone(), Some(s)),
        (None, true) => return Err(Error::Spec("a deferred rootfs needs the module's source".into())),
        (_, false) => {
            let bin = cfg.resolve_binary()?;
            let known = cfg.source.as_ref().filter(|s| s.stands_for(&bin, &cfg.rootfs));
            (bin, known)
        }
    };
    let shown = &cfg.args[0];
    let engine = new_engine()?;
    let dir = cfg.cache_dir.as_deref();
    let cached = known.and_then(|s| dir.and_then(|d| cache::lookup(&engine, d, &s.key)));
    let compiled = match cached {
        Some(c) => c,
        None => {
            // The immutable copy when it stands for the binary: what is compiled is then
            // exactly the content the key names.
            let from = known.map(|s| s.path.as_path()).unwrap_or(&bin);
            let bytes = std::fs::read(from).map_err(|e| Error::io(from, e))?;
            if !is_wasm(&bytes) {
                return Err(exec_error(
                    126,
                    format!("exec {shown}: not a WebAssembly module or component (exec format error)"),
                ));
            }
            let key = known.map(|s| s.key.clone()).unwrap_or_else(|| cache::content_key(&bytes));
            let hit = if known.is_none() { dir.and_then(|d| cache::lookup(&engine, d, &key)) } else { None };
            match hit {
                Some(c) => c,
                None => cache::compile(&engine, dir, &key, &bytes)
                    .map_err(|e| exec_error(126, format!("exec {shown}: invalid WebAssembly: {e:#}")))?,
            }
        }
    };
    // Link now, so a module needing functions this host lacks fails the create, not the start.
    let needs_files = needs_files(&engine, &compiled);
    let (pre, needs_network) = match &compiled {
        Compiled::Module(m) => {
            let mut linker: Linker<Host> = Linker::new(&engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| h.p1.as_mut().expect("p1 context"))
                .map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
            let pre = linker.instantiate_pre(m).map_err(|e| exec_error(126, format!("exec {shown}: {e:#}")))?;
            // Preview 1 has no way to open a socket: such a guest never needs a network.
            (Pre::Module(pre), false)
        }
        Compiled::Component(c) => {
            let mut linker = wasmtime::component::Linker::<Host>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
            let pre = linker.instantiate_pre(c).map_err(|e| exec_error(126, format!("exec {shown}: {e:#}")))?;
            let pre = wasmtime_wasi::p2::bindings::sync::CommandPre::new(pre)
                .map_err(|e| exec_error(126, format!("exec {shown}: not a wasi:cli/command component: {e:#}")))?;
            let sockets = c.component_type().imports(&engine).any(|(name, _)| name.starts_with("wasi:sockets/"));
            (Pre::Component(pre), sockets)
        }
    };
    Ok(Prepared { engine, pre, needs_network, needs_files })
}

/// Whether the guest can name files at all: a preview 1 module only through a directory
/// descriptor (the `path_*` calls, `fd_readdir`) that it finds with `fd_prestat_get`, a
/// component only through `wasi:filesystem`. One that cannot never sees its rootfs, so none
/// need be made for it (as one without `wasi:sockets` needs no network).
fn needs_files(engine: &Engine, compiled: &Compiled) -> bool {
    match compiled {
        Compiled::Module(m) => m.imports().any(|i| {
            let n = i.name();
            i.module() == "wasi_snapshot_preview1"
                && (n.starts_with("path_") || n.starts_with("fd_prestat_") || n == "fd_readdir")
        }),
        Compiled::Component(c) => {
            c.component_type().imports(engine).any(|(name, _)| name.starts_with("wasi:filesystem/"))
        }
    }
}

/// A terminal for the guest: a pty whose master goes to the console socket, the slave on stdio.
fn setup_console(sock: &Path) -> Result<()> {
    let pty = nix::pty::openpty(None, None).map_err(|e| Error::sys("openpty", e))?;
    let conn = std::os::unix::net::UnixStream::connect(sock).map_err(|e| Error::io(sock, e))?;
    berth_sys::term::send_fd(conn.as_raw_fd(), pty.master.as_raw_fd(), "pty")
        .map_err(|e| Error::Sys { what: "send the console fd over the console socket".into(), source: e })?;
    let _ = nix::unistd::setsid();
    // The pty becomes our controlling terminal and stdio.
    let _ = berth_sys::term::set_controlling_terminal(&pty.slave);
    for fd in 0..3 {
        let _ = nix::unistd::dup2(pty.slave.as_raw_fd(), fd);
    }
    Ok(())
}

fn build_ctx(cfg: &GuestConfig, stdio: Stdio) -> std::result::Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    match stdio {
        Stdio::Inherit => {
            b.inherit_stdio();
        }
        Stdio::Streams { stdin, stdout, stderr } => {
            if stdin {
                b.inherit_stdin();
            }
            b.stdout(stdout);
            b.stderr(stderr);
        }
    }
    b.args(&cfg.args);
    b.envs(&cfg.env);
    if !cfg.cwd.is_empty() {
        b.initial_cwd(&cfg.cwd);
    }
    let perms = |ro: bool| if ro { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
    if !cfg.root_deferred {
        b.preopened_dir(&cfg.rootfs, "/", perms(cfg.rootfs_readonly)).map_err(|e| format!("preopen /: {e}"))?;
    }
    for (host, guest, ro) in &cfg.preopens {
        b.preopened_dir(host, guest, perms(*ro)).map_err(|e| format!("preopen {guest}: {e}"))?;
    }
    // The guest's network is its namespace's: what it may reach is decided there (a bridge
    // network, `-p`, or nothing but loopback with `--network none`), as for a native container.
    b.inherit_network();
    b.allow_tcp(true);
    b.allow_udp(true);
    b.allow_ip_name_lookup(true);
    Ok(b)
}

/// How a guest ended: its exit code and, for an abnormal end, what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub code: u8,
    pub message: Option<String>,
    /// It ran out of its memory limit (also marked in the bundle, see [`super::OOM_MARKER`]).
    pub oom: bool,
}

impl End {
    fn code(code: u8) -> End {
        End { code, message: None, oom: false }
    }
}

pub(super) fn run(cfg: &GuestConfig, p: Prepared, stdio: Stdio) -> End {
    let hit = Arc::new(AtomicBool::new(false));
    let mut builder = match build_ctx(cfg, stdio) {
        Ok(b) => b,
        Err(e) => return End { code: 125, message: Some(format!("berth: wasm container: {e}")), oom: false },
    };
    let limits = Limits::new(cfg.memory_limit.map(|l| l as usize), hit.clone());
    let host = match &p.pre {
        Pre::Module(_) => Host { p1: Some(builder.build_p1()), p2: None, limits },
        Pre::Component(_) => Host { p1: None, p2: Some((builder.build(), ResourceTable::new())), limits },
    };
    let mut store = Store::new(&p.engine, host);
    store.limiter(|h| &mut h.limits);
    let result: wasmtime::Result<u8> = match &p.pre {
        Pre::Module(pre) => (|| {
            let inst = pre.instantiate(&mut store)?;
            let start = inst.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ())?;
            Ok(0)
        })(),
        Pre::Component(pre) => (|| {
            let cmd = pre.instantiate(&mut store)?;
            Ok(match cmd.wasi_cli_run().call_run(&mut store)? {
                Ok(()) => 0,
                Err(()) => 1,
            })
        })(),
    };
    match result {
        Ok(code) => End::code(code),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return End::code(exit.0 as u8);
            }
            if hit.load(Ordering::Relaxed) {
                let _ = std::fs::write(cfg.bundle.join(super::OOM_MARKER), b"");
                let limit = match cfg.memory_limit {
                    Some(l) => format!("limit {l} bytes"),
                    None => format!("limit {DEFAULT_TABLE_ELEMENTS} table elements"),
                };
                let message = format!("berth: wasm guest ran out of memory ({limit}): {e}");
                return End { code: 137, message: Some(message), oom: true };
            }
            End { code: 134, message: Some(format!("berth: wasm guest trapped: {e:?}")), oom: false }
        }
    }
}

/// Waits for a stop signal and ends the guest's process with the signal's status, once what
/// the guest wrote to stdout is flushed (a signal's default action would lose it).
fn spawn_signal_thread() {
    std::thread::spawn(move || {
        // Signals this process blocked in every thread.
        let set = stop_sigset();
        let sig = loop {
            if let Ok(sig) = set.wait() {
                break sig;
            }
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        process::exit_child((128 + sig as i32) as u8);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert!(is_wasm(b"\0asm\x01\0\0\0"));
        assert!(!is_component(b"\0asm\x01\0\0\0"));
        assert!(is_component(b"\0asm\x0d\0\x01\0"));
        assert!(!is_wasm(b"\x7fELF"));
    }

    #[test]
    fn a_module_source_stands_only_for_the_same_path_with_the_same_content() {
        let t = tempfile::tempdir().unwrap();
        let (rootfs, layer) = (t.path().join("rootfs"), t.path().join("layer"));
        for d in [&rootfs, &layer] {
            std::fs::create_dir_all(d.join("app")).unwrap();
        }
        std::fs::write(layer.join("app/x.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::copy(layer.join("app/x.wasm"), rootfs.join("app/x.wasm")).unwrap();
        let src = ModuleSource { key: "ab12".into(), path: layer.join("app/x.wasm") };
        let parsed = ModuleSource::parse(&src.to_annotation()).unwrap();
        assert_eq!((parsed.key.as_str(), &parsed.path), ("ab12", &src.path));
        assert!(ModuleSource::parse("no-colon").is_none());
        assert!(ModuleSource::parse("k/../x:/p").is_none(), "a key is a plain name");
        // Same path, but a copy with its own mtime: not the same content as far as we know.
        let bin = rootfs.join("app/x.wasm");
        let mtime = std::fs::metadata(&src.path).unwrap().modified().unwrap();
        std::fs::File::options().write(true).open(&bin).unwrap().set_modified(mtime).unwrap();
        assert!(src.stands_for(&bin, &rootfs));
        std::fs::write(&bin, b"\0asm\x01\0\0\0rewritten").unwrap();
        assert!(!src.stands_for(&bin, &rootfs), "rewritten");
        // Another path with the same size and mtime is another file.
        std::fs::create_dir_all(rootfs.join("other")).unwrap();
        let other = rootfs.join("other/x.wasm");
        std::fs::copy(&src.path, &other).unwrap();
        std::fs::File::options().write(true).open(&other).unwrap().set_modified(mtime).unwrap();
        assert!(!src.stands_for(&other, &rootfs));
    }

    #[test]
    fn the_cache_maps_what_it_compiled_under_the_given_key() {
        let t = tempfile::tempdir().unwrap();
        let engine = new_engine().unwrap();
        let bytes = wat::parse_str("(module (func (export \"_start\")))").unwrap();
        assert!(cache::lookup(&engine, t.path(), "k1").is_none());
        cache::compile(&engine, Some(t.path()), "k1", &bytes).unwrap();
        assert!(matches!(cache::lookup(&engine, t.path(), "k1"), Some(Compiled::Module(_))));
        assert!(cache::lookup(&engine, t.path(), "k2").is_none());
        // A damaged entry is dropped, not trusted.
        std::fs::write(cache::entry_path(&engine, t.path(), "k1"), b"garbage").unwrap();
        assert!(cache::lookup(&engine, t.path(), "k1").is_none());
        assert!(!cache::entry_path(&engine, t.path(), "k1").exists());
    }

    #[test]
    fn tables_and_memories_share_the_memory_budget() {
        let engine = new_engine().unwrap();
        let wat = r#"(module (memory 1) (table $t 0 funcref)
          (func (export "tgrow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
          (func (export "mgrow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
        let m = wasmtime::Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let instance = |max: Option<usize>| {
            let hit = Arc::new(AtomicBool::new(false));
            let mut store = Store::new(&engine, Limits::new(max, hit.clone()));
            store.limiter(|l| l);
            let i = wasmtime::Instance::new(&mut store, &m, &[]).unwrap();
            let tgrow = i.get_typed_func::<i32, i32>(&mut store, "tgrow").unwrap();
            let mgrow = i.get_typed_func::<i32, i32>(&mut store, "mgrow").unwrap();
            (store, tgrow, mgrow, hit)
        };
        // 1 MiB: the 64 KiB page and 120,000 elements (960,000 bytes) fit; 23,040 bytes remain.
        let (mut store, tgrow, mgrow, hit) = instance(Some(1 << 20));
        assert_eq!(tgrow.call(&mut store, 120_000).unwrap(), 0);
        assert!(!hit.load(Ordering::Relaxed));
        assert_eq!(tgrow.call(&mut store, 3_000).unwrap(), -1, "24,000 bytes more than the budget");
        assert!(hit.load(Ordering::Relaxed));
        assert_eq!(mgrow.call(&mut store, 1).unwrap(), -1, "a page does not fit beside the table");
        assert_eq!(tgrow.call(&mut store, 2_880).unwrap(), 120_000, "exactly the rest does");
        // Without a limit, memories grow but tables stop at the default number of elements.
        let (mut store, tgrow, mgrow, _) = instance(None);
        assert_eq!(mgrow.call(&mut store, 16).unwrap(), 1);
        assert_eq!(tgrow.call(&mut store, DEFAULT_TABLE_ELEMENTS as i32 + 1).unwrap(), -1);
    }

    #[test]
    fn resolves_symlinks_inside_the_rootfs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("app")).unwrap();
        std::fs::write(t.path().join("app/x.wasm"), b"\0asm").unwrap();
        std::os::unix::fs::symlink("/app/x.wasm", t.path().join("link")).unwrap();
        assert_eq!(resolve_in(t.path(), "/link").unwrap(), t.path().join("app/x.wasm"));
        std::os::unix::fs::symlink("../../../app/x.wasm", t.path().join("app/up")).unwrap();
        assert_eq!(resolve_in(t.path(), "/app/up").unwrap(), t.path().join("app/x.wasm"));
        assert_eq!(resolve_in(t.path(), "/../../app/x.wasm").unwrap(), t.path().join("app/x.wasm"));
    }
}
