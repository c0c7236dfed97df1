//! The real [`Kernel`]: berth's own netlink client ([`crate::netlink`]), network namespaces
//! ([`crate::netns`]), the host's sysctls and firewall programs ([`crate::firewall`]) and the
//! DNS server's control socket ([`crate::dns`]). Kept apart from the traits so that the modules
//! written against them never import the implementation that calls back into them.

use crate::kernel::{Kernel, Rtnl};
use crate::netlink::{Link, Netlink, Route};
use crate::types::Proto;
use crate::Result;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{ExitStatus, Output};

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
