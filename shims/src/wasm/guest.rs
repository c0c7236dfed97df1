//! The guest process: what the forked child of `create` does, from the OCI spec to the guest's
//! exit status.
//!
//! Order matters: the network namespace is joined before anything starts a thread (namespaces
//! are per thread, and threads inherit their creator's), stop signals are blocked before any
//! thread exists (so only the signal thread receives them), and every failure that is the
//! image's fault (missing or corrupt binary, unknown imports) happens before `start`, reported
//! over the sync pipe as a failed create.

use super::cache::{self, Compiled};
use crate::error::{Error, Result};
use crate::process;
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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
    /// The network namespace to join; `Some("")` means a new one.
    pub netns: Option<String>,
    pub memory_limit: Option<u64>,
    pub cache_dir: Option<PathBuf>,
    pub bundle: PathBuf,
    pub terminal: bool,
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
        let netns = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).and_then(|ns| {
            ns.iter()
                .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
                .map(|n| n.path().as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default())
        });
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
        Ok(GuestConfig {
            args,
            env,
            cwd: process.cwd().to_string_lossy().into_owned(),
            rootfs,
            rootfs_readonly: root.readonly().unwrap_or(false),
            preopens,
            netns,
            memory_limit,
            cache_dir,
            bundle: bundle.to_path_buf(),
            terminal: process.terminal().unwrap_or(false),
        })
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

/// `path` inside `root`, symlinks followed and kept inside `root` (the engine's dispatch
/// rule resolves entrypoints the same way).
pub fn resolve_in(root: &Path, path: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(String::from).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let host = root.join(parts.iter().chain(std::iter::once(&c)).collect::<PathBuf>());
        match std::fs::read_link(&host) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(t.split('/').rev().map(String::from));
            }
            Err(_) => parts.push(c),
        }
    }
    Some(root.join(parts.iter().collect::<PathBuf>()))
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

/// Caps the total size of the guest's linear memories.
struct Limits {
    max: Option<usize>,
    used: usize,
    hit: Arc<AtomicBool>,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if let Some(max) = self.max {
            if total > max {
                self.hit.store(true, Ordering::Relaxed);
                return Ok(false);
            }
        }
        self.used = total;
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// The signal that stopped the guest (0: none yet).
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

const STOP_SIGNALS: [libc::c_int; 6] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

fn stop_sigset() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in STOP_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Runs in the forked child; returns the process's exit code.
pub fn child_main(cfg: &GuestConfig, sync: OwnedFd, fifo: &Path, console: Option<&Path>) -> u8 {
    process::reset_signals();
    // Nothing of the shim's (its lock, sockets, the log) may stay open in the guest process.
    let keep = sync.as_raw_fd() as u32;
    // SAFETY: closing descriptor ranges this process owns and does not use any more.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
    }
    let set = stop_sigset();
    // SAFETY: blocking signals in the (still single) thread; threads created later inherit it.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let prepared = match prepare(cfg, console) {
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
    let code = run(cfg, prepared);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    code
}

struct Prepared {
    engine: Engine,
    compiled: Compiled,
}

fn exec_error(code: u8, message: String) -> Error {
    Error::Exec { code, message }
}

fn prepare(cfg: &GuestConfig, console: Option<&Path>) -> Result<Prepared> {
    if let Some(ns) = &cfg.netns {
        join_netns(ns)?;
    }
    if let Some(sock) = console {
        setup_console(sock)?;
    }
    let bin = cfg.resolve_binary()?;
    let bytes = std::fs::read(&bin).map_err(|e| Error::io(&bin, e))?;
    let shown = &cfg.args[0];
    if !is_wasm(&bytes) {
        return Err(exec_error(
            126,
            format!("exec {shown}: not a WebAssembly module or component (exec format error)"),
        ));
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
    let (compiled, _cached) = cache::load(&engine, cfg.cache_dir.as_deref(), &bytes)
        .map_err(|e| exec_error(126, format!("exec {shown}: invalid WebAssembly: {e:#}")))?;
    // Link now, so a module needing functions this host lacks fails the create, not the start.
    match &compiled {
        Compiled::Module(m) => {
            let mut linker: Linker<Host> = Linker::new(&engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| h.p1.as_mut().expect("p1 context"))
                .map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
            linker.instantiate_pre(m).map_err(|e| exec_error(126, format!("exec {shown}: {e:#}")))?;
        }
        Compiled::Component(c) => {
            let mut linker = wasmtime::component::Linker::<Host>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
            linker.instantiate_pre(c).map_err(|e| exec_error(126, format!("exec {shown}: {e:#}")))?;
        }
    }
    Ok(Prepared { engine, compiled })
}

fn join_netns(ns: &str) -> Result<()> {
    if ns.is_empty() {
        return nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare(net)", e));
    }
    let f = std::fs::File::open(ns).map_err(|e| Error::io(ns, e))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys(format!("setns {ns}"), e))
}

/// A terminal for the guest: a pty whose master goes to the console socket, the slave on stdio.
fn setup_console(sock: &Path) -> Result<()> {
    let pty = nix::pty::openpty(None, None).map_err(|e| Error::sys("openpty", e))?;
    let conn = std::os::unix::net::UnixStream::connect(sock).map_err(|e| Error::io(sock, e))?;
    crate::console::send_fd(conn.as_raw_fd(), pty.master.as_raw_fd(), "pty")?;
    let _ = nix::unistd::setsid();
    let s = pty.slave.as_raw_fd();
    // SAFETY: making the pty our controlling terminal and stdio.
    unsafe {
        libc::ioctl(s, libc::TIOCSCTTY, 0);
        for fd in 0..3 {
            libc::dup2(s, fd);
        }
    }
    Ok(())
}

fn build_ctx(cfg: &GuestConfig) -> std::result::Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    b.inherit_stdio();
    b.args(&cfg.args);
    b.envs(&cfg.env);
    if !cfg.cwd.is_empty() {
        b.initial_cwd(&cfg.cwd);
    }
    let perms = |ro: bool| if ro { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
    b.preopened_dir(&cfg.rootfs, "/", perms(cfg.rootfs_readonly)).map_err(|e| format!("preopen /: {e}"))?;
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

fn run(cfg: &GuestConfig, p: Prepared) -> u8 {
    let hit = Arc::new(AtomicBool::new(false));
    let mut builder = match build_ctx(cfg) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("berth: wasm container: {e}");
            return 125;
        }
    };
    let limits = Limits { max: cfg.memory_limit.map(|l| l as usize), used: 0, hit: hit.clone() };
    let host = match &p.compiled {
        Compiled::Module(_) => Host { p1: Some(builder.build_p1()), p2: None, limits },
        Compiled::Component(_) => Host { p1: None, p2: Some((builder.build(), ResourceTable::new())), limits },
    };
    let mut store = Store::new(&p.engine, host);
    store.limiter(|h| &mut h.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_trap();
    spawn_signal_thread(p.engine.clone());
    let result: wasmtime::Result<u8> = match &p.compiled {
        Compiled::Module(m) => (|| {
            let mut linker: Linker<Host> = Linker::new(&p.engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| h.p1.as_mut().expect("p1 context"))?;
            let inst = linker.instantiate(&mut store, m)?;
            let start = inst.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ())?;
            Ok(0)
        })(),
        Compiled::Component(c) => (|| {
            let mut linker = wasmtime::component::Linker::<Host>::new(&p.engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
            let cmd = wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, c, &linker)?;
            Ok(match cmd.wasi_cli_run().call_run(&mut store)? {
                Ok(()) => 0,
                Err(()) => 1,
            })
        })(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return exit.0 as u8;
            }
            let sig = STOP_SIGNAL.load(Ordering::Relaxed);
            if sig > 0 {
                return (128 + sig) as u8;
            }
            if hit.load(Ordering::Relaxed) {
                let _ = std::fs::write(cfg.bundle.join(super::OOM_MARKER), b"");
                eprintln!(
                    "berth: wasm guest ran out of memory (limit {} bytes): {e}",
                    cfg.memory_limit.unwrap_or_default()
                );
                return 137;
            }
            eprintln!("berth: wasm guest trapped: {e:?}");
            134
        }
    }
}

/// Waits for a stop signal: interrupts the guest (epoch), and if a host call keeps it from
/// noticing, ends the process shortly after with the signal's status.
fn spawn_signal_thread(engine: Engine) {
    std::thread::spawn(move || {
        let set = stop_sigset();
        let mut sig: libc::c_int = 0;
        // SAFETY: waiting on signals this process blocked in every thread.
        while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
        STOP_SIGNAL.store(sig, Ordering::Relaxed);
        engine.increment_epoch();
        std::thread::sleep(std::time::Duration::from_millis(500));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        process::exit_child((128 + sig) as u8);
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
