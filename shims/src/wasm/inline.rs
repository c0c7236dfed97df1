//! A guest run inside the calling process: the foreground fast path of `berth run`.
//!
//! A foreground container whose guest opens no sockets can run on a thread of the CLI itself,
//! which then is its supervisor: no shim re-exec, no guest process, no network namespace. Its
//! confinement is then weaker than the shim's guest process's: the same store limits (memory
//! and tables within `--memory`, bounded instances) and the container's cgroup for the run
//! ([`CgroupStay`]), but not the namespaces, dropped capabilities, no_new_privs and seccomp
//! filter, which the CLI cannot take on (it goes on to record the exit, unmount and remove)
//! and which on the guest's thread alone would not hold against code running in the same
//! address space. The caller loads the guest ([`Inline::load`]), asks
//! whether it needs a network (a guest importing `wasi:sockets` goes through the shim, into the
//! namespace the network code makes), and runs it with its output going to [`Sink`]s (the
//! terminal and the container's log). A stop signal sent to this process ends the run at once
//! with 128+signal, the guest left on its thread: the caller records the exit and ends the
//! process, as the shim's guest process ends on one.

use super::guest::{self, End, GuestConfig, Prepared, Stdio, STOP_SIGNAL, STOP_SIGNALS};
use crate::error::{Error, Result};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Where one of the guest's output streams goes: called with every write, in order.
pub type SinkFn = Arc<dyn Fn(&[u8]) -> std::io::Result<()> + Send + Sync>;

/// A guest output stream that hands every write to a [`SinkFn`], synchronously.
#[derive(Clone)]
pub struct Sink(SinkFn);

impl Sink {
    pub fn new(f: SinkFn) -> Sink {
        Sink(f)
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {}
}

impl OutputStream for Sink {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        (self.0)(&bytes).map_err(|e| StreamError::LastOperationFailed(wasmtime::format_err!(e)))
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready((self.0)(buf).map(|()| buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

extern "C" fn on_stop_signal(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe. The waiting thread does the rest.
    STOP_SIGNAL.store(sig, Ordering::Relaxed);
}

/// Makes the stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2) interrupt an inline
/// guest instead of ending this process. Call it before the container is marked running.
pub fn catch_stop_signals() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(SigHandler::Handler(on_stop_signal), SaFlags::SA_RESTART, SigSet::empty());
    for s in STOP_SIGNALS {
        let sig = Signal::try_from(s).map_err(|e| Error::sys("signal", e))?;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &act) }.map_err(|e| Error::sys(format!("sigaction {sig}"), e))?;
    }
    Ok(())
}

/// The stop signal this process received, if any (0: none).
pub fn stop_signal() -> i32 {
    STOP_SIGNAL.load(Ordering::Relaxed)
}

/// The calling process's stay in a container's cgroup, for the length of an inline run: the
/// process running the guest is in the container's cgroup, as the shim's guest process is
/// (whose other confinement, namespaces, capabilities and seccomp, this process cannot take
/// on: it goes on to record the exit, unmount and remove). [`CgroupStay::leave`] moves the
/// process back to where it was and removes the container's cgroup.
pub struct CgroupStay {
    container: crate::cgroups::Cgroup,
    home: crate::cgroups::Cgroup,
}

impl CgroupStay {
    /// Makes the container's cgroup from the spec (see [`super::guest_cgroup`]; device rules
    /// left out: this process keeps working after the guest) and moves this process into it.
    pub fn join(spec: &oci_spec::runtime::Spec, id: &str) -> Result<CgroupStay> {
        use crate::syscall::{LinuxSyscall, Syscall};
        let home = crate::cgroups::Layout::detect()?.own_cgroup()?;
        let mut linux = spec.linux().clone().unwrap_or_default();
        if let Some(r) = linux.resources_mut() {
            r.set_devices(None);
        }
        let container = super::guest_cgroup(&linux, id)?;
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
        use crate::syscall::{LinuxSyscall, Syscall};
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
    /// same errors a shim's create reports.
    pub fn load(cfg: GuestConfig) -> Result<Inline> {
        let prepared = guest::prepare(&cfg)?;
        Ok(Inline { cfg, prepared })
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
    }

    /// Runs the guest to its end on a thread of its own (with a main thread's stack), its
    /// stdout and stderr going to the sinks and stdin this process's when `stdin` is set. A
    /// stop signal ends the run at once, the guest left on its thread: the caller records the
    /// exit and ends the process, as the signal ends a native process.
    pub fn run(self, stdin: bool, stdout: Sink, stderr: Sink) -> Outcome {
        let (tx, rx) = std::sync::mpsc::channel();
        let Inline { cfg, prepared } = self;
        let spawned = std::thread::Builder::new().name("wasm-guest".into()).stack_size(8 << 20).spawn(move || {
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
