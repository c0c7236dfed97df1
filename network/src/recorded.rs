//! Unit tests of the decisions networking makes — which subnet a network gets, which address
//! a container leases, which ports a publish takes and which firewall changes follow, and
//! that a failure half-way undoes what was made — run against the [`Recording`] kernel, so
//! they need no root and touch nothing on the host. The same paths for real are exercised by
//! the privileged tests in `tests/tests/network.rs`.

use crate::{AttachRequest, ErrorKind, Kernel, NetworkCreate, NetworkOpts, Networks, PortSpec, Proto, Recording, Rtnl};
use std::net::Ipv4Addr;
use std::path::Path;

/// A state root in a temporary directory, its networks in a recording kernel.
struct Fx {
    _dir: tempfile::TempDir,
    nets: Networks<Recording>,
    k: Recording,
}

fn fx_with(backend: &str) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("network")).unwrap();
    // Decided once per root; written here so the host's `nft`/`iptables` do not matter.
    std::fs::write(root.join("network/firewall"), backend).unwrap();
    let k = Recording::new();
    let nets = Networks::with_kernel(&root, "/var/lib/berth", dir.path().join("subnets.lock"), k.clone());
    Fx { _dir: dir, nets, k }
}

fn fx() -> Fx {
    fx_with("nftables")
}

fn create(f: &Fx, name: &str, subnet: Option<&str>) -> crate::Result<crate::Network> {
    f.nets.create(name, &NetworkCreate { subnet: subnet.map(String::from), ..Default::default() })
}

/// A container `id` (named `id` too) asking for `network` with `-p` specs.
fn attach(f: &Fx, id: &str, network: &str, publish: &[&str]) -> crate::Result<crate::Attached> {
    let publish = publish.iter().flat_map(|p| PortSpec::parse(p).unwrap()).collect();
    f.nets.attach(&AttachRequest {
        container_id: id.into(),
        name: id.into(),
        hostname: id.into(),
        netns: f.nets.netns_path(id),
        create_netns: true,
        owner: None,
        opts: NetworkOpts { network: network.into(), publish, ..Default::default() },
    })
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn subnet_choice_skips_host_routes_and_other_networks() {
    let f = fx();
    f.k.host_link("eth0", "172.17.0.5/16", None);
    f.k.host_route("172.18.0.0/16");
    let a = create(&f, "a", None).unwrap();
    assert_eq!((a.subnet.as_str(), a.gateway.as_str()), ("172.19.0.0/16", "172.19.0.1"));
    // The next one skips the first (its record, and its bridge's route).
    let b = create(&f, "b", None).unwrap();
    assert_eq!(b.subnet, "172.20.0.0/16");
    // The bridge: made after the firewall knows it, MAC derived from the gateway, marked
    // with an alias naming network and root, addressed, and the sysctls it needs.
    let fw = f.k.position("run nft -f -").unwrap();
    let br = f.k.position(&format!("create_bridge {} mac=02:42:ac:13:00:01", a.bridge)).unwrap();
    assert!(fw < br, "{:#?}", f.k.calls());
    let canon = std::fs::canonicalize(f.nets.root()).unwrap();
    assert_eq!(f.k.matching("set_alias").len(), 2);
    assert!(f.k.matching("set_alias")[0].ends_with(&format!("berth {} {}", a.id, canon.display())));
    assert_eq!(f.k.addresses_of(&a.bridge), vec!["172.19.0.1/16"]);
    assert!(f.k.position(&format!("sysctl net/ipv4/conf/{}/route_localnet=1", a.bridge)).is_some());
    assert!(f.k.position("sysctl net/ipv4/ip_forward=1").is_some());
    // A root that is not the default one tags its kernel objects.
    assert!(f.nets.firewall().name.starts_with("berth_"));
}

#[test]
fn subnet_pools_exhausted() {
    let f = fx();
    for r in ["172.16.0.0/12", "192.168.0.0/16", "10.0.0.0/8"] {
        f.k.host_route(r);
    }
    let e = create(&f, "full", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(
        e.to_string(),
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    );
    assert_eq!(f.nets.find("full").unwrap_err().kind(), ErrorKind::NotFound);
    assert!(f.k.position("create_bridge").is_none());
    // An explicit subnet still works: Docker refuses only overlaps with its own networks.
    let n = create(&f, "given", Some("10.1.2.0/24")).unwrap();
    assert_eq!(n.gateway, "10.1.2.1");
}

#[test]
fn explicit_subnets_are_checked() {
    let f = fx();
    create(&f, "n1", Some("10.231.0.0/24")).unwrap();
    let e = create(&f, "n2", Some("10.231.0.128/25")).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (ErrorKind::Conflict, "Pool overlaps with other one on this address space")
    );
    // Another (live) berth root's bridge counts too (its routes); a foreign interface does not.
    let other = f.nets.root().with_file_name("other-root");
    std::fs::create_dir_all(other.join("network/networks")).unwrap();
    std::fs::write(other.join("network/networks/0123.json"), "{}").unwrap();
    f.k.host_link("br-elsewhere", "10.9.0.1/16", Some(&format!("berth 0123 {}", other.display())));
    f.k.host_link("wg0", "10.10.0.1/16", None);
    assert_eq!(create(&f, "n3", Some("10.9.1.0/24")).unwrap_err().kind(), ErrorKind::Conflict);
    // Host bits are dropped, as Docker does.
    assert_eq!(create(&f, "n4", Some("10.10.5.7/24")).unwrap().subnet, "10.10.5.0/24");
    let bad = |s: &str, gw: Option<&str>| {
        let o = NetworkCreate { subnet: Some(s.into()), gateway: gw.map(String::from), ..Default::default() };
        let e = f.nets.create("x", &o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        e.to_string()
    };
    assert_eq!(bad("10.0.0.0/31", None), "invalid subnet 10.0.0.0/31: too small for a network");
    assert_eq!(bad("bogus", None), "invalid CIDR address: bogus");
    assert_eq!(bad("10.77.0.0/24", Some("10.78.0.1")), "no matching subnet for gateway 10.78.0.1");
    assert_eq!(bad("10.77.0.0/24", Some("10.77.0.255")), "no matching subnet for gateway 10.77.0.255");
    // None of the failures left a record behind.
    assert_eq!(f.nets.find("x").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn names_are_unique_and_well_formed() {
    let f = fx();
    create(&f, "front", None).unwrap();
    let e = create(&f, "front", None).unwrap_err();
    assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::Conflict, "network with name front already exists"));
    for predefined in ["bridge", "host", "none"] {
        assert_eq!(create(&f, predefined, None).unwrap_err().kind(), ErrorKind::Conflict);
    }
    let e = create(&f, "-front", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().starts_with("invalid network name \"-front\""), "{e}");
    let o = NetworkCreate { driver: Some("overlay".into()), ..Default::default() };
    let e = f.nets.create("ov", &o).unwrap_err();
    assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::NotFound, "plugin \"overlay\" not found"));
    // Found by name, by id prefix; `default` is the default bridge.
    let n = f.nets.find("front").unwrap();
    assert_eq!(f.nets.find(&n.id[..6]).unwrap().name, "front");
    assert_eq!(f.nets.find("default").unwrap().name, "bridge");
    // One of each in the listing, the pseudo networks last.
    let names: Vec<String> = f.nets.list().unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, vec!["front", "bridge", "host", "none"]);
}

#[test]
fn leases_fill_a_small_subnet_then_run_out() {
    let f = fx();
    let n = create(&f, "small", Some("10.50.0.0/29")).unwrap();
    // .1 is the gateway; .2 to .6 are the hosts; .7 is the broadcast address.
    for (i, c) in ["c2", "c3", "c4", "c5", "c6"].iter().enumerate() {
        let a = attach(&f, c, "small", &[]).unwrap();
        assert_eq!(a.ip(), Some(Ipv4Addr::new(10, 50, 0, 2 + i as u8)));
        assert_eq!(a.gateway(), Some(ip("10.50.0.1")));
    }
    assert_eq!(f.nets.lease_count(), 5);
    let e = attach(&f, "c7", "small", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(e.to_string(), format!("no available IPv4 addresses on this network's address pools: small ({})", n.id));
    // The refused container left nothing: no record, lease or namespace.
    assert!(f.nets.sandbox("c7").unwrap().is_none());
    assert!(!f.nets.netns_path("c7").exists());
    assert_eq!(f.nets.lease_count(), 5);
    // A released address is the next one handed out.
    f.nets.detach("c3").unwrap();
    assert_eq!(attach(&f, "c8", "small", &[]).unwrap().ip(), Some(ip("10.50.0.3")));
}

#[test]
fn fixed_addresses() {
    let f = fx();
    create(&f, "fixed", Some("10.60.0.0/24")).unwrap();
    let with_ip = |id: &str, network: &str, addr: &str| {
        f.nets.attach(&AttachRequest {
            container_id: id.into(),
            name: id.into(),
            netns: f.nets.netns_path(id),
            create_netns: true,
            opts: NetworkOpts { network: network.into(), ip: Some(ip(addr)), ..Default::default() },
            ..Default::default()
        })
    };
    assert_eq!(with_ip("a", "fixed", "10.60.0.50").unwrap().ip(), Some(ip("10.60.0.50")));
    let e = with_ip("b", "fixed", "10.60.0.50").unwrap_err();
    assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::Conflict, "Address already in use"));
    for outside in ["10.61.0.5", "10.60.0.1", "10.60.0.0", "10.60.0.255"] {
        let e = with_ip("b", "fixed", outside).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{outside}: {e}");
    }
    let e = with_ip("b", "bridge", "172.17.0.9").unwrap_err();
    assert_eq!(e.to_string(), "user specified IP address is supported on user defined networks only");
    assert_eq!(f.nets.lease_count(), 1);
    assert_eq!(f.nets.sandboxes().unwrap().len(), 1);
}

#[test]
fn attach_makes_namespace_veth_and_address_in_order_and_detach_undoes_it() {
    let f = fx();
    let n = create(&f, "app", Some("10.70.0.0/16")).unwrap();
    let a = attach(&f, "web", "app", &[]).unwrap();
    let ns = f.nets.netns_path("web");
    let ep = &a.endpoints[0];
    assert_eq!((ep.ifname.as_str(), ep.mac.as_str()), ("eth0", "02:42:0a:46:00:02"));
    assert!(ep.user_defined && ep.veth.starts_with("veth") && ep.veth.len() == 11);
    let order = [
        format!("netns_create {}", ns.display()),
        format!("create_veth {} master=", ep.veth),
        "set_hairpin ".to_string(),
        format!("[{}] configure 2 10.70.0.2/16 gw=10.70.0.1", ns.display()),
        "dns sync".to_string(),
    ];
    let at: Vec<usize> =
        order.iter().map(|p| f.k.position(p).unwrap_or_else(|| panic!("no {p} in {:#?}", f.k.calls()))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?} in {:#?}", f.k.calls());
    assert_eq!(f.k.interfaces_in(&ns).unwrap(), vec!["lo", "eth0"]);
    // The files the container will see: its own name, and the embedded DNS server.
    assert!(a.hosts.ends_with("10.70.0.2\tweb\n"), "{}", a.hosts);
    assert!(a.resolv_conf.starts_with("nameserver 127.0.0.11\n"), "{}", a.resolv_conf);
    // No ports published, no firewall work on the start path.
    assert_eq!(f.k.matching("run nft").len(), 1, "only the network's creation: {:#?}", f.k.calls());
    let sb = f.nets.sandbox("web").unwrap().unwrap();
    assert_eq!((sb.netns, sb.owner_pid), (ns.clone(), std::process::id()));
    // Attaching the same namespace again from the same owner is a no-op.
    let before = f.k.calls().len();
    assert_eq!(attach(&f, "web", "app", &[]).unwrap().ip(), a.ip());
    assert_eq!(f.k.calls().len(), before);

    f.nets.detach("web").unwrap();
    // Its own namespace going away takes the veth with it: no netlink deletion needed.
    assert!(f.k.position(&format!("delete_link {}", ep.veth)).is_none());
    assert!(f.k.position(&format!("netns_remove {}", ns.display())).is_some());
    assert!(!f.k.link_names().contains(&ep.veth));
    assert!(f.k.link_names().contains(&n.bridge));
    assert!(f.nets.sandbox("web").unwrap().is_none());
    assert_eq!(f.nets.lease_count(), 0);
    f.nets.detach("web").unwrap(); // idempotent
}

#[test]
fn port_plans_publish_and_refuse_conflicts() {
    let f = fx();
    create(&f, "pub", Some("10.80.0.0/24")).unwrap();
    let table = f.nets.firewall().name;
    let a = attach(&f, "a", "pub", &["8080:80", "127.0.0.1::53/udp"]).unwrap();
    let cip = a.ip().unwrap();
    assert_eq!(a.ports.len(), 2);
    assert_eq!((a.ports[0].host_ip, a.ports[0].host_port, a.ports[0].container_port), (ip("0.0.0.0"), 8080, 80));
    // A free host port is picked by a probe bind (the recording kernel's first ephemeral).
    assert_eq!((a.ports[1].host_ip, a.ports[1].host_port, a.ports[1].proto), (ip("127.0.0.1"), 32768, Proto::Udp));
    assert!(f.k.position("probe_bind 0.0.0.0:8080/tcp").is_some());
    // One incremental update of the two maps, after the container is configured.
    let add = f.k.matching("run nft -f -").pop().unwrap();
    assert!(add.contains(&format!("add element ip {table} pub_any {{ tcp . 8080 : {cip} . 80 }}")), "{add}");
    assert!(
        add.contains(&format!("add element ip {table} pub_ip {{ 127.0.0.1 . udp . 32768 : {cip} . 53 }}")),
        "{add}"
    );
    assert!(f.k.position("[").unwrap() < f.k.calls().iter().rposition(|c| c.starts_with("run nft")).unwrap());

    // Another container asking for the same host port is refused before anything is made.
    let calls = f.k.calls().len();
    let e = attach(&f, "b", "pub", &["8080:81"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "driver failed programming external connectivity on endpoint b: Bind for 0.0.0.0:8080 failed: port is already allocated"
    );
    assert!(f.k.calls()[calls..].iter().all(|c| !c.starts_with("netns_create") && !c.starts_with("create_veth")));
    assert!(f.nets.sandbox("b").unwrap().is_none());
    assert_eq!(f.nets.lease_count(), 1);
    // Same port on a specific address clashes with the wildcard; twice in one request too.
    assert_eq!(attach(&f, "b", "pub", &["10.0.0.1:8080:80"]).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(attach(&f, "b", "pub", &["7000:80", "7000:81"]).unwrap_err().kind(), ErrorKind::Conflict);
    // A port another program holds fails the bind probe.
    f.k.hold_port(Ipv4Addr::UNSPECIFIED, 9090, Proto::Tcp);
    let e = attach(&f, "b", "pub", &["9090:80"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().ends_with("listen tcp4 0.0.0.0:9090: bind: address already in use"), "{e}");
    // The same number over UDP is another port.
    assert_eq!(attach(&f, "b", "pub", &["8080:80/udp"]).unwrap().ports[0].host_port, 8080);
    assert_eq!(f.nets.lease_count(), 2);

    // Unpublishing removes exactly a's elements.
    f.nets.detach("a").unwrap();
    let del = f.k.matching("run nft -f -").pop().unwrap();
    assert!(del.contains(&format!("delete element ip {table} pub_any {{ tcp . 8080 }}")), "{del}");
    assert!(del.contains(&format!("delete element ip {table} pub_ip {{ 127.0.0.1 . udp . 32768 }}")), "{del}");
    assert!(!del.contains("udp . 8080"), "{del}");
}

#[test]
fn a_failure_half_way_undoes_the_attach() {
    let f = fx();
    create(&f, "frail", Some("10.90.0.0/24")).unwrap();
    f.k.fail("create_veth", libc::EPERM);
    let e = attach(&f, "x", "frail", &["8081:80"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().starts_with("creating veth veth"), "{e}");
    assert!(e.to_string().ends_with("Operation not permitted (os error 1)"), "{e}");
    assert!(f.nets.sandbox("x").unwrap().is_none());
    assert_eq!(f.nets.lease_count(), 0);
    assert!(f.k.namespaces().is_empty());
    assert!(!f.nets.netns_path("x").exists());
    // The same container then starts cleanly.
    assert_eq!(attach(&f, "x", "frail", &["8081:80"]).unwrap().ip(), Some(ip("10.90.0.2")));
}

#[test]
fn a_firewall_failure_undoes_network_create() {
    let f = fx();
    f.k.fail("run nft", libc::EIO);
    let e = create(&f, "nofw", None).unwrap_err();
    assert!(e.to_string().starts_with("nft -f -: Error:"), "{e}");
    assert_eq!(f.nets.find("nofw").unwrap_err().kind(), ErrorKind::NotFound);
    let dels = f.k.matching("delete_link br-");
    assert_eq!(dels.len(), 1, "{:#?}", f.k.calls());
    assert!(f.k.link_names().iter().all(|l| !l.starts_with("br-")));
}

#[test]
fn networks_in_use_or_predefined_are_not_removed() {
    let f = fx();
    let n = create(&f, "busy", None).unwrap();
    attach(&f, "user", "busy", &[]).unwrap();
    let e = f.nets.remove("busy").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("error while removing network: network busy id {} has active endpoints (containers: user)", n.id)
    );
    assert_eq!(
        f.nets.remove("bridge").unwrap_err().to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    assert_eq!(f.nets.remove("nope").unwrap_err().kind(), ErrorKind::NotFound);
    f.nets.detach("user").unwrap();
    f.nets.remove("busy").unwrap();
    assert!(f.k.position(&format!("delete_link {}", n.bridge)).is_some());
    assert!(!f.k.link_names().contains(&n.bridge));
    // The last network gone, the firewall table goes too.
    let last = f.k.calls().last().cloned().unwrap();
    assert!(last.contains(&format!("delete table ip {}", f.nets.firewall().name)), "{last}");
}

#[test]
fn reconcile_reaps_dead_owners_and_orphaned_links() {
    let f = fx();
    create(&f, "rec", Some("10.95.0.0/24")).unwrap();
    let owner = f.nets.root().join("owner.lock");
    std::fs::write(&owner, "").unwrap();
    let held = std::fs::File::open(&owner).unwrap();
    fs4::fs_std::FileExt::lock_exclusive(&held).unwrap();
    f.nets
        .attach(&AttachRequest {
            container_id: "live".into(),
            name: "live".into(),
            netns: f.nets.netns_path("live"),
            create_netns: true,
            owner: Some(owner.clone()),
            opts: NetworkOpts { network: "rec".into(), ..Default::default() },
            ..Default::default()
        })
        .unwrap();
    // A bridge of this root that no record names (a crash between kernel and record).
    let canon = std::fs::canonicalize(f.nets.root()).unwrap();
    f.k.host_link("br-0ld", "10.96.0.1/24", Some(&format!("berth deadbeef {}", canon.display())));
    f.nets.reconcile().unwrap();
    assert!(f.nets.sandbox("live").unwrap().is_some(), "a live owner's sandbox was reaped");
    assert!(!f.k.link_names().contains(&"br-0ld".to_string()));
    // The owner lets go (its process died): the next reconciliation tears the sandbox down.
    drop(held);
    f.nets.reconcile().unwrap();
    assert!(f.nets.sandbox("live").unwrap().is_none());
    assert_eq!(f.nets.lease_count(), 0);
    assert!(f.k.namespaces().is_empty());
}

#[test]
fn iptables_backend_writes_chains_and_hooks() {
    let f = fx_with("iptables");
    let n = create(&f, "ipt", Some("10.97.0.0/24")).unwrap();
    let prefix = f.nets.firewall().name.to_ascii_uppercase();
    let restore = f.k.matching("run iptables-restore --noflush -w").pop().unwrap();
    assert!(
        restore.contains(&format!("-A {prefix}-POST -s 10.97.0.0/24 ! -o {} -j MASQUERADE", n.bridge)),
        "{restore}"
    );
    assert!(restore.contains(&format!("-A {prefix}-GUARD -i {} -d 127.0.0.0/8 -j DROP", n.bridge)), "{restore}");
    // Hooks are checked (-C) before being added; the recording kernel answers "present".
    assert_eq!(f.k.matching("run iptables -w -t nat -C PREROUTING").len(), 1);
    assert!(f.k.matching("run iptables -w -t nat -A").is_empty());
}

#[test]
fn recording_kernel_models_namespaces() {
    // The fake itself: a veth into a namespace that does not exist fails as the kernel does.
    let k = Recording::new();
    let mut host = k.rtnl().unwrap();
    let br = host.create_bridge("br0", None, [2, 0, 0, 0, 0, 1]).unwrap();
    assert_eq!(host.create_bridge("br0", None, [0; 6]).unwrap_err().raw_os_error(), Some(libc::EEXIST));
    assert!(host.create_veth("v0", br, None, "eth0", &Path::new("/nowhere").to_path_buf(), [0; 6]).is_err());
    assert!(k.rtnl_in(&Path::new("/nowhere").to_path_buf()).is_err());
    assert_eq!(host.link_index("br0").unwrap(), Some(br));
    host.delete_link("missing").unwrap();
}
