//! Breakouts through the sandboxes around build steps and wasm guests (issue 11, items 9
//! and 7), attacked as a hostile Dockerfile or guest would, each asserting that the host is
//! untouched.
//!
//! Build steps: a `RUN` must not reach a service on the host's 127.0.0.1 unless the build
//! was given `--network host`; `none` and the default have loopback up; no veth, namespace
//! or lease outlives a build, a failing one included. Every test runs as root (skips
//! otherwise) against a server on 127.0.0.1 that the test itself starts.

use berth_tests::{busybox_root, links_settle, root_links, Berth};
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a reached host server answers: only a connection that got through can print it.
const SECRET: &str = "berth-host-loopback-secret";

/// A server on the host's 127.0.0.1 answering every connection with [`SECRET`]; stops
/// (its thread ends) when dropped.
struct HostService {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HostService {
    fn start() -> HostService {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.write_all(format!("{SECRET}\n").as_bytes());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        HostService { port, stop }
    }
}

impl Drop for HostService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Builds `dockerfile` (with `extra` flags) as `tag`; returns (success, stderr).
fn build(b: &Berth, dockerfile: &str, tag: &str, extra: &[&str]) -> (bool, String) {
    let ctx = tempfile::Builder::new().prefix("berth-sbx-ctx-").tempdir().unwrap();
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let mut args = vec!["build", "--progress", "plain", "--no-cache", "-t", tag];
    args.extend_from_slice(extra);
    args.push(ctx.path().to_str().unwrap());
    let o = b.run(&args);
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A RUN that tries the host's 127.0.0.1:port and records what it got in /r.
fn probe_dockerfile(port: u16, run_flags: &str) -> String {
    format!(
        "FROM busybox\nRUN {run_flags} nc -w 2 127.0.0.1 {port} </dev/null >/r 2>/dev/null; \
         ip -o link show lo >/lo; ls /sys/class/net >/links; cp /etc/resolv.conf /resolv; true\n"
    )
}

fn cat(b: &Berth, image: &str, file: &str) -> String {
    b.ok(&["run", "--rm", "--network", "none", image, "cat", file])
}

/// Files under the root's network state (sandboxes, leases) and pinned namespaces.
fn net_state(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["network/sandboxes", "network/leases", "netns"] {
        let p = root.join(d);
        for e in walkdir(&p) {
            out.push(e);
        }
    }
    out
}

fn walkdir(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(p) else { return out };
    for e in rd.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
#[ignore = "needs root"]
fn run_step_cannot_reach_the_hosts_loopback() {
    let b = busybox_root();
    let svc = HostService::start();
    let (ok, err) = build(&b, &probe_dockerfile(svc.port, ""), "probe:default", &[]);
    assert!(ok, "build failed: {err}");
    let got = cat(&b, "probe:default", "/r");
    assert!(!got.contains(SECRET), "a RUN step reached the host's 127.0.0.1:{}: {got:?}", svc.port);
    // Its own namespace on the default bridge: loopback up, and an interface of its own.
    let lo = cat(&b, "probe:default", "/lo");
    assert!(lo.contains(",UP") || lo.contains("<UP"), "loopback is not up in a default RUN: {lo:?}");
    let links = cat(&b, "probe:default", "/links");
    assert!(links.split_whitespace().any(|l| l == "eth0"), "no eth0 on the default bridge: {links:?}");
    // Name resolution is set up as for a container on the default bridge.
    let container = b.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert_eq!(cat(&b, "probe:default", "/resolv"), container);
}

#[test]
#[ignore = "needs root"]
fn run_step_with_network_none_has_only_loopback_up() {
    let b = busybox_root();
    let svc = HostService::start();
    // Per step (BuildKit's RUN --network=none) and for the whole build (--network none).
    for (tag, flags, extra) in
        [("probe:step-none", "--network=none", &[][..]), ("probe:none", "", &["--network", "none"][..])]
    {
        let (ok, err) = build(&b, &probe_dockerfile(svc.port, flags), tag, extra);
        assert!(ok, "build {tag} failed: {err}");
        let got = cat(&b, tag, "/r");
        assert!(!got.contains(SECRET), "{tag}: a RUN step reached the host's loopback: {got:?}");
        let lo = cat(&b, tag, "/lo");
        assert!(lo.contains(",UP") || lo.contains("<UP"), "{tag}: loopback is not up: {lo:?}");
        let links: Vec<String> = cat(&b, tag, "/links").split_whitespace().map(String::from).collect();
        assert_eq!(links, vec!["lo".to_string()], "{tag}: more than loopback");
    }
}

#[test]
#[ignore = "needs root"]
fn host_network_is_an_explicit_opt_in() {
    let b = busybox_root();
    let svc = HostService::start();
    // `RUN --network=host` alone is refused: the entitlement is the builder's to grant.
    let (ok, err) = build(&b, &probe_dockerfile(svc.port, "--network=host"), "probe:denied", &[]);
    assert!(!ok, "RUN --network=host ran without the network.host entitlement");
    assert!(err.contains("network.host"), "{err}");
    // `build --network host` reaches the host's loopback, as docker build's does.
    let (ok, err) = build(&b, &probe_dockerfile(svc.port, ""), "probe:host", &["--network", "host"]);
    assert!(ok, "build failed: {err}");
    assert!(cat(&b, "probe:host", "/r").contains(SECRET), "--network host did not reach the host's loopback");
    // `--allow network.host` permits the step's own `--network=host`.
    let (ok, err) =
        build(&b, &probe_dockerfile(svc.port, "--network=host"), "probe:allowed", &["--allow", "network.host"]);
    assert!(ok, "build failed: {err}");
    assert!(cat(&b, "probe:allowed", "/r").contains(SECRET));
}

#[test]
#[ignore = "needs root"]
fn build_steps_leak_no_veth_namespace_or_lease() {
    let b = busybox_root();
    // The default bridge exists from the first step on; count after it was made.
    let (ok, err) = build(&b, "FROM busybox\nRUN true\n", "warm", &[]);
    assert!(ok, "{err}");
    let links0 = links_settle(b.root(), 1);
    let state0 = net_state(b.root());
    assert_eq!(links0, 1, "the bridge alone should remain");
    assert!(state0.is_empty(), "leftover network state: {state0:?}");
    let df = "FROM busybox\nRUN echo a >/a\nRUN --network=none echo b >/b\nRUN echo c >/c\n";
    let (ok, err) = build(&b, df, "three", &[]);
    assert!(ok, "{err}");
    // A failing step is released too.
    let (ok, _) = build(&b, "FROM busybox\nRUN echo x >/x\nRUN exit 3\n", "fails", &[]);
    assert!(!ok, "a failing RUN made the build succeed");
    assert_eq!(links_settle(b.root(), links0), links0, "veths left on the bridge after builds");
    let state = net_state(b.root());
    assert!(state.is_empty(), "sandbox records, leases or namespaces left after builds: {state:?}");
    assert_eq!(root_links(b.root()), links0);
}

// ---- wasm guests (item 7) ---------------------------------------------------------------

/// A guest bombing its host through wasmtime: `table.grow` by 1 Mi elements at a time (up to
/// 32 times, 256 MiB at 8 bytes an element), then `memory.grow` by 1 MiB at a time (up to 256
/// times) and writing every byte of its memory, printing `table-blocked`/`table-unbounded` and
/// `memory-blocked`/`memory-unbounded` (blocked: a growth returned -1 before the end), then
/// `grown`; then `END` (spins forever, or returns).
const BOMB: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 0 funcref)
  (data (i32.const 16) "table-blocked\n")
  (data (i32.const 32) "table-unbounded\n")
  (data (i32.const 64) "memory-blocked\n")
  (data (i32.const 80) "memory-unbounded\n")
  (data (i32.const 112) "grown\n")
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 1048576)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $n) (i32.const 32)))))
    (if (i32.lt_u (local.get $n) (i32.const 32))
      (then (call $print (i32.const 16) (i32.const 14)))
      (else (call $print (i32.const 32) (i32.const 16))))
    (local.set $n (i32.const 0))
    (block $done (loop $l
      (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $n) (i32.const 256)))))
    (if (i32.lt_u (local.get $n) (i32.const 256))
      (then (call $print (i32.const 64) (i32.const 15)))
      (else (call $print (i32.const 80) (i32.const 17))))
    (memory.fill (i32.const 256) (i32.const 1) (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 256)))
    (call $print (i32.const 112) (i32.const 6))
    END))
"#;

/// Spins forever.
const IDLE: &str = "(module (memory 1) (func (export \"_start\") (loop $spin (br $spin))))";

/// A fresh root, as root: the guest process's confinement needs root to set up.
fn wasm_root() -> Berth {
    berth_tests::require_root();
    Berth::new()
}

/// Packages `wat_text` as `name` in `b`.
fn package_wasm(b: &Berth, name: &str, wat_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.wat");
    fs::write(&file, wat_text).unwrap();
    b.ok(&["wasm", "package", file.to_str().unwrap(), "-t", name]);
}

/// A field of /proc/<pid>/status, in its own unit (kB for sizes).
fn status_field(pid: i64, field: &str) -> String {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {s}"))
        .trim()
        .to_string()
}

fn kib(v: &str) -> u64 {
    v.split_whitespace().next().unwrap().parse().unwrap()
}

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(t.elapsed().as_secs() < secs, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn guest_pid(b: &Berth, id: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", id])).unwrap();
    v[0]["State"]["Pid"].as_i64().unwrap()
}

#[test]
#[ignore = "needs root"]
fn wasm_table_and_memory_bombs_stay_within_the_memory_limit() {
    let b = wasm_root();
    package_wasm(&b, "bomb", &BOMB.replace("END", "(loop $spin (br $spin))"));
    package_wasm(&b, "bomb-exit", &BOMB.replace("END", ""));
    package_wasm(&b, "idle", IDLE);

    // In the CLI itself (the foreground fast path): the growths fail inside the guest.
    let o = b.run(&["run", "--rm", "--memory", "64m", "bomb-exit"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("table-blocked"), "table.grow was not bounded by --memory 64m: {stdout}");
    assert!(stdout.contains("memory-blocked"), "{stdout}");

    // In the shim's guest process: its peak resident memory stays near the limit.
    let idle = b.ok(&["run", "-d", "idle"]).trim().to_string();
    let pid = guest_pid(&b, &idle);
    wait_for(10, "the idle guest", || fs::read_to_string(format!("/proc/{pid}/status")).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let base = kib(&status_field(pid, "VmHWM"));
    b.ok(&["rm", "-f", &idle]);
    let id = b.ok(&["run", "-d", "--memory", "64m", "bomb"]).trim().to_string();
    wait_for(60, "the bomb to finish growing", || b.ok(&["logs", &id]).contains("grown"));
    let logs = b.ok(&["logs", &id]);
    assert!(logs.contains("table-blocked"), "table.grow was not bounded by --memory 64m: {logs}");
    assert!(logs.contains("memory-blocked"), "{logs}");
    let pid = guest_pid(&b, &id);
    let hwm = kib(&status_field(pid, "VmHWM"));
    b.ok(&["rm", "-f", &id]);
    eprintln!("peak RSS of the guest: {hwm} kB under --memory 64m (idle guest: {base} kB)");
    // 64 MiB of tables and memory together, plus slack for the allocator.
    assert!(hwm < base + 64 * 1024 + 16 * 1024, "peak RSS {hwm} kB (idle guest: {base} kB) under --memory 64m");
}

/// Docker's default capability set (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
/// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP), as /proc shows it.
const DOCKER_CAPS: &str = "00000000a80425fb";

#[test]
#[ignore = "needs root"]
fn wasm_guest_process_is_confined_as_a_native_container() {
    let b = wasm_root();
    package_wasm(&b, "idle", IDLE);
    let id = b.ok(&["run", "-d", "idle"]).trim().to_string();
    let pid = guest_pid(&b, &id);
    let fields: Vec<(&str, String)> = ["Seccomp", "NoNewPrivs", "CapEff", "CapPrm", "CapBnd", "NSpid"]
        .iter()
        .map(|f| (*f, status_field(pid, f)))
        .collect();
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let ns: Vec<(&str, String, String)> = ["mnt", "pid", "ipc", "uts", "net"]
        .iter()
        .map(|n| {
            let link = |p: String| fs::read_link(p).unwrap().display().to_string();
            (*n, link(format!("/proc/{pid}/ns/{n}")), link(format!("/proc/self/ns/{n}")))
        })
        .collect();
    // A stop signal still ends it at once (it is its namespace's PID 1 now).
    let t = std::time::Instant::now();
    b.ok(&["stop", &id]);
    assert!(t.elapsed().as_secs() < 5, "stop took {:?}", t.elapsed());
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", &id]).trim(), "143");
    b.ok(&["rm", &id]);

    let get = |f: &str| fields.iter().find(|(k, _)| *k == f).unwrap().1.clone();
    assert_eq!(get("Seccomp"), "2", "no seccomp filter on the guest process: {fields:?}");
    assert_eq!(get("NoNewPrivs"), "1", "{fields:?}");
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(get(f), DOCKER_CAPS, "{f} of the guest process is not Docker's set: {fields:?}");
    }
    assert!(
        get("NSpid").ends_with("\t1") || get("NSpid").ends_with(" 1"),
        "not PID 1 of its own namespace: {fields:?}"
    );
    for (n, guest, host) in &ns {
        assert_ne!(guest, host, "the guest process shares the host's {n} namespace");
    }
    for l in cgroup.lines().filter(|l| !l.is_empty()) {
        assert!(l.ends_with(&format!("/berth/{id}")), "the guest process is not in its container's cgroup: {cgroup}");
    }
}

#[test]
#[ignore = "needs root"]
fn inline_wasm_guest_runs_in_its_containers_cgroup() {
    let b = wasm_root();
    package_wasm(&b, "idle", IDLE);
    // The foreground fast path: the CLI itself runs the guest.
    let mut cli = b.cmd().args(["run", "--name", "inline", "idle"]).spawn().unwrap();
    let cli_pid = cli.id() as i64;
    wait_for(20, "the inline guest to run", || {
        b.run(&["inspect", "-f", "{{.State.Running}}", "inline"]).stdout.starts_with(b"true")
    });
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "inline"]).trim().to_string();
    assert_eq!(guest_pid(&b, &id), cli_pid, "not run inline by the CLI");
    let cgroup = fs::read_to_string(format!("/proc/{cli_pid}/cgroup")).unwrap();
    b.ok(&["stop", "inline"]);
    let status = cli.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    for l in cgroup.lines().filter(|l| !l.is_empty()) {
        assert!(l.ends_with(&format!("/berth/{id}")), "the inline guest is not in its container's cgroup: {cgroup}");
    }
    // Its cgroup went with the run.
    let left: Vec<String> = walk_cgroups(&id);
    assert!(left.is_empty(), "cgroup directories left after the run: {left:?}");
    b.ok(&["rm", "inline"]);
}

/// The directories named `id` under any `berth` cgroup.
fn walk_cgroups(id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for base in ["/sys/fs/cgroup/berth".to_string()].into_iter().chain(
        fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| format!("{}/berth", e.path().display())),
    ) {
        let p = Path::new(&base).join(id);
        if p.exists() {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
#[ignore = "needs root"]
fn wasm_guest_holds_no_other_containers_mounts() {
    let b = busybox_root();
    package_wasm(&b, "idle", IDLE);
    // A native container: its root file system and network namespace pin are host mounts.
    let native = b.ok(&["run", "-d", "busybox", "sleep", "600"]).trim().to_string();
    let id = b.ok(&["run", "-d", "idle"]).trim().to_string();
    let pid = guest_pid(&b, &id);
    let mounts = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    b.ok(&["rm", "-f", &id, &native]);
    let held: Vec<&str> = mounts.lines().filter(|l| l.contains(&native)).collect();
    assert!(held.is_empty(), "the guest's mount namespace holds another container's mounts: {held:?}");
}

/// The lines `field:` of /proc/<pid>/task/<tid>/status, by field.
fn task_status(pid: i64, tid: &str) -> Option<std::collections::HashMap<String, String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    Some(s.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect())
}

#[test]
#[ignore = "needs root"]
fn inline_wasm_guest_thread_is_confined_while_the_cli_is_not() {
    let b = wasm_root();
    package_wasm(&b, "idle", IDLE);
    // With supplementary groups of its own (setpriv execs it: same pid), to see that the
    // guest's identity does not become the CLI's.
    let mut cli = std::process::Command::new("setpriv")
        .args(["--groups", "4,24", "--"])
        .arg(berth_tests::berth_bin())
        .arg("--root")
        .arg(b.root())
        .env("DOCKER_CONFIG", b.root().join("docker-config"))
        .stdin(std::process::Stdio::null())
        .args(["run", "--name", "inline-thread", "idle"])
        .spawn()
        .unwrap();
    let pid = cli.id() as i64;
    wait_for(20, "the inline guest to run", || {
        b.run(&["inspect", "-f", "{{.State.Running}}", "inline-thread"]).stdout.starts_with(b"true")
    });
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "inline-thread"]).trim().to_string();
    assert_eq!(guest_pid(&b, &id), pid, "not run inline by the CLI");
    // The thread running the guest is the one with a seccomp filter.
    let mut guest = None;
    wait_for(10, "the guest's thread", || {
        let tasks = fs::read_dir(format!("/proc/{pid}/task")).unwrap();
        guest = tasks
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|tid| task_status(pid, tid).is_some_and(|s| s.get("Seccomp").map(String::as_str) == Some("2")));
        guest.is_some()
    });
    let tid = guest.unwrap();
    let st = task_status(pid, &tid).unwrap();
    // The threads the run started from it (the tokio runtime wasmtime-wasi drives host calls
    // on) inherit its confinement.
    let started: Vec<(String, String, String)> = fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let t = e.file_name().to_string_lossy().into_owned();
            let comm = fs::read_to_string(format!("/proc/{pid}/task/{t}/comm")).ok()?.trim().to_string();
            let s = task_status(pid, &t)?;
            comm.starts_with("tokio").then(|| (comm, s["Seccomp"].clone(), s["CapEff"].clone()))
        })
        .collect();
    assert!(!started.is_empty(), "no runtime thread found");
    let main = task_status(pid, &pid.to_string()).unwrap();
    let link = |p: String| fs::read_link(&p).map(|l| l.display().to_string()).unwrap_or_else(|e| panic!("{p}: {e}"));
    let ns: Vec<(&str, String, String, String)> = ["mnt", "ipc", "uts", "net"]
        .iter()
        .map(|n| {
            let host = link(format!("/proc/self/ns/{n}"));
            (*n, link(format!("/proc/{pid}/task/{tid}/ns/{n}")), link(format!("/proc/{pid}/task/{pid}/ns/{n}")), host)
        })
        .collect();
    let t = std::time::Instant::now();
    b.ok(&["stop", "inline-thread"]);
    assert!(t.elapsed().as_secs() < 5, "stop took {:?}", t.elapsed());
    assert_eq!(cli.wait().unwrap().code(), Some(143));
    b.ok(&["rm", "inline-thread"]);

    assert_eq!(st["Seccomp"], "2", "{st:?}");
    for (comm, seccomp, caps) in &started {
        assert_eq!((seccomp.as_str(), caps.as_str()), ("2", DOCKER_CAPS), "{comm} is not confined: {started:?}");
    }
    assert_eq!(st["NoNewPrivs"], "1", "no no_new_privs on the guest's thread: {st:?}");
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(st[f], DOCKER_CAPS, "{f} of the guest's thread is not Docker's set: {st:?}");
    }
    // The CLI's own thread keeps what it needs to clean up after the guest.
    assert_eq!(main["Seccomp"], "0", "the CLI's main thread was filtered: {main:?}");
    assert_eq!(main["NoNewPrivs"], "0", "{main:?}");
    assert_ne!(main["CapEff"], DOCKER_CAPS, "the CLI's main thread lost its capabilities: {main:?}");
    assert_eq!(st["Groups"], "", "{st:?}");
    assert_eq!(main["Groups"], "4 24", "the guest's identity became the CLI's main thread's too");
    for (n, guest, cli_main, host) in &ns {
        assert_eq!(cli_main, host, "the CLI's main thread left the host's {n} namespace");
        if *n == "net" {
            continue; // a guest without wasi:sockets gets no network namespace inline (see the docs)
        }
        assert_ne!(guest, host, "the guest's thread shares the host's {n} namespace");
    }
    // Nothing of the run stays: no container mount, no cgroup.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "a mount of the container stayed: {mounts}");
    assert!(walk_cgroups(&id).is_empty(), "cgroup directories left after the run");
}
