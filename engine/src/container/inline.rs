//! The foreground fast path of `berth run` for wasm containers: the CLI is the supervisor.
//!
//! A native container needs a shim because its process lives in namespaces and must outlive
//! the CLI only when detached; a wasm guest is just code the CLI can run on a thread
//! (`berth_runtime_wasm::inline`, a capability of `berth_runtime_wasm::Wasm`). So a foreground (`run` without `-d`), non-tty wasm container
//! whose guest imports no `wasi:sockets` and that has no restart policy, CPU limit or
//! published port runs in the CLI process: no shim re-exec, no guest process, and no network
//! setup ("a guest that imports no socket interface needs no network setup"). The CLI joins
//! the container's cgroup for the run, and the thread running the guest takes on what Linux
//! keeps per thread of the guest process's confinement: its own mount, IPC, UTS (and cgroup)
//! namespaces, the spec's capabilities, no_new_privs and seccomp filters, and no `socket(2)`
//! (see `berth_runtime_wasm::inline`), while this thread keeps its privileges to do the
//! bookkeeping after the guest. A spec with rlimits (the process's) goes through the shim.
//! It is still a
//! container like the others: the record says running with the CLI as both its pid and its
//! shim pid (`shim_alive` checks that pid and its start time, so `ps`, `inspect`, `wait` and
//! the shim-death reconciliation work unchanged), its output goes to the terminal and to its
//! json log as it is written (`logs -f` from another terminal follows it), `stop`/`kill`
//! signal the CLI, whose stop signals end the run at once (the guest dies with the CLI, as a
//! native process dies of the signal), and the exit is recorded (and `--rm` honoured) before
//! the CLI exits with the guest's code. Everything else (detached, tty, sockets, restart
//! policies) goes through the shim as before.

use super::logs::LogWriter;
use super::{snapshot, Container};
use crate::{Engine, Error, Result};
use berth_runtime_wasm::{Sink, SinkFn, Wasm};
use fs4::fs_std::FileExt;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Whether the container may run in the CLI without looking at its guest.
fn eligible(c: &Container, spec: &oci_spec::runtime::Spec) -> bool {
    let cpu_limited = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.cpu().as_ref())
        .is_some_and(|cpu| cpu.quota().is_some() || cpu.shares().is_some() || cpu.cpus().is_some());
    // Resource limits are per process: the CLI cannot apply them to the guest's thread alone.
    let rlimits = spec.process().as_ref().and_then(|p| p.rlimits().as_ref()).is_some_and(|r| !r.is_empty());
    c.kind() == berth_runtime::Kind::Wasm
        && !rlimits
        && !c.config.tty
        && c.host_config.restart_policy.is_none()
        && !cpu_limited
        && c.net.publish.is_empty()
        && !c.net.publish_all
        // Health probes are the shim's to run.
        && !c.config.healthcheck.as_ref().is_some_and(super::health::Healthcheck::is_active)
}

/// A stream of the guest: written to this process's `fd` and to the container's log.
fn sink(fd: u8, log: &Arc<Mutex<LogWriter>>) -> SinkFn {
    let log = log.clone();
    Arc::new(move |d: &[u8]| {
        if let Ok(mut l) = log.lock() {
            l.write(fd, d);
        }
        let r = if fd == 2 { std::io::stderr().lock().write_all(d) } else { std::io::stdout().lock().write_all(d) };
        // The reader of our output went away: the guest's writes still reach its log.
        r.or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) })
    })
}

impl Engine {
    /// Runs a created wasm container's guest in this process, attached (`stdin`: the guest
    /// reads this process's stdin), and returns its exit code; `None` when the container must
    /// go through the shim instead (nothing was changed then). A guest that cannot start
    /// (corrupt, missing imports) is [`Error::StartFailed`], recorded as the shim would.
    pub fn run_inline(&self, c: &mut Container, stdin: bool) -> Result<Option<i32>> {
        let loaded_spec;
        let spec = match &c.pending_spec {
            Some(s) => &**s,
            None => {
                let p = c.dir.join("config.json");
                loaded_spec =
                    oci_spec::runtime::Spec::load(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
                &loaded_spec
            }
        };
        if !eligible(c, spec) {
            self.write_bundle(c)?;
            return Ok(None);
        }
        // A record not written yet is unknown to every other command: the run writes it once,
        // already running, and this process (its recorded pid and supervisor) is alive for as
        // long as the container is (see `shim_alive`). A record others can see is claimed
        // through `shim.lock`, held for the whole run as a shim holds it.
        let fresh = c.pending_spec.is_some();
        let shim_lock = if fresh {
            None
        } else {
            let lock_path = c.dir.join("shim.lock");
            let opts = std::fs::File::options().create(true).truncate(false).write(true).clone();
            let f = opts.open(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
            if !matches!(FileExt::try_lock_exclusive(&f), Ok(true)) {
                return Err(Error::Conflict(format!("container {} is already running", c.short_id())));
            }
            Some(f)
        };
        // The guest is loaded before its rootfs is made (from the store's copy of the module,
        // which the engine found in the layers): one that cannot name files gets none.
        let cfg = berth_runtime_wasm::GuestConfig::from_spec(spec, &c.dir).map(|mut g| {
            g.root_deferred = g.source.is_some();
            g
        });
        let deferred = cfg.as_ref().is_ok_and(|g| g.root_deferred);
        if !deferred {
            snapshot::prepare(c)?;
        }
        let wasm = Wasm::new(super::runtime::runtime_root(c));
        let loaded = cfg.and_then(|g| wasm.load_inline(g, spec)).and_then(|mut g| {
            if deferred && g.needs_files() && !g.needs_network() {
                snapshot::prepare(c).map_err(|e| berth_runtime::Error::Init(e.to_string()))?;
                g.root_ready();
            }
            Ok(g)
        });
        let guest = match loaded {
            Ok(g) if g.needs_network() => {
                snapshot::release(c)?;
                self.write_bundle(c)?;
                return Ok(None);
            }
            Ok(g) => g,
            Err(e) => {
                let _ = snapshot::release(c);
                let (code, message) = (e.exit_code(), e.to_string());
                if !c.host_config.auto_remove {
                    // It stays, created, as Docker's does: `start` needs its bundle.
                    self.write_bundle(c)?;
                }
                self.record_inline_end(c, |s| {
                    s.status = "created".into();
                    s.exit_code = code as i32;
                    s.error = message.clone();
                })?;
                return Err(Error::StartFailed { code, message });
            }
        };
        let cgroup = match wasm.join_cgroup(spec, &c.id) {
            Ok(cg) => cg,
            Err(e) => {
                let _ = snapshot::release(c);
                return Err(Error::Other(e.to_string()));
            }
        };
        wasm.catch_stop_signals().map_err(|e| Error::Other(e.to_string()))?;
        let pid = std::process::id() as i32;
        let start_time = super::runtime::pid_start_time(pid).unwrap_or(0);
        let running = |st: &mut super::State| {
            st.mark_running(super::now_rfc3339());
            st.has_been_manually_stopped = false;
            st.oom_killed = false;
            st.pid = pid;
            st.pid_start_time = start_time;
            st.shim_pid = pid;
        };
        if fresh {
            c.pending_spec = None;
            running(&mut c.state);
            c.first_state = Some(c.state.clone());
            c.write_record()?;
            c.creating = None;
        } else {
            c.update_state(running)?;
        }
        let log = Arc::new(Mutex::new(
            LogWriter::open(&c.log_path(), &c.host_config.log_config).map_err(|e| Error::io(c.log_path(), e))?,
        ));
        let stderr = sink(2, &log);
        let out = guest.run(stdin, Sink::new(sink(1, &log)), Sink::new(stderr.clone()));
        if let Some(m) = &out.end.message {
            let _ = stderr(format!("{m}\n").as_bytes());
        }
        if let Ok(mut l) = log.lock() {
            l.flush();
        }
        cgroup.leave();
        let code = out.end.code as i32;
        let oom = out.end.oom;
        let _ = snapshot::release(c);
        self.record_inline_end(c, |s| {
            s.status = "exited".into();
            s.exit_code = code;
            s.oom_killed = oom;
            s.finished_at = super::now_rfc3339();
        })?;
        drop(shim_lock);
        Ok(Some(code))
    }

    /// Records how an inline run ended (not running, no supervisor) and removes a `--rm`
    /// container, as the shim does when it exits.
    fn record_inline_end(&self, c: &mut Container, f: impl FnOnce(&mut super::State)) -> Result<()> {
        if c.host_config.auto_remove && !c.mounts.is_empty() {
            return self.remove_container_files(c, true);
        }
        if c.host_config.auto_remove {
            // What the general removal also undoes was never made here or is gone: no network
            // or runtime record, the cgroup removed, the rootfs unmounted (or a plain copy).
            self.release_name(&c.name, &c.id);
            if super::spare::keep(self.root(), &c.dir, &c.id, &c.log_path()) {
                return Ok(());
            }
            let gone = self.containers_dir().join(format!(".removing-{}", c.id));
            std::fs::rename(&c.dir, &gone).map_err(|e| Error::io(&c.dir, e))?;
            return std::fs::remove_dir_all(&gone).map_err(|e| Error::io(&gone, e));
        }
        c.update_state(|s| {
            s.running = false;
            s.restarting = false;
            s.pid = 0;
            s.shim_pid = 0;
            f(s);
        })
    }
}
