//! Healthchecks: Docker's `HEALTHCHECK` (the image's, or `--health-*` at create), its
//! configuration as `Config.Healthcheck` records it, its state as `State.Health` shows it, and
//! the probe process.
//!
//! There is no daemon to run the checks: the container's supervisor (the shim) does, in its
//! one poll loop. Each probe is the berth binary re-run as `health-probe ROOT ID` ([`probe_main`],
//! a child of the shim that never blocks it): it enters the container as `berth exec` does,
//! for every runtime (berth's own, runc, crun), with the container's user, environment and
//! working directory, and its stdout and stderr are one pipe the shim reads (Docker keeps the
//! first 4 KiB). It writes the pid of the process it started in the container to
//! [`PROBE_PID_FILE`], so a probe past its timeout is killed whole, or `failed` when the
//! process could not be started (Docker's exit code -1 with the runtime's message). A wasm
//! guest has no processes to exec: its check is an `http://` or `tcp://` probe that this
//! process makes from inside the container's network namespace (see [`builtin_probe`]).
//!
//! The state machine is Docker's (moby `daemon/health.go`, 25+): `starting` until the first
//! success, failures during the start period do not count (a success ends it), `unhealthy`
//! after `retries` consecutive failures, the last 5 results kept; during the start period the
//! probe runs every start interval. A stopped container keeps its log and reads `unhealthy`,
//! a started one reads `starting` with its failing streak reset. Nothing restarts an
//! unhealthy container (Docker does not either): the restart policy looks at exits only.

use super::{Container, State};
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Docker's defaults (moby `daemon/health.go`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: i64 = 3;
/// How many results `State.Health.Log` keeps.
pub const MAX_LOG_ENTRIES: usize = 5;
/// How much of a probe's output is kept (Docker's `maxOutputLen`; `...` marks a cut).
pub const MAX_OUTPUT: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// Where a probe writes the pid of its process in the container (or `failed`).
pub const PROBE_PID_FILE: &str = "health-probe.pid";
/// What [`PROBE_PID_FILE`] starts with when the probe's process could not be started (the
/// message follows on the next line: it is the result's output, whatever else the runtime
/// printed).
pub const PROBE_FAILED: &str = "failed";

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Docker's `HealthConfig` (`Config.Healthcheck`; the durations in nanoseconds, 0 = default).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    /// `[]` (inherit), `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn or_default(ns: i64, d: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        d
    }
}

impl Healthcheck {
    /// Whether there is a check to run (a test that is not `NONE`).
    pub fn is_active(&self) -> bool {
        matches!(self.test.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) && self.test.len() > 1
    }
    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        or_default(self.start_period, Duration::ZERO)
    }
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> i64 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }

    /// Docker's result of a probe killed at its timeout.
    pub fn timeout_message(&self) -> String {
        let t = self.timeout().as_nanos().min(i64::MAX as u128) as i64;
        format!("Health check exceeded timeout ({})", berth_oci::time::format_go_duration(t))
    }

    /// The probe's argv: `CMD` as given, `CMD-SHELL` through `/bin/sh -c` (Docker's Linux shell).
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => Some(self.test[1..].to_vec()),
            Some("CMD-SHELL") if self.test.len() > 1 => {
                Some(vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")])
            }
            _ => None,
        }
    }

    /// The `http://` or `tcp://` probe a wasm container's check must be: the whole command.
    pub fn probe_url(&self) -> Option<&str> {
        let words: Vec<&str> = match self.test.first().map(String::as_str) {
            Some("CMD") => self.test[1..].iter().map(String::as_str).collect(),
            Some("CMD-SHELL") => self.test[1..].iter().flat_map(|s| s.split_whitespace()).collect(),
            _ => return None,
        };
        match words.as_slice() {
            [u] if u.starts_with("http://") || u.starts_with("tcp://") => Some(u),
            _ => None,
        }
    }
}

/// Go's duration syntax, as the `--health-*` flags and `HEALTHCHECK` options take it.
pub use berth_oci::time::parse_go_duration as parse_duration;

/// The container's healthcheck: the user's fields over the image's, as Docker merges them (a
/// test replaces the image's whole, each zero field takes the image's), then Docker's checks.
pub fn resolve(user: Option<&Healthcheck>, image_config: &serde_json::Value) -> Result<Option<Healthcheck>> {
    let image: Option<Healthcheck> = serde_json::from_value(image_config["Healthcheck"].clone()).ok();
    let merged = match (user, image) {
        (None, i) => i,
        (Some(u), None) => Some(u.clone()),
        (Some(u), Some(i)) => {
            let pick = |a: i64, b: i64| if a == 0 { b } else { a };
            Some(Healthcheck {
                test: if u.test.is_empty() { i.test } else { u.test.clone() },
                interval: pick(u.interval, i.interval),
                timeout: pick(u.timeout, i.timeout),
                start_period: pick(u.start_period, i.start_period),
                start_interval: pick(u.start_interval, i.start_interval),
                retries: pick(u.retries, i.retries),
            })
        }
    };
    if let Some(h) = &merged {
        for (name, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("StartInterval", h.start_interval),
        ] {
            if v != 0 && v < 1_000_000 {
                return Err(Error::Unsupported(format!("{name} in Healthcheck cannot be less than 1ms")));
            }
        }
        if h.retries < 0 {
            return Err(Error::Unsupported("Retries in Healthcheck cannot be negative".into()));
        }
    }
    Ok(merged)
}

/// What a wasm container can be checked with; called once its kind is decided at create. A
/// check the user gives must be a probe berth can make; an image's that is not fails each
/// probe with this message (as an exec into a guest fails under Docker's wasm shims).
pub(crate) fn check_kind(c: &Container, user: Option<&Healthcheck>) -> Result<()> {
    let given = user.is_some_and(Healthcheck::is_active);
    match &c.config.healthcheck {
        Some(h) if given && c.kind() == berth_runtime::Kind::Wasm && h.probe_url().is_none() => {
            Err(Error::Unsupported(wasm_message()))
        }
        _ => Ok(()),
    }
}

fn wasm_message() -> String {
    "a WebAssembly container has no processes to exec a health check into: its check must be an \
     http:// or tcp:// probe (for example --health-cmd http://localhost:8080/)"
        .into()
}

/// One probe's outcome (Docker's `HealthcheckResult`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`, as Docker shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

impl Health {
    /// Docker's `handleProbeResult`: keeps the last 5 results; a success makes it healthy, a
    /// failure counts unless it is still starting within the start period, and `retries`
    /// counted failures in a row make it unhealthy.
    pub fn record(&mut self, r: HealthResult, retries: i64, in_start_period: bool) {
        let ok = r.exit_code == 0;
        self.log.push(r);
        if self.log.len() > MAX_LOG_ENTRIES {
            self.log.drain(..self.log.len() - MAX_LOG_ENTRIES);
        }
        if ok {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(self.status == STARTING && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = UNHEALTHY.into();
            }
        }
    }
}

/// At each start: a container with a check reads `starting`, its failing streak reset and
/// its log kept (Docker's `initHealthMonitor`).
pub fn on_start(st: &mut State, hc: Option<&Healthcheck>) {
    if hc.is_some_and(Healthcheck::is_active) {
        let h = st.health.get_or_insert_with(Health::default);
        h.status = STARTING.into();
        h.failing_streak = 0;
    } else {
        st.health = None;
    }
}

/// At each stop: Docker reports a stopped container's health as `unhealthy`.
pub fn on_stop(st: &mut State) {
    if let Some(h) = st.health.as_mut() {
        h.status = UNHEALTHY.into();
    }
}

/// `ps --filter health=`: the container's health word, `none` without a check.
pub fn status_word(st: &State) -> &str {
    st.health.as_ref().map_or("none", |h| h.status.as_str())
}

/// Entry point of `berth health-probe ROOT ID` (re-run by the shim): runs the container's
/// check once with stdout and stderr as given, and exits with the check's status.
pub fn probe_main(root: &Path, id: &str) -> i32 {
    let pid_file = root.join("containers").join(id).join(PROBE_PID_FILE);
    let r = (|| {
        let engine = Engine::open(root)?;
        let mut c = engine.load_container(id)?;
        let hc = c.config.healthcheck.clone().filter(Healthcheck::is_active);
        let hc = hc.ok_or_else(|| Error::Other("the container has no health check".into()))?;
        if c.kind() == berth_runtime::Kind::Wasm {
            let url = hc.probe_url().ok_or_else(|| Error::Unsupported(wasm_message()))?;
            return builtin_probe(&c, url, hc.timeout());
        }
        let argv = hc.argv().unwrap_or_default();
        engine.exec_probe(&mut c, argv, &pid_file)
    })();
    match r {
        Ok(code) => code,
        Err(e) => {
            let msg = match e {
                Error::StartFailed { message, .. } => message,
                e => e.to_string(),
            };
            let _ = std::fs::write(&pid_file, format!("{PROBE_FAILED}\n{msg}"));
            1
        }
    }
}

impl Engine {
    /// Runs `argv` in the container as `exec` would, publishing its pid in `pid_file`.
    fn exec_probe(&self, c: &mut Container, argv: Vec<String>, pid_file: &Path) -> Result<i32> {
        c.reload_state()?;
        if !c.state.running {
            return Err(Error::Conflict(format!("container {} is not running", c.id)));
        }
        let process = self.exec_process(c, &super::exec::ExecOptions { cmd: argv, ..Default::default() })?;
        Ok(super::runtime::exec_publishing(c, &process, false, &[], Some(pid_file))?.unwrap_or(0))
    }
}

/// A wasm container's check, made from inside its network namespace: `tcp://HOST:PORT`
/// succeeds when a connection is accepted, `http://HOST[:PORT]/PATH` when a `GET` answers
/// with a 2xx or 3xx status. The output says what happened, as a command's would.
fn builtin_probe(c: &Container, url: &str, timeout: Duration) -> Result<i32> {
    use std::io::{Read, Write};
    let netns = format!("/proc/{}/ns/net", c.state.pid);
    let f = std::fs::File::open(&netns).map_err(|e| Error::io(&netns, e))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::Other(format!("entering the container's network namespace: {e}")))?;
    let (http, rest) = match url.strip_prefix("http://") {
        Some(r) => (true, r),
        None => (false, url.trim_start_matches("tcp://")),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
    let proto = if http { "http" } else { "tcp" };
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| Error::Other(format!("dial {proto} {addr}: {e}")))?
        .next()
        .ok_or_else(|| Error::Other(format!("dial {proto} {addr}: no address")))?;
    let mut s = match std::net::TcpStream::connect_timeout(&resolved, timeout) {
        Ok(s) => s,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                _ => e.to_string(),
            };
            print!("dial tcp {resolved}: connect: {reason}");
            return Ok(1);
        }
    };
    if !http {
        print!("connected to {resolved}");
        return Ok(0);
    }
    let _ = s.set_read_timeout(Some(timeout));
    let req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: berth-healthcheck\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => {
                print!("GET {url}: {e}");
                return Ok(1);
            }
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().trim().to_string();
    let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    print!("GET {url}: {line}");
    Ok(if (200..400).contains(&code) { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(code: i64) -> HealthResult {
        HealthResult { exit_code: code, ..Default::default() }
    }

    #[test]
    fn the_state_machine_is_dockers() {
        let mut h = Health { status: STARTING.into(), ..Default::default() };
        // Failures within the start period do not count while starting.
        h.record(result(1), 3, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(1), 3, false);
        h.record(result(1), 3, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 2));
        h.record(result(0), 3, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        // Once healthy, the start period no longer shields failures.
        for _ in 0..3 {
            h.record(result(1), 3, true);
        }
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 3));
        h.record(result(-1), 3, false);
        assert_eq!(h.failing_streak, 4);
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
    }

    #[test]
    fn the_users_fields_override_the_images() {
        let img = json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 2_000_000_000i64, "Retries": 4}});
        let user = Healthcheck { test: vec!["NONE".into()], ..Default::default() };
        let h = resolve(Some(&user), &img).unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"Test": ["NONE"], "Interval": 2_000_000_000i64, "Retries": 4})
        );
        assert!(!h.is_active());
        let user = Healthcheck { timeout: 3_000_000_000, ..Default::default() };
        let h = resolve(Some(&user), &img).unwrap().unwrap();
        assert_eq!(h.test, vec!["CMD", "true"]);
        assert_eq!(h.timeout(), Duration::from_secs(3));
        assert_eq!(h.interval(), Duration::from_secs(2));
        let bad = Healthcheck { interval: 500_000, ..Default::default() };
        assert_eq!(
            resolve(Some(&bad), &json!({})).unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
    }

    #[test]
    fn probes_and_shell_forms() {
        let h = Healthcheck { test: vec!["CMD-SHELL".into(), "exit 0".into()], ..Default::default() };
        assert_eq!(h.argv().unwrap(), vec!["/bin/sh", "-c", "exit 0"]);
        let h = Healthcheck { test: vec!["CMD-SHELL".into(), "http://localhost:8080/".into()], ..Default::default() };
        assert_eq!(h.probe_url(), Some("http://localhost:8080/"));
        let h = Healthcheck { test: vec!["CMD".into(), "curl".into(), "-f".into()], ..Default::default() };
        assert_eq!(h.probe_url(), None);
    }
}
