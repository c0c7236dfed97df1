//! A minimal, blocking rtnetlink client: just the link, address and route operations berth's
//! networks need, spoken directly over an `AF_NETLINK` socket.
//!
//! Why not a crate: `rtnetlink` needs a tokio runtime, and the calls happen in the container's
//! supervisor on the start path, where spawning a runtime (or `ip`) would cost more than the
//! netlink round trips themselves. The wire format is small and stable: a `nlmsghdr`, a fixed
//! header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) and nested type-length-value attributes. A socket
//! opened inside a network namespace stays bound to it, which is how a container's side of a
//! veth pair is configured without moving the calling thread for longer than `socket(2)`.

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_ROOT: u16 = 0x100;
const NLM_F_MATCH: u16 = 0x200;
const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4; // hairpin
const IFLA_PROTINFO: u16 = 12;
const NLA_F_NESTED: u16 = 0x8000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

const IFF_UP: u32 = libc::IFF_UP as u32;

/// A link as a dump reports it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub alias: Option<String>,
    pub master: Option<u32>,
}

/// An IPv4 route of the main table (destination network only: what subnet choice needs).
#[derive(Debug, Clone)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub oif: Option<u32>,
}

/// One netlink request being built: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set by the socket
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        Msg { buf, nests: Vec::new() }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: u32, flags: u32, change: u32) -> Msg {
        self.push_ifinfo(index, flags, change);
        self
    }

    fn push_ifinfo(&mut self, index: u32, flags: u32, change: u32) {
        self.buf.push(libc::AF_UNSPEC as u8);
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&(index as i32).to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    /// `struct ifaddrmsg`.
    fn ifaddr(mut self, prefix: u8, index: u32) -> Msg {
        self.buf.extend_from_slice(&[libc::AF_INET as u8, prefix, 0, RT_SCOPE_UNIVERSE]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// `struct rtmsg` for an IPv4 unicast route in the main table.
    fn rtmsg(mut self, dst_len: u8) -> Msg {
        self.buf.extend_from_slice(&[
            libc::AF_INET as u8,
            dst_len,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        ]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Msg {
        self.push_attr(kind, data);
        self
    }

    fn push_attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
    }

    fn str_attr(self, kind: u16, s: &str) -> Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d)
    }

    fn u32_attr(self, kind: u16, v: u32) -> Msg {
        self.attr(kind, &v.to_ne_bytes())
    }

    fn nest(mut self, kind: u16) -> Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(mut self) -> Msg {
        let at = self.nests.pop().expect("balanced nests");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// A NETLINK_ROUTE socket (in whichever network namespace it was opened).
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let fd =
            socket::socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        // Port id 0: the kernel picks one.
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 1 })
    }

    /// Opens a socket inside the network namespace `ns` (an nsfs file): a short-lived thread
    /// joins the namespace just long enough to create the socket, which stays bound to it.
    pub fn open_in(ns: &File) -> io::Result<Netlink> {
        std::thread::scope(|s| {
            s.spawn(|| {
                // Only this disposable thread moves; it ends right after.
                setns(ns, CloneFlags::CLONE_NEWNET)?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    fn send(&mut self, mut m: Msg) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = m.buf.len() as u32;
        m.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        m.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        socket::send(self.fd.as_raw_fd(), &m.buf, MsgFlags::empty())?;
        Ok(seq)
    }

    /// Receives one datagram into `buf` (sized to its capacity first).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let cap = buf.capacity().max(8192);
        buf.clear();
        buf.resize(cap, 0);
        loop {
            match socket::recv(self.fd.as_raw_fd(), buf, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    buf.clear();
                    return Err(e.into());
                }
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(n);
                }
            }
        }
    }

    /// Sends a request and waits for its acknowledgement (or error).
    fn request(&mut self, m: Msg) -> io::Result<()> {
        let seq = self.send(m)?;
        let mut buf = Vec::with_capacity(8192);
        loop {
            self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf) {
                if mseq != seq {
                    continue;
                }
                if kind == NLMSG_ERROR {
                    let err = i32::from_ne_bytes(payload.get(0..4).unwrap_or(&[0; 4]).try_into().unwrap());
                    return if err == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-err)) };
                }
            }
        }
    }

    /// Sends a dump request and returns each reply's payload (fixed header + attributes).
    fn dump(&mut self, m: Msg) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.send(m)?;
        let mut out = Vec::new();
        let mut buf = Vec::with_capacity(32768);
        loop {
            self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf) {
                if mseq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let err = i32::from_ne_bytes(payload.get(0..4).unwrap_or(&[0; 4]).try_into().unwrap());
                        return Err(io::Error::from_raw_os_error(-err));
                    }
                    _ => out.push(payload.to_vec()),
                }
            }
        }
    }

    /// The index of the link called `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        Ok(self.link(name)?.map(|(i, _)| i))
    }

    /// The index and hardware address of the link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<(u32, Option<[u8; 6]>)>> {
        let m = Msg::new(RTM_GETLINK, NLM_F_REQUEST).ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        let seq = self.send(m)?;
        let mut buf = Vec::with_capacity(8192);
        loop {
            self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf) {
                if mseq != seq {
                    continue;
                }
                if kind == NLMSG_ERROR {
                    let err = i32::from_ne_bytes(payload.get(0..4).unwrap_or(&[0; 4]).try_into().unwrap());
                    return match -err {
                        0 => Ok(None),
                        libc::ENODEV => Ok(None),
                        e => Err(io::Error::from_raw_os_error(e)),
                    };
                }
                if kind == RTM_NEWLINK && payload.len() >= 16 {
                    let index = i32::from_ne_bytes(payload[4..8].try_into().unwrap()) as u32;
                    let mac = attrs(&payload[16..])
                        .into_iter()
                        .find(|(k, v)| *k == IFLA_ADDRESS && v.len() == 6)
                        .map(|(_, v)| v.try_into().unwrap());
                    return Ok(Some((index, mac)));
                }
            }
        }
    }

    /// Sets a link's hardware address.
    pub fn set_address(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        self.request(Msg::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, 0, 0).attr(IFLA_ADDRESS, &mac))
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let m = Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP).ifinfo(0, 0, 0);
        let mut out = Vec::new();
        for p in self.dump(m)? {
            if p.len() < 16 {
                continue;
            }
            let index = i32::from_ne_bytes(p[4..8].try_into().unwrap()) as u32;
            let mut l = Link { index, name: String::new(), alias: None, master: None };
            for (k, v) in attrs(&p[16..]) {
                match k {
                    IFLA_IFNAME => l.name = cstr(v),
                    IFLA_IFALIAS => l.alias = Some(cstr(v)),
                    IFLA_MASTER if v.len() >= 4 => l.master = Some(u32::from_ne_bytes(v[..4].try_into().unwrap())),
                    _ => {}
                }
            }
            out.push(l);
        }
        Ok(out)
    }

    /// The IPv4 routes of the main table.
    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let m = Msg::new(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP).rtmsg(0);
        let mut out = Vec::new();
        for p in self.dump(m)? {
            if p.len() < 12 || p[0] != libc::AF_INET as u8 {
                continue;
            }
            let prefix = p[1];
            let mut table = p[4] as u32;
            let mut r = Route { dst: Ipv4Addr::UNSPECIFIED, prefix, oif: None };
            for (k, v) in attrs(&p[12..]) {
                match k {
                    RTA_DST if v.len() >= 4 => r.dst = Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                    RTA_OIF if v.len() >= 4 => r.oif = Some(u32::from_ne_bytes(v[..4].try_into().unwrap())),
                    RTA_TABLE if v.len() >= 4 => table = u32::from_ne_bytes(v[..4].try_into().unwrap()),
                    _ => {}
                }
            }
            if table == RT_TABLE_MAIN as u32 {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The IPv4 addresses assigned in the namespace: (link index, address, prefix).
    pub fn addresses(&mut self) -> io::Result<Vec<(u32, Ipv4Addr, u8)>> {
        let m = Msg::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).ifaddr(0, 0);
        let mut out = Vec::new();
        for p in self.dump(m)? {
            if p.len() < 8 || p[0] != libc::AF_INET as u8 {
                continue;
            }
            let prefix = p[1];
            let index = u32::from_ne_bytes(p[4..8].try_into().unwrap());
            for (k, v) in attrs(&p[8..]) {
                if k == IFA_LOCAL && v.len() >= 4 {
                    out.push((index, Ipv4Addr::new(v[0], v[1], v[2], v[3]), prefix));
                }
            }
        }
        Ok(out)
    }

    /// Creates a bridge, up, with the given MAC address. `EEXIST` if the name is taken.
    ///
    /// A bridge without an address of its own takes the lowest of its ports' addresses, so
    /// every container's veth joining or leaving would change it: an address-change event
    /// (neighbour and IPv6 work in the kernel) on each start and removal, and a gateway whose
    /// MAC flips under the containers' ARP caches. A set address never changes.
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> io::Result<u32> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, IFF_UP, IFF_UP)
            .str_attr(IFLA_IFNAME, name)
            .attr(IFLA_ADDRESS, &mac);
        if let Some(mtu) = mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        let m = m.nest(IFLA_LINKINFO).str_attr(IFLA_INFO_KIND, "bridge").end();
        self.request(m)?;
        self.link_index(name)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Sets a link's alias (berth marks the links it owns with one).
    pub fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        let m =
            Msg::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, 0, 0).attr(IFLA_IFALIAS, alias.as_bytes());
        self.request(m)
    }

    /// Creates a veth pair: `host` in this namespace, enslaved to `master` and up; `peer`
    /// created directly inside the namespace `peer_ns` with the given MAC address, down.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        mtu: Option<u32>,
        peer: &str,
        peer_ns: &File,
        peer_mac: [u8; 6],
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, IFF_UP, IFF_UP)
            .str_attr(IFLA_IFNAME, host)
            .u32_attr(IFLA_MASTER, master);
        if let Some(mtu) = mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        let mut m = m.nest(IFLA_LINKINFO).str_attr(IFLA_INFO_KIND, "veth").nest(IFLA_INFO_DATA).nest(VETH_INFO_PEER);
        m.push_ifinfo(0, 0, 0);
        let mut m = m
            .str_attr(IFLA_IFNAME, peer)
            .u32_attr(IFLA_NET_NS_FD, peer_ns.as_raw_fd() as u32)
            .attr(IFLA_ADDRESS, &peer_mac);
        if let Some(mtu) = mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        let m = m.end().end().end();
        self.request(m)
    }

    /// Lets a bridge port send frames back where they came from (a container reaching its
    /// own published port through the host).
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let m = Msg::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)
            .ifinfo(index, 0, 0)
            .nest(IFLA_PROTINFO)
            .attr(IFLA_BRPORT_MODE, &[1])
            .end();
        // The bridge's protinfo is addressed with family AF_BRIDGE.
        let mut m = m;
        m.buf[16] = libc::AF_BRIDGE as u8;
        self.request(m)
    }

    /// Brings a link up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        self.request(Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, IFF_UP, IFF_UP))
    }

    /// Adds `addr/prefix` to a link.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let bcast = if prefix < 31 { u32::from(addr) | (u32::MAX >> prefix) } else { u32::from(addr) };
        let m = Msg::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .ifaddr(prefix, index)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets())
            .attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
        self.request(m)
    }

    /// Configures a container's interface in one batch: address, link up, and (with a
    /// gateway) the default route; one send, then the acknowledgements.
    pub fn configure(&mut self, index: u32, addr: Ipv4Addr, prefix: u8, gw: Option<Ipv4Addr>) -> io::Result<()> {
        let bcast = if prefix < 31 { u32::from(addr) | (u32::MAX >> prefix) } else { u32::from(addr) };
        let mut msgs = vec![
            Msg::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
                .ifaddr(prefix, index)
                .attr(IFA_LOCAL, &addr.octets())
                .attr(IFA_ADDRESS, &addr.octets())
                .attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets()),
            Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, IFF_UP, IFF_UP),
        ];
        if let Some(gw) = gw {
            msgs.push(
                Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
                    .rtmsg(0)
                    .attr(RTA_GATEWAY, &gw.octets())
                    .u32_attr(RTA_OIF, index),
            );
        }
        let mut batch = Vec::new();
        let mut seqs = Vec::new();
        for mut m in msgs {
            self.seq = self.seq.wrapping_add(1);
            let len = m.buf.len() as u32;
            m.buf[0..4].copy_from_slice(&len.to_ne_bytes());
            m.buf[8..12].copy_from_slice(&self.seq.to_ne_bytes());
            seqs.push(self.seq);
            batch.extend_from_slice(&m.buf);
        }
        socket::send(self.fd.as_raw_fd(), &batch, MsgFlags::empty())?;
        let mut buf = Vec::with_capacity(8192);
        let mut first_err = None;
        while !seqs.is_empty() {
            self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf) {
                if kind == NLMSG_ERROR && seqs.contains(&mseq) {
                    seqs.retain(|s| *s != mseq);
                    let err = i32::from_ne_bytes(payload.get(0..4).unwrap_or(&[0; 4]).try_into().unwrap());
                    if err != 0 && first_err.is_none() {
                        first_err = Some(io::Error::from_raw_os_error(-err));
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Adds the default route via `gw`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr, oif: u32) -> io::Result<()> {
        let m = Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .rtmsg(0)
            .attr(RTA_GATEWAY, &gw.octets())
            .u32_attr(RTA_OIF, oif);
        self.request(m)
    }

    /// Deletes a link by name; a missing link is not an error.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let m = Msg::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        match self.request(m) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }
}

/// Splits a receive buffer into (type, seq, payload) messages.
fn messages(buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
        out.push((kind, seq, &buf[off + 16..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Splits an attribute area into (type, value) pairs (nesting flag stripped).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & !NLA_F_NESTED;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        let adv = ((len + 3) & !3).min(b.len());
        b = &b[adv..];
    }
    out
}

fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_sized() {
        let m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST)
            .ifinfo(0, 0, 0)
            .nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .end();
        // header 16 + ifinfomsg 16 + nest header 4 + "veth\0" attribute (4 + 5, padded to 12)
        assert_eq!(m.buf.len(), 16 + 16 + 4 + 12);
        let a = attrs(&m.buf[32..]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, IFLA_LINKINFO);
        let inner = attrs(a[0].1);
        assert_eq!(inner[0], (IFLA_INFO_KIND, &b"veth\0"[..]));
    }

    #[test]
    fn lists_loopback() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let mut nl = Netlink::open().unwrap();
        let links = nl.links().unwrap();
        assert!(links.iter().any(|l| l.name == "lo" && l.index == 1), "{links:?}");
        assert_eq!(nl.link_index("lo").unwrap(), Some(1));
        assert_eq!(nl.link_index("no-such-link0").unwrap(), None);
        assert!(!nl.routes().unwrap().is_empty() || nl.addresses().is_ok());
    }
}
