//! A supervisor that dies is not the end of a container whose restart policy keeps it running,
//! as root, through the berth binary: the next command that finds the dead shim brings the
//! container back (once, however many commands look at the same moment), and `berth restore`
//! brings back what a reboot killed (every shim and container process), as Docker's daemon
//! does when it comes up. Nothing is leaked on the way: mounts, cgroups, veths, processes.

use berth_engine::container::State;
use berth_engine::Engine;
use berth_tests::{busybox_root, free_port, http_get, links_settle, root_links, Berth};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The tests count the machine's mounts, processes and links: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The recorded state, read without reconciling (as a command would do it, it could restart).
fn state(b: &Berth, id: &str) -> State {
    Engine::open(b.root()).unwrap().load_container(id).unwrap().state
}

/// SIGKILLs `pid` and waits until it has died (a zombie or gone): the signal is delivered
/// asynchronously, and until the process is torn down it still holds its `shim.lock`.
fn kill9(pid: i32) {
    assert!(pid > 0);
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(10) {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(s) if s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')) => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Whether `pid` is no longer the process that started at `start` (gone, or reaped and
/// reused). A zombie is not gone: its parent (PID 1, see docs/architecture.md) must reap it.
fn gone(pid: i32, start: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            let rest = s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()).unwrap_or_default();
            rest.split(' ').nth(19).and_then(|t| t.parse::<u64>().ok()) != Some(start)
        }
    }
}

fn start_time(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    s.rsplit_once(')').unwrap().1.trim_start().split(' ').nth(19).unwrap().parse().unwrap()
}

/// Waits until each (pid, start) is gone, zombie included (reaped): no zombie remains.
fn wait_gone(procs: &[(i32, u64)], what: &str) {
    let t0 = Instant::now();
    for &(pid, start) in procs {
        while !gone(pid, start) {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            assert!(t0.elapsed() < Duration::from_secs(30), "{what}: process {pid} is still there:\n{st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Supervisors of container `id` alive now (`berth shim ROOT ID` processes).
fn shims_of(id: &str) -> usize {
    let Ok(rd) = std::fs::read_dir("/proc") else { return 0 };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
            args.len() >= 3 && args[args.len() - 3] == b"shim" && args[args.len() - 1] == id.as_bytes()
        })
        .count()
}

/// Mounts and cgroup directories naming `id`, and processes in its cgroups.
fn footprint(id: &str) -> (usize, usize) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(id)).count();
    let mut cgroups = 0;
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"] {
        cgroups += usize::from(std::path::Path::new(base).join("berth").join(id).exists());
    }
    (mounts, cgroups)
}

/// The site busybox httpd serves.
fn site(b: &Berth) -> String {
    let site = b.root().join("www");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello from berth\n").unwrap();
    format!("{}:/www:ro", site.display())
}

/// Runs a detached busybox httpd publishing `port`, with `extra` flags; returns its id.
fn web(b: &Berth, name: &str, port: u16, extra: &[&str]) -> String {
    let vol = site(b);
    let publish = format!("127.0.0.1:{port}:80");
    let mut args = vec!["run", "-d", "--name", name, "-p", &publish, "-v", &vol];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
    b.ok(&args).trim().to_string()
}

fn serves(port: u16) -> bool {
    http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).contains("hello from berth")
}

#[test]
#[ignore = "needs root"]
fn killed_shim_of_an_always_container_is_brought_back_once() {
    let _serial = serial();
    let b = busybox_root();
    // The bridge stays once made (as docker0 does): links left = the bridge alone.
    let links0 = 1;
    let port = free_port();
    let id = web(&b, "web", port, &["--restart", "always"]);
    assert!(serves(port));
    let before = state(&b, &id);
    let running_footprint = footprint(&id);
    let links_running = root_links(b.root());
    let old = [(before.shim_pid, start_time(before.shim_pid)), (before.pid, before.pid_start_time)];
    kill9(before.shim_pid);
    // Six commands find the dead shim at the same moment: one brings the container back.
    let bin = berth_tests::berth_bin();
    let lookers: Vec<_> = (0..6)
        .map(|i| {
            let args: Vec<String> = match i % 3 {
                0 => vec!["ps".into(), "-a".into()],
                1 => vec!["inspect".into(), "web".into()],
                _ => vec!["port".into(), "web".into()],
            };
            let root = b.root().to_path_buf();
            let bin = bin.clone();
            std::thread::spawn(move || std::process::Command::new(bin).arg("--root").arg(root).args(args).output())
        })
        .collect();
    for l in lookers {
        assert!(l.join().unwrap().unwrap().status.success());
    }
    let after = state(&b, &id);
    assert!(after.running && after.status == "running", "not brought back: {after:?}");
    assert_eq!(after.restart_count, before.restart_count + 1, "restarted more than once: {after:?}");
    assert_ne!(after.shim_pid, before.shim_pid);
    assert_ne!(after.pid, before.pid);
    assert_eq!(shims_of(&id), 1, "one supervisor");
    assert!(serves(port), "the published port answers again");
    // The old supervisor and container process are gone and reaped; nothing else is left.
    wait_gone(&old, "after recovery");
    assert_eq!(footprint(&id), running_footprint, "mounts and cgroups of one running container");
    assert_eq!(links_settle(b.root(), links_running), links_running, "one veth for the container");
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up "), "{ps}");
    // Once more: a later recovery counts on.
    kill9(after.shim_pid);
    b.ok(&["inspect", "web"]);
    let again = state(&b, &id);
    assert!(again.running && again.restart_count == after.restart_count + 1, "{again:?}");
    assert!(serves(port));
    b.ok(&["rm", "-f", "web"]);
    assert_eq!(footprint(&id), (0, 0), "removed: nothing left");
    assert_eq!(links_settle(b.root(), links0), links0);
}

#[test]
#[ignore = "needs root"]
fn killed_shim_without_a_policy_leaves_the_container_exited_and_clean() {
    let _serial = serial();
    let b = busybox_root();
    let id = b.ok(&["run", "-d", "--name", "nopolicy", "busybox", "sleep", "600"]).trim().to_string();
    let st = state(&b, &id);
    let procs = [(st.shim_pid, start_time(st.shim_pid)), (st.pid, st.pid_start_time)];
    kill9(st.shim_pid);
    let ps = b.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("nopolicy Exited (137)"), "{ps}");
    let st = state(&b, &id);
    assert!(!st.running && st.restart_count == 0 && shims_of(&id) == 0, "{st:?}");
    wait_gone(&procs, "policy no");
    assert_eq!(footprint(&id), (0, 0), "mounts or cgroups left");
    // A manually stopped unless-stopped container is not brought back either.
    let id = b.ok(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "600"]);
    let id = id.trim();
    b.ok(&["stop", "-t", "0", "unless"]);
    b.ok(&["ps", "-a"]);
    assert!(!state(&b, id).running);
    assert_eq!(shims_of(id), 0);
    // on-failure:1: a killed supervisor is a failure, brought back within the count only.
    let id = b.ok(&["run", "-d", "--name", "onfail", "--restart", "on-failure:1", "busybox", "sleep", "600"]);
    let id = id.trim();
    kill9(state(&b, id).shim_pid);
    b.ok(&["inspect", "onfail"]);
    let st = state(&b, id);
    assert!(st.running && st.restart_count == 1, "{st:?}");
    let procs = [(st.shim_pid, start_time(st.shim_pid)), (st.pid, st.pid_start_time)];
    kill9(st.shim_pid);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", "onfail"]).trim(),
        "exited 137 1"
    );
    assert_eq!(shims_of(id), 0);
    wait_gone(&procs, "on-failure past its count");
    assert_eq!(footprint(id), (0, 0), "mounts or cgroups left");
}

#[test]
#[ignore = "needs root"]
fn restore_after_a_simulated_reboot_starts_what_the_policies_say() {
    let _serial = serial();
    let b = busybox_root();
    // The bridge stays once made (as docker0 does): links left = the bridge alone.
    let links0 = 1;
    let port = free_port();
    let always = web(&b, "always", port, &["--restart", "always"]);
    let run = |name: &str, policy: &str, cmd: &[&str]| {
        let mut a = vec!["run", "-d", "--name", name, "--restart", policy, "busybox"];
        a.extend_from_slice(cmd);
        b.ok(&a).trim().to_string()
    };
    let unless = run("unless", "unless-stopped", &["sleep", "600"]);
    let unless_stopped = run("unless-stopped-stopped", "unless-stopped", &["sleep", "600"]);
    let always_stopped = run("always-stopped", "always", &["sleep", "600"]);
    let no = run("no", "no", &["sleep", "600"]);
    let on_failure = run("on-failure", "on-failure:3", &["sleep", "600"]);
    // An always container whose bind source vanished with the reboot: it cannot start.
    let src = tempfile::tempdir().unwrap();
    let src_path = src.path().display().to_string();
    let mount = format!("type=bind,source={},target=/data", src.path().display());
    let broken =
        b.ok(&["run", "-d", "--name", "broken", "--restart", "always", "--mount", &mount, "busybox", "sleep", "600"]);
    let broken = broken.trim().to_string();
    let created = b.ok(&["create", "--name", "created", "--restart", "always", "busybox", "sleep", "600"]);
    let created = created.trim().to_string();
    b.ok(&["stop", "-t", "0", "unless-stopped-stopped", "always-stopped"]);
    // The reboot: every supervisor and container process dies at once.
    let mut procs = Vec::new();
    for id in [&always, &unless, &no, &on_failure, &broken] {
        let st = state(&b, id);
        procs.push((st.shim_pid, start_time(st.shim_pid)));
        procs.push((st.pid, st.pid_start_time));
    }
    for (pid, _) in &procs {
        kill9(*pid);
    }
    drop(src);
    wait_gone(&procs, "the reboot");

    let o = b.run(&["restore"]);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "a container failed to start: exit 1\n{stdout}\n{stderr}");
    assert!(stderr.contains(&broken) && stderr.contains(&src_path), "the failure is reported: {stderr}");
    let mut started: Vec<&str> = stdout.lines().collect();
    started.sort();
    let mut want = vec![always.as_str(), unless.as_str(), always_stopped.as_str(), on_failure.as_str()];
    want.sort();
    assert_eq!(started, want, "started: {stdout}\n{stderr}");
    for id in &want {
        let st = state(&b, id);
        assert!(st.running, "{id}: {st:?}");
        assert_eq!(shims_of(id), 1, "{id}: one supervisor");
    }
    for id in [&unless_stopped, &no, &broken, &created] {
        let st = state(&b, id);
        assert!(!st.running && shims_of(id) == 0, "{id} should not run: {st:?}");
    }
    assert_eq!(state(&b, &no).exit_code, 137);
    assert!(serves(port), "the published port answers after the restore");
    // Nothing more to start: a second restore prints nothing and succeeds... but for the
    // container that still cannot start.
    b.ok(&["rm", "-f", "broken"]);
    assert_eq!(b.ok(&["restore"]), "");
    assert_eq!(footprint(&no), (0, 0), "the container left stopped holds nothing");
    let all = b.ok(&["ps", "-aq", "--no-trunc"]);
    let mut args = vec!["rm", "-f"];
    args.extend(all.lines());
    b.ok(&args);
    for id in [&always, &unless, &unless_stopped, &always_stopped, &no, &on_failure, &broken, &created] {
        assert_eq!(footprint(id), (0, 0), "{id}: mounts or cgroups left");
        assert_eq!(shims_of(id), 0);
    }
    assert_eq!(links_settle(b.root(), links0), links0, "veths left");
    assert!(Engine::open(b.root()).unwrap().sandboxes().unwrap().is_empty(), "sandboxes left");
}
