//! Container networks, as root: the library (namespaces made by berth's helper, probed with
//! busybox through `nsenter`) and `berth run`/`network`/`port` end to end. Traffic goes only
//! to loopback and to the addresses of the networks the tests create; every network, link,
//! rule and process a test makes is gone when it ends.

use berth_engine::network::{dns, netns, AttachRequest, NetworkCreate, NetworkOpts, PortSpec};
use berth_engine::Engine;
use berth_tests::{busybox_tar, free_port, is_root, Berth, ChildGuard};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
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

fn link_count() -> usize {
    let o = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().count()
}

/// The link count once the kernel has finished destroying released namespaces (their veths
/// go with them, asynchronously): polls until it reaches `want` or 10 s pass.
fn links_settle(want: usize) -> usize {
    let t0 = Instant::now();
    loop {
        let n = link_count();
        if n == want || t0.elapsed() > Duration::from_secs(10) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn nft_table(e: &Engine) -> String {
    let o = Command::new("nft").args(["list", "table", "ip", &e.firewall().name]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn cid(c: char) -> String {
    c.to_string().repeat(64)
}

fn attach(e: &Engine, id: &str, name: &str, o: NetworkOpts) -> berth_engine::Result<berth_engine::network::Attached> {
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

/// GET / over plain TCP from the calling (host) namespace; retried while the server starts.
fn http_get(addr: SocketAddr) -> String {
    let t0 = Instant::now();
    loop {
        let r = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match r {
            Ok(s) if !s.is_empty() => return s,
            _ if t0.elapsed() > Duration::from_secs(10) => panic!("no HTTP answer from {addr}: {r:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
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
    e.network_create("front", &NetworkCreate::default()).unwrap();
    let links0 = link_count();
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
    assert_eq!(links_settle(links0), links0, "links left behind");
    assert_eq!(nft_table(e), rules0, "rules left behind");
    assert!(!ns_a.exists() && !ns_b.exists(), "namespaces left behind");
}

#[test]
fn lib_publish_on_loopback_bridge_and_hairpin() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let links0 = link_count();
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
    assert_eq!(links_settle(links0 + 1), links0 + 1);
    assert!(!nft_table(e).contains(&format!(". {port} :")), "port left published");
}

#[test]
fn lib_host_port_in_use_is_a_clean_error() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let links0 = link_count();
    let mut o = on("bridge");
    o.publish = PortSpec::parse(&format!("{port}:80")).unwrap();
    let err = attach(e, &cid('f'), "busy", o).unwrap_err().to_string();
    assert!(err.contains("address already in use"), "{err}");
    assert!(e.sandbox(&cid('f')).unwrap().is_none());
    assert_eq!(e.lease_count(), 0);
    assert!(!e.netns_path(&cid('f')).exists());
    // The failed attach made the default bridge at most.
    assert!(link_count() <= links0 + 1);
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
    let links0 = link_count();
    let rules0 = nft_table(e);
    // The owner: a lock file held by a child process that is then SIGKILLed.
    let lock = r._dir.path().join("owner.lock");
    std::fs::write(&lock, "").unwrap();
    // One process holding the lock (fd 9 survives the exec), so killing it frees the lock.
    let mut holder =
        Command::new("sh").args(["-c", "exec 9>\"$0\" && flock 9 && exec sleep 600"]).arg(&lock).spawn().unwrap();
    let t0 = Instant::now();
    while !lock_held(&lock) {
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
    assert_eq!(links_settle(links0), links0);
    assert_eq!(nft_table(e), rules0);
    assert!(!e.netns_path(&cid('6')).exists());
}

fn lock_held(p: &Path) -> bool {
    let f = std::fs::File::open(p).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on our own fd.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        false
    } else {
        true
    }
}

#[allow(dead_code)]
fn unused(_: PathBuf, _: &Berth) {
    let _ = busybox_tar;
}

/// Times the network work of a container start and removal (not a pass/fail test).
#[test]
#[ignore]
fn timing_attach_detach() {
    let Some(_serial) = serial() else { return };
    let r = Root::new();
    let e = &r.engine;
    attach(e, &cid('9'), "warm", on("bridge")).unwrap();
    e.detach(&cid('9')).unwrap();
    for mode in ["none", "bridge", "none", "bridge"] {
        let n = 20;
        let (mut ta, mut td) = (Duration::ZERO, Duration::ZERO);
        for i in 0..n {
            let id = format!("{:064x}", i + 1000);
            let t = Instant::now();
            attach(e, &id, "t", on(mode)).unwrap();
            ta += t.elapsed();
            let t = Instant::now();
            e.detach(&id).unwrap();
            td += t.elapsed();
        }
        eprintln!("{mode}: attach {:?}  detach {:?}", ta / n, td / n);
    }
}
