//! Container lifecycle without a daemon: stop/kill/start/restart/wait, restart policies,
//! cgroup limits and OOM, crash reconciliation (SIGKILLed shim, SIGKILLed CLI) and leaks.
//!
//! Privileged tier (root). The tests of this file take one lock: the leak test counts
//! machine-wide mounts, cgroups and shims, which concurrent containers would disturb.

use berth_tests::{require_root, Berth, ChildGuard};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// A test's berth root; on drop (even after a failed assertion) every container in it is
/// force-removed, so a failing test leaves no container, mount or shim behind.
struct Env {
    b: Berth,
    /// Released only after the clean-up above: the next test measures a quiet machine.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Env {
    type Target = Berth;
    fn deref(&self) -> &Berth {
        &self.b
    }
}

fn setup() -> Env {
    require_root();
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let b = Berth::new();
    b.import_busybox("busybox");
    Env { b, _serial: g }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn inspect(b: &Berth, name: &str, fmt: &str) -> String {
    b.ok(&["inspect", "-f", fmt, name]).trim().to_string()
}

/// The raw state file (includes the shim's pid, which `inspect` does not show).
fn state_file(b: &Berth, name: &str) -> serde_json::Value {
    let id = inspect(b, name, "{{.Id}}");
    let p = b.root().join("containers").join(id).join("state.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists() && {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !s.contains(") Z ")
    }
}

/// What this test's root owns on the machine (other tests run at the same time, so only
/// its own count): mount table lines under the root, cgroup directories of the given
/// containers, and shim processes serving the root.
fn footprint_of(root: &Path, ids: &[String]) -> (usize, usize, usize) {
    let r = root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&r)).count();
    let mut cgroups = 0;
    let mut hierarchies: Vec<std::path::PathBuf> = vec!["/sys/fs/cgroup".into()];
    hierarchies.extend(std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()));
    for h in hierarchies {
        for id in ids {
            if h.join("berth").join(id).is_dir() {
                cgroups += 1;
            }
        }
    }
    let mut shims = 0;
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            if args.len() > 2 && args[1] == b"shim" && args[2] == r.as_bytes() {
                shims += 1;
            }
        }
    }
    (mounts, cgroups, shims)
}

/// This root's footprint for every container it has now.
fn footprint(b: &Berth) -> (usize, usize, usize) {
    let ids: Vec<String> = std::fs::read_dir(b.root().join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    footprint_of(b.root(), &ids)
}

#[test]
#[ignore = "needs root"]
fn stop_uses_the_stop_signal_then_sigkill() {
    let b = setup();
    // A process that exits on SIGTERM stops at once with its own status.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.05; done",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(b.ok(&["stop", "polite"]).trim(), "polite");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(inspect(&b, "polite", "{{.State.Status}} {{.State.ExitCode}}"), "exited 7");
    assert!(b.ok(&["ps", "-a"]).contains("Exited (7)"));
    // pid 1 ignoring SIGTERM: killed after the timeout, 137.
    b.ok(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"]);
    let t = Instant::now();
    b.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(inspect(&b, "stubborn", "{{.State.ExitCode}}"), "137");
    // --stop-signal is honoured.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; while true; do sleep 0.05; done",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    b.ok(&["stop", "usr1"]);
    assert_eq!(inspect(&b, "usr1", "{{.State.ExitCode}}"), "9");
    // Stopping a stopped container is fine; killing one is an error.
    b.ok(&["stop", "usr1"]);
    let o = b.run(&["kill", "usr1"]);
    assert_ne!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not running"));
    b.ok(&["rm", "polite", "stubborn", "usr1"]);
}

#[test]
#[ignore = "needs root"]
fn kill_start_restart_wait() {
    let b = setup();
    b.ok(&["run", "-d", "--name", "kk", "busybox", "sh", "-c", "trap 'exit 3' HUP; while true; do sleep 0.05; done"]);
    std::thread::sleep(Duration::from_millis(200));
    b.ok(&["kill", "-s", "HUP", "kk"]);
    assert_eq!(b.ok(&["wait", "kk"]).trim(), "3");
    // start again; output accumulates in the log.
    b.ok(&["start", "kk"]);
    assert_eq!(inspect(&b, "kk", "{{.State.Running}}"), "true");
    let pid1 = inspect(&b, "kk", "{{.State.Pid}}");
    b.ok(&["restart", "-t", "0", "kk"]);
    assert_eq!(inspect(&b, "kk", "{{.State.Running}}"), "true");
    assert_ne!(inspect(&b, "kk", "{{.State.Pid}}"), pid1);
    b.ok(&["kill", "kk"]);
    assert_eq!(b.ok(&["wait", "kk"]).trim(), "137");
    // rm refuses a running container without -f.
    b.ok(&["start", "kk"]);
    let o = b.run(&["rm", "kk"]);
    assert_ne!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("container is running"));
    b.ok(&["rm", "-f", "kk"]);
    // start -a attaches and returns the exit code.
    b.ok(&["create", "--name", "att", "busybox", "sh", "-c", "echo attached; exit 4"]);
    let o = b.run(&["start", "-a", "att"]);
    assert_eq!(code(&o), 4);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "attached\n");
    b.ok(&["rm", "att"]);
}

#[test]
#[ignore = "needs root"]
fn restart_policies() {
    let b = setup();
    // on-failure:2 restarts twice, then stays exited.
    b.ok(&["run", "-d", "--name", "of", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1"]);
    wait_until("on-failure to give up", Duration::from_secs(10), || {
        inspect(&b, "of", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
            && state_file(&b, "of")["ShimPid"].as_i64().is_none_or(|p| p <= 0)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&b, "of", "{{.RestartCount}} {{.State.ExitCode}}"), "2 1");
    // always comes back after the process crashes (killed from outside, not by berth).
    b.ok(&["run", "-d", "--name", "al", "--restart", "always", "busybox", "sleep", "100"]);
    let pid: i64 = inspect(&b, "al", "{{.State.Pid}}").parse().unwrap();
    let _ = berth_sys::process::send_signal(pid as i32, libc::SIGKILL);
    wait_until("always to restart", Duration::from_secs(10), || {
        inspect(&b, "al", "{{.State.Running}} {{.RestartCount}}") == "true 1"
    });
    assert_ne!(inspect(&b, "al", "{{.State.Pid}}"), pid.to_string());
    // ... but stays down after berth stop.
    b.ok(&["stop", "-t", "1", "al"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&b, "al", "{{.State.Running}}"), "false");
    // Growing back-off: a crash loop restarts a few times in a second, not hundreds.
    b.ok(&["run", "-d", "--name", "loop", "--restart", "unless-stopped", "busybox", "false"]);
    std::thread::sleep(Duration::from_millis(1600));
    let n: i64 = inspect(&b, "loop", "{{.RestartCount}}").parse().unwrap();
    assert!((2..=6).contains(&n), "restart count after 1.6s: {n}");
    b.ok(&["stop", "loop"]);
    std::thread::sleep(Duration::from_millis(800));
    let n2: i64 = inspect(&b, "loop", "{{.RestartCount}}").parse().unwrap();
    assert_eq!(inspect(&b, "loop", "{{.State.Status}}"), "exited");
    assert!(n2 <= n + 1, "unless-stopped stays down after stop");
    // start clears the manual stop.
    b.ok(&["start", "loop"]);
    b.ok(&["rm", "-f", "of", "al", "loop"]);
}

/// Docker's restart back-off, timed: the shim waits 100 ms before the first restart and
/// doubles the wait each time. Measured from the state file (polled every 5 ms): from the
/// moment an exit is recorded and the container marked "restarting" to the moment its
/// restart count grows (the shim counts a restart when its wait is over).
#[test]
#[ignore = "needs root"]
fn restart_backoff_doubles_from_100ms() {
    let b = setup();
    b.ok(&["run", "-d", "--name", "crash", "--restart", "always", "busybox", "false"]);
    let id = inspect(&b, "crash", "{{.Id}}");
    let path = b.root().join("containers").join(&id).join("state.json");
    let read = || -> Option<(String, i64, String)> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        Some((v["Status"].as_str()?.to_string(), v["RestartCount"].as_i64()?, v["FinishedAt"].as_str()?.to_string()))
    };
    // (restart count while waiting, when the wait was first seen, when it ended)
    let mut waits: Vec<(i64, Instant, Option<Instant>)> = Vec::new();
    let mut last_exit = String::new();
    let t0 = Instant::now();
    while waits.len() < 5 || waits[4].2.is_none() {
        assert!(t0.elapsed() < Duration::from_secs(30), "crash loop too slow: {waits:?}");
        if let Some((status, count, finished)) = read() {
            let now = Instant::now();
            if let Some(w) = waits.last_mut().filter(|w| w.2.is_none() && count > w.0) {
                w.2 = Some(now);
            }
            if status == "restarting" && finished != last_exit && waits.last().is_none_or(|w| w.2.is_some()) {
                waits.push((count, now, None));
                last_exit = finished;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let ms: Vec<u128> = waits.iter().map(|(_, a, b)| (b.unwrap() - *a).as_millis()).collect();
    eprintln!("restart waits: {ms:?} ms");
    for (k, m) in ms.iter().enumerate() {
        let want = 100u128 << k;
        // Never early (polling can only see the wait start late, by ~10 ms); late by at most
        // a loaded machine's scheduling delay.
        assert!(*m + 15 >= want && *m <= want + 600, "wait {k}: {m} ms, Docker's is {want} ms ({ms:?})");
    }
    assert!(ms[4] >= 4 * ms[0] + 400, "the back-off grows: {ms:?}");
    // `always` stays down after berth stop, even while waiting to restart.
    b.ok(&["stop", "crash"]);
    let n = read().unwrap().1;
    std::thread::sleep(Duration::from_millis(2500));
    let (status, n2, _) = read().unwrap();
    assert_eq!((status.as_str(), n2), ("exited", n), "no restart after stop");
    assert!(state_file(&b, "crash")["ShimPid"].as_i64().is_none_or(|p| p <= 0), "the shim is gone");
    b.ok(&["rm", "-f", "crash"]);
}

#[test]
#[ignore = "needs root"]
fn cgroup_limits_and_oom() {
    let b = setup();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let script = if v2 {
        "cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max"
    };
    let out =
        b.ok(&["run", "--rm", "--memory", "32m", "--cpus", "0.5", "--pids-limit", "10", "busybox", "sh", "-c", script]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["33554432", "50000", "10"]);
    // The pids limit is enforced.
    let o = b.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "4",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do sleep 1 & done; wait",
    ]);
    assert_ne!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("can't fork"), "{}", String::from_utf8_lossy(&o.stderr));
    // Outgrowing --memory: OOM-killed, and inspect says so.
    let o = b.run(&["run", "--name", "hog", "--memory", "16m", "busybox", "sh", "-c", "tail /dev/zero"]);
    assert_eq!(code(&o), 137);
    assert_eq!(inspect(&b, "hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137");
    b.ok(&["rm", "hog"]);
    let o = b.run(&["run", "--name", "fine", "--memory", "16m", "busybox", "true"]);
    assert_eq!(code(&o), 0);
    assert_eq!(inspect(&b, "fine", "{{.State.OOMKilled}}"), "false");
    b.ok(&["rm", "fine"]);
}

#[test]
#[ignore = "needs root"]
fn sigkill_of_a_shim_is_reconciled() {
    let b = setup();
    let before = footprint(&b);
    let orphan = b.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "100"]).trim().to_string();
    let st = state_file(&b, "orphan");
    let shim = st["ShimPid"].as_i64().unwrap();
    let pid = st["Pid"].as_i64().unwrap();
    assert!(alive(shim) && alive(pid));
    let _ = berth_sys::process::send_signal(shim as i32, libc::SIGKILL);
    wait_until("the shim to die", Duration::from_secs(5), || !alive(shim));
    // The next berth command notices, kills the orphaned container and marks it exited.
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert_eq!(b.ok(&["ps", "-q"]), "");
    wait_until("the container to be gone", Duration::from_secs(5), || !alive(pid));
    assert_eq!(inspect(&b, "orphan", "{{.State.Running}}"), "false");
    b.ok(&["rm", "orphan"]);
    assert_eq!(footprint_of(b.root(), std::slice::from_ref(&orphan)), before, "mounts, cgroups, shims");
    // An --rm container whose shim dies is removed by the reconciliation.
    let gone = b.ok(&["run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "100"]).trim().to_string();
    let shim = state_file(&b, "gone")["ShimPid"].as_i64().unwrap();
    let _ = berth_sys::process::send_signal(shim as i32, libc::SIGKILL);
    wait_until("the shim to die", Duration::from_secs(5), || !alive(shim));
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert_eq!(footprint_of(b.root(), &[orphan, gone]), before, "mounts, cgroups, shims");
}

#[test]
#[ignore = "needs root"]
fn sigkill_of_the_cli_leaves_the_container_to_its_shim() {
    let b = setup();
    let before = footprint(&b);
    let mut cli = b.cmd();
    cli.args(["run", "--name", "fg", "busybox", "sh", "-c", "echo up; exec sleep 100"]);
    cli.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut guard = ChildGuard(cli.spawn().unwrap());
    wait_until("the container to run", Duration::from_secs(10), || b.ok(&["ps", "-q"]).trim().len() == 12);
    let _ = berth_sys::process::send_signal(guard.0.id() as i32, libc::SIGKILL);
    let _ = guard.0.wait();
    // Docker's semantics: the container keeps running; its output is in the log.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(inspect(&b, "fg", "{{.State.Running}}"), "true");
    assert_eq!(b.ok(&["logs", "fg"]), "up\n");
    b.ok(&["stop", "-t", "0", "fg"]);
    b.ok(&["rm", "fg"]);
    // Killed during an --rm run: the shim still removes the container when it exits.
    let mut cli = b.cmd();
    cli.args(["run", "--rm", "--name", "fg2", "busybox", "sleep", "1"]);
    cli.stdout(Stdio::null()).stderr(Stdio::null());
    let mut guard = ChildGuard(cli.spawn().unwrap());
    wait_until("the container to run", Duration::from_secs(10), || b.ok(&["ps", "-q"]).trim().len() == 12);
    let _ = berth_sys::process::send_signal(guard.0.id() as i32, libc::SIGKILL);
    let _ = guard.0.wait();
    wait_until("auto-removal", Duration::from_secs(10), || b.ok(&["ps", "-aq"]).is_empty());
    wait_until("the shim to exit", Duration::from_secs(5), || footprint(&b) == before);
}

#[test]
#[ignore = "needs root"]
fn nothing_leaks_across_a_batch_of_runs_and_removals() {
    let b = setup();
    let before = footprint_of(b.root(), &[]);
    let mut ids: Vec<String> = Vec::new();
    // --rm runs (detached, so their ids are known), waited for.
    for i in 0..4 {
        let id = b.ok(&[
            "run",
            "-d",
            "--rm",
            "--network",
            "none",
            "--memory",
            "32m",
            "--pids-limit",
            "20",
            "busybox",
            "sh",
            "-c",
            &format!("echo {i}"),
        ]);
        ids.push(id.trim().to_string());
    }
    for id in &ids {
        let _ = b.run(&["wait", id]);
    }
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(
            b.ok(&["run", "-d", "--network", "none", "-v", "anon:/data", "busybox", "sleep", "100"]).trim().to_string(),
        );
    }
    let failing = b.ok(&["create", "--network", "none", "busybox", "not-there"]).trim().to_string();
    assert_eq!(code(&b.run(&["start", "-a", &failing])), 127);
    let c = b.ok(&["create", "--network", "none", "busybox", "sh", "-c", "exit 5"]).trim().to_string();
    assert_eq!(code(&b.run(&["start", "-a", &c])), 5);
    ids.extend(running.iter().cloned());
    ids.push(failing.clone());
    ids.push(c.clone());
    let mut args = vec!["rm", "-f", "-v"];
    args.extend(running.iter().map(String::as_str));
    args.push(&failing);
    args.push(&c);
    b.ok(&args);
    b.ok(&["volume", "rm", "anon"]);
    wait_until("auto-removal", Duration::from_secs(10), || b.ok(&["ps", "-aq"]).is_empty());
    let t = Instant::now();
    while footprint_of(b.root(), &ids) != before && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(footprint_of(b.root(), &ids), before, "(mountinfo lines, cgroup dirs, shim processes) of this root");
    assert!(std::fs::read_dir(b.root().join("containers")).unwrap().next().is_none());
}

#[test]
#[ignore = "needs root"]
fn idle_shim_is_small() {
    let b = setup();
    b.ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "100"]);
    // The shim gives its start-up pages back when it first sleeps and again after 1 s quiet
    // (the CLI detaching woke it).
    std::thread::sleep(Duration::from_millis(1800));
    let shim = state_file(&b, "idle")["ShimPid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{shim}/status")).unwrap();
    let kb = |k: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let (rss_kb, anon_kb) = (kb("VmRSS:"), kb("RssAnon:"));
    let threads = status.lines().find(|l| l.starts_with("Threads:")).unwrap().to_string();
    // What each more container costs is the shim's private memory: its heap and stacks, and
    // the pages of the binary the loader relocated (the binary is a PIE: its base address is
    // randomised, so those pages are private to each process). The relocated data's size is
    // the build's (several MiB in this debug build, ~1 MiB in release); what the shim itself
    // allocates is bounded here. The release build's whole RSS, code included, is measured
    // against the 2 MiB by bench/run.sh (docs/benchmarks.md).
    let smaps = std::fs::read_to_string(format!("/proc/{shim}/smaps")).unwrap();
    let mut own_kb = 0u64;
    let mut anonymous_mapping = false;
    for l in smaps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first().is_some_and(|a| a.contains('-') && !a.ends_with(':')) {
            // A mapping's header: address range, perms, offset, device, inode[, path].
            anonymous_mapping = f.len() < 6 || f[5].starts_with('[');
        } else if anonymous_mapping && f.first() == Some(&"Anonymous:") {
            own_kb += f[1].parse::<u64>().unwrap();
        }
    }
    eprintln!("idle shim: {rss_kb} KiB RSS, {anon_kb} KiB anonymous ({own_kb} KiB heap and stacks), {threads}");
    assert!(threads.ends_with("\t1"), "single-threaded: {threads}");
    assert!(own_kb <= 1024, "idle shim heap and stacks {own_kb} KiB");
    b.ok(&["rm", "-f", "idle"]);
}
