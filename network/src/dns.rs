//! The embedded DNS server: containers on user-defined networks resolve each other by
//! container name, short id and `--network-alias`, at 127.0.0.11 as Docker's do; every
//! other name is forwarded to the host's resolvers (or the container's `--dns`).
//!
//! Daemonless, so one small server process per state root (`berth network dns-serve`,
//! re-executed, detached like a shim) serves every container of the root, and exits when
//! none needs it. The trick that makes 127.0.0.11 cheap: 127.0.0.0/8 is local on each
//! container's own loopback, so the server binds a UDP and a TCP socket to 127.0.0.11:53
//! *inside* each container's namespace (from a thread that joins it for the `bind`): no
//! DNAT rule, no process per container. Which container asked is then simply which socket
//! the query arrived on, so answers are scoped to the networks that container is on. The
//! server itself stays in the host's namespace, so it can forward to a loopback resolver
//! (127.0.0.53) that containers could not reach.
//!
//! Coordination is a Unix socket (`<root>/network/dns.sock`): `attach`/`detach` write the
//! sandbox record, then send `sync`, and the server rescans the records, binds or drops
//! sockets, and answers `ok` — so a name resolves from the moment the container starts.
//! The server holds `dns.lock` for its life; a client finding no server starts one.
//!
//! Messages are parsed by hand: only the header and the (single) question are read, and
//! answers point back at the question's name; forwarded replies are relayed as they are,
//! with only their id restored.

use super::{netns, Networks, Sandbox, DNS_ADDR};
use crate::kernel::Kernel;
use crate::{Error, Result};
use fs4::fs_std::FileExt;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: u32 = 600;
const T_A: u16 = 1;
const T_PTR: u16 = 12;
const T_AAAA: u16 = 28;
const T_ANY: u16 = 255;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

fn sock_path(root: &Path) -> PathBuf {
    root.join("network").join("dns.sock")
}

fn lock_path(root: &Path) -> PathBuf {
    root.join("network").join("dns.lock")
}

/// The berth binary (the DNS server is a re-exec of it). `BERTH_EXE` overrides; from a
/// test executable, the `berth` built beside it.
pub fn berth_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_EXE") {
        return Ok(p.into());
    }
    // A shim runs from a sealed view whose path means nothing outside its own mount.
    if berth_sys::sealed::running_sealed() {
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    let exe = std::env::current_exe().map_err(|e| Error::Other(format!("finding the berth binary: {e}")))?;
    if exe.file_name().is_some_and(|n| n == "berth") {
        return Ok(exe);
    }
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for cand in [dir.join("berth"), dir.join("../berth")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Ok(exe)
}

pub(crate) fn request(root: &Path, what: &str) -> std::io::Result<()> {
    let mut s = UnixStream::connect(sock_path(root))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{what}\n").as_bytes())?;
    let mut buf = [0u8; 3];
    s.read_exact(&mut buf)?;
    if &buf != b"ok\n" {
        return Err(std::io::Error::other("unexpected reply from the DNS server"));
    }
    Ok(())
}

/// Tells the root's DNS server that sandboxes changed (starting it if some sandbox needs
/// it); returns once it serves the new state.
pub fn sync<K: Kernel>(e: &Networks<K>) -> Result<()> {
    let root = e.root();
    let k = e.kernel();
    if k.dns_request(root, "sync").is_ok() {
        return Ok(());
    }
    if !e.sandboxes()?.iter().any(Sandbox::needs_dns) {
        return Ok(());
    }
    k.dns_spawn(root)?;
    let t0 = Instant::now();
    let mut delay = Duration::from_millis(2);
    loop {
        match k.dns_request(root, "sync") {
            Ok(()) => return Ok(()),
            Err(err) if t0.elapsed() > Duration::from_secs(5) => {
                return Err(Error::Other(format!("the embedded DNS server did not start: {err}")))
            }
            Err(_) => {}
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// Starts the root's DNS server if it is not running, without waiting for it. Called by the
/// CLI before it spawns a container's supervisor: a server started from the supervisor would
/// become its child (the supervisor is a subreaper) and share its process bookkeeping.
pub fn ensure_running<K: Kernel>(e: &Networks<K>) -> Result<()> {
    if running(e.root()) {
        return Ok(());
    }
    std::fs::create_dir_all(e.dir()).map_err(|err| Error::io(e.dir(), err))?;
    e.kernel().dns_spawn(e.root())
}

/// Asks the root's DNS server to exit (when resetting a root).
pub fn stop<K: Kernel>(e: &Networks<K>) {
    let _ = e.kernel().dns_request(e.root(), "stop");
    // It exits right after answering; wait for its lock so nothing of it outlives us.
    let t0 = Instant::now();
    while super::lock_held(&lock_path(e.root())) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a DNS server is running for this root.
pub fn running(root: &Path) -> bool {
    super::lock_held(&lock_path(root))
}

pub(crate) fn spawn(root: &Path) -> Result<()> {
    let exe = berth_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("network").join("dns.log"))
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null());
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root").arg(root).arg("network").arg("dns-serve");
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(log);
    // The server is nobody's child and outlives the caller.
    berth_sys::process::detach_on_spawn(&mut cmd, None);
    super::firewall::spawn_in_own_pid_ns(cmd, |mut child| child.wait())
        .map_err(|e| Error::Other(format!("starting the DNS server: {e}")))?;
    Ok(())
}

// ---- the server ---------------------------------------------------------------------------

/// One name record: who answers to what, on which network.
#[derive(Clone, Debug)]
struct Record {
    network_id: String,
    network: String,
    names: Vec<String>,
    ip: Ipv4Addr,
}

/// What the server knows: records, and per container the networks it may see.
#[derive(Default)]
struct Names {
    records: Vec<Record>,
    scopes: HashMap<String, Vec<String>>,
    upstreams: HashMap<String, Vec<SocketAddr>>,
    default_upstreams: Vec<SocketAddr>,
}

enum Answer {
    Reply(Vec<u8>),
    Forward(Vec<SocketAddr>),
}

impl Names {
    fn build(sandboxes: &[Sandbox]) -> Names {
        let mut n = Names { default_upstreams: default_upstreams(), ..Default::default() };
        for sb in sandboxes {
            let mut scope = Vec::new();
            for ep in sb.endpoints.iter().filter(|e| e.user_defined) {
                scope.push(ep.network_id.clone());
                let Some(ip) = ep.ip else { continue };
                let mut names = vec![sb.name.to_ascii_lowercase(), sb.short_id().to_string()];
                names.extend(ep.aliases.iter().map(|a| a.to_ascii_lowercase()));
                n.records.push(Record { network_id: ep.network_id.clone(), network: ep.network.clone(), names, ip });
            }
            n.scopes.insert(sb.container_id.clone(), scope);
            let ups: Vec<SocketAddr> = sb.dns.iter().filter_map(|d| parse_server(d)).collect();
            if !ups.is_empty() {
                n.upstreams.insert(sb.container_id.clone(), ups);
            }
        }
        n
    }

    /// Answers a query from container `cid`, or says where to forward it.
    fn answer(&self, cid: &str, msg: &[u8]) -> Option<Answer> {
        let q = parse_query(msg)?;
        let scope = self.scopes.get(cid).cloned().unwrap_or_default();
        let visible = |r: &&Record| scope.contains(&r.network_id);
        let name = q.name.trim_end_matches('.').to_ascii_lowercase();
        if q.qtype == T_PTR {
            if let Some(ip) = ptr_ip(&name) {
                if let Some(r) = self.records.iter().filter(visible).find(|r| r.ip == ip) {
                    let target = format!("{}.{}.", r.names[0], r.network);
                    return Some(Answer::Reply(reply(&q, msg, 0, &[(T_PTR, encode_name(&target))])));
                }
            }
        } else {
            let hits: Vec<&Record> = self
                .records
                .iter()
                .filter(visible)
                .filter(|r| {
                    r.names.contains(&name)
                        || name
                            .strip_suffix(&format!(".{}", r.network.to_ascii_lowercase()))
                            .is_some_and(|short| r.names.iter().any(|n| n == short))
                })
                .collect();
            if !hits.is_empty() {
                let mut ips: Vec<Ipv4Addr> = hits.iter().map(|r| r.ip).collect();
                ips.dedup();
                let answers: Vec<(u16, Vec<u8>)> = if q.qtype == T_A || q.qtype == T_ANY {
                    ips.iter().map(|ip| (T_A, ip.octets().to_vec())).collect()
                } else {
                    Vec::new() // known name, no record of that type (AAAA): NOERROR, empty
                };
                return Some(Answer::Reply(reply(&q, msg, 0, &answers)));
            }
        }
        let ups = self.upstreams.get(cid).cloned().unwrap_or_else(|| self.default_upstreams.clone());
        if ups.is_empty() {
            return Some(Answer::Reply(reply(&q, msg, RCODE_SERVFAIL, &[])));
        }
        Some(Answer::Forward(ups))
    }
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

/// `BERTH_DNS_UPSTREAM` (comma-separated `ip[:port]`), else the host's nameservers.
fn default_upstreams() -> Vec<SocketAddr> {
    if let Ok(v) = std::env::var("BERTH_DNS_UPSTREAM") {
        return v.split(',').filter_map(|s| parse_server(s.trim())).collect();
    }
    super::host_resolv().nameservers.iter().filter_map(|s| parse_server(s)).filter(|a| a.ip() != DNS_ADDR).collect()
}

/// A sandbox the server listens in.
struct Binding {
    cid: String,
    udp: UdpSocket,
    tcp: TcpListener,
}

fn bind_in(ns_path: &Path) -> std::io::Result<(UdpSocket, TcpListener)> {
    let ns = netns::open(ns_path)?;
    netns::run_in(&ns, || -> std::io::Result<(UdpSocket, TcpListener)> {
        let addr = SocketAddrV4::new(DNS_ADDR, 53);
        let udp = UdpSocket::bind(addr)?;
        let tcp = TcpListener::bind(addr)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })?
}

struct Pending {
    binding: String,
    client: SocketAddr,
    id: u16,
    at: Instant,
}

/// Entry point of `berth network dns-serve`: serves until no sandbox needs it.
pub fn serve(e: &Networks) -> Result<()> {
    let root = e.root();
    let lp = lock_path(root);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lp)
        .map_err(|err| Error::io(&lp, err))?;
    // A server that is exiting still holds the lock for a moment: wait for it.
    let t0 = Instant::now();
    loop {
        if matches!(FileExt::try_lock_exclusive(&lock), Ok(true)) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            return Ok(()); // another server is alive and well
        }
        if UnixStream::connect(sock_path(root)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sp = sock_path(root);
    let _ = std::fs::remove_file(&sp);
    let ctl = UnixListener::bind(&sp).map_err(|err| Error::io(&sp, err))?;
    ctl.set_nonblocking(true).map_err(|err| Error::io(&sp, err))?;
    let upstream =
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|err| Error::Other(format!("upstream socket: {err}")))?;
    upstream.set_nonblocking(true).map_err(|err| Error::Other(err.to_string()))?;
    let names = Arc::new(Mutex::new(Names::default()));
    let mut bindings: Vec<Binding> = Vec::new();
    let mut pending: HashMap<u16, Pending> = HashMap::new();
    let mut next_id: u16 = rand::random();
    let mut buf = vec![0u8; 4096];
    rescan(e, &mut bindings, &names);
    let mut idle_since = bindings.is_empty().then(Instant::now);
    let mut last_scan = Instant::now();
    loop {
        if let Some(t) = idle_since {
            if t.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        // Sandboxes whose owner died without a sync (their records reconciled away by some
        // later command, or the whole root deleted) must not keep the server alive.
        if last_scan.elapsed() > Duration::from_secs(2) {
            if !sp.exists() {
                break;
            }
            rescan(e, &mut bindings, &names);
            last_scan = Instant::now();
            idle_since = if bindings.is_empty() { idle_since.or_else(|| Some(Instant::now())) } else { None };
        }
        // Which of ctl, upstream and each binding's UDP and TCP sockets are readable (empty
        // on a timeout); the borrows end here, before the bindings may change.
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = [ctl.as_fd(), upstream.as_fd()]
                .into_iter()
                .chain(bindings.iter().flat_map(|b| [b.udp.as_fd(), b.tcp.as_fd()]))
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(500u16)) {
                Ok(n) if n > 0 => fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect(),
                _ => Vec::new(),
            }
        };
        pending.retain(|_, p| p.at.elapsed() < Duration::from_secs(10));
        if ready.is_empty() {
            continue;
        }
        if ready[0] {
            let mut stop = false;
            while let Ok((mut s, _)) = ctl.accept() {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = [0u8; 16];
                let n = s.read(&mut line).unwrap_or(0);
                let cmd = String::from_utf8_lossy(&line[..n]).trim().to_string();
                match cmd.as_str() {
                    "stop" => stop = true,
                    _ => rescan(e, &mut bindings, &names),
                }
                let _ = s.write_all(b"ok\n");
            }
            if stop {
                break;
            }
            idle_since = if bindings.is_empty() { idle_since.or_else(|| Some(Instant::now())) } else { None };
            continue; // the bindings changed: the fds above are stale
        }
        if ready[1] {
            while let Ok((len, _)) = upstream.recv_from(&mut buf) {
                if len < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                if let Some(p) = pending.remove(&id) {
                    buf[0..2].copy_from_slice(&p.id.to_be_bytes());
                    if let Some(b) = bindings.iter().find(|b| b.cid == p.binding) {
                        let _ = b.udp.send_to(&buf[..len], p.client);
                    }
                }
            }
        }
        for (i, b) in bindings.iter().enumerate() {
            if ready[2 + 2 * i] {
                while let Ok((len, client)) = b.udp.recv_from(&mut buf) {
                    let ans = names.lock().unwrap().answer(&b.cid, &buf[..len]);
                    match ans {
                        Some(Answer::Reply(r)) => {
                            let _ = b.udp.send_to(&r, client);
                        }
                        Some(Answer::Forward(ups)) => {
                            next_id = next_id.wrapping_add(1);
                            let orig = u16::from_be_bytes([buf[0], buf[1]]);
                            let mut m = buf[..len].to_vec();
                            m[0..2].copy_from_slice(&next_id.to_be_bytes());
                            pending.insert(
                                next_id,
                                Pending { binding: b.cid.clone(), client, id: orig, at: Instant::now() },
                            );
                            let _ = upstream.send_to(&m, ups[0]);
                        }
                        None => {}
                    }
                }
            }
            if ready[3 + 2 * i] {
                while let Ok((s, _)) = b.tcp.accept() {
                    let names = names.clone();
                    let cid = b.cid.clone();
                    std::thread::spawn(move || serve_tcp(s, &cid, &names));
                }
            }
        }
    }
    drop(ctl);
    let _ = std::fs::remove_file(&sp);
    drop(lock);
    Ok(())
}

fn rescan(e: &Networks, bindings: &mut Vec<Binding>, names: &Arc<Mutex<Names>>) {
    let sandboxes: Vec<Sandbox> = e.sandboxes().unwrap_or_default().into_iter().filter(Sandbox::needs_dns).collect();
    bindings.retain(|b| sandboxes.iter().any(|s| s.container_id == b.cid));
    for sb in &sandboxes {
        if bindings.iter().any(|b| b.cid == sb.container_id) {
            continue;
        }
        match bind_in(&sb.netns) {
            Ok((udp, tcp)) => bindings.push(Binding { cid: sb.container_id.clone(), udp, tcp }),
            Err(err) => eprintln!("berth dns: {}: binding {DNS_ADDR}:53: {err}", sb.short_id()),
        }
    }
    *names.lock().unwrap() = Names::build(&sandboxes);
}

/// DNS over TCP (length-prefixed messages), on its own thread: rare, and may wait on an
/// upstream.
fn serve_tcp(mut s: TcpStream, cid: &str, names: &Mutex<Names>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if s.read_exact(&mut msg).is_err() {
            return;
        }
        let ans = names.lock().unwrap().answer(cid, &msg);
        let reply = match ans {
            Some(Answer::Reply(r)) => r,
            Some(Answer::Forward(ups)) => match forward_tcp(ups[0], &msg) {
                Some(r) => r,
                None => return,
            },
            None => return,
        };
        let mut out = (reply.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn forward_tcp(up: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let mut u = TcpStream::connect_timeout(&up, Duration::from_secs(3)).ok()?;
    u.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    u.write_all(&out).ok()?;
    let mut len = [0u8; 2];
    u.read_exact(&mut len).ok()?;
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    u.read_exact(&mut r).ok()?;
    Some(r)
}

// ---- wire format --------------------------------------------------------------------------

struct Query {
    id: u16,
    flags: u16,
    name: String,
    qtype: u16,
    /// End of the question section in the message.
    q_end: usize,
}

fn parse_query(m: &[u8]) -> Option<Query> {
    if m.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([m[0], m[1]]);
    let flags = u16::from_be_bytes([m[2], m[3]]);
    let qd = u16::from_be_bytes([m[4], m[5]]);
    if flags & 0x8000 != 0 || qd != 1 || (flags >> 11) & 0xf != 0 {
        return None; // a response, not one question, or not a standard query
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let l = *m.get(i)? as usize;
        if l == 0 {
            i += 1;
            break;
        }
        if l & 0xc0 != 0 || labels.len() > 127 {
            return None; // questions are not compressed
        }
        labels.push(String::from_utf8_lossy(m.get(i + 1..i + 1 + l)?).into_owned());
        i += 1 + l;
    }
    let qtype = u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]);
    m.get(i + 3)?;
    Some(Query { id, flags, name: labels.join("."), qtype, q_end: i + 4 })
}

fn reply(q: &Query, m: &[u8], rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let rcode = if rcode == 0 && answers.is_empty() && q.qtype == T_PTR { RCODE_NXDOMAIN } else { rcode };
    let flags: u16 = 0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | rcode as u16;
    let mut r = Vec::with_capacity(q.q_end + 32 * answers.len());
    r.extend_from_slice(&q.id.to_be_bytes());
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&m[12..q.q_end]);
    for (t, data) in answers {
        r.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(data);
    }
    r
}

fn encode_name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in n.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// `4.3.2.1.in-addr.arpa` -> 1.2.3.4.
fn ptr_ip(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rest.split('.').map(|p| p.parse().ok()).collect::<Option<Vec<u8>>>()?;
    (o.len() == 4).then(|| Ipv4Addr::new(o[3], o[2], o[1], o[0]))
}

/// A query message, for tests and probes.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&encode_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// The A records of a reply (for tests and probes).
pub fn answers_a(m: &[u8]) -> Vec<Ipv4Addr> {
    let Some(q) = parse_reply_question_end(m) else { return vec![] };
    let an = u16::from_be_bytes([m[6], m[7]]);
    let mut i = q;
    let mut out = Vec::new();
    for _ in 0..an {
        // name: a pointer or labels
        loop {
            let Some(&l) = m.get(i) else { return out };
            if l & 0xc0 == 0xc0 {
                i += 2;
                break;
            }
            i += 1 + l as usize;
            if l == 0 {
                break;
            }
        }
        let Some(h) = m.get(i..i + 10) else { return out };
        let t = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        i += 10;
        if t == T_A && len == 4 {
            if let Some(d) = m.get(i..i + 4) {
                out.push(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
            }
        }
        i += len;
    }
    out
}

/// The rcode of a reply.
pub fn rcode(m: &[u8]) -> u8 {
    m.get(3).map(|b| b & 0xf).unwrap_or(0xff)
}

fn parse_reply_question_end(m: &[u8]) -> Option<usize> {
    if m.len() < 12 {
        return None;
    }
    let mut i = 12;
    loop {
        let l = *m.get(i)? as usize;
        if l == 0 {
            return Some(i + 5);
        }
        if l & 0xc0 == 0xc0 {
            return Some(i + 6);
        }
        i += 1 + l;
    }
}

/// Query types, for callers building probes.
pub mod qtype {
    pub const A: u16 = super::T_A;
    pub const AAAA: u16 = super::T_AAAA;
    pub const PTR: u16 = super::T_PTR;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoint;

    fn names() -> Names {
        let ep = |net: &str, ip: [u8; 4], aliases: &[&str]| Endpoint {
            network: net.into(),
            network_id: format!("id-{net}"),
            ip: Some(Ipv4Addr::from(ip)),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            user_defined: true,
            ..Default::default()
        };
        let sbs = vec![
            Sandbox {
                container_id: "a".repeat(64),
                name: "web".into(),
                endpoints: vec![ep("front", [10, 1, 0, 2], &["www"])],
                ..Default::default()
            },
            Sandbox {
                container_id: "b".repeat(64),
                name: "client".into(),
                endpoints: vec![ep("front", [10, 1, 0, 3], &[])],
                ..Default::default()
            },
            Sandbox {
                container_id: "c".repeat(64),
                name: "other".into(),
                endpoints: vec![ep("back", [10, 2, 0, 2], &[])],
                ..Default::default()
            },
        ];
        let mut n = Names::build(&sbs);
        n.default_upstreams = vec![];
        n
    }

    fn ask(n: &Names, cid: char, name: &str, t: u16) -> Vec<u8> {
        match n.answer(&cid.to_string().repeat(64), &build_query(7, name, t)) {
            Some(Answer::Reply(r)) => r,
            _ => panic!("expected a reply"),
        }
    }

    #[test]
    fn resolves_names_and_aliases_within_networks() {
        let n = names();
        assert_eq!(answers_a(&ask(&n, 'b', "web", T_A)), vec![Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(answers_a(&ask(&n, 'b', "WWW.", T_A)), vec![Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(answers_a(&ask(&n, 'b', "web.front", T_A)), vec![Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(answers_a(&ask(&n, 'b', "aaaaaaaaaaaa", T_A)), vec![Ipv4Addr::new(10, 1, 0, 2)]);
        let r = ask(&n, 'b', "web", T_AAAA);
        assert_eq!((rcode(&r), answers_a(&r).len()), (0, 0));
        // Not visible from another network: forwarded, and with no upstream, SERVFAIL.
        assert_eq!(rcode(&ask(&n, 'c', "web", T_A)), RCODE_SERVFAIL);
        let r = ask(&n, 'b', "2.0.1.10.in-addr.arpa", T_PTR);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), 7);
    }

    #[test]
    fn forwards_unknown_names() {
        let mut n = names();
        n.default_upstreams = vec!["127.0.0.1:5353".parse().unwrap()];
        match n.answer(&"b".repeat(64), &build_query(1, "example.org", T_A)) {
            Some(Answer::Forward(u)) => assert_eq!(u[0].port(), 5353),
            _ => panic!("expected forwarding"),
        }
    }

    #[test]
    fn rejects_garbage() {
        let n = names();
        assert!(n.answer("x", &[1, 2, 3]).is_none());
        let mut q = build_query(1, "web", T_A);
        q[2] |= 0x80; // a response
        assert!(n.answer("x", &q).is_none());
    }
}
