//! Healthchecks as Docker runs them, on real containers: the `--health-*` flags and an image's
//! `HEALTHCHECK`, probed by the shim (starting → healthy, failing → unhealthy with the failing
//! streak and the last 5 results, a probe killed at its timeout, the start period), `inspect`'s
//! `.State.Health`, `ps`'s status and `--filter health=`, a stopped container, a wasm guest's
//! http/tcp probe, Docker's errors for bad flag values, and no probe left behind.

use berth_tests::Berth;
use serde_json::Value;
use std::time::{Duration, Instant};

fn inspect(b: &Berth, c: &str) -> Value {
    serde_json::from_str::<Value>(&b.ok(&["inspect", c])).unwrap()[0].clone()
}

fn health(b: &Berth, c: &str) -> Value {
    inspect(b, c)["State"]["Health"].clone()
}

/// Waits (up to `secs`) until the container's health satisfies `f`; returns it.
fn wait_health(b: &Berth, c: &str, secs: u64, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let h = health(b, c);
        if f(&h) {
            return h;
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ps_status(b: &Berth, c: &str) -> String {
    b.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{c}|")).map(String::from))
        .unwrap_or_default()
}

fn ps_names(b: &Berth, filter: &str) -> Vec<String> {
    b.ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]).lines().map(String::from).collect()
}

/// The pids of processes whose command line contains `needle` (NUL-separated words joined by
/// spaces), other than this test's.
fn processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

fn status(h: &Value) -> &str {
    h["Status"].as_str().unwrap_or("")
}

#[test]
#[ignore = "needs root"]
fn a_passing_check_goes_from_starting_to_healthy_in_dockers_shape() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("bb");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--network",
        "none",
        "--health-cmd",
        "echo hi",
        "--health-interval",
        "1s",
        "bb",
        "sleep",
        "60",
    ]);
    // The first probe runs an interval after the start: starting, nothing logged yet.
    let h = health(&b, "ok");
    assert_eq!(h, serde_json::json!({"Status": "starting", "FailingStreak": 0, "Log": []}));
    assert!(ps_status(&b, "ok").ends_with(" (health: starting)"), "{}", ps_status(&b, "ok"));
    assert_eq!(ps_names(&b, "health=starting"), ["ok"]);
    let h = wait_health(&b, "ok", 20, "healthy", |h| status(h) == "healthy");
    assert_eq!(h["FailingStreak"], 0);
    let entry = h["Log"][0].as_object().unwrap();
    let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["End", "ExitCode", "Output", "Start"]);
    assert_eq!((entry["ExitCode"].as_i64(), entry["Output"].as_str()), (Some(0), Some("hi\n")));
    for t in ["Start", "End"] {
        chrono::DateTime::parse_from_rfc3339(entry[t].as_str().unwrap()).unwrap();
    }
    let mut keys: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["FailingStreak", "Log", "Status"]);
    // The effective check is recorded as Docker records it (zero fields left out).
    assert_eq!(
        inspect(&b, "ok")["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "echo hi"], "Interval": 1_000_000_000i64})
    );
    let st = ps_status(&b, "ok");
    assert!(st.starts_with("Up ") && st.ends_with(" (healthy)"), "{st}");
    assert_eq!(ps_names(&b, "health=healthy"), ["ok"]);
    assert!(ps_names(&b, "health=starting").is_empty());
    assert!(ps_names(&b, "health=none").is_empty());
    b.ok(&["rm", "-f", "ok"]);
}

#[test]
#[ignore = "needs root"]
fn a_failing_check_makes_it_unhealthy_keeps_5_results_and_is_never_restarted() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("bb");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--network",
        "none",
        "--restart",
        "always",
        "--health-cmd",
        "echo out; echo err >&2; exit 3",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "bb",
        "sleep",
        "60",
    ]);
    let pid = inspect(&b, "bad")["State"]["Pid"].as_i64().unwrap();
    let h = wait_health(&b, "bad", 30, "unhealthy with a streak of 6", |h| h["FailingStreak"].as_i64() >= Some(6));
    assert_eq!(status(&h), "unhealthy");
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log.len(), 5, "{h}");
    for e in log {
        assert_eq!(e["ExitCode"], 3);
        let out = e["Output"].as_str().unwrap();
        // One pipe for both streams, as Docker's: both lines, in the order written.
        assert!(out.contains("out\n") && out.contains("err\n") && out.len() == 8, "{out:?}");
    }
    assert!(ps_status(&b, "bad").ends_with(" (unhealthy)"), "{}", ps_status(&b, "bad"));
    assert_eq!(ps_names(&b, "health=unhealthy"), ["bad"]);
    // Unhealthy is not an exit: the restart policy leaves it alone.
    let i = inspect(&b, "bad");
    assert_eq!(
        (i["State"]["Running"].as_bool(), i["State"]["Pid"].as_i64(), i["RestartCount"].as_i64()),
        (Some(true), Some(pid), Some(0))
    );

    // Stopped: Docker keeps the log and the streak and reads the health as unhealthy; no
    // suffix in ps. Started again: starting, the streak reset, the log kept.
    b.ok(&["stop", "-t", "0", "bad"]);
    let h = health(&b, "bad");
    assert_eq!(status(&h), "unhealthy");
    assert_eq!(h["Log"].as_array().unwrap().len(), 5);
    assert!(h["FailingStreak"].as_i64() >= Some(6));
    assert!(ps_status(&b, "bad").starts_with("Exited ("), "{}", ps_status(&b, "bad"));
    assert_eq!(ps_names(&b, "health=unhealthy"), ["bad"]);
    b.ok(&["start", "bad"]);
    let h = health(&b, "bad");
    assert_eq!((status(&h), h["FailingStreak"].as_i64(), h["Log"].as_array().unwrap().len()), ("starting", Some(0), 5));
    b.ok(&["rm", "-f", "bad"]);
}

#[test]
#[ignore = "needs root"]
fn a_probe_past_its_timeout_is_killed_and_counts_as_a_failure_on_every_runtime() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("bb");
    let root = b.root().to_string_lossy().into_owned();
    for rt in ["berth", "runc", "crun"] {
        if rt != "berth" && !berth_tests::have(rt) {
            continue;
        }
        let name = format!("slow-{rt}");
        b.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--runtime",
            rt,
            "--health-cmd",
            "sleep 37",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            "--health-retries",
            "1",
            "bb",
            "sleep",
            "60",
        ]);
        let h = wait_health(&b, &name, 20, "a timed-out probe", |h| !h["Log"].as_array().is_none_or(|l| l.is_empty()));
        let e = &h["Log"][0];
        assert_eq!(
            (e["ExitCode"].as_i64(), e["Output"].as_str()),
            (Some(-1), Some("Health check exceeded timeout (1s)")),
            "{rt}"
        );
        assert_eq!(status(&h), "unhealthy", "{rt}");
        let (start, end) = (e["Start"].as_str().unwrap(), e["End"].as_str().unwrap());
        let took =
            chrono::DateTime::parse_from_rfc3339(end).unwrap() - chrono::DateTime::parse_from_rfc3339(start).unwrap();
        assert!(took.num_milliseconds() >= 1000 && took.num_milliseconds() < 3000, "{rt}: {took}");
        // At most the one probe under way (the next one's) runs in the container: the timed
        // out ones were killed.
        assert!(processes_with("sleep 37").len() <= 1, "{rt}: {:?}", processes_with("sleep 37"));
        b.ok(&["rm", "-f", &name]);
    }
    // Nothing of the probes is left once the containers are gone.
    std::thread::sleep(Duration::from_millis(300));
    assert!(processes_with("sleep 37").is_empty(), "{:?}", processes_with("sleep 37"));
    assert!(processes_with(&format!("health-probe {root}")).is_empty());
}

#[test]
#[ignore = "needs root"]
fn the_images_healthcheck_runs_merges_with_the_flags_and_no_healthcheck_disables_it() {
    berth_tests::require_root();
    let b = Berth::new();
    let tar = berth_tests::busybox_tar();
    b.ok(&["import", "--change", "HEALTHCHECK --interval=1s --retries=4 CMD [\"true\"]", tar.to_str().unwrap(), "hc"]);
    b.ok(&["run", "-d", "--name", "img", "--network", "none", "--health-timeout", "3s", "hc", "sleep", "60"]);
    assert_eq!(
        inspect(&b, "img")["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000i64, "Timeout": 3_000_000_000i64, "Retries": 4})
    );
    wait_health(&b, "img", 20, "healthy", |h| status(h) == "healthy");

    // A command that cannot be started: exit code -1 and the reason, once. (crun reports it
    // as the process's own exit, 255, as it does for `exec`: see docs/docker-compat.md.)
    b.ok(&["import", "--change", "HEALTHCHECK --interval=1s CMD [\"nonexist\"]", tar.to_str().unwrap(), "hc2"]);
    for rt in ["berth", "runc"] {
        if rt != "berth" && !berth_tests::have(rt) {
            continue;
        }
        let name = format!("nx-{rt}");
        b.ok(&["run", "-d", "--name", &name, "--network", "none", "--runtime", rt, "hc2", "sleep", "60"]);
        let h = wait_health(&b, &name, 20, "a failed probe", |h| h["Log"].as_array().is_some_and(|l| !l.is_empty()));
        let (code, out) = (&h["Log"][0]["ExitCode"], h["Log"][0]["Output"].as_str().unwrap());
        assert_eq!(code, -1, "{rt}: {h}");
        assert!(out.contains("exec") && out.contains("\"nonexist\"") && !out.contains('\n'), "{rt}: {out:?}");
        b.ok(&["rm", "-f", &name]);
    }

    // Output past 4 KiB is cut there, as Docker marks it.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "--network",
        "none",
        "--health-cmd",
        "yes | head -c 5000",
        "--health-interval",
        "1s",
        "hc",
        "sleep",
        "60",
    ]);
    let h = wait_health(&b, "big", 20, "a probe", |h| h["Log"].as_array().is_some_and(|l| !l.is_empty()));
    let out = h["Log"][0]["Output"].as_str().unwrap();
    assert!(
        out.len() == 4099 && out.ends_with("y\n...") && out.starts_with("y\ny\n"),
        "{} {:?}",
        out.len(),
        &out[out.len() - 8..]
    );
    b.ok(&["rm", "-f", "big"]);

    b.ok(&["run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", "hc", "sleep", "60"]);
    let i = inspect(&b, "off");
    assert_eq!(
        i["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["NONE"], "Interval": 1_000_000_000i64, "Retries": 4})
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(inspect(&b, "off")["State"].get("Health").is_none());
    let st = ps_status(&b, "off");
    assert!(st.starts_with("Up ") && !st.contains('('), "{st}");
    assert_eq!(ps_names(&b, "health=none"), ["off"]);
    b.ok(&["rm", "-f", "img", "off"]);
}

#[test]
#[ignore = "needs root"]
fn failures_in_the_start_period_do_not_count_and_it_probes_at_the_start_interval() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("bb");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "sp",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "30s",
        "--health-start-period",
        "60s",
        "--health-start-interval",
        "300ms",
        "--health-retries",
        "1",
        "bb",
        "sleep",
        "60",
    ]);
    // At the start interval (not the 30 s interval), failing, and still starting.
    let h = wait_health(&b, "sp", 10, "three probes", |h| h["Log"].as_array().is_some_and(|l| l.len() >= 3));
    assert_eq!((status(&h), h["FailingStreak"].as_i64()), ("starting", Some(0)));
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    // A success ends the start period's grace: healthy, and the next failure counts.
    b.ok(&["exec", "sp", "touch", "/tmp/ready"]);
    wait_health(&b, "sp", 10, "healthy", |h| status(h) == "healthy");
    b.ok(&["rm", "-f", "sp"]);

    // After the start period, failures count from the first one.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "sp2",
        "--network",
        "none",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "1s",
        "--health-start-period",
        "1ms",
        "--health-retries",
        "1",
        "bb",
        "sleep",
        "60",
    ]);
    let h = wait_health(&b, "sp2", 10, "unhealthy", |h| status(h) == "unhealthy");
    assert_eq!(h["FailingStreak"], 1);
    b.ok(&["rm", "-f", "sp2"]);
}

#[test]
#[ignore = "needs root"]
fn bad_flag_values_are_refused_as_docker_refuses_them() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("bb");
    for (args, msg) in [
        (&["--health-interval", "-1s"][..], "--health-interval cannot be negative"),
        (&["--health-timeout", "-1s"], "--health-timeout cannot be negative"),
        (&["--health-start-period", "-1s"], "--health-start-period cannot be negative"),
        (&["--health-start-interval", "-1s"], "--health-start-interval cannot be negative"),
        (&["--health-retries", "-1"], "--health-retries cannot be negative"),
        (
            &["--health-interval", "garbage"],
            "invalid argument \"garbage\" for \"--health-interval\" flag: time: invalid duration \"garbage\"",
        ),
        (
            &["--health-timeout", "1x"],
            "invalid argument \"1x\" for \"--health-timeout\" flag: time: unknown unit \"x\" in duration \"1x\"",
        ),
        (
            &["--health-retries", "x"],
            "invalid argument \"x\" for \"--health-retries\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (&["--health-interval", "500us"], "Interval in Healthcheck cannot be less than 1ms"),
        (&["--health-timeout", "100us"], "Timeout in Healthcheck cannot be less than 1ms"),
        (&["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
    ] {
        for verb in ["create", "run"] {
            let mut a = vec![verb, "--network", "none"];
            a.extend_from_slice(args);
            a.extend_from_slice(&["bb", "true"]);
            let o = b.run(&a);
            let err = String::from_utf8_lossy(&o.stderr);
            // What Docker's daemon checks fails `create` with 1 (its CLI's own checks, 125).
            let want = if verb == "create" && msg.contains("in Healthcheck cannot be less than") { 1 } else { 125 };
            assert_eq!(o.status.code(), Some(want), "{a:?}: {err}");
            assert!(err.contains(msg), "{a:?}: {err}");
        }
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "", "nothing was created");
    assert!(b.fails(&["ps", "--filter", "health=bogus"]).contains("Unrecognised filter value for health: bogus"));
}

#[test]
#[ignore = "needs root"]
fn a_wasm_guest_is_checked_by_an_http_or_tcp_probe_in_its_network_namespace() {
    berth_tests::require_root();
    let b = Berth::new();
    crate::wasm::package(&b, "tcpwasm", crate::wasm::TCP_SERVER);
    // The guest serves HTTP on 8080 in its own namespace (no port published: the probe is
    // made from inside it).
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "http://127.0.0.1:8080/",
        "--health-interval",
        "1s",
        "tcpwasm",
    ]);
    let h = wait_health(&b, "web", 30, "healthy", |h| status(h) == "healthy");
    assert_eq!(h["Log"][0]["Output"], "GET http://127.0.0.1:8080/: HTTP/1.0 200 OK");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "closed",
        "--health-cmd",
        "tcp://127.0.0.1:9",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "tcpwasm",
    ]);
    let h = wait_health(&b, "closed", 30, "unhealthy", |h| status(h) == "unhealthy");
    assert_eq!(h["Log"][0]["Output"], "dial tcp 127.0.0.1:9: connect: connection refused");
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    // A command cannot run in a guest: refused at create, nothing left.
    let o = b.run(&["run", "-d", "--name", "cmd", "--health-cmd", "wget -q http://localhost:8080/", "tcpwasm"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no processes to exec a health check into"));
    assert!(b.run(&["inspect", "cmd"]).status.code() != Some(0));
    b.ok(&["rm", "-f", "web", "closed"]);
}
