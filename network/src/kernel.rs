//! Every effect networking has on the host, behind two traits.
//!
//! Which subnet a network gets, which address a container leases, which ports a publish takes
//! and which firewall rules follow are decided by plain Rust code in this crate; what that code
//! asks of the kernel (links, addresses and routes over netlink, network namespaces, sysctls,
//! a probe bind of a host port) and of the host (the `nft`/`iptables` programs, the embedded
//! DNS server process) goes through [`Kernel`] and the per-namespace [`Rtnl`] socket. In
//! production that is [`Linux`], thin wrappers over [`netlink`](crate::netlink),
//! [`netns`](crate::netns) and `std::process`; in unit tests it is [`Recording`], which
//! records each call as a line of text and keeps a small in-memory model of links, routes,
//! namespaces and bound ports, so the logic is tested without root and without touching the
//! host (the same split as the Linux runtime's `Syscall` trait).

mod recording;

pub use recording::{Recording, RecordingRtnl};

use crate::netlink::{Link, Netlink, Route};
use crate::types::Proto;
use crate::Result;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{ExitStatus, Output};

/// Route-netlink requests on one network namespace (a socket bound inside it).
pub trait Rtnl {
    /// An open network namespace, as [`Kernel::Ns`].
    type Ns;
    /// Every link of the namespace.
    fn links(&mut self) -> io::Result<Vec<Link>>;
    /// The IPv4 routes of the main table.
    fn routes(&mut self) -> io::Result<Vec<Route>>;
    /// The IPv4 addresses assigned in the namespace: (link index, address, prefix).
    fn addresses(&mut self) -> io::Result<Vec<(u32, Ipv4Addr, u8)>>;
    /// The index and hardware address of the link called `name`, if there is one.
    fn link(&mut self, name: &str) -> io::Result<Option<(u32, Option<[u8; 6]>)>>;
    /// The index of the link called `name`, if there is one.
    fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        Ok(self.link(name)?.map(|(i, _)| i))
    }
    /// Sets a link's hardware address.
    fn set_address(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()>;
    /// Creates a bridge, up, with the given MAC address. `EEXIST` if the name is taken.
    fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> io::Result<u32>;
    /// Sets a link's alias (berth marks the links it owns with one).
    fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()>;
    /// Adds `addr/prefix` to a link.
    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()>;
    /// Creates a veth pair: `host` here, enslaved to `master` and up; `peer` inside `peer_ns`.
    fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        mtu: Option<u32>,
        peer: &str,
        peer_ns: &Self::Ns,
        peer_mac: [u8; 6],
    ) -> io::Result<()>;
    /// Hairpin mode on a bridge port.
    fn set_hairpin(&mut self, index: u32) -> io::Result<()>;
    /// A container's interface in one batch: address, link up, and the default route via `gw`.
    fn configure(&mut self, index: u32, addr: Ipv4Addr, prefix: u8, gw: Option<Ipv4Addr>) -> io::Result<()>;
    /// Deletes a link by name; a missing link is not an error.
    fn delete_link(&mut self, name: &str) -> io::Result<()>;
}

/// Network namespaces, netlink sockets and the host programs networking runs.
pub trait Kernel {
    /// An open network namespace (for `IFLA_NET_NS_FD` and for sockets bound inside it).
    type Ns;
    /// A netlink socket.
    type Rtnl: Rtnl<Ns = Self::Ns>;

    /// A netlink socket in the caller's (the host's) namespace.
    fn rtnl(&self) -> io::Result<Self::Rtnl>;
    /// A netlink socket bound inside `ns`.
    fn rtnl_in(&self, ns: &Self::Ns) -> io::Result<Self::Rtnl>;
    /// Makes a namespace pinned at `path` (which must not exist), with `lo` up; returns it and
    /// a socket inside it.
    fn netns_create(&self, path: &Path) -> io::Result<(Self::Ns, Self::Rtnl)>;
    /// Opens a pinned namespace.
    fn netns_open(&self, path: &Path) -> io::Result<Self::Ns>;
    /// Whether `path` is a pinned namespace.
    fn netns_exists(&self, path: &Path) -> bool;
    /// Unpins and deletes a namespace file; missing is fine.
    fn netns_remove(&self, path: &Path) -> io::Result<()>;
    /// Writes a sysctl under /proc/sys (`net/ipv4/ip_forward`).
    fn sysctl(&self, key: &str, value: &str) -> Result<()>;
    /// Binds (and at once releases) a host port; port 0 = a free one, returned.
    fn probe_bind(&self, ip: Ipv4Addr, port: u16, proto: Proto) -> io::Result<u16>;
    /// Runs a firewall program with `input` on its stdin, collecting its output.
    fn run_piped(&self, prog: &str, args: &[&str], input: &str) -> io::Result<Output>;
    /// Runs a firewall program with no input and its output discarded.
    fn run_quiet(&self, prog: &str, args: &[&str]) -> io::Result<ExitStatus>;
    /// Sends one request (`sync`, `stop`) to the root's DNS server and waits for its `ok`.
    fn dns_request(&self, root: &Path, what: &str) -> io::Result<()>;
    /// Starts the root's DNS server process, detached.
    fn dns_spawn(&self, root: &Path) -> Result<()>;
}

/// The real kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Linux;

impl Rtnl for Netlink {
    type Ns = File;
    fn links(&mut self) -> io::Result<Vec<Link>> {
        Netlink::links(self)
    }
    fn routes(&mut self) -> io::Result<Vec<Route>> {
        Netlink::routes(self)
    }
    fn addresses(&mut self) -> io::Result<Vec<(u32, Ipv4Addr, u8)>> {
        Netlink::addresses(self)
    }
    fn link(&mut self, name: &str) -> io::Result<Option<(u32, Option<[u8; 6]>)>> {
        Netlink::link(self, name)
    }
    fn set_address(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        Netlink::set_address(self, index, mac)
    }
    fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> io::Result<u32> {
        Netlink::create_bridge(self, name, mtu, mac)
    }
    fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        Netlink::set_alias(self, index, alias)
    }
    fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        Netlink::add_address(self, index, addr, prefix)
    }
    fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        mtu: Option<u32>,
        peer: &str,
        peer_ns: &File,
        peer_mac: [u8; 6],
    ) -> io::Result<()> {
        Netlink::create_veth(self, host, master, mtu, peer, peer_ns, peer_mac)
    }
    fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        Netlink::set_hairpin(self, index)
    }
    fn configure(&mut self, index: u32, addr: Ipv4Addr, prefix: u8, gw: Option<Ipv4Addr>) -> io::Result<()> {
        Netlink::configure(self, index, addr, prefix, gw)
    }
    fn delete_link(&mut self, name: &str) -> io::Result<()> {
        Netlink::delete_link(self, name)
    }
}

impl Kernel for Linux {
    type Ns = File;
    type Rtnl = Netlink;

    fn rtnl(&self) -> io::Result<Netlink> {
        Netlink::open()
    }
    fn rtnl_in(&self, ns: &File) -> io::Result<Netlink> {
        Netlink::open_in(ns)
    }
    fn netns_create(&self, path: &Path) -> io::Result<(File, Netlink)> {
        crate::netns::create(path)
    }
    fn netns_open(&self, path: &Path) -> io::Result<File> {
        crate::netns::open(path)
    }
    fn netns_exists(&self, path: &Path) -> bool {
        crate::netns::exists(path)
    }
    fn netns_remove(&self, path: &Path) -> io::Result<()> {
        crate::netns::remove(path)
    }
    fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        crate::firewall::sysctl(key, value)
    }
    fn probe_bind(&self, ip: Ipv4Addr, port: u16, proto: Proto) -> io::Result<u16> {
        crate::probe_bind(ip, port, proto)
    }
    fn run_piped(&self, prog: &str, args: &[&str], input: &str) -> io::Result<Output> {
        crate::firewall::run_piped(prog, args, input)
    }
    fn run_quiet(&self, prog: &str, args: &[&str]) -> io::Result<ExitStatus> {
        crate::firewall::run_quiet(prog, args)
    }
    fn dns_request(&self, root: &Path, what: &str) -> io::Result<()> {
        crate::dns::request(root, what)
    }
    fn dns_spawn(&self, root: &Path) -> Result<()> {
        crate::dns::spawn(root)
    }
}
