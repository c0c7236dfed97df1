//! Container networks, as root: the library (namespaces made by berth's helper, probed with
//! busybox through `nsenter`) and `berth run`/`network`/`port` end to end. Traffic goes only
//! to loopback and to the addresses of the networks the tests create; every network, link,
//! rule and process a test makes is gone when it ends.

use berth_engine::Engine;
use berth_network::{dns, netns, AttachRequest, NetworkCreate, NetworkOpts, PortSpec};
use berth_tests::{busybox_tar, free_port, http_get, is_root, links_settle, nft_table, root_links, Berth, ChildGuard};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tears a root's networks down when a test ends, whatever happened.
struct Root {
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::Builder::new().prefix("berth-net-").tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        Root { engine, _dir: dir }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = self.engine.network_reset(true);
    }
}

fn cid(c: char) -> String {
    c.to_string().repeat(64)
}

fn attach(e: &Engine, id: &str, name: &str, o: NetworkOpts) -> berth_engine::Result<berth_network::Attached> {
    e.attach(&AttachRequest {
        container_id: id.into(),
        name: name.into(),
        hostname: name.into(),
        netns: e.netns_path(id),
        create_netns: true,
        owner: None,
        opts: o,
    })
}

fn on(net: &str) -> NetworkOpts {
    NetworkOpts { network: net.into(), ..Default::default() }
}

/// `busybox ARGS` inside a namespace.
fn ns_cmd(ns: &Path, args: &[&str]) -> Command {
    // busybox's wget -T crashes (1.35): bound every probe with timeout(1) instead.
    let mut c = Command::new("timeout");
    c.arg("10").arg("nsenter").arg(format!("--net={}", ns.display())).arg("busybox").args(args);
    c.stdin(Stdio::null());
    c
}

/// A busybox httpd serving `dir` on port 80 inside a namespace.
fn httpd(ns: &Path, dir: &Path, port: u16) -> ChildGuard {
    // nsenter execs busybox, so the guard's pid is httpd's own.
    let child = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["busybox", "httpd", "-f", "-p", &port.to_string(), "-h", dir.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

fn www() -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("berth-www-").tempdir().unwrap();
    std::fs::write(d.path().join("index.html"), "hello from berth\n").unwrap();
    d
}

/// A DNS query sent from inside a namespace to the embedded server.
fn dns_query(ns: &Path, name: &str) -> (u8, Vec<Ipv4Addr>) {
    let f = netns::open(ns).unwrap();
    let name = name.to_string();
    netns::run_in(&f, move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&dns::build_query(0x4242, &name, dns::qtype::A), "127.0.0.11:53").unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = s.recv_from(&mut buf).expect("an answer from 127.0.0.11");
        assert_eq!(&buf[..2], &[0x42, 0x42]);
        (dns::rcode(&buf[..n]), dns::answers_a(&buf[..n]))
    })
    .unwrap()
}

/// The tests count the host's links and rules, so they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> Option<std::sync::MutexGuard<'static, ()>> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

// ---- library level ------------------------------------------------------------------------

#[test]
fn lib_user_network_names_routes_and_cleanup() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let net = e.network_create("front", &NetworkCreate::default()).unwrap();
    let links0 = root_links(e.root());
    // The bridge has an address of its own (02:42 + the gateway's), which ports joining and
    // leaving never change.
    let gw: Ipv4Addr = net.gateway.parse().unwrap();
    let mac = format!("02:42:{}", gw.octets().map(|o| format!("{o:02x}")).join(":"));
    let bridge_mac = || std::fs::read_to_string(format!("/sys/class/net/{}/address", net.bridge)).unwrap();
    assert_eq!(bridge_mac().trim(), mac);
    let rules0 = nft_table(e);
    let mut web_opts = on("front");
    web_opts.aliases = vec!["www".into()];
    let a = attach(e, &cid('a'), "web", web_opts).unwrap();
    let b = attach(e, &cid('b'), "client", on("front")).unwrap();
    let ip_a = a.ip().unwrap();
    let ip_b = b.ip().unwrap();
    assert_ne!(ip_a, ip_b);
    assert!(a.resolv_conf.starts_with("nameserver 127.0.0.11\n"), "{}", a.resolv_conf);
    assert!(a.hosts.contains(&format!("{ip_a}\tweb\n")), "{}", a.hosts);
    assert_eq!(e.lease_count(), 2);

    // Names resolve inside each namespace, by name, alias and short id.
    let ns_a = e.netns_path(&cid('a'));
    let ns_b = e.netns_path(&cid('b'));
    assert_eq!(dns_query(&ns_b, "web"), (0, vec![ip_a]));
    assert_eq!(dns_query(&ns_b, "www"), (0, vec![ip_a]));
    assert_eq!(dns_query(&ns_b, &cid('a')[..12]), (0, vec![ip_a]));
    assert_eq!(dns_query(&ns_a, "client.front"), (0, vec![ip_b]));

    // Traffic: namespace to namespace, and host to namespace through the bridge.
    let site = www();
    let _h = httpd(&ns_a, site.path(), 80);
    let t0 = Instant::now();
    loop {
        let o = ns_cmd(&ns_b, &["wget", "-q", "-O", "-", &format!("http://{ip_a}/")]).output().unwrap();
        if String::from_utf8_lossy(&o.stdout).contains("hello from berth") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "b cannot reach a: {}", String::from_utf8_lossy(&o.stderr));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(http_get(SocketAddr::from((ip_a, 80))).contains("hello from berth"));

    // Only lo and eth0 in a namespace.
    let o = ns_cmd(&ns_a, &["ip", "-o", "link"]).output().unwrap();
    let ifs = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(ifs.lines().count(), 2, "{ifs}");
    assert!(ifs.contains("eth0") && ifs.contains("lo:"), "{ifs}");

    drop(_h);
    e.detach(&cid('a')).unwrap();
    e.detach(&cid('b')).unwrap();
    assert_eq!(e.lease_count(), 0);
    assert_eq!(links_settle(e.root(), links0), links0, "links left behind");
    assert_eq!(nft_table(e), rules0, "rules left behind");
    assert!(!ns_a.exists() && !ns_b.exists(), "namespaces left behind");
    assert_eq!(bridge_mac().trim(), mac);
    // A bridge without it (made by an older berth) gets it on its next use.
    let st = Command::new("ip").args(["link", "set", "dev", &net.bridge, "address", "02:00:00:00:00:01"]).status();
    assert!(st.unwrap().success());
    attach(e, &cid('a'), "web", on("front")).unwrap();
    assert_eq!(bridge_mac().trim(), mac);
    e.detach(&cid('a')).unwrap();
}

#[test]
fn lib_publish_on_loopback_bridge_and_hairpin() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let links0 = root_links(e.root());
    let port = free_port();
    let mut o = on("bridge");
    o.publish = PortSpec::parse(&format!("{port}:80")).unwrap();
    o.publish.extend(PortSpec::parse("127.0.0.1::80").unwrap());
    let a = attach(e, &cid('c'), "srv", o).unwrap();
    let gw = a.gateway().unwrap();
    assert_eq!(a.ports.len(), 2);
    let auto = a.ports.iter().find(|p| p.host_ip == Ipv4Addr::LOCALHOST).unwrap().host_port;
    assert_ne!(auto, 0);
    let site = www();
    let ns = e.netns_path(&cid('c'));
    let _h = httpd(&ns, site.path(), 80);
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).contains("hello from berth"));
    assert!(http_get(SocketAddr::from((gw, port))).contains("hello from berth"));
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, auto))).contains("hello from berth"));

    // From another container on the same bridge, through the host's published port.
    let b = attach(e, &cid('d'), "peer", on("bridge")).unwrap();
    assert!(b.resolv_conf.contains("nameserver"), "{}", b.resolv_conf);
    let nb = e.netns_path(&cid('d'));
    let o = ns_cmd(&nb, &["wget", "-q", "-O", "-", &format!("http://{gw}:{port}/")]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello from berth"), "hairpin failed: {o:?}");
    // The container itself, through its own published port (hairpin to self).
    let o = ns_cmd(&ns, &["wget", "-q", "-O", "-", &format!("http://{gw}:{port}/")]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello from berth"), "self hairpin failed: {o:?}");

    // The same port again: refused before anything is made.
    let leases = e.lease_count();
    let mut again = on("bridge");
    again.publish = PortSpec::parse(&format!("{port}:80")).unwrap();
    let err = attach(e, &cid('e'), "dup", again).unwrap_err().to_string();
    assert!(err.contains("port is already allocated"), "{err}");
    assert_eq!(e.lease_count(), leases);
    assert!(e.sandbox(&cid('e')).unwrap().is_none());
    assert!(!e.netns_path(&cid('e')).exists());

    drop(_h);
    e.detach(&cid('c')).unwrap();
    e.detach(&cid('d')).unwrap();
    assert_eq!(e.lease_count(), 0);
    // The default bridge stays (as docker0 does); only it is new.
    assert_eq!(links_settle(e.root(), links0 + 1), links0 + 1);
    assert!(!nft_table(e).contains(&format!(". {port} :")), "port left published");
}

#[test]
fn lib_host_port_in_use_is_a_clean_error() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let links0 = root_links(e.root());
    let mut o = on("bridge");
    o.publish = PortSpec::parse(&format!("{port}:80")).unwrap();
    let err = attach(e, &cid('f'), "busy", o).unwrap_err().to_string();
    assert!(err.contains("address already in use"), "{err}");
    assert!(e.sandbox(&cid('f')).unwrap().is_none());
    assert_eq!(e.lease_count(), 0);
    assert!(!e.netns_path(&cid('f')).exists());
    // The failed attach made the default bridge at most.
    assert!(root_links(e.root()) <= links0 + 1);
}

#[test]
fn lib_udp_published_port_echoes() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let port = free_port();
    let mut o = on("bridge");
    o.publish = PortSpec::parse(&format!("127.0.0.1:{port}:7/udp")).unwrap();
    attach(e, &cid('1'), "echo", o).unwrap();
    let ns = netns::open(&e.netns_path(&cid('1'))).unwrap();
    // A UDP echo server inside the namespace, on a thread that joined it.
    let sock = netns::run_in(&ns, || UdpSocket::bind("0.0.0.0:7").unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let srv = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = None;
    for _ in 0..3 {
        c.send_to(b"ping-berth", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = c.recv_from(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    assert_eq!(got.as_deref(), Some(&b"ping-berth"[..]));
    let _ = srv.join();
    e.detach(&cid('1')).unwrap();
}

#[test]
fn lib_none_has_only_loopback() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let a = attach(e, &cid('2'), "alone", on("none")).unwrap();
    assert!(a.endpoints.is_empty());
    let ns = e.netns_path(&cid('2'));
    let o = ns_cmd(&ns, &["ip", "-o", "link"]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("lo:") && s.contains("UP"), "{s}");
    e.detach(&cid('2')).unwrap();
    assert!(!ns.exists());
}

#[test]
fn lib_bad_input() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    e.network_create("n1", &NetworkCreate { subnet: Some("10.231.0.0/24".into()), ..Default::default() }).unwrap();
    let err = e
        .network_create("n2", &NetworkCreate { subnet: Some("10.231.0.128/25".into()), ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(err.contains("Pool overlaps"), "{err}");
    let err = e.network_create("n1", &NetworkCreate::default()).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    let err = attach(e, &cid('3'), "x", on("nosuch")).unwrap_err().to_string();
    assert_eq!(err, "network nosuch not found");
    assert!(e.sandbox(&cid('3')).unwrap().is_none());
    // --ip: inside the subnet, once.
    let mut o = on("n1");
    o.ip = Some(Ipv4Addr::new(10, 231, 0, 50));
    let a = attach(e, &cid('4'), "fixed", o.clone()).unwrap();
    assert_eq!(a.ip(), Some(Ipv4Addr::new(10, 231, 0, 50)));
    let err = attach(e, &cid('5'), "fixed2", o).unwrap_err().to_string();
    assert!(err.contains("Address already in use"), "{err}");
    let err = e.network_rm("n1").unwrap_err().to_string();
    assert!(err.contains("has active endpoints"), "{err}");
    let err = e.network_rm("bridge").unwrap_err().to_string();
    assert!(err.contains("pre-defined"), "{err}");
    e.detach(&cid('4')).unwrap();
    e.network_rm("n1").unwrap();
    assert!(e.find_network("n1").is_err());
}

#[test]
fn lib_reconcile_removes_what_a_dead_owner_left() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    e.network_create("rec", &NetworkCreate::default()).unwrap();
    let links0 = root_links(e.root());
    let rules0 = nft_table(e);
    // The owner: a lock file held by a child process that is then SIGKILLed.
    let lock = r._dir.path().join("owner.lock");
    std::fs::write(&lock, "").unwrap();
    // One process holding the lock (fd 9 survives the exec), so killing it frees the lock.
    let mut holder =
        Command::new("sh").args(["-c", "exec 9>\"$0\" && flock 9 && exec sleep 600"]).arg(&lock).spawn().unwrap();
    let t0 = Instant::now();
    while !berth_network::lock_held(&lock) {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut o = on("rec");
    o.publish = PortSpec::parse(&format!("127.0.0.1:{}:80", free_port())).unwrap();
    e.attach(&AttachRequest {
        container_id: cid('6'),
        name: "victim".into(),
        hostname: "victim".into(),
        netns: e.netns_path(&cid('6')),
        create_netns: true,
        owner: Some(lock.clone()),
        opts: o,
    })
    .unwrap();
    e.network_reconcile().unwrap();
    assert!(e.sandbox(&cid('6')).unwrap().is_some(), "a live owner's sandbox was reaped");
    assert!(dns::running(e.root()));
    holder.kill().unwrap();
    holder.wait().unwrap();
    e.network_reconcile().unwrap();
    assert!(e.sandbox(&cid('6')).unwrap().is_none());
    assert_eq!(e.lease_count(), 0);
    assert_eq!(links_settle(e.root(), links0), links0);
    assert_eq!(nft_table(e), rules0);
    assert!(!e.netns_path(&cid('6')).exists());
}

/// Times the network work of a container start and removal (not a pass/fail test): the
/// modes alternate so that drift in the machine's load hits both alike, and medians are
/// reported. `BERTH_TIMING_PAUSE_MS` pauses between rounds (the kernel destroys a released
/// namespace asynchronously; back to back, the next start competes with that work).
#[test]
#[ignore]
fn timing_attach_detach() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    attach(e, &cid('9'), "warm", on("bridge")).unwrap();
    e.detach(&cid('9')).unwrap();
    let pause = std::env::var("BERTH_TIMING_PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let modes = ["none", "bridge"];
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(vec![], vec![]); modes.len()];
    for i in 0..40 {
        for (m, mode) in modes.iter().enumerate() {
            let id = format!("{:064x}", i * 2 + m + 1000);
            let t = Instant::now();
            attach(e, &id, "t", on(mode)).unwrap();
            times[m].0.push(t.elapsed());
            let t = Instant::now();
            e.detach(&id).unwrap();
            times[m].1.push(t.elapsed());
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    for (m, mode) in modes.iter().enumerate() {
        let (a, d) = &mut times[m];
        eprintln!("{mode}: attach {:?}  detach {:?} (medians of {})", median(a), median(d), a.len());
    }
}

// ---- berth run ----------------------------------------------------------------------------

/// A root with the busybox fixture imported (`busybox`, and `web` exposing 80 and 81); on
/// drop every container is force-removed before the root's networks go.
struct Env {
    b: Berth,
}

impl Env {
    fn new() -> Env {
        let b = Berth::new();
        b.import_busybox("busybox");
        let tar = busybox_tar();
        b.ok(&["import", "--change", "EXPOSE 80 81", "--change", "CMD [\"sh\"]", tar.to_str().unwrap(), "web"]);
        Env { b }
    }
    fn engine(&self) -> Engine {
        Engine::open(self.b.root()).unwrap()
    }
    /// A busybox httpd container serving "hello from berth", detached.
    fn httpd(&self, extra: &[&str]) -> String {
        let site = self.b.root().join("www");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("index.html"), "hello from berth\n").unwrap();
        let vol = format!("{}:/www:ro", site.display());
        let mut args = vec!["run", "-d", "-v", &vol];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.b.ok(&args).trim().to_string()
    }
}

impl std::ops::Deref for Env {
    type Target = Berth;
    fn deref(&self) -> &Berth {
        &self.b
    }
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn run_containers_reach_each_other_by_name_on_a_user_network() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    env.ok(&["network", "create", "app"]);
    env.httpd(&["--name", "srv", "--network", "app", "--network-alias", "www"]);
    // By name and by alias, with busybox's wget and nc; names resolve through 127.0.0.11.
    let script = "cat /etc/resolv.conf; \
        for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://srv/ && break; sleep 0.2; done; \
        wget -q -O - http://www/; \
        printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc srv 80 | tail -1; \
        nslookup srv.app 127.0.0.11 | grep '^Address: '";
    let o = env.run(&["run", "--rm", "--network", "app", "busybox", "sh", "-c", script]);
    let s = out(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.starts_with("nameserver 127.0.0.11\n"), "{s}");
    assert_eq!(s.matches("hello from berth").count(), 3, "{s}");
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "srv"]);
    assert!(s.contains(&format!("Address: {}", ip.trim())), "{s}\n(srv is {ip})");
    // Not from the default bridge: names are scoped to the network.
    let o = env.run(&["run", "--rm", "busybox", "sh", "-c", "nslookup srv 127.0.0.11 || wget -q -O - http://srv/"]);
    assert!(!o.status.success(), "{}", out(&o));
    // connect/disconnect a running container.
    let id = env.ok(&["run", "-d", "--name", "late", "busybox", "sleep", "60"]);
    env.ok(&["network", "connect", "--alias", "later", "app", "late"]);
    let o = env.run(&["exec", "late", "wget", "-q", "-O", "-", "http://srv/"]);
    assert!(out(&o).contains("hello from berth"), "{}", out(&o));
    let net = env.ok(&["network", "inspect", "-f", "{{json .Containers}}", "app"]);
    assert!(net.contains(id.trim()), "{net}");
    env.ok(&["network", "disconnect", "app", "late"]);
    let err = env.fails(&["network", "rm", "app"]);
    assert!(err.contains("has active endpoints"), "{err}");
    env.ok(&["rm", "-f", "srv", "late"]);
    env.ok(&["network", "rm", "app"]);
}

#[test]
fn run_publish_answers_on_loopback_and_bridge_and_p_uppercase_picks_free_ports() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    let port = free_port();
    env.httpd(&["--name", "pub", "-p", &format!("127.0.0.1:{port}:80")]);
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).contains("hello from berth"));
    let ip: Ipv4Addr = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pub"]).trim().parse().unwrap();
    assert!(http_get(SocketAddr::from((ip, 80))).contains("hello from berth"));
    assert_eq!(env.ok(&["port", "pub"]), format!("80/tcp -> 127.0.0.1:{port}\n"));
    assert_eq!(env.ok(&["port", "pub", "80"]), format!("127.0.0.1:{port}\n"));
    assert!(env.fails(&["port", "pub", "81"]).contains("No public port '81/tcp' published for pub"));

    // -P: every EXPOSEd port (the image's 80 and 81, and --expose 82) on a free host port.
    let site = env.root().join("www");
    let vol = format!("{}:/www:ro", site.display());
    env.ok(&[
        "run", "-d", "--name", "all", "-P", "--expose", "82", "-v", &vol, "web", "httpd", "-f", "-p", "80", "-h",
        "/www",
    ]);
    let ports = env.ok(&["port", "all"]);
    let lines: Vec<&str> = ports.lines().collect();
    assert_eq!(lines.len(), 3, "{ports}");
    for (l, want) in lines.iter().zip(["80/tcp -> 0.0.0.0:", "81/tcp -> 0.0.0.0:", "82/tcp -> 0.0.0.0:"]) {
        assert!(l.starts_with(want), "{ports}");
    }
    let p80: u16 = lines[0].rsplit(':').next().unwrap().parse().unwrap();
    assert!(p80 >= 1024, "{ports}");
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, p80))).contains("hello from berth"));
    let doc = env.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "all"]);
    assert!(doc.contains(&format!("\"HostPort\":\"{p80}\"")), "{doc}");

    // ps: Docker's PORTS column and {{.Ports}}: bindings as HOSTIP:HOSTPORT->PORT/PROTO,
    // exposed ports nothing publishes as PORT/PROTO.
    assert_eq!(
        env.ok(&["ps", "--filter", "name=pub", "--format", "{{.Ports}}"]),
        format!("127.0.0.1:{port}->80/tcp\n")
    );
    let want: Vec<String> = lines
        .iter()
        .map(|l| {
            let (ctr, host) = l.split_once(" -> ").unwrap();
            format!("{host}->{ctr}")
        })
        .collect();
    assert_eq!(env.ok(&["ps", "--filter", "name=all", "--format", "{{.Ports}}"]), format!("{}\n", want.join(", ")));
    let table = env.ok(&["ps", "--filter", "name=pub"]);
    assert!(table.lines().next().unwrap().contains("PORTS"), "{table}");
    assert!(table.contains(&format!("127.0.0.1:{port}->80/tcp")), "{table}");
    env.ok(&["run", "-d", "--name", "exposed", "web", "sleep", "60"]);
    assert_eq!(env.ok(&["ps", "--filter", "name=exposed", "--format", "{{.Ports}}"]), "80-81/tcp\n"); // Docker folds runs of ports
    let json = env.ok(&["ps", "--filter", "name=pub", "--format", "json"]);
    assert!(json.contains(&format!("\"Ports\":\"127.0.0.1:{port}->80/tcp\"")), "{json}");
    env.ok(&["stop", "-t", "0", "exposed"]);
    // A stopped container publishes nothing.
    assert_eq!(env.ok(&["ps", "-a", "--filter", "name=exposed", "--format", "{{.Ports}}"]), "\n");
}

#[test]
fn run_udp_published_port() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    let port = free_port();
    env.ok(&["run", "-d", "--name", "udp", "-p", &format!("127.0.0.1:{port}:7/udp"), "busybox", "sleep", "60"]);
    assert_eq!(env.ok(&["port", "udp"]), format!("7/udp -> 127.0.0.1:{port}\n"));
    // busybox's nc has no UDP: the echo server runs in the container's namespace, on a
    // thread of this test that joined it (the namespace is the container's SandboxKey).
    let key = env.ok(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "udp"]);
    let ns = netns::open(Path::new(key.trim())).unwrap();
    let sock = netns::run_in(&ns, || UdpSocket::bind("0.0.0.0:7").unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let srv = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], from);
        }
    });
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"ping-berth", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = c.recv_from(&mut buf).expect("the echo through the published UDP port");
    assert_eq!(&buf[..n], b"ping-berth");
    let _ = srv.join();
}

#[test]
fn run_network_none_host_and_container_modes() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    let s = env.ok(&["run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"]);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("lo:") && s.contains("UP"), "{s}");
    let s = env.ok(&["run", "--rm", "busybox", "ip", "-o", "-4", "addr"]);
    assert!(s.contains("eth0") && s.contains("inet 1"), "{s}");
    // --network container:NAME shares the other's namespace (its loopback too).
    env.httpd(&["--name", "base"]);
    let o = env.run(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1/ && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert!(out(&o).contains("hello from berth"), "{}", out(&o));
    // --add-host and --dns are written where the container reads them.
    let s = env.ok(&[
        "run",
        "--rm",
        "--add-host",
        "db.local:10.9.8.7",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "192.0.2.53",
        "busybox",
        "cat",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]);
    assert!(s.contains("10.9.8.7\tdb.local\n"), "{s}");
    assert!(s.contains("nameserver 192.0.2.53\n"), "{s}");
    let gw = env.engine().find_network("bridge").unwrap().gateway;
    assert!(s.contains(&format!("{gw}\tgw\n")), "{s}");
}

#[test]
fn run_embedded_dns_forwards_other_names() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    // A fake upstream resolver on loopback: every A query gets 198.51.100.7.
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_port = up.local_addr().unwrap().port();
    up.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let srv = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = up.recv_from(&mut buf) else { continue };
            let q = &buf[..n];
            let mut r = q.to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
            if qtype == 1 {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
            }
            let _ = up.send_to(&r, from);
        }
    });
    env.ok(&["network", "create", "fwd"]);
    let o = env
        .cmd()
        .env("BERTH_DNS_UPSTREAM", format!("127.0.0.1:{up_port}"))
        .args(["run", "--rm", "--network", "fwd", "busybox", "nslookup", "example.invalid"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = srv.join();
    assert!(out(&o).contains("198.51.100.7"), "{}", out(&o));
}

#[test]
fn run_bad_input_fails_cleanly() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    let e = env.engine();
    // A host port in use: the container does not start and nothing is left configured.
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let links0 = root_links(e.root());
    let o = env.run(&["run", "--name", "busy", "-p", &format!("{port}:80"), "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", out(&o));
    assert!(out(&o).contains(&format!("0.0.0.0:{port}: bind: address already in use")), "{}", out(&o));
    let st = env.ok(&["inspect", "-f", "{{.State.Status}}", "busy"]);
    assert_eq!(st.trim(), "created");
    assert!(e.sandboxes().unwrap().is_empty());
    assert_eq!(e.lease_count(), 0);
    assert!(links_settle(e.root(), links0 + 1) <= links0 + 1); // the default bridge, made on first use
    drop(l);
    // Unknown network.
    let err = env.fails(&["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert!(err.contains("network nosuch not found"), "{err}");
    // Overlapping subnets, and a network in use.
    env.ok(&["network", "create", "--subnet", "10.232.0.0/16", "a"]);
    let err = env.fails(&["network", "create", "--subnet", "10.232.5.0/24", "b"]);
    assert!(err.contains("Pool overlaps with other one on this address space"), "{err}");
    env.ok(&["run", "-d", "--name", "user", "--network", "a", "busybox", "sleep", "60"]);
    let err = env.fails(&["network", "rm", "a"]);
    assert!(err.contains("has active endpoints"), "{err}");
    // Unknown networks, wherever a network is named.
    for args in
        [&["network", "rm", "nosuch"][..], &["network", "inspect", "nosuch"], &["network", "connect", "nosuch", "user"]]
    {
        let err = env.fails(args);
        assert!(err.contains("network nosuch not found"), "{args:?}: {err}");
    }
    let err = env.fails(&["network", "rm", "bridge"]);
    assert!(err.contains("pre-defined network"), "{err}");
    let err = env.fails(&["run", "--rm", "--ip", "10.232.0.9", "busybox", "true"]);
    assert!(err.contains("user defined networks only"), "{err}");
    let err = env.fails(&["run", "--rm", "-p", "x:80", "busybox", "true"]);
    assert!(err.contains("invalid port specification"), "{err}");
}

#[test]
fn run_batch_leaves_links_rules_and_leases_as_they_were() {
    let Some(_serial) = serial() else { return };
    let env = Env::new();
    let e = env.engine();
    env.ok(&["network", "create", "batch"]);
    // Warm up: the default bridge exists from here on, as docker0 does.
    env.ok(&["run", "--rm", "busybox", "true"]);
    let links0 = root_links(e.root());
    let rules0 = nft_table(&e);
    let mut ids = Vec::new();
    for i in 0..6 {
        let mut args = vec!["run", "-d"];
        let p = format!("127.0.0.1::{}", 80 + i);
        if i % 2 == 0 {
            args.extend_from_slice(&["--network", "batch"]);
        }
        args.extend_from_slice(&["-p", &p, "busybox", "sleep", "60"]);
        ids.push(env.ok(&args).trim().to_string());
    }
    env.ok(&["run", "--rm", "-p", "80", "busybox", "true"]);
    assert_eq!(e.lease_count(), 6);
    assert!(root_links(e.root()) >= links0 + 6);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.ok(&args);
    assert_eq!(e.lease_count(), 0);
    assert!(e.sandboxes().unwrap().is_empty());
    assert_eq!(links_settle(e.root(), links0), links0, "links left behind");
    assert_eq!(nft_table(&e), rules0, "rules left behind");
    let t0 = Instant::now();
    while dns::running(e.root()) && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dns::running(e.root()), "the DNS server outlived its last container");
}

/// The rules berth's iptables backend owns for a root: every line of `iptables-save` that
/// names one of its chains (`BERTH_<TAG>-PRE`, `-POST`, `-FWD`, `-GUARD`).
fn iptables_rules(e: &Engine) -> Vec<String> {
    let prefix = format!("{}-", e.firewall().name.to_ascii_uppercase());
    let o = Command::new("iptables-save").stderr(Stdio::null()).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(&prefix)).map(String::from).collect()
}

#[test]
fn run_with_the_iptables_backend_publishes_and_forwards_and_cleans_up() {
    let Some(_serial) = serial() else { return };
    if !berth_tests::have("iptables-restore") {
        eprintln!("skipped: iptables is not installed");
        return;
    }
    let env = Env::new();
    let e = env.engine();
    // BERTH_FIREWALL picks the backend on a root's first network; the root records it.
    let o = env.cmd().env("BERTH_FIREWALL", "iptables").args(["network", "create", "ipt"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(e.firewall().backend, berth_network::firewall::Backend::Iptables);
    assert_eq!(std::fs::read_to_string(e.network_dir().join("firewall")).unwrap().trim(), "iptables");
    assert!(nft_table(&e).is_empty(), "the nftables backend was used: {}", nft_table(&e));
    let rules0 = iptables_rules(&e);
    assert!(rules0.iter().any(|r| r.contains("MASQUERADE")), "{rules0:?}");

    // -p through iptables DNAT: from the host's loopback and from another container.
    let port = free_port();
    env.httpd(&["--name", "ipsrv", "--network", "ipt", "-p", &format!("{port}:80")]);
    let rules = iptables_rules(&e);
    assert!(rules.iter().any(|r| r.contains(&format!("--dport {port} ")) && r.contains("DNAT")), "{rules:?}");
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).contains("hello from berth"));
    let gw = env.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.ipt.Gateway}}", "ipsrv"]);
    let gw = gw.trim();
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://ipsrv/ && break; sleep 0.2; done; \
         wget -q -O - http://{gw}:{port}/"
    );
    let o = env.run(&["run", "--rm", "--network", "ipt", "busybox", "sh", "-c", &script]);
    assert_eq!(out(&o).matches("hello from berth").count(), 2, "{}", out(&o));
    // rm takes the port's rules with it; removing the last network takes the chains.
    env.ok(&["rm", "-f", "ipsrv"]);
    let rules = iptables_rules(&e);
    assert!(!rules.iter().any(|r| r.contains(&format!("--dport {port} "))), "port left published: {rules:?}");
    assert!(e.sandboxes().unwrap().is_empty());
    assert_eq!(e.lease_count(), 0);
    env.ok(&["network", "rm", "ipt"]);
    env.ok(&["network", "reset", "--force"]);
    assert!(iptables_rules(&e).is_empty(), "rules left behind: {:?}", iptables_rules(&e));
    let o = Command::new("iptables-save").stderr(Stdio::null()).output().unwrap();
    let chain = format!(":{}-", e.firewall().name.to_ascii_uppercase());
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&chain), "chains left behind");
}
