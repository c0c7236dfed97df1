//! The vocabulary of networks: CIDR subnets, port specs as `-p` writes them, and the records
//! berth keeps on disk for networks and for each container's network sandbox.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

/// An IPv4 network in CIDR form (`172.18.0.0/16`); the address is kept as given, so a
/// gateway can be written `172.18.0.1/16` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        Ipv4Net { addr, prefix }
    }
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix as u32)
        }
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    /// The same network with host bits cleared.
    pub fn trunc(&self) -> Ipv4Net {
        Ipv4Net::new(self.network(), self.prefix)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
    pub fn overlaps(&self, o: &Ipv4Net) -> bool {
        let m = self.mask() & o.mask();
        u32::from(self.addr) & m == u32::from(o.addr) & m
    }
    /// The n-th address of the network (1 = the first host).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - self.prefix as u32);
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network()) + n))
    }
    /// Usable host addresses (excluding network and broadcast addresses).
    pub fn hosts(&self) -> u32 {
        let size = 1u64 << (32 - self.prefix as u32);
        size.saturating_sub(2).min(u32::MAX as u64) as u32
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;
    fn from_str(s: &str) -> Result<Ipv4Net> {
        let bad = || Error::InvalidArgument(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = Error;
    fn from_str(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(Error::Unsupported("sctp ports are not supported".into())),
            _ => Err(Error::InvalidArgument(format!("invalid proto: {s}"))),
        }
    }
}

/// One port to publish, as `-p` asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The host address to publish on; `None` = every address.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port; 0 = a free one, picked at start.
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortSpec {
    /// Parses `-p [HOSTIP:][HOSTPORT:]CTRPORT[/PROTO]`, ranges included (`8000-8001:80-81`),
    /// into one spec per port.
    pub fn parse(s: &str) -> Result<Vec<PortSpec>> {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid port specification: \"{s}\"{why}"));
        let (rest, proto) = match s.rsplit_once('/') {
            Some((r, p)) => (r, p.parse::<Proto>()?),
            None => (s, Proto::Tcp),
        };
        if rest.starts_with('[') {
            return Err(Error::Unsupported(format!(
                "{s}: IPv6 host addresses are not supported (berth networks are IPv4)"
            )));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => (None, "", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some(*ip), *h, *c),
            _ => return Err(bad("")),
        };
        let host_ip = match ip {
            None | Some("") | Some("0.0.0.0") => None,
            Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| bad(": invalid host address"))?),
        };
        let range = |r: &str| -> Result<(u16, u16)> {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let a: u16 = a.parse().map_err(|_| bad(""))?;
            let b: u16 = b.parse().map_err(|_| bad(""))?;
            if a == 0 || b < a {
                return Err(bad(""));
            }
            Ok((a, b))
        };
        let (c0, c1) = range(ctr)?;
        let hosts = if host.is_empty() { None } else { Some(range(host)?) };
        if let Some((h0, h1)) = hosts {
            if h1 - h0 != c1 - c0 {
                return Err(Error::InvalidArgument(format!(
                    "invalid ranges specified for container and host Ports: {ctr} and {host}"
                )));
            }
        }
        Ok((0..=(c1 - c0))
            .map(|i| PortSpec {
                host_ip,
                host_port: hosts.map(|(h0, _)| h0 + i).unwrap_or(0),
                container_port: c0 + i,
                proto,
            })
            .collect())
    }
}

/// A port as published: where on the host, to where in the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
    pub container_ip: Ipv4Addr,
}

impl PublishedPort {
    /// `0.0.0.0:8080` as `docker port` prints it.
    pub fn host_addr(&self) -> String {
        format!("{}:{}", self.host_ip, self.host_port)
    }
}

/// A network (one bridge) as recorded in `<root>/network/networks/<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    /// `bridge` (berth's own), or the pseudo drivers `host` and `null`.
    pub driver: String,
    /// CIDR; empty for the default bridge until it is first used.
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    /// The host's bridge interface.
    pub bridge: String,
    pub labels: BTreeMap<String, String>,
}

impl Network {
    pub fn is_default(&self) -> bool {
        self.name == super::DEFAULT_NETWORK
    }
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
    pub fn subnet_net(&self) -> Option<Ipv4Net> {
        self.subnet.parse().ok()
    }
    pub fn gateway_ip(&self) -> Option<Ipv4Addr> {
        self.gateway.parse().ok()
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// What a container asks of its network (the library form of `--network`, `-p`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkOpts {
    /// The network's name or id; empty = the default bridge.
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    pub publish: Vec<PortSpec>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP` (`host-gateway` for the network's gateway).
    pub add_hosts: Vec<String>,
    /// `--mac-address` of the container's first interface (else derived from its address).
    pub mac_address: Option<String>,
    /// `--link-local-ip`: more (IPv4 link-local) addresses of the container's first interface.
    pub link_local_ips: Vec<Ipv4Addr>,
}

/// One attachment of a sandbox to a network: a veth pair and an address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    /// The host's end of the veth pair.
    pub veth: String,
    /// The interface inside the namespace (`eth0`, `eth1`...).
    pub ifname: String,
    pub aliases: Vec<String>,
    /// A user-defined network (names resolve through the embedded DNS server).
    pub user_defined: bool,
    /// `--link-local-ip` addresses, added to the interface beside its own (`/16`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<Ipv4Addr>,
}

/// Everything berth set up for one network namespace (one container), recorded in
/// `<root>/network/sandboxes/<id>.json` before any of it is made, so a crash at any point
/// leaves a record that reconciliation finds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Sandbox {
    pub container_id: String,
    pub name: String,
    pub hostname: String,
    pub netns: PathBuf,
    /// berth made the namespace (and removes it with the sandbox).
    pub netns_owned: bool,
    /// A lock file held (flock) for as long as the sandbox is in use: a container's
    /// `shim.lock`. When nobody holds it, the sandbox is stale.
    pub owner: Option<PathBuf>,
    pub owner_pid: u32,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PublishedPort>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub extra_hosts: Vec<(String, String)>,
}

impl Sandbox {
    pub fn short_id(&self) -> &str {
        &self.container_id[..12.min(self.container_id.len())]
    }
    /// Whether the embedded DNS server must answer inside this sandbox.
    pub fn needs_dns(&self) -> bool {
        self.endpoints.iter().any(|e| e.user_defined)
    }
}

/// What `attach` hands back: the addresses and the files to bind-mount into the container.
#[derive(Clone, Debug, Default)]
pub struct Attached {
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PublishedPort>,
    /// The whole `/etc/hosts`.
    pub hosts: String,
    /// The whole `/etc/resolv.conf`.
    pub resolv_conf: String,
}

impl Attached {
    /// The first address (what `NetworkSettings.IPAddress` shows).
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.endpoints.first().and_then(|e| e.ip)
    }
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.endpoints.first().and_then(|e| e.gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let n: Ipv4Net = "172.18.5.0/16".parse().unwrap();
        assert_eq!(n.network(), Ipv4Addr::new(172, 18, 0, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 18, 255, 255));
        assert!(n.contains(Ipv4Addr::new(172, 18, 9, 9)));
        assert!(!n.contains(Ipv4Addr::new(172, 19, 0, 1)));
        assert!(n.overlaps(&"172.18.3.0/24".parse().unwrap()));
        assert!(!n.overlaps(&"172.19.0.0/24".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Ipv4Net>().unwrap().overlaps(&n));
        assert_eq!(n.nth(1), Some(Ipv4Addr::new(172, 18, 0, 1)));
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn port_specs() {
        let p = PortSpec::parse("8080:80").unwrap();
        assert_eq!(p, vec![PortSpec { host_ip: None, host_port: 8080, container_port: 80, proto: Proto::Tcp }]);
        let p = PortSpec::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p[0].proto, Proto::Udp);
        let p = PortSpec::parse("80").unwrap();
        assert_eq!(p[0].host_port, 0);
        let p = PortSpec::parse("127.0.0.1::80").unwrap();
        assert_eq!((p[0].host_ip, p[0].host_port), (Some(Ipv4Addr::LOCALHOST), 0));
        let p = PortSpec::parse("8000-8002:80-82").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[2].host_port, p[2].container_port), (8002, 82));
        assert!(PortSpec::parse("8000-8002:80").is_err());
        assert!(PortSpec::parse("x:80").is_err());
        assert!(PortSpec::parse("0").is_err());
        assert!(PortSpec::parse("1.2.3:80:80").is_err());
        assert!(PortSpec::parse("80/sctp").is_err());
    }
}
