//! The test double: records every call as a line of text and models just enough of a host
//! (links, addresses and their routes, pinned namespaces with the veth ends inside them, ports
//! in use) that the code above it sees the answers a kernel would give.
//!
//! Lines look like `create_veth vethabc1234 master=2 peer=eth0 ns=/r/netns/c1` or, for a
//! firewall program, `run nft -f -` followed by its input on the next lines, so tests assert
//! on order (`position`) and content (`matching`) without root. `fail` makes the next call
//! whose line starts with a prefix fail with an errno, to test the undo paths.

use super::{Kernel, Rtnl};
use crate::netlink::{Link, Route};
use crate::types::{Ipv4Net, Proto};
use crate::Result;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::rc::Rc;

#[derive(Debug, Default)]
struct State {
    calls: Vec<String>,
    /// The host namespace's links (index 1 is `lo`).
    links: Vec<Link>,
    macs: BTreeMap<u32, [u8; 6]>,
    next_index: u32,
    routes: Vec<Route>,
    addresses: Vec<(u32, Ipv4Addr, u8)>,
    /// Pinned namespaces and the interfaces inside each (`lo` first).
    namespaces: BTreeMap<PathBuf, Vec<String>>,
    /// Host end of each veth -> (namespace, peer name).
    peers: BTreeMap<String, (PathBuf, String)>,
    /// Host ports some other program holds.
    bound: Vec<(Ipv4Addr, u16, Proto)>,
    next_port: u16,
    failures: Vec<(String, i32)>,
}

impl State {
    /// Records a call; fails it if a failure was armed for it (once).
    fn call(&mut self, line: String) -> io::Result<()> {
        let hit = self.failures.iter().position(|(p, _)| line.starts_with(p.as_str()));
        self.calls.push(line);
        match hit {
            Some(i) => Err(io::Error::from_raw_os_error(self.failures.remove(i).1)),
            None => Ok(()),
        }
    }

    fn add_link(&mut self, name: &str, master: Option<u32>) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        self.links.push(Link { index, name: name.into(), alias: None, master });
        index
    }

    fn remove_link(&mut self, name: &str) {
        if let Some(i) = self.links.iter().position(|l| l.name == name) {
            let index = self.links.remove(i).index;
            self.addresses.retain(|a| a.0 != index);
            self.routes.retain(|r| r.oif != Some(index));
        }
        if let Some((ns, peer)) = self.peers.remove(name) {
            if let Some(ifs) = self.namespaces.get_mut(&ns) {
                ifs.retain(|i| *i != peer);
            }
        }
    }
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A [`Kernel`] that records instead of acting. Clones share one model.
#[derive(Clone, Debug)]
pub struct Recording {
    state: Rc<RefCell<State>>,
}

impl Default for Recording {
    fn default() -> Recording {
        Recording::new()
    }
}

impl Recording {
    /// A host with only `lo`, no routes, and nothing bound.
    pub fn new() -> Recording {
        let mut s = State { next_index: 1, next_port: 32768, ..Default::default() };
        s.add_link("lo", None);
        s.addresses.push((1, Ipv4Addr::LOCALHOST, 8));
        Recording { state: Rc::new(RefCell::new(s)) }
    }

    /// Adds a host interface with an address and its connected route (`eth0`, `10.0.2.15/24`),
    /// as another program (or another state root) would have made it. `alias` marks a bridge
    /// of another berth root (`berth <net-id> <root>`).
    pub fn host_link(&self, name: &str, cidr: &str, alias: Option<&str>) -> u32 {
        let net: Ipv4Net = cidr.parse().expect("a CIDR");
        let mut s = self.state.borrow_mut();
        let index = s.add_link(name, None);
        s.links.last_mut().expect("just added").alias = alias.map(String::from);
        s.addresses.push((index, net.addr, net.prefix));
        s.routes.push(Route { dst: net.network(), prefix: net.prefix, oif: Some(index) });
        index
    }

    /// Adds a host route (`192.168.0.0/20` through some VPN interface).
    pub fn host_route(&self, cidr: &str) {
        let net: Ipv4Net = cidr.parse().expect("a CIDR");
        self.state.borrow_mut().routes.push(Route { dst: net.network(), prefix: net.prefix, oif: None });
    }

    /// Marks a host port as held by another program.
    pub fn hold_port(&self, ip: Ipv4Addr, port: u16, proto: Proto) {
        self.state.borrow_mut().bound.push((ip, port, proto));
    }

    /// Makes the next call whose line starts with `prefix` fail with `errno`.
    pub fn fail(&self, prefix: &str, errno: i32) {
        self.state.borrow_mut().failures.push((prefix.into(), errno));
    }

    /// The calls made so far, one line each (a firewall program's input follows a newline).
    pub fn calls(&self) -> Vec<String> {
        self.state.borrow().calls.clone()
    }

    /// Calls starting with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        self.state.borrow().calls.iter().filter(|c| c.starts_with(prefix)).cloned().collect()
    }

    /// Index of the first call starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        self.state.borrow().calls.iter().position(|c| c.starts_with(prefix))
    }

    /// The host's link names.
    pub fn link_names(&self) -> Vec<String> {
        self.state.borrow().links.iter().map(|l| l.name.clone()).collect()
    }

    /// The host's addresses as `ip/prefix` on a link name.
    pub fn addresses_of(&self, link: &str) -> Vec<String> {
        let s = self.state.borrow();
        let Some(l) = s.links.iter().find(|l| l.name == link) else { return Vec::new() };
        s.addresses.iter().filter(|a| a.0 == l.index).map(|a| format!("{}/{}", a.1, a.2)).collect()
    }

    /// The interfaces inside a pinned namespace, if it exists.
    pub fn interfaces_in(&self, ns: &Path) -> Option<Vec<String>> {
        self.state.borrow().namespaces.get(ns).cloned()
    }

    /// Every pinned namespace.
    pub fn namespaces(&self) -> Vec<PathBuf> {
        self.state.borrow().namespaces.keys().cloned().collect()
    }
}

/// A netlink socket of the [`Recording`] kernel: the host's, or one inside a namespace.
#[derive(Debug)]
pub struct RecordingRtnl {
    state: Rc<RefCell<State>>,
    ns: Option<PathBuf>,
}

impl RecordingRtnl {
    fn prefix(&self) -> String {
        match &self.ns {
            Some(ns) => format!("[{}] ", ns.display()),
            None => String::new(),
        }
    }

    /// The interfaces of this socket's namespace: (index, name).
    fn ns_links(&self) -> Vec<(u32, String)> {
        let s = self.state.borrow();
        match &self.ns {
            None => s.links.iter().map(|l| (l.index, l.name.clone())).collect(),
            Some(ns) => s
                .namespaces
                .get(ns)
                .map(|ifs| ifs.iter().enumerate().map(|(i, n)| (i as u32 + 1, n.clone())).collect())
                .unwrap_or_default(),
        }
    }
}

impl Rtnl for RecordingRtnl {
    type Ns = PathBuf;

    fn links(&mut self) -> io::Result<Vec<Link>> {
        if self.ns.is_none() {
            return Ok(self.state.borrow().links.clone());
        }
        Ok(self.ns_links().into_iter().map(|(index, name)| Link { index, name, alias: None, master: None }).collect())
    }

    fn routes(&mut self) -> io::Result<Vec<Route>> {
        Ok(if self.ns.is_none() { self.state.borrow().routes.clone() } else { Vec::new() })
    }

    fn addresses(&mut self) -> io::Result<Vec<(u32, Ipv4Addr, u8)>> {
        Ok(if self.ns.is_none() { self.state.borrow().addresses.clone() } else { Vec::new() })
    }

    fn link(&mut self, name: &str) -> io::Result<Option<(u32, Option<[u8; 6]>)>> {
        let index = self.ns_links().into_iter().find(|(_, n)| n == name).map(|(i, _)| i);
        let s = self.state.borrow();
        Ok(index.map(|i| (i, if self.ns.is_none() { s.macs.get(&i).copied() } else { None })))
    }

    fn set_address(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        let line = format!("{}set_address {index} {}", self.prefix(), mac_str(mac));
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        s.macs.insert(index, mac);
        Ok(())
    }

    fn create_bridge(&mut self, name: &str, _mtu: Option<u32>, mac: [u8; 6]) -> io::Result<u32> {
        let line = format!("{}create_bridge {name} mac={}", self.prefix(), mac_str(mac));
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        if s.links.iter().any(|l| l.name == name) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let index = s.add_link(name, None);
        s.macs.insert(index, mac);
        Ok(index)
    }

    fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        let line = format!("{}set_alias {index} {alias}", self.prefix());
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        if let Some(l) = s.links.iter_mut().find(|l| l.index == index) {
            l.alias = Some(alias.into());
        }
        Ok(())
    }

    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let line = format!("{}add_address {index} {addr}/{prefix}", self.prefix());
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        if s.addresses.contains(&(index, addr, prefix)) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        s.addresses.push((index, addr, prefix));
        // The kernel adds the connected route with the address.
        let net = Ipv4Net::new(addr, prefix);
        s.routes.push(Route { dst: net.network(), prefix, oif: Some(index) });
        Ok(())
    }

    fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        _mtu: Option<u32>,
        peer: &str,
        peer_ns: &PathBuf,
        peer_mac: [u8; 6],
    ) -> io::Result<()> {
        let line = format!(
            "{}create_veth {host} master={master} peer={peer} ns={} mac={}",
            self.prefix(),
            peer_ns.display(),
            mac_str(peer_mac)
        );
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        if s.links.iter().any(|l| l.name == host) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let Some(ifs) = s.namespaces.get_mut(peer_ns) else {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        };
        ifs.push(peer.into());
        s.add_link(host, Some(master));
        s.peers.insert(host.into(), (peer_ns.clone(), peer.into()));
        Ok(())
    }

    fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let line = format!("{}set_hairpin {index}", self.prefix());
        self.state.borrow_mut().call(line)
    }

    fn configure(&mut self, index: u32, addr: Ipv4Addr, prefix: u8, gw: Option<Ipv4Addr>) -> io::Result<()> {
        let gw = gw.map(|g| g.to_string()).unwrap_or_else(|| "none".into());
        let line = format!("{}configure {index} {addr}/{prefix} gw={gw}", self.prefix());
        self.state.borrow_mut().call(line)
    }

    fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let line = format!("{}delete_link {name}", self.prefix());
        let mut s = self.state.borrow_mut();
        s.call(line)?;
        s.remove_link(name);
        Ok(())
    }
}

impl Kernel for Recording {
    type Ns = PathBuf;
    type Rtnl = RecordingRtnl;

    fn rtnl(&self) -> io::Result<RecordingRtnl> {
        Ok(RecordingRtnl { state: self.state.clone(), ns: None })
    }

    fn rtnl_in(&self, ns: &PathBuf) -> io::Result<RecordingRtnl> {
        if !self.state.borrow().namespaces.contains_key(ns) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        Ok(RecordingRtnl { state: self.state.clone(), ns: Some(ns.clone()) })
    }

    fn netns_create(&self, path: &Path) -> io::Result<(PathBuf, RecordingRtnl)> {
        self.state.borrow_mut().call(format!("netns_create {}", path.display()))?;
        // The pin is a file, as the real one's mount point is (reconciliation lists them).
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        self.state.borrow_mut().namespaces.insert(path.to_path_buf(), vec!["lo".into()]);
        Ok((path.to_path_buf(), RecordingRtnl { state: self.state.clone(), ns: Some(path.to_path_buf()) }))
    }

    fn netns_open(&self, path: &Path) -> io::Result<PathBuf> {
        match self.netns_exists(path) {
            true => Ok(path.to_path_buf()),
            false => {
                Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: not a network namespace", path.display())))
            }
        }
    }

    fn netns_exists(&self, path: &Path) -> bool {
        self.state.borrow().namespaces.contains_key(path)
    }

    fn netns_remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.borrow_mut();
        s.call(format!("netns_remove {}", path.display()))?;
        // The kernel frees the namespace, and the veths with an end inside it.
        if s.namespaces.remove(path).is_some() {
            let gone: Vec<String> = s.peers.iter().filter(|(_, (ns, _))| ns == path).map(|(h, _)| h.clone()).collect();
            for h in gone {
                s.remove_link(&h);
            }
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let line = format!("sysctl {key}={value}");
        self.state.borrow_mut().call(line).map_err(|e| crate::Error::io(Path::new("/proc/sys").join(key), e))
    }

    fn probe_bind(&self, ip: Ipv4Addr, port: u16, proto: Proto) -> io::Result<u16> {
        let mut s = self.state.borrow_mut();
        s.call(format!("probe_bind {ip}:{port}/{proto}"))?;
        let held = |s: &State, p: u16| {
            s.bound
                .iter()
                .any(|(a, bp, pr)| *pr == proto && *bp == p && (a.is_unspecified() || ip.is_unspecified() || *a == ip))
        };
        if port != 0 {
            return match held(&s, port) {
                true => Err(io::Error::from_raw_os_error(libc::EADDRINUSE)),
                false => Ok(port),
            };
        }
        loop {
            let p = s.next_port;
            s.next_port = if p == u16::MAX { 32768 } else { p + 1 };
            if !held(&s, p) {
                return Ok(p);
            }
        }
    }

    fn run_piped(&self, prog: &str, args: &[&str], input: &str) -> io::Result<Output> {
        let r = self.state.borrow_mut().call(format!("run {prog} {}\n{input}", args.join(" ")));
        Ok(Output {
            status: ExitStatus::from_raw(if r.is_ok() { 0 } else { 1 << 8 }),
            stdout: Vec::new(),
            stderr: r.err().map(|e| format!("Error: {e}").into_bytes()).unwrap_or_default(),
        })
    }

    fn run_quiet(&self, prog: &str, args: &[&str]) -> io::Result<ExitStatus> {
        let r = self.state.borrow_mut().call(format!("run {prog} {}", args.join(" ")));
        Ok(ExitStatus::from_raw(if r.is_ok() { 0 } else { 1 << 8 }))
    }

    fn dns_request(&self, _root: &Path, what: &str) -> io::Result<()> {
        self.state.borrow_mut().call(format!("dns {what}"))
    }

    fn dns_spawn(&self, _root: &Path) -> Result<()> {
        self.state.borrow_mut().call("dns spawn".into()).map_err(|e| crate::Error::Other(e.to_string()))
    }
}
