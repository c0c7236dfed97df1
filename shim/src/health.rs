//! The health monitor: runs a container's healthcheck from the shim's poll loop.
//!
//! One probe at a time, never blocking the loop: the probe is the berth binary re-run as
//! `health-probe ROOT ID` (see `berth_engine::container::health`), a child whose stdout and
//! stderr are one pipe in the poll set; when the next probe is due or the running one times
//! out is the loop's poll timeout ([`Monitor::wake_at`]). The shim reaps every child; the
//! probe's exit is handed here ([`Monitor::child_exited`]), never taken for the init's. A probe
//! past its timeout is killed (its process in the container, by the pid it published, and the
//! probe itself) and counts as Docker's failure `Health check exceeded timeout (30s)`. Each
//! result goes into `State.Health` under the container's lock, as every state update does.

use berth_engine::container::health::{self, HealthResult, Healthcheck, MAX_OUTPUT, PROBE_FAILED, PROBE_PID_FILE};
use berth_engine::container::{now_rfc3339, Container};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A probe under way.
struct Probe {
    pid: i32,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    truncated: bool,
    start: String,
    begun: Instant,
    deadline: Instant,
    exit: Option<i32>,
}

pub struct Monitor {
    c: Container,
    hc: Healthcheck,
    started: Instant,
    next: Instant,
    probe: Option<Probe>,
}

impl Monitor {
    /// A monitor for a container that just started, if it has a check to run.
    pub fn new(c: &Container) -> Option<Monitor> {
        let hc = c.config.healthcheck.clone().filter(Healthcheck::is_active)?;
        let started = Instant::now();
        let mut m = Monitor { c: c.clone(), hc, started, next: started, probe: None };
        m.next = started + m.interval();
        Some(m)
    }

    /// Docker 25's `getInterval`: the start interval while starting within the start period.
    fn interval(&self) -> Duration {
        let starting = self.c.state.health.as_ref().is_none_or(|h| h.status == health::STARTING);
        if self.started.elapsed() < self.hc.start_period() && starting {
            self.hc.start_interval()
        } else {
            self.hc.interval()
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.c.dir.join(PROBE_PID_FILE)
    }

    /// When the loop must call [`Monitor::tick`] next.
    pub fn wake_at(&self) -> Instant {
        match &self.probe {
            Some(p) => p.deadline,
            None => self.next,
        }
    }

    /// The running probe's output pipe, for the poll set.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.probe.as_ref().and_then(|p| p.out.as_ref()).map(|f| f.as_fd())
    }

    /// Starts a probe when one is due; ends one past its timeout.
    pub fn tick(&mut self) {
        let now = Instant::now();
        match &self.probe {
            Some(p) if now >= p.deadline => {
                self.kill_probe();
                let output = self.hc.timeout_message();
                let p = self.probe.take().expect("matched above");
                self.record(HealthResult { start: p.start, end: now_rfc3339(), exit_code: -1, output }, p.begun);
            }
            None if now >= self.next => self.spawn(),
            _ => {}
        }
    }

    fn spawn(&mut self) {
        let (start, begun) = (now_rfc3339(), Instant::now());
        let _ = std::fs::remove_file(self.pid_file());
        let r = (|| -> std::io::Result<Probe> {
            let root = berth_engine::container::runtime::state_root(&self.c);
            let mut re = berth_sys::exe::command(berth_sys::exe::Role::HealthProbe { root: &root, id: &self.c.id })?;
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let w2 = w.try_clone()?;
            re.command.stdin(Stdio::null()).stdout(Stdio::from(w)).stderr(Stdio::from(w2));
            let child = re.command.spawn()?;
            drop(re.command); // closes our copies of the write end
            let flags = nix::fcntl::fcntl(r.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
            let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
            nix::fcntl::fcntl(r.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
            Ok(Probe {
                pid: child.id() as i32,
                out: Some(r),
                output: Vec::new(),
                truncated: false,
                start: start.clone(),
                begun: Instant::now(),
                deadline: Instant::now() + self.hc.timeout(),
                exit: None,
            })
        })();
        match r {
            Ok(p) => self.probe = Some(p),
            Err(e) => self.record(
                HealthResult {
                    start,
                    end: now_rfc3339(),
                    exit_code: -1,
                    output: format!("starting the health check: {e}"),
                },
                begun,
            ),
        }
    }

    /// Reads what the probe wrote; ends it when its output and its process are both done.
    pub fn read_output(&mut self) {
        let Some(p) = self.probe.as_mut() else { return };
        let mut buf = [0u8; 4096];
        while let Some(fd) = p.out.as_ref() {
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => p.out = None,
                Ok(n) => {
                    let room = (MAX_OUTPUT + 1).saturating_sub(p.output.len());
                    p.output.extend_from_slice(&buf[..n.min(room)]);
                    if p.output.len() > MAX_OUTPUT {
                        p.output.truncate(MAX_OUTPUT);
                        p.truncated = true;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => p.out = None,
            }
        }
        self.finish_if_done();
    }

    /// A child the shim reaped: true if it was the probe (whose result is then recorded once
    /// its output is read).
    pub fn child_exited(&mut self, pid: i32, code: i32) -> bool {
        match self.probe.as_mut() {
            Some(p) if p.pid == pid => {
                p.exit = Some(code);
                // Whatever is still buffered is the probe's; something it left running in the
                // background may hold the pipe open, which must not hold up the result.
                self.read_output();
                if let Some(p) = self.probe.as_mut() {
                    p.out = None;
                }
                self.finish_if_done();
                true
            }
            _ => false,
        }
    }

    fn finish_if_done(&mut self) {
        let done = self.probe.as_ref().is_some_and(|p| p.out.is_none() && p.exit.is_some());
        if !done {
            return;
        }
        let p = self.probe.take().expect("checked above");
        let published = std::fs::read_to_string(self.pid_file()).unwrap_or_default();
        let _ = std::fs::remove_file(self.pid_file());
        // Not started: Docker's exit code -1 with the reason as the output.
        let failed = published.split_once('\n').filter(|(first, _)| *first == PROBE_FAILED).map(|(_, m)| m);
        let (exit_code, output) = match failed {
            Some(msg) => (-1, msg.to_string()),
            None => {
                let mut output = String::from_utf8_lossy(&p.output).into_owned();
                if p.truncated {
                    output.push_str("...");
                }
                (i64::from(p.exit.unwrap_or(-1)), output)
            }
        };
        self.record(HealthResult { start: p.start, end: now_rfc3339(), exit_code, output }, p.begun);
    }

    /// Kills the running probe: its process in the container first (by the pid it published;
    /// still unreaped, as the probe that started it is), then the probe.
    fn kill_probe(&mut self) {
        let Some(p) = self.probe.as_mut() else { return };
        if p.exit.is_none() {
            let inner = std::fs::read_to_string(self.c.dir.join(PROBE_PID_FILE))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .filter(|&pid| pid > 0);
            if let Some(pid) = inner {
                let _ = berth_sys::process::send_signal(pid, libc::SIGKILL);
            }
            let _ = berth_sys::process::send_signal(p.pid, libc::SIGKILL);
            // Killed: reaped here, so it is never taken for another child.
            let _ = berth_sys::process::wait_child(p.pid, false);
        }
        let _ = std::fs::remove_file(self.pid_file());
    }

    /// The container stopped: a probe under way is killed and its result dropped.
    pub fn stop(&mut self) {
        self.kill_probe();
        self.probe = None;
    }

    /// Records a result of a probe begun at `begun` (Docker compares that with the start).
    fn record(&mut self, r: HealthResult, begun: Instant) {
        let in_start_period = begun.saturating_duration_since(self.started) < self.hc.start_period();
        let retries = self.hc.retries();
        let _ = self.c.update_state(|s| {
            if s.running {
                s.health.get_or_insert_with(Default::default).record(r, retries, in_start_period);
            }
        });
        self.next = Instant::now() + self.interval();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}
