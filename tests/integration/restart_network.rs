//! Restarts keep a container's network, as root, through the berth binary. A restart ends
//! one shim and starts another; the old one tears the container's network down on its way
//! out, so if that could happen after the new shim set the network up, the container would
//! come back without its veth, address, published port or DNS name. Each check here runs
//! only once the old shim has exited (its clean-up done), after `berth restart`,
//! `stop` + `start` and a restart by policy; `rm -f` must then leave the root's links,
//! leases and firewall rules as they were.

use berth_engine::Engine;
use berth_tests::{busybox_root, free_port, http_get, links_settle, nft_table, Berth};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Whether a process is gone (a zombie counts as gone: its clean-up is over).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')).unwrap_or(true),
    }
}

/// The tests count the root's links and rules while containers come and go: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A root with the user network `rn`, a long-running `probe` container on it (to resolve and
/// reach the server by name), and the baseline counts taken before either container ran.
struct Env {
    b: Berth,
    e: Engine,
    port: u16,
    links0: usize,
    rules0: String,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    fn new() -> Env {
        let b = busybox_root();
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let e = Engine::open(b.root()).unwrap();
        b.ok(&["network", "create", "rn"]);
        // Warm-up: the network's bridge exists from here on, as docker0 does.
        b.ok(&["run", "--rm", "--network", "rn", "busybox", "true"]);
        // Only the bridge once the warm-up's namespace (and veth with it) is destroyed.
        let links0 = links_settle(b.root(), 1);
        assert_eq!(links0, 1, "links after the warm-up");
        let rules0 = nft_table(&e);
        let site = b.root().join("www");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("index.html"), "hello from berth\n").unwrap();
        b.ok(&["run", "-d", "--name", "probe", "--network", "rn", "busybox", "sleep", "600"]);
        Env { b, e, port: free_port(), links0, rules0, _serial: serial }
    }

    /// Runs the `web` container: busybox httpd on a published loopback port, on `rn`.
    fn web(&self, extra: &[&str], cmd: &[&str]) {
        let vol = format!("{}:/www:ro", self.b.root().join("www").display());
        let publish = format!("127.0.0.1:{}:80", self.port);
        let mut args = vec!["run", "-d", "--name", "web", "--network", "rn", "-p", &publish, "-v", &vol];
        args.extend_from_slice(extra);
        args.push("busybox");
        args.extend_from_slice(cmd);
        self.b.ok(&args);
    }

    fn state(&self) -> berth_engine::container::State {
        self.e.find_container("web").unwrap().state
    }

    /// Waits for the shim `pid` to exit: whatever it tears down on its way out is done then.
    fn wait_shim_exit(&self, pid: i32, what: &str) {
        let t0 = Instant::now();
        while !gone(pid) {
            assert!(t0.elapsed() < Duration::from_secs(20), "{what}: the old shim {pid} did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `cmds` (a restart), waits for the old shim to exit, checks the network.
    fn cycle(&self, what: &str, cmds: &[&[&str]]) {
        let old = self.state().shim_pid;
        assert!(old > 0, "{what}: no shim before");
        for args in cmds {
            self.b.ok(args);
        }
        self.wait_shim_exit(old, what);
        assert_ne!(self.state().shim_pid, old, "{what}: the same shim");
        self.check(what);
    }

    /// The container runs with its whole network: sandbox record, lease, veth and address
    /// inside, the published port answering on 127.0.0.1 and in the firewall, its name
    /// resolving and reachable from `probe`, no other link than its and probe's veths.
    fn check(&self, what: &str) {
        let st = self.state();
        assert!(st.running && st.status == "running", "{what}: web is {} ({})", st.status, st.error);
        let id = self.e.find_container("web").unwrap().id;
        let sb = self.e.sandbox(&id).unwrap().unwrap_or_else(|| panic!("{what}: web has no sandbox"));
        assert_eq!(sb.endpoints.len(), 1, "{what}: {sb:?}");
        assert_eq!(sb.ports.len(), 1, "{what}: {sb:?}");
        assert_eq!(sb.ports[0].host_port, self.port, "{what}: {sb:?}");
        let ip = sb.endpoints[0].ip.unwrap_or_else(|| panic!("{what}: no address: {sb:?}"));
        let shown = self.b.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.rn.IPAddress}}", "web"]);
        assert_eq!(shown.trim(), ip.to_string(), "{what}: inspect disagrees with the sandbox");
        assert!(sb.netns.exists(), "{what}: namespace {} is gone", sb.netns.display());
        assert_eq!(self.e.lease_count(), 2, "{what}: leases (web and probe)");
        // The veth inside, up, with the address.
        let addr = self.b.ok(&["exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"]);
        assert!(addr.contains(&format!("inet {ip}/")), "{what}: eth0 inside web: {addr}");
        // The published port, from the host's loopback (DNAT), and its firewall entry.
        let page = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)));
        assert!(page.contains("hello from berth"), "{what}: {page}");
        assert!(nft_table(&self.e).contains(&format!(". {} :", self.port)), "{what}: port not in the firewall");
        // The name, resolved by the embedded DNS server and reached, from another container.
        let script = "for i in $(seq 1 50); do wget -q -O - http://web/ && break; sleep 0.1; done; \
                      nslookup web 127.0.0.11 | grep '^Address: '";
        let o = self.b.run(&["exec", "probe", "sh", "-c", script]);
        let s = out(&o);
        assert!(s.contains("hello from berth"), "{what}: probe cannot reach web by name: {s}");
        assert!(s.contains(&format!("Address: {ip}")), "{what}: web does not resolve to {ip}: {s}");
        // Web's and probe's veths on the bridge, no more (an old one may still be going).
        let want = self.links0 + 2;
        assert_eq!(links_settle(self.b.root(), want), want, "{what}: links on the bridge");
    }

    /// Removes both containers; the root's links, leases and rules are as before them.
    fn finish(&self) {
        self.b.ok(&["rm", "-f", "web", "probe"]);
        assert!(self.e.sandboxes().unwrap().is_empty(), "sandboxes left behind");
        assert_eq!(self.e.lease_count(), 0, "leases left behind");
        assert_eq!(links_settle(self.b.root(), self.links0), self.links0, "links left behind");
        assert_eq!(nft_table(&self.e), self.rules0, "rules left behind");
    }
}

/// Other berth commands probe a shim's lock (`ps` reconciles, `inspect` reads the state)
/// while restarts run: keeps them coming until dropped.
struct Hammer(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Hammer {
    fn start(b: &Berth) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let root = b.root().to_path_buf();
        let bin = berth_tests::berth_bin();
        let h = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for args in [&["ps", "-a"][..], &["inspect", "web"], &["port", "web"]] {
                    let _ = Command::new(&bin).arg("--root").arg(&root).args(args).output();
                }
            }
        });
        Hammer(stop, Some(h))
    }
}

impl Drop for Hammer {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

#[test]
#[ignore = "needs root"]
fn restart_keeps_veth_address_port_and_name() {
    let env = Env::new();
    env.web(&[], &["httpd", "-f", "-p", "80", "-h", "/www"]);
    env.check("after run");
    let hammer = Hammer::start(&env.b);
    for i in 1..=5 {
        env.cycle(&format!("restart {i}"), &[&["restart", "-t", "0", "web"]]);
    }
    // With a grace period: the stop signal first (ignored by httpd as PID 1), then SIGKILL.
    env.cycle("restart -t 1", &[&["restart", "-t", "1", "web"]]);
    drop(hammer);
    env.finish();
}

#[test]
#[ignore = "needs root"]
fn stop_then_start_keeps_veth_address_port_and_name() {
    let env = Env::new();
    env.web(&[], &["httpd", "-f", "-p", "80", "-h", "/www"]);
    env.check("after run");
    let hammer = Hammer::start(&env.b);
    for i in 1..=5 {
        // Started at once: the old shim may still be cleaning up.
        env.cycle(&format!("stop + start {i}"), &[&["stop", "-t", "0", "web"], &["start", "web"]]);
    }
    // Stopped for good: its network is gone while it is down, back when started.
    let old = env.state().shim_pid;
    env.b.ok(&["stop", "-t", "0", "web"]);
    env.wait_shim_exit(old, "stop");
    let id = env.e.find_container("web").unwrap().id;
    assert!(env.e.sandbox(&id).unwrap().is_none(), "a stopped container keeps its sandbox");
    assert_eq!(env.e.lease_count(), 1, "a stopped container keeps its lease (only probe's should be left)");
    assert!(!nft_table(&env.e).contains(&format!(". {} :", env.port)), "a stopped container keeps its port");
    env.b.ok(&["start", "web"]);
    env.check("start after a full stop");
    drop(hammer);
    env.finish();
}

#[test]
#[ignore = "needs root"]
fn restart_policy_keeps_veth_address_port_and_name() {
    let env = Env::new();
    // sh as PID 1 exits on SIGUSR1 (no manual stop): the shim restarts it by policy.
    let script = "trap 'exit 3' USR1; httpd -p 80 -h /www; while :; do sleep 0.1; done";
    env.web(&["--restart", "always"], &["sh", "-c", script]);
    env.check("after run");
    let shim = env.state().shim_pid;
    for i in 1..=3 {
        let n = env.state().restart_count;
        env.b.ok(&["kill", "-s", "USR1", "web"]);
        let what = format!("restart by policy {i}");
        let t0 = Instant::now();
        loop {
            let st = env.state();
            if st.restart_count > n && st.running {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "{what}: not restarted: {st:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(env.state().shim_pid, shim, "{what}: the policy restarts within the same shim");
        env.check(&what);
    }
    // A manual restart while the shim waits out its back-off (800 ms by now): the waiting
    // shim gives up and tears down, the new one sets up.
    let hammer = Hammer::start(&env.b);
    env.b.ok(&["kill", "-s", "USR1", "web"]);
    let t0 = Instant::now();
    while env.state().status != "restarting" {
        assert!(t0.elapsed() < Duration::from_secs(10), "not waiting to restart: {:?}", env.state());
        std::thread::sleep(Duration::from_millis(5));
    }
    env.cycle("restart during the back-off", &[&["restart", "-t", "0", "web"]]);
    // A manual restart of a running container with a policy: a new shim, the network intact.
    env.cycle("restart of an always container", &[&["restart", "-t", "0", "web"]]);
    drop(hammer);
    env.finish();
}

/// `stop` that lands while the shim is bringing a container back by policy (its back-off
/// over, the process not yet running) still stops it — the shim would otherwise start a
/// container its stop had already been recorded for, and `stop` would wait for it in vain.
#[test]
#[ignore = "needs root"]
fn stop_while_a_policy_restart_starts_stops_it() {
    let b = busybox_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = Engine::open(b.root()).unwrap();
    let toggle = b.root().join("toggle");
    std::fs::create_dir_all(&toggle).unwrap();
    let vol = format!("{}:/x", toggle.display());
    // Crashes until /x/stay exists, then stays up.
    let script = "[ -e /x/stay ] && exec sleep 600; touch /x/looked; sleep 0.5; exit 1";
    let mut caught = 0;
    for round in 0..6 {
        let name = format!("crash{round}");
        b.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            "always",
            "-p",
            "127.0.0.1::80",
            "-v",
            &vol,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let state = || e.find_container(&name).unwrap().state;
        let t0 = Instant::now();
        // A restarted run that has looked for /x/stay (and crashes 500 ms later).
        let looked = toggle.join("looked");
        while !(state().restart_count >= 1 && looked.exists()) {
            assert!(t0.elapsed() < Duration::from_secs(10), "no restart: {:?}", state());
            let _ = std::fs::remove_file(&looked);
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::write(toggle.join("stay"), "").unwrap();
        // The moment the count grows, the shim has finished waiting and starts the process.
        let n = state().restart_count;
        let t0 = Instant::now();
        while state().restart_count == n {
            assert!(t0.elapsed() < Duration::from_secs(10), "no restart: {:?}", state());
            std::thread::sleep(Duration::from_millis(1));
        }
        let was_running = state().running;
        let t = Instant::now();
        b.ok(&["stop", "-t", "1", &name]);
        let took = t.elapsed();
        let st = state();
        eprintln!("round {round}: running when stopped: {was_running}, stop took {took:?}, then {}", st.status);
        assert!(!st.running && st.status == "exited", "round {round}: still {} after stop ({took:?})", st.status);
        assert!(took < Duration::from_secs(10), "round {round}: stop took {took:?}");
        caught += usize::from(!was_running);
        b.ok(&["rm", "-f", &name]);
        std::fs::remove_file(toggle.join("stay")).unwrap();
        assert!(e.sandboxes().unwrap().is_empty());
    }
    eprintln!("stops that landed before the process ran: {caught} of 6");
}
