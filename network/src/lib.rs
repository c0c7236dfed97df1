//! berth-network: container networks, implemented by berth itself — user-defined bridge
//! networks, address management (IPAM), veth pairs, published ports (the firewall), the
//! embedded DNS server and network namespaces; one library for native and wasm containers,
//! and for the builder's `RUN` steps.
//!
//! Why a crate of its own: networking knows nothing of containers (a caller attaches a
//! namespace and names an owner lock), so it depends on neither the engine nor any runtime,
//! and its logic — subnet choice, leases, port plans, firewall rules — is tested without root
//! against the recording [`Kernel`] (see [`kernel`]). The engine keeps the glue that turns a
//! container record into an [`AttachRequest`].
//!
//! The model is Docker's. A network is a Linux bridge with a private IPv4 subnet (the
//! default one, `bridge`, is `berth0`); a container's network namespace gets one veth pair
//! per network it joins, an address leased from the network's subnet, and a default route
//! through the bridge, whose address is the gateway. Egress is masqueraded; published ports
//! are DNAT map entries (see [`firewall`]); on user-defined networks an embedded DNS server
//! answers at 127.0.0.11 inside each container (see [`dns`]).
//!
//! There is no daemon, so all of it is state on disk under `<root>/network/`, changed under
//! one `flock` (`lock`): network records (`networks/<id>.json`), one sandbox record per
//! namespace (`sandboxes/<container-id>.json`, written *before* the kernel objects it names
//! are made), and leases (`leases/<network-id>/<ip>`, created exclusively). A sandbox names
//! an owner lock — a container's `shim.lock` — held for as long as it is in use; a sandbox
//! whose owner lock is free belongs to a process that died, and the next network operation
//! tears it down ([`Networks::reconcile`]). Links berth creates carry an alias naming
//! their root and network, so even a bridge whose root was deleted is found and removed.
//!
//! Netlink is spoken directly ([`netlink`]) so that the per-container work on the start path
//! (one veth creation, three in-namespace requests, two small file writes) costs well under
//! the 5 ms budget, with no process spawned unless ports are published.

#![forbid(unsafe_code)]

pub mod dns;
mod error;
pub mod firewall;
pub mod kernel;
mod linux;
pub mod netlink;
pub mod netns;
#[cfg(test)]
mod recorded;
pub mod types;

pub use error::{Error, ErrorKind, Result};
pub use kernel::{Kernel, Recording, Rtnl};
pub use linux::Linux;
pub use types::*;

use berth_oci::IoContext;
use fs4::fs_std::FileExt;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The default network's name, as Docker's.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Where the embedded DNS server answers inside containers on user-defined networks.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// Host-wide lock taken while a subnet is chosen and its bridge made, so that two state
/// roots (or two `network create`s) never pick the same subnet.
pub const SUBNET_LOCK: &str = "/run/berth/subnets.lock";

/// Options of `network create`.
#[derive(Clone, Debug, Default)]
pub struct NetworkCreate {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// `bridge` (the default and only driver).
    pub driver: Option<String>,
}

/// What `attach` needs to know about the namespace and its owner.
#[derive(Clone, Debug, Default)]
pub struct AttachRequest {
    pub container_id: String,
    /// The container's name (resolvable on user networks).
    pub name: String,
    pub hostname: String,
    /// The network namespace to configure.
    pub netns: PathBuf,
    /// Make the namespace at `netns` first (and remove it with the sandbox).
    pub create_netns: bool,
    /// A lock file the caller holds for the sandbox's whole life (a container's
    /// `shim.lock`); `None` = the calling process's lifetime is the owner.
    pub owner: Option<PathBuf>,
    pub opts: NetworkOpts,
}

fn sha_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff` (or with dashes) to bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut m = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2)?;
    }
    Some(m)
}

fn mac_string(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Docker's rule for network names.
fn valid_name(n: &str) -> bool {
    let mut it = n.chars();
    matches!(it.next(), Some(c) if c.is_ascii_alphanumeric())
        && it.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Writes a record atomically (berth's one atomic write); rewritten at every attach and
/// detach, so ordered rather than fsynced, as container records are.
fn write_json<T: Serialize>(dest: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::Other(e.to_string()))?;
    Ok(berth_sys::fs::write_atomic(dest, &bytes, 0o644, berth_sys::fs::Durability::Ordered, None).at(dest)?)
}

/// The `*.json` records in `dir` (none when it does not exist yet).
fn record_files(dir: &Path) -> Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("json"))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    match fs::read(p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::malformed(p.display().to_string(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// A held `flock`; released on drop.
pub struct NetLock(#[allow(dead_code)] File);

fn lock_file(p: &Path) -> Result<NetLock> {
    let denied = |at: &Path, e: std::io::Error| match berth_oci::error::needs_root(at, &e) {
        Some(m) => Error::Other(m),
        None => berth_oci::IoError::new(at, e).into(),
    };
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).map_err(|e| denied(d, e))?;
    }
    let f = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(p).map_err(|e| denied(p, e))?;
    FileExt::lock_exclusive(&f).at(p)?;
    Ok(NetLock(f))
}

/// Whether the owner of a sandbox still holds its lock (or, without one, still runs).
fn owner_alive(sb: &Sandbox) -> bool {
    match &sb.owner {
        Some(p) => {
            let Ok(f) = OpenOptions::new().read(true).write(true).open(p) else { return false };
            match FileExt::try_lock_exclusive(&f) {
                Ok(true) => {
                    let _ = FileExt::unlock(&f);
                    false
                }
                _ => true,
            }
        }
        // Signal 0 only checks that the process exists.
        None => {
            sb.owner_pid != 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(sb.owner_pid as i32), None).is_ok()
        }
    }
}

fn nl_err(what: &str, e: std::io::Error) -> Error {
    Error::kernel(what, e)
}

/// The host's resolv.conf, with nameservers, search domains and options split out.
pub(crate) struct HostResolv {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

pub(crate) fn host_resolv() -> HostResolv {
    let text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut r = HostResolv { nameservers: vec![], search: vec![], options: vec![] };
    for l in text.lines() {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => r.nameservers.extend(w.next().map(String::from)),
            Some("search") | Some("domain") => r.search = w.map(String::from).collect(),
            Some("options") => r.options.extend(w.map(String::from)),
            _ => {}
        }
    }
    r
}

/// The networks of one state root, and the kernel they are made in.
///
/// Everything is state on disk under `<root>/network/` (see the crate's documentation), so a
/// `Networks` is just the paths and the [`Kernel`]: [`Linux`] for real, [`Recording`] in tests.
pub struct Networks<K: Kernel = Linux> {
    root: PathBuf,
    /// The state root whose kernel objects carry no tag (`berth0`, table `berth`).
    default_root: PathBuf,
    /// See [`SUBNET_LOCK`].
    subnet_lock: PathBuf,
    kernel: K,
}

impl Networks<Linux> {
    /// The networks of the state root `root`, on this host. `default_root` is the root whose
    /// bridge is `berth0` and whose firewall table is `berth` (others get a tag of their path).
    pub fn open(root: impl Into<PathBuf>, default_root: impl Into<PathBuf>) -> Networks<Linux> {
        Networks::with_kernel(root, default_root, SUBNET_LOCK, Linux)
    }
}

impl<K: Kernel> Networks<K> {
    /// The networks of `root` in the given kernel (tests: a [`Recording`] one, with the
    /// host-wide subnet lock somewhere writable).
    pub fn with_kernel(
        root: impl Into<PathBuf>,
        default_root: impl Into<PathBuf>,
        subnet_lock: impl Into<PathBuf>,
        kernel: K,
    ) -> Networks<K> {
        Networks { root: root.into(), default_root: default_root.into(), subnet_lock: subnet_lock.into(), kernel }
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The kernel this works in.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// `<root>/network`.
    pub fn dir(&self) -> PathBuf {
        self.root().join("network")
    }

    /// Where berth pins the network namespaces it makes: `<root>/netns/<id>`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.root().join("netns").join(id)
    }

    fn networks_dir(&self) -> PathBuf {
        self.dir().join("networks")
    }
    fn sandboxes_dir(&self) -> PathBuf {
        self.dir().join("sandboxes")
    }
    fn leases_dir(&self, net_id: &str) -> PathBuf {
        self.dir().join("leases").join(net_id)
    }

    /// Serialises every change to network state of this root.
    pub fn lock(&self) -> Result<NetLock> {
        lock_file(&self.dir().join("lock"))
    }

    /// A short tag telling this root's kernel objects from another root's: empty for the
    /// default root (so its bridge is `berth0` and its table `berth`, as documented).
    fn root_tag(&self) -> String {
        let canon = fs::canonicalize(self.root()).unwrap_or_else(|_| self.root().to_path_buf());
        if canon == self.default_root.as_path() {
            String::new()
        } else {
            sha_hex(&canon.display().to_string())[..8].to_string()
        }
    }

    fn link_alias(&self, net_id: &str) -> String {
        let canon = fs::canonicalize(self.root()).unwrap_or_else(|_| self.root().to_path_buf());
        format!("berth {} {}", net_id, canon.display())
    }

    /// The nftables table (or iptables chain prefix) of this root.
    pub fn firewall(&self) -> firewall::Firewall {
        let p = self.dir().join("firewall");
        let backend = match fs::read_to_string(&p).as_deref().map(str::trim) {
            Ok("nftables") => firewall::Backend::Nftables,
            Ok("iptables") => firewall::Backend::Iptables,
            Ok("none") => firewall::Backend::None,
            _ => {
                let b = firewall::Backend::detect();
                let name = match b {
                    firewall::Backend::Nftables => "nftables",
                    firewall::Backend::Iptables => "iptables",
                    firewall::Backend::None => "none",
                };
                let _ = fs::create_dir_all(self.dir());
                let _ = fs::write(&p, name);
                b
            }
        };
        firewall::Firewall::new(backend, &self.root_tag())
    }

    // ---- records -----------------------------------------------------------------------

    /// Every recorded network (not the pseudo networks `host` and `none`).
    fn network_records(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for p in record_files(&self.networks_dir())? {
            if let Some(n) = read_json::<Network>(&p)? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    fn save_network(&self, n: &Network) -> Result<()> {
        let dir = self.networks_dir();
        fs::create_dir_all(&dir).at(&dir)?;
        write_json(&dir.join(format!("{}.json", n.id)), n)
    }

    fn pseudo_network(&self, name: &str) -> Network {
        Network {
            name: name.to_string(),
            id: sha_hex(&format!("{name} {}", self.root().display())),
            created: String::new(),
            driver: if name == "host" { "host".into() } else { "null".into() },
            ..Default::default()
        }
    }

    /// The default bridge's record, made on first need (its subnet is chosen when the
    /// bridge itself is first made).
    fn default_network(&self) -> Result<Network> {
        if let Some(n) = self.network_records()?.into_iter().find(|n| n.is_default()) {
            return Ok(n);
        }
        let tag = self.root_tag();
        let n = Network {
            name: DEFAULT_NETWORK.into(),
            id: random_id(),
            created: berth_oci::time::now_rfc3339(),
            driver: "bridge".into(),
            bridge: if tag.is_empty() { "berth0".into() } else { format!("berth-{tag}") },
            ..Default::default()
        };
        self.save_network(&n)?;
        Ok(n)
    }

    /// Finds a network by name, full id or unique id prefix (`default` = `bridge`).
    pub fn find(&self, s: &str) -> Result<Network> {
        let s = if s.is_empty() || s == "default" { DEFAULT_NETWORK } else { s };
        if s == "host" || s == "none" {
            return Ok(self.pseudo_network(s));
        }
        if s == DEFAULT_NETWORK {
            return self.default_network();
        }
        let all = self.network_records()?;
        if let Some(n) = all.iter().find(|n| n.name == s || n.id == s) {
            return Ok(n.clone());
        }
        let hits: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(s)).collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NotFound(format!("network {s} not found"))),
            _ => Err(Error::Conflict(format!(
                "network {s} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    fn load_sandbox(&self, id: &str) -> Result<Option<Sandbox>> {
        read_json(&self.sandboxes_dir().join(format!("{id}.json")))
    }

    fn save_sandbox(&self, sb: &Sandbox) -> Result<()> {
        let dir = self.sandboxes_dir();
        fs::create_dir_all(&dir).at(&dir)?;
        write_json(&dir.join(format!("{}.json", sb.container_id)), sb)
    }

    /// Every sandbox record (live or stale).
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>> {
        // A record being rewritten or left half-made by a killed writer is skipped, not fatal.
        Ok(record_files(&self.sandboxes_dir())?.iter().filter_map(|p| read_json::<Sandbox>(p).ok().flatten()).collect())
    }

    /// The sandbox of a container, if it has one.
    pub fn sandbox(&self, container_id: &str) -> Result<Option<Sandbox>> {
        self.load_sandbox(container_id)
    }

    fn all_ports(&self, except: Option<&str>) -> Result<Vec<PublishedPort>> {
        Ok(self
            .sandboxes()?
            .into_iter()
            .filter(|s| Some(s.container_id.as_str()) != except)
            .flat_map(|s| s.ports)
            .collect())
    }

    /// Number of address leases held in this root (all networks).
    pub fn lease_count(&self) -> usize {
        let Ok(rd) = fs::read_dir(self.dir().join("leases")) else { return 0 };
        rd.flatten().map(|d| fs::read_dir(d.path()).map(|r| r.count()).unwrap_or(0)).sum()
    }

    // ---- bridges and subnets -----------------------------------------------------------

    /// IPv4 networks already in use on the host: routes (but the default route), and the
    /// subnets of this root's networks.
    fn used_subnets(&self, nl: &mut K::Rtnl) -> Result<Vec<Ipv4Net>> {
        let mut used: Vec<Ipv4Net> = nl
            .routes()
            .map_err(|e| nl_err("listing routes", e))?
            .into_iter()
            .filter(|r| r.prefix > 0)
            .map(|r| Ipv4Net::new(r.dst, r.prefix))
            .collect();
        for (_, a, p) in nl.addresses().map_err(|e| nl_err("listing addresses", e))? {
            if !a.is_loopback() {
                used.push(Ipv4Net::new(a, p).trunc());
            }
        }
        used.extend(self.network_records()?.iter().filter_map(|n| n.subnet_net()));
        Ok(used)
    }

    /// Docker's default pools: 172.17-31.0.0/16, then 192.168.x.0/20, then 10.88-127.0.0/16.
    fn choose_subnet(&self, nl: &mut K::Rtnl) -> Result<Ipv4Net> {
        let used = self.used_subnets(nl)?;
        let candidates = (17..=31)
            .map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16))
            .chain((0..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20)))
            .chain((88..=127).map(|b| Ipv4Net::new(Ipv4Addr::new(10, b, 0, 0), 16)));
        for c in candidates {
            if !used.iter().any(|u| u.overlaps(&c)) {
                return Ok(c);
            }
        }
        Err(Error::Unavailable(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
                .into(),
        ))
    }

    /// Makes sure the network's bridge exists, with its address, sysctls and firewall.
    /// Cheap when it does (one netlink lookup); the first use after boot rebuilds it.
    fn ensure_bridge(&self, nl: &mut K::Rtnl, net: &mut Network) -> Result<u32> {
        if let Some((i, mac)) = nl.link(&net.bridge).map_err(|e| nl_err("looking up the bridge", e))? {
            if !net.subnet.is_empty() {
                // A bridge made before bridges had an address of their own gets it now (see
                // `Netlink::create_bridge`); the lookup above returned the address anyway.
                if let Some(want) = net.gateway_ip().map(mac_for) {
                    if mac != Some(want) {
                        let _ = nl.set_address(i, want);
                    }
                }
                return Ok(i);
            }
        }
        let _g = lock_file(&self.subnet_lock)?;
        if net.subnet.is_empty() {
            let sub = self.choose_subnet(nl)?;
            net.subnet = sub.to_string();
            net.gateway = sub.nth(1).map(|g| g.to_string()).unwrap_or_default();
            self.save_network(net)?;
        }
        let mut nets = self.network_records()?;
        if !nets.iter().any(|n| n.id == net.id) {
            nets.push(net.clone());
        }
        self.firewall().apply(&self.kernel, &nets, &self.all_ports(None)?)?;
        self.make_bridge(nl, net)
    }

    fn make_bridge(&self, nl: &mut K::Rtnl, net: &Network) -> Result<u32> {
        let sub = net.subnet_net().ok_or_else(|| Error::Other(format!("network {}: no subnet", net.name)))?;
        let gw = net.gateway_ip().ok_or_else(|| Error::Other(format!("network {}: no gateway", net.name)))?;
        let idx = match nl.create_bridge(&net.bridge, None, mac_for(gw)) {
            Ok(i) => i,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => nl
                .link_index(&net.bridge)
                .map_err(|e| nl_err("looking up the bridge", e))?
                .ok_or_else(|| Error::Other(format!("bridge {} vanished", net.bridge)))?,
            Err(e) => return Err(nl_err(&format!("creating bridge {}", net.bridge), e)),
        };
        let _ = nl.set_alias(idx, &self.link_alias(&net.id));
        match nl.add_address(idx, gw, sub.prefix) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                return Err(nl_err(&format!("adding {gw}/{} to {}", sub.prefix, net.bridge), e))
            }
            _ => {}
        }
        // Published ports must answer on 127.0.0.1: DNAT of loopback-sourced packets out
        // of the bridge needs route_localnet there (the firewall's guard keeps containers
        // from using it to reach the host's loopback services).
        self.kernel.sysctl(&format!("net/ipv4/conf/{}/route_localnet", net.bridge), "1")?;
        if !net.internal {
            self.kernel.sysctl("net/ipv4/ip_forward", "1")?;
        }
        Ok(idx)
    }

    // ---- networks: create, list, inspect, remove ---------------------------------------

    /// `network create`.
    pub fn create(&self, name: &str, o: &NetworkCreate) -> Result<Network> {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!(
                "invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        match o.driver.as_deref() {
            None | Some("bridge") => {}
            Some(d) => return Err(Error::NotFound(format!("plugin \"{d}\" not found"))),
        }
        let _g = self.lock()?;
        self.reconcile_locked(true)?;
        if matches!(name, "bridge" | "host" | "none") || self.network_records()?.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!("network with name {name} already exists")));
        }
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        let _sg = lock_file(&self.subnet_lock)?;
        let id = random_id();
        let subnet = match &o.subnet {
            Some(s) => {
                let sub: Ipv4Net = s.parse()?;
                let sub = sub.trunc();
                if sub.prefix > 30 {
                    return Err(Error::InvalidArgument(format!("invalid subnet {s}: too small for a network")));
                }
                // Docker refuses only overlaps with its own networks; berth also counts the
                // other roots' bridges (their routes), which would break routing the same way.
                let mut taken: Vec<Ipv4Net> = self.network_records()?.iter().filter_map(|n| n.subnet_net()).collect();
                let ours: HashSet<u32> = nl
                    .links()
                    .map_err(|e| nl_err("listing links", e))?
                    .into_iter()
                    .filter(|l| l.alias.as_deref().is_some_and(|a| a.starts_with("berth ")))
                    .map(|l| l.index)
                    .collect();
                taken.extend(
                    nl.routes()
                        .map_err(|e| nl_err("listing routes", e))?
                        .into_iter()
                        .filter(|r| r.prefix > 0 && r.oif.is_some_and(|i| ours.contains(&i)))
                        .map(|r| Ipv4Net::new(r.dst, r.prefix)),
                );
                if taken.iter().any(|t| t.overlaps(&sub)) {
                    return Err(Error::Conflict("Pool overlaps with other one on this address space".into()));
                }
                sub
            }
            None => self.choose_subnet(&mut nl)?,
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let gw: Ipv4Addr =
                    g.parse().map_err(|_| Error::InvalidArgument(format!("invalid gateway address {g}")))?;
                if !subnet.contains(gw) || gw == subnet.network() || gw == subnet.broadcast() {
                    return Err(Error::InvalidArgument(format!("no matching subnet for gateway {g}")));
                }
                gw
            }
            None => subnet.nth(1).expect("a /30 or larger has a first host"),
        };
        let net = Network {
            name: name.to_string(),
            id: id.clone(),
            created: berth_oci::time::now_rfc3339(),
            driver: "bridge".into(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal: o.internal,
            bridge: format!("br-{}", &id[..12]),
            labels: o.labels.clone(),
        };
        self.save_network(&net)?;
        let r = (|| {
            let nets = self.network_records()?;
            self.firewall().apply(&self.kernel, &nets, &self.all_ports(None)?)?;
            self.make_bridge(&mut nl, &net)
        })();
        if let Err(e) = r {
            let _ = nl.delete_link(&net.bridge);
            let _ = fs::remove_file(self.networks_dir().join(format!("{id}.json")));
            if let Ok(nets) = self.network_records() {
                let _ = self.firewall().apply(&self.kernel, &nets, &self.all_ports(None).unwrap_or_default());
            }
            return Err(e);
        }
        Ok(net)
    }

    /// `network ls`: the predefined networks and every user-defined one.
    pub fn list(&self) -> Result<Vec<Network>> {
        {
            let _g = self.lock()?;
            self.reconcile_locked(true)?;
            self.default_network()?;
        }
        let mut out = self.network_records()?;
        out.push(self.pseudo_network("host"));
        out.push(self.pseudo_network("none"));
        Ok(out)
    }

    /// The sandboxes attached to a network.
    fn network_users(&self, net: &Network) -> Result<Vec<(Sandbox, Endpoint)>> {
        let mut out = Vec::new();
        for sb in self.sandboxes()? {
            for ep in &sb.endpoints {
                if ep.network_id == net.id {
                    out.push((sb.clone(), ep.clone()));
                }
            }
        }
        Ok(out)
    }

    /// `network inspect`: Docker's document.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        {
            let _g = self.lock()?;
            self.reconcile_locked(true)?;
        }
        let net = self.find(name)?;
        let mut containers = serde_json::Map::new();
        for (sb, ep) in self.network_users(&net)? {
            containers.insert(
                sb.container_id.clone(),
                serde_json::json!({
                    "Name": sb.name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": ep.ip.map(|ip| format!("{ip}/{}", ep.prefix)).unwrap_or_default(),
                    "IPv6Address": "",
                }),
            );
        }
        let config: Vec<serde_json::Value> = if net.subnet.is_empty() {
            vec![]
        } else {
            vec![serde_json::json!({"Subnet": net.subnet, "Gateway": net.gateway})]
        };
        let mut options = serde_json::Map::new();
        if net.driver == "bridge" {
            options.insert("com.docker.network.bridge.name".into(), net.bridge.clone().into());
            if net.is_default() {
                options.insert("com.docker.network.bridge.default_bridge".into(), "true".into());
            }
        }
        Ok(serde_json::json!({
            "Name": net.name,
            "Id": net.id,
            "Created": if net.created.is_empty() { berth_oci::time::ZERO_TIME.to_string() } else { net.created.clone() },
            "Scope": "local",
            "Driver": net.driver,
            "EnableIPv6": false,
            "IPAM": { "Driver": "default", "Options": null, "Config": config },
            "Internal": net.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": { "Network": "" },
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": net.labels,
        }))
    }

    /// `network rm`: refused for predefined networks and while containers use it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _g = self.lock()?;
        self.reconcile_locked(true)?;
        let net = self.find(name)?;
        if net.is_predefined() {
            return Err(Error::Conflict(format!("{} is a pre-defined network and cannot be removed", net.name)));
        }
        let users = self.network_users(&net)?;
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|(s, _)| s.name.as_str()).collect();
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints (containers: {})",
                net.name,
                net.id,
                names.join(", ")
            )));
        }
        self.destroy_network(&net)
    }

    fn destroy_network(&self, net: &Network) -> Result<()> {
        if !net.bridge.is_empty() {
            let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
            nl.delete_link(&net.bridge).map_err(|e| nl_err(&format!("deleting bridge {}", net.bridge), e))?;
        }
        let _ = fs::remove_dir_all(self.leases_dir(&net.id));
        let p = self.networks_dir().join(format!("{}.json", net.id));
        fs::remove_file(&p).at(&p)?;
        let nets = self.network_records()?;
        let fw = self.firewall();
        if nets.iter().any(|n| !n.subnet.is_empty()) {
            fw.apply(&self.kernel, &nets, &self.all_ports(None)?)?;
        } else {
            fw.remove(&self.kernel)?;
        }
        Ok(())
    }

    /// `network prune`: removes the user-defined networks no container uses; returns their
    /// names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let _g = self.lock()?;
        self.reconcile_locked(true)?;
        let mut out = Vec::new();
        for net in self.network_records()? {
            if net.is_predefined() || !self.network_users(&net)?.is_empty() {
                continue;
            }
            self.destroy_network(&net)?;
            out.push(net.name);
        }
        Ok(out)
    }

    /// Removes every network of this root, the default bridge included, with their firewall
    /// table and DNS server: for uninstalling and for tests. Live sandboxes are torn down
    /// only with `force`; without it their presence is an error.
    pub fn reset(&self, force: bool) -> Result<()> {
        let _g = self.lock()?;
        self.reconcile_locked(true)?;
        let live = self.sandboxes()?;
        if !live.is_empty() && !force {
            return Err(Error::Conflict(format!("{} containers still have networks", live.len())));
        }
        for sb in live {
            self.teardown_locked(&sb)?;
        }
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        for net in self.network_records()? {
            if !net.bridge.is_empty() {
                let _ = nl.delete_link(&net.bridge);
            }
            let _ = fs::remove_file(self.networks_dir().join(format!("{}.json", net.id)));
        }
        let _ = fs::remove_dir_all(self.dir().join("leases"));
        self.firewall().remove(&self.kernel)?;
        dns::stop(self);
        Ok(())
    }

    // ---- attach / detach ---------------------------------------------------------------

    /// Connects a network namespace to a network (or to none): makes the namespace if
    /// asked, a veth pair and address, publishes ports, registers DNS names; returns the
    /// addresses and the `hosts`/`resolv.conf` the container should see. On any error,
    /// everything it made is undone.
    pub fn attach(&self, req: &AttachRequest) -> Result<Attached> {
        let _g = self.lock()?;
        self.reconcile_locked(false)?;
        if let Some(old) = self.load_sandbox(&req.container_id)? {
            if old.owner_pid == std::process::id() && old.netns == req.netns {
                return Ok(self.attached(&old));
            }
            self.teardown_locked(&old)?;
        }
        let o = &req.opts;
        let net = match o.network.as_str() {
            "none" => None,
            "host" => {
                return Err(Error::InvalidArgument("the host network has no sandbox to attach to".into()));
            }
            n => Some(self.find(n)?),
        };
        if let Some(n) = &net {
            if n.driver != "bridge" {
                return Err(Error::InvalidArgument(format!("network {} cannot be attached to", n.name)));
            }
            if n.is_default() && o.ip.is_some() {
                return Err(Error::InvalidArgument(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if n.is_default() && !o.aliases.is_empty() {
                return Err(Error::InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks".into(),
                ));
            }
        } else if !o.publish.is_empty() {
            // Docker ignores -p with --network none; so does berth (nothing to reach).
        }
        let mut sb = Sandbox {
            container_id: req.container_id.clone(),
            name: req.name.clone(),
            hostname: req.hostname.clone(),
            netns: req.netns.clone(),
            netns_owned: req.create_netns,
            owner: req.owner.clone(),
            owner_pid: std::process::id(),
            dns: o.dns.clone(),
            dns_search: o.dns_search.clone(),
            dns_options: o.dns_options.clone(),
            ..Default::default()
        };
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        let mut net = net;
        let br_idx = match &mut net {
            Some(n) => Some(self.ensure_bridge(&mut nl, n)?),
            None => None,
        };
        sb.extra_hosts = parse_add_hosts(&o.add_hosts, net.as_ref().and_then(|n| n.gateway_ip()))?;
        // Ports are checked before anything is made: a port in use fails the start cleanly.
        let mut planned = Vec::new();
        if net.is_some() && !o.publish.is_empty() {
            planned = self.plan_ports(&o.publish, &req.name)?;
        }
        if req.create_netns {
            self.kernel.netns_remove(&req.netns).at(&req.netns)?; // a leftover of a crashed start
        }
        // The address is leased before the record is written (both under the lock): a lease
        // whose holder has no record is swept by the next full reconciliation.
        if let Some(n) = &net {
            let mut ep = self.plan_endpoint(n, &req.container_id, o.ip, &o.aliases, 0)?;
            if let Some(mac) = o.mac_address.as_deref().filter(|m| parse_mac(m).is_some()) {
                ep.mac = mac.to_ascii_lowercase().replace('-', ":");
            }
            ep.link_local_ips = o.link_local_ips.clone();
            let ip = ep.ip.expect("bridge endpoints have an address");
            sb.ports = planned
                .iter()
                .map(|(host_ip, host_port, spec)| PublishedPort {
                    host_ip: *host_ip,
                    host_port: *host_port,
                    container_port: spec.container_port,
                    proto: spec.proto,
                    container_ip: ip,
                })
                .collect();
            sb.endpoints.push(ep);
        }
        // From here on the record exists first and any failure tears down what it names.
        if let Err(e) = self.save_sandbox(&sb) {
            for ep in &sb.endpoints {
                self.release_lease(ep, &sb.container_id);
            }
            return Err(e);
        }
        let r = (|| -> Result<()> {
            let made = match req.create_netns {
                true => Some(self.kernel.netns_create(&req.netns).map_err(|e| Error::io(&req.netns, e))?),
                false => None,
            };
            if let (Some(n), Some(br)) = (&net, br_idx) {
                self.setup_endpoint(&mut nl, made, br, n, &sb.endpoints[0], &req.netns, true)?;
                if !sb.ports.is_empty() {
                    let nets = self.network_records()?;
                    self.firewall().add_ports(&self.kernel, &nets, &self.all_ports(None)?, &sb.ports)?;
                }
                if sb.needs_dns() {
                    dns::sync(self)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            let _ = self.teardown_locked(&sb);
            return Err(e);
        }
        Ok(self.attached(&sb))
    }

    /// Adds a network to a live sandbox (`network connect`).
    pub fn attach_network(&self, container_id: &str, o: &NetworkOpts) -> Result<Endpoint> {
        let _g = self.lock()?;
        self.reconcile_locked(false)?;
        let mut sb = self
            .load_sandbox(container_id)?
            .ok_or_else(|| Error::Conflict(format!("container {container_id} is not running")))?;
        let mut net = self.find(&o.network)?;
        if net.driver != "bridge" {
            return Err(Error::Conflict(
                "container cannot be disconnected from host network or connected to host network".into(),
            ));
        }
        if sb.endpoints.iter().any(|e| e.network_id == net.id) {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                sb.name, net.name
            )));
        }
        if net.is_default() && (o.ip.is_some() || !o.aliases.is_empty()) {
            return Err(Error::InvalidArgument(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        let br = self.ensure_bridge(&mut nl, &mut net)?;
        let n = (0..).find(|i| !sb.endpoints.iter().any(|e| e.ifname == format!("eth{i}"))).unwrap_or(0);
        let ep = self.plan_endpoint(&net, container_id, o.ip, &o.aliases, n)?;
        let first = sb.endpoints.is_empty();
        sb.endpoints.push(ep.clone());
        self.save_sandbox(&sb)?;
        let r = (|| -> Result<()> {
            self.setup_endpoint(&mut nl, None, br, &net, &ep, &sb.netns, first)?;
            if sb.needs_dns() {
                dns::sync(self)?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            let _ = nl.delete_link(&ep.veth);
            self.release_lease(&ep, container_id);
            sb.endpoints.retain(|e| e.endpoint_id != ep.endpoint_id);
            let _ = self.save_sandbox(&sb);
            return Err(e);
        }
        Ok(ep)
    }

    /// Removes one network from a live sandbox (`network disconnect`).
    pub fn detach_network(&self, container_id: &str, network: &str) -> Result<()> {
        let _g = self.lock()?;
        let net = self.find(network)?;
        let mut sb = self.load_sandbox(container_id)?.ok_or_else(|| {
            Error::Conflict(format!("container {container_id} is not connected to network {}", net.name))
        })?;
        let Some(ep) = sb.endpoints.iter().find(|e| e.network_id == net.id).cloned() else {
            return Err(Error::Conflict(format!("container {container_id} is not connected to network {}", net.name)));
        };
        let had_dns = sb.needs_dns();
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        nl.delete_link(&ep.veth).map_err(|e| nl_err(&format!("deleting {}", ep.veth), e))?;
        self.release_lease(&ep, container_id);
        let gone: Vec<PublishedPort> = sb.ports.iter().filter(|p| Some(p.container_ip) == ep.ip).cloned().collect();
        sb.ports.retain(|p| Some(p.container_ip) != ep.ip);
        sb.endpoints.retain(|e| e.endpoint_id != ep.endpoint_id);
        self.save_sandbox(&sb)?;
        if !gone.is_empty() {
            let nets = self.network_records()?;
            self.firewall().remove_ports(&self.kernel, &nets, &self.all_ports(None)?, &gone)?;
        }
        if had_dns {
            dns::sync(self)?;
        }
        Ok(())
    }

    /// Tears down a container's sandbox: veths, leases, ports, DNS names, its namespace.
    /// Missing is fine (idempotent).
    pub fn detach(&self, container_id: &str) -> Result<()> {
        let _g = self.lock()?;
        match self.load_sandbox(container_id)? {
            Some(sb) => self.teardown_locked(&sb),
            None => Ok(()),
        }
    }

    fn teardown_locked(&self, sb: &Sandbox) -> Result<()> {
        // A namespace berth made goes away with its last reference, and the kernel removes
        // every veth inside it then, off the caller's path (deleting a veth synchronously
        // waits for RCU grace periods: tens of milliseconds on a container's removal). So the
        // common case — a container's own namespace — opens no netlink socket at all.
        let mut nl = None;
        for ep in &sb.endpoints {
            if !sb.netns_owned || !self.kernel.netns_exists(&sb.netns) {
                if nl.is_none() {
                    nl = Some(self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?);
                }
                let _ = nl.as_mut().expect("opened above").delete_link(&ep.veth);
            }
            self.release_lease(ep, &sb.container_id);
        }
        let p = self.sandboxes_dir().join(format!("{}.json", sb.container_id));
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&p, e)),
            _ => {}
        }
        if !sb.ports.is_empty() {
            let nets = self.network_records()?;
            let _ = self.firewall().remove_ports(&self.kernel, &nets, &self.all_ports(None)?, &sb.ports);
        }
        if sb.needs_dns() {
            // The server holds sockets inside the namespace: let it drop them first.
            let _ = dns::sync(self);
        }
        if sb.netns_owned {
            self.kernel.netns_remove(&sb.netns).at(&sb.netns)?;
        }
        Ok(())
    }

    fn release_lease(&self, ep: &Endpoint, container_id: &str) {
        if let Some(ip) = ep.ip {
            let p = self.leases_dir(&ep.network_id).join(ip.to_string());
            if fs::read_to_string(&p).map(|s| s.trim() == container_id).unwrap_or(false) {
                let _ = fs::remove_file(&p);
            }
        }
    }

    /// Leases an address and names the veth of a new endpoint.
    fn plan_endpoint(
        &self,
        net: &Network,
        container_id: &str,
        want: Option<Ipv4Addr>,
        aliases: &[String],
        n: usize,
    ) -> Result<Endpoint> {
        let sub = net.subnet_net().ok_or_else(|| Error::Other(format!("network {} has no subnet", net.name)))?;
        let gw = net.gateway_ip();
        let dir = self.leases_dir(&net.id);
        fs::create_dir_all(&dir).at(&dir)?;
        let take = |ip: Ipv4Addr| -> std::io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(dir.join(ip.to_string()))?;
            std::io::Write::write_all(&mut f, container_id.as_bytes())
        };
        let ip = match want {
            Some(ip) => {
                if !sub.contains(ip) || ip == sub.network() || ip == sub.broadcast() || Some(ip) == gw {
                    return Err(Error::InvalidArgument(format!(
                        "invalid address {ip}: it does not belong to any of this network's subnets ({})",
                        net.subnet
                    )));
                }
                take(ip).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => Error::Conflict("Address already in use".into()),
                    _ => Error::io(dir.join(ip.to_string()), e),
                })?;
                ip
            }
            None => {
                let used: HashSet<String> = fs::read_dir(&dir)
                    .at(&dir)?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                let mut got = None;
                for i in 1..=sub.hosts() {
                    let Some(ip) = sub.nth(i) else { break };
                    if Some(ip) == gw || used.contains(&ip.to_string()) {
                        continue;
                    }
                    match take(ip) {
                        Ok(()) => {
                            got = Some(ip);
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(Error::io(dir.join(ip.to_string()), e)),
                    }
                }
                got.ok_or_else(|| {
                    Error::Unavailable(format!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        net.name, net.id
                    ))
                })?
            }
        };
        let veth = format!("veth{}", &sha_hex(&format!("{container_id} {}", net.id))[..7]);
        Ok(Endpoint {
            network: net.name.clone(),
            network_id: net.id.clone(),
            endpoint_id: random_id(),
            ip: Some(ip),
            prefix: sub.prefix,
            gateway: if net.internal { None } else { gw },
            mac: mac_string(mac_for(ip)),
            veth,
            ifname: format!("eth{n}"),
            aliases: aliases.to_vec(),
            user_defined: !net.is_default(),
            link_local_ips: Vec::new(),
        })
    }

    /// The kernel side of an endpoint: the veth pair (peer made inside the namespace),
    /// hairpin on the bridge port, the address, the link up and the default route. `made` is
    /// the namespace and a socket inside it when the caller just created it.
    #[allow(clippy::too_many_arguments)]
    fn setup_endpoint(
        &self,
        nl: &mut K::Rtnl,
        made: Option<(K::Ns, K::Rtnl)>,
        br: u32,
        net: &Network,
        ep: &Endpoint,
        ns_path: &Path,
        default_route: bool,
    ) -> Result<()> {
        let (ns, mut inner) = match made {
            Some(m) => m,
            None => {
                let ns = self.kernel.netns_open(ns_path).map_err(|e| Error::io(ns_path, e))?;
                let inner = self.kernel.rtnl_in(&ns).map_err(|e| nl_err("entering the network namespace", e))?;
                (ns, inner)
            }
        };
        let ip = ep.ip.expect("planned endpoints have an address");
        let mac = parse_mac(&ep.mac).unwrap_or_else(|| mac_for(ip));
        match nl.create_veth(&ep.veth, br, None, &ep.ifname, &ns, mac) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                // A leftover of a crashed start with the same name: replace it.
                let _ = nl.delete_link(&ep.veth);
                nl.create_veth(&ep.veth, br, None, &ep.ifname, &ns, mac)
                    .map_err(|e| nl_err(&format!("creating veth {}", ep.veth), e))?;
            }
            r => r.map_err(|e| nl_err(&format!("creating veth {}", ep.veth), e))?,
        }
        // Over netlink rather than sysfs: a sysfs write costs a path walk and a kernfs open
        // on every start, several times these two round trips.
        if let Ok(Some(i)) = nl.link_index(&ep.veth) {
            let _ = nl.set_hairpin(i);
        }
        let idx = inner
            .link_index(&ep.ifname)
            .map_err(|e| nl_err("looking up the container's interface", e))?
            .ok_or_else(|| Error::Other(format!("{} did not appear in the container", ep.ifname)))?;
        let sub = net.subnet_net().expect("checked");
        let gw = if default_route { ep.gateway } else { None };
        inner
            .configure(idx, ip, sub.prefix, gw)
            .map_err(|e| nl_err(&format!("configuring {} with {ip}/{}", ep.ifname, sub.prefix), e))?;
        for ll in &ep.link_local_ips {
            inner
                .add_address(idx, *ll, 16)
                .map_err(|e| nl_err(&format!("setting {} link local IP {ll}/16", ep.ifname), e))?;
        }
        Ok(())
    }

    /// Picks host ports for `-p` specs and checks they are free: not published by another
    /// container of this root, and bindable on the host (the bind is released at once).
    fn plan_ports(&self, specs: &[PortSpec], name: &str) -> Result<Vec<(Ipv4Addr, u16, PortSpec)>> {
        let taken = self.all_ports(None)?;
        let mut out: Vec<(Ipv4Addr, u16, PortSpec)> = Vec::new();
        let clash = |ip: Ipv4Addr, port: u16, proto: Proto, ours: &[(Ipv4Addr, u16, PortSpec)]| {
            let overlap = |a: Ipv4Addr| a.is_unspecified() || ip.is_unspecified() || a == ip;
            taken.iter().any(|p| p.proto == proto && p.host_port == port && overlap(p.host_ip))
                || ours.iter().any(|(a, p, s)| s.proto == proto && *p == port && overlap(*a))
        };
        // Docker's wording; a start that fails on it exits 125, as any failed network setup.
        let msg = |why: String| format!("driver failed programming external connectivity on endpoint {name}: {why}");
        let fail = |why: String| Error::Unavailable(msg(why));
        for s in specs {
            let ip = s.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let port = if s.host_port == 0 {
                let mut got = None;
                for _ in 0..64 {
                    let p = self
                        .kernel
                        .probe_bind(ip, 0, s.proto)
                        .map_err(|e| fail(format!("allocating a port on {ip}: {e}")))?;
                    if !clash(ip, p, s.proto, &out) {
                        got = Some(p);
                        break;
                    }
                }
                got.ok_or_else(|| fail("no free host port".into()))?
            } else {
                if clash(ip, s.host_port, s.proto, &out) {
                    let why = format!("Bind for {ip}:{} failed: port is already allocated", s.host_port);
                    return Err(Error::Conflict(msg(why)));
                }
                self.kernel
                    .probe_bind(ip, s.host_port, s.proto)
                    .map_err(|e| fail(format!("listen {}4 {ip}:{}: bind: {}", s.proto, s.host_port, io_reason(&e))))?;
                s.host_port
            };
            out.push((ip, port, s.clone()));
        }
        Ok(out)
    }

    /// The hosts file, resolv.conf and addresses of a sandbox.
    fn attached(&self, sb: &Sandbox) -> Attached {
        Attached {
            endpoints: sb.endpoints.clone(),
            ports: sb.ports.clone(),
            hosts: hosts_file(sb),
            resolv_conf: resolv_file(sb),
        }
    }

    // ---- reconciliation ----------------------------------------------------------------

    /// Tears down what dead owners left: sandboxes whose owner lock is free, and (with a
    /// sweep) links, leases and namespaces no record accounts for.
    pub fn reconcile(&self) -> Result<()> {
        let _g = self.lock()?;
        self.reconcile_locked(true)
    }

    fn reconcile_locked(&self, sweep: bool) -> Result<()> {
        let mut live = Vec::new();
        for sb in self.sandboxes()? {
            if owner_alive(&sb) {
                live.push(sb);
            } else {
                tracing::info!("network: tearing down the sandbox of {} (its owner is gone)", sb.short_id());
                self.teardown_locked(&sb)?;
            }
        }
        if !sweep {
            return Ok(());
        }
        let nets = self.network_records()?;
        let net_ids: HashSet<&str> = nets.iter().map(|n| n.id.as_str()).collect();
        let live_ids: HashSet<&str> = live.iter().map(|s| s.container_id.as_str()).collect();
        // Leases whose holder has no sandbox.
        if let Ok(rd) = fs::read_dir(self.dir().join("leases")) {
            for d in rd.flatten() {
                let nid = d.file_name().to_string_lossy().into_owned();
                if !net_ids.contains(nid.as_str()) {
                    let _ = fs::remove_dir_all(d.path());
                    continue;
                }
                for l in fs::read_dir(d.path()).into_iter().flatten().flatten() {
                    let holder = fs::read_to_string(l.path()).unwrap_or_default();
                    if !live_ids.contains(holder.trim()) {
                        let _ = fs::remove_file(l.path());
                    }
                }
            }
        }
        // Namespaces pinned under <root>/netns without a sandbox.
        if let Ok(rd) = fs::read_dir(self.root().join("netns")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !live_ids.contains(id.as_str()) {
                    let _ = self.kernel.netns_remove(&e.path());
                }
            }
        }
        // Links: berth's bridges whose network record is gone (in this root or a deleted
        // one), and veths on this root's bridges that no sandbox names.
        let mut nl = self.kernel.rtnl().map_err(|e| nl_err("netlink", e))?;
        let links = nl.links().map_err(|e| nl_err("listing links", e))?;
        let canon = fs::canonicalize(self.root()).unwrap_or_else(|_| self.root().to_path_buf());
        let veths: HashSet<&str> = live.iter().flat_map(|s| s.endpoints.iter().map(|e| e.veth.as_str())).collect();
        let mut our_bridges = HashSet::new();
        for l in &links {
            let Some(alias) = l.alias.as_deref().and_then(|a| a.strip_prefix("berth ")) else { continue };
            let Some((nid, root)) = alias.split_once(' ') else { continue };
            let orphan = if Path::new(root) == canon {
                !net_ids.contains(nid)
            } else {
                !Path::new(root).join("network/networks").join(format!("{nid}.json")).exists()
            };
            if orphan {
                tracing::info!("network: removing orphaned bridge {}", l.name);
                let _ = nl.delete_link(&l.name);
                if Path::new(root) != canon && !Path::new(root).join("network").exists() {
                    // The whole root is gone: its firewall table too.
                    let tag = if Path::new(root) == self.default_root.as_path() {
                        String::new()
                    } else {
                        sha_hex(root)[..8].to_string()
                    };
                    let _ = firewall::Firewall::new(self.firewall().backend, &tag).remove(&self.kernel);
                }
            } else if Path::new(root) == canon {
                our_bridges.insert(l.index);
            }
        }
        for l in &links {
            if l.master.is_some_and(|m| our_bridges.contains(&m)) && !veths.contains(l.name.as_str()) {
                tracing::info!("network: removing orphaned veth {}", l.name);
                let _ = nl.delete_link(&l.name);
            }
        }
        if live.iter().any(|s| s.needs_dns()) {
            dns::sync(self)?;
        }
        Ok(())
    }
}

/// Binds (and at once releases) a host port: the check that it is free, and the way a free
/// one is found. TCP binds as Rust's listener does (SO_REUSEADDR), so only a live socket on
/// the port makes it fail, not a recent connection in TIME_WAIT.
pub(crate) fn probe_bind(ip: Ipv4Addr, port: u16, proto: Proto) -> std::io::Result<u16> {
    match proto {
        Proto::Tcp => Ok(std::net::TcpListener::bind((ip, port))?.local_addr()?.port()),
        Proto::Udp => Ok(std::net::UdpSocket::bind((ip, port))?.local_addr()?.port()),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        _ => e.to_string(),
    }
}

/// `--add-host NAME:IP` (or `NAME=IP`, `host-gateway` for the gateway).
fn parse_add_hosts(v: &[String], gateway: Option<Ipv4Addr>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for h in v {
        let (name, ip) = h.split_once('=').or_else(|| h.split_once(':')).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            ))
        })?;
        let ip = if ip == "host-gateway" {
            gateway
                .ok_or_else(|| Error::InvalidArgument("unable to derive the IP value for host-gateway".into()))?
                .to_string()
        } else {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| Error::InvalidArgument(format!("invalid IP address in add-host: \"{ip}\"")))?;
            ip.to_string()
        };
        out.push((name.to_string(), ip));
    }
    Ok(out)
}

const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's `/etc/hosts`: loopback names, `--add-host` entries, the container's own address.
pub fn hosts_file(sb: &Sandbox) -> String {
    let mut s = HOSTS_BASE.to_string();
    for (name, ip) in &sb.extra_hosts {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some(ip) = sb.endpoints.first().and_then(|e| e.ip) {
        if !sb.hostname.is_empty() {
            s.push_str(&format!("{ip}\t{}\n", sb.hostname));
        }
    }
    s
}

/// Docker's `/etc/resolv.conf`: the embedded server on user networks, else `--dns` or the
/// host's servers (loopback ones dropped: unreachable from the container).
pub fn resolv_file(sb: &Sandbox) -> String {
    let host = host_resolv();
    let search = if sb.dns_search.is_empty() { host.search.clone() } else { sb.dns_search.clone() };
    let mut options = if sb.dns_options.is_empty() { host.options.clone() } else { sb.dns_options.clone() };
    let mut s = String::new();
    if sb.needs_dns() {
        s.push_str(&format!("nameserver {DNS_ADDR}\n"));
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    } else {
        let servers: Vec<String> = if sb.dns.is_empty() {
            host.nameservers.iter().filter(|n| !n.starts_with("127.") && n.as_str() != "::1").cloned().collect()
        } else {
            sb.dns.clone()
        };
        let servers = if servers.is_empty() && !sb.endpoints.is_empty() {
            vec!["8.8.8.8".into(), "8.8.4.4".into()]
        } else {
            servers
        };
        for n in servers {
            s.push_str(&format!("nameserver {n}\n"));
        }
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// Whether a lock file is currently held by someone (used by [`dns`], and by tests).
pub fn lock_held(p: &Path) -> bool {
    let Ok(f) = File::open(p) else { return false };
    match FileExt::try_lock_exclusive(&f) {
        Ok(true) => {
            let _ = FileExt::unlock(&f);
            false
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("my-net_1.x"));
        assert!(!valid_name("-net"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
    }

    #[test]
    fn hosts_and_resolv() {
        let sb = Sandbox {
            hostname: "abc".into(),
            endpoints: vec![Endpoint {
                ip: Some(Ipv4Addr::new(172, 18, 0, 2)),
                user_defined: true,
                ..Default::default()
            }],
            extra_hosts: vec![("db".into(), "10.0.0.5".into())],
            ..Default::default()
        };
        let h = hosts_file(&sb);
        assert!(h.contains("10.0.0.5\tdb\n172.18.0.2\tabc\n"), "{h}");
        let r = resolv_file(&sb);
        assert!(r.starts_with("nameserver 127.0.0.11\n"), "{r}");
        assert!(r.contains("ndots:0"));
        let sb2 = Sandbox { dns: vec!["9.9.9.9".into()], ..Default::default() };
        assert!(resolv_file(&sb2).starts_with("nameserver 9.9.9.9\n"));
    }

    #[test]
    fn add_hosts() {
        let v = parse_add_hosts(
            &["a:1.2.3.4".into(), "b=::1".into(), "gw:host-gateway".into()],
            Some(Ipv4Addr::new(172, 17, 0, 1)),
        )
        .unwrap();
        assert_eq!(v[0], ("a".into(), "1.2.3.4".into()));
        assert_eq!(v[1], ("b".into(), "::1".into()));
        assert_eq!(v[2], ("gw".into(), "172.17.0.1".into()));
        assert!(parse_add_hosts(&["nohost".into()], None).is_err());
    }
}
