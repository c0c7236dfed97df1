//! The glue between containers and networks: what `create` records, what the supervisor
//! sets up before the runtime joins the namespace and tears down after, and what
//! `inspect`/`port` show. The network crate ([`berth_network`]) knows nothing of containers,
//! so a wasm sandbox uses the same `attach`/`detach` with its own namespace and owner lock;
//! this is the engine's side of that line, over the engine's methods in `crate::network`.

use super::Container;
use crate::{Engine, Error, Result};
use berth_network::{AttachRequest, NetworkOpts, PortSpec, Proto, PublishedPort, Sandbox};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A container's network options, as given to `create`/`run` and kept in its record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetConfig {
    /// `-p` (parsed).
    pub publish: Vec<PortSpec>,
    /// `-P`: publish every exposed port on a free host port.
    pub publish_all: bool,
    /// Exposed ports (`80/tcp`): the image's `ExposedPorts` and `--expose`.
    pub exposed: Vec<String>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--link NAME[:ALIAS]` (see `container::runopts`).
    pub links: Vec<String>,
    /// `--mac-address`.
    pub mac_address: Option<String>,
    /// `--link-local-ip` (see `container::hostonly`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<Ipv4Addr>,
}

/// The state root a container lives in (`<root>/containers/<id>`).
fn root_of(c: &Container) -> PathBuf {
    c.dir.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
}

/// Normalises `--network` (`""`/`default` are the default bridge).
pub fn normalize_mode(mode: &str) -> String {
    match mode {
        "" | "default" => berth_network::DEFAULT_NETWORK.to_string(),
        m => m.to_string(),
    }
}

/// An endpoint's `IPAMConfig` as Docker shows it: what `--ip` and `--link-local-ip` asked for.
fn ipam_config(ip: Option<Ipv4Addr>, link_local: &[Ipv4Addr]) -> Value {
    let mut v = serde_json::Map::new();
    if let Some(ip) = ip {
        v.insert("IPv4Address".into(), json!(ip.to_string()));
    }
    if !link_local.is_empty() {
        v.insert("LinkLocalIPs".into(), json!(link_local.iter().map(|a| a.to_string()).collect::<Vec<_>>()));
    }
    if v.is_empty() {
        Value::Null
    } else {
        Value::Object(v)
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` -> (port, proto) pairs.
pub fn parse_expose(s: &str) -> Result<Vec<(u16, Proto)>> {
    let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto: Proto = proto.parse()?;
    let bad = || Error::Other(format!("invalid range format for --expose: {s}"));
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a..=b).map(|p| (p, proto)).collect())
}

/// At create: checks the network mode against the root's networks, records the network
/// options (with the image's exposed ports), and decides the namespace path the runtime
/// will join. `mode` is the container's `HostConfig.NetworkMode`, normalised in place.
pub fn resolve(
    engine: &Engine,
    id: &str,
    mode: &mut String,
    img_config: &Value,
    given: &NetConfig,
) -> Result<(NetConfig, Option<String>)> {
    *mode = normalize_mode(mode);
    let mut net = given.clone();
    let mut exposed: Vec<String> = Vec::new();
    if let Some(m) = img_config.get("ExposedPorts").and_then(Value::as_object) {
        exposed.extend(m.keys().cloned());
    }
    exposed.extend(given.exposed.iter().cloned());
    let mut norm: Vec<String> = Vec::new();
    for e in &exposed {
        for (p, proto) in parse_expose(e)? {
            let k = format!("{p}/{proto}");
            if !norm.contains(&k) {
                norm.push(k);
            }
        }
    }
    for p in &net.publish {
        let k = format!("{}/{}", p.container_port, p.proto);
        if !norm.contains(&k) {
            norm.push(k);
        }
    }
    net.exposed = norm;
    super::runopts::check_links(engine, mode, &net.links)?;
    let netns = match mode.as_str() {
        "host" => {
            net.publish.clear(); // Docker: "Published ports are discarded when using host network mode"
            net.publish_all = false;
            None
        }
        m if m.starts_with("container:") => {
            let target = &m["container:".len()..];
            if !net.publish.is_empty() || net.publish_all {
                return Err(Error::Other(
                    "conflicting options: port publishing and the container type network mode".into(),
                ));
            }
            if !net.dns.is_empty() || !net.add_hosts.is_empty() {
                return Err(Error::Other("conflicting options: dns and the network mode".into()));
            }
            let other = engine.find_container(target)?;
            if other.host_config.network_mode == "host" {
                return Err(Error::Unsupported(format!(
                    "container {target} uses the host network: use --network host instead"
                )));
            }
            *mode = format!("container:{}", other.id);
            Some(other.netns_path.clone().unwrap_or_else(|| engine.netns_path(&other.id).display().to_string()))
        }
        m => {
            let n = engine.find_network(m)?;
            if let (Some(ip), Some(sub)) = (net.ip, n.subnet_net()) {
                if n.driver == "bridge" && !n.is_default() && !sub.contains(ip) {
                    return Err(Error::Other(format!(
                        "invalid address {ip}: it does not belong to any of this network's subnets ({})",
                        n.subnet
                    )));
                }
            }
            if n.is_default() && net.ip.is_some() {
                return Err(Error::Other(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if n.is_default() && !net.aliases.is_empty() {
                return Err(Error::Other(
                    "network-scoped alias is supported only for containers in user defined networks".into(),
                ));
            }
            Some(engine.netns_path(id).display().to_string())
        }
    };
    Ok((net, netns))
}

/// The `-p` specs plus, with `-P`, every exposed port not already published.
pub fn publish_specs(net: &NetConfig) -> Vec<PortSpec> {
    let mut out = net.publish.clone();
    if net.publish_all {
        for e in &net.exposed {
            for (p, proto) in parse_expose(e).unwrap_or_default() {
                if !out.iter().any(|s| s.container_port == p && s.proto == proto) {
                    out.push(PortSpec { host_ip: None, host_port: 0, container_port: p, proto });
                }
            }
        }
    }
    out
}

/// Before the runtime creates the container: its namespace, veth, address, ports and
/// names; writes the `hosts` and `resolv.conf` it will see. Called by its supervisor (whose
/// `shim.lock` owns the sandbox), so a dead supervisor's network is reconciled away.
pub fn setup(c: &Container, net: &NetConfig) -> Result<()> {
    let mode = normalize_mode(&c.host_config.network_mode);
    if mode == "host" {
        return Ok(());
    }
    let engine = Engine::open(root_of(c))?;
    if let Some(target) = mode.strip_prefix("container:") {
        let path = engine.netns_path(target);
        if !berth_network::netns::exists(&path) {
            return Err(Error::StartFailed {
                code: 125,
                message: format!("cannot join network of a non running container: {target}"),
            });
        }
        // Docker shares the other container's files too.
        let other = engine.containers_dir().join(target);
        for f in ["hosts", "resolv.conf"] {
            let _ = std::fs::copy(other.join(f), c.dir.join(f));
        }
        return Ok(());
    }
    let mut add_hosts = net.add_hosts.clone();
    add_hosts.extend(super::runopts::link_hosts(&engine, c, &mode, &net.links)?);
    let req = AttachRequest {
        container_id: c.id.clone(),
        name: c.name.clone(),
        hostname: c.config.hostname.clone(),
        netns: c.netns_path.clone().map(PathBuf::from).unwrap_or_else(|| engine.netns_path(&c.id)),
        create_netns: true,
        owner: Some(c.dir.join("shim.lock")),
        opts: NetworkOpts {
            network: mode.clone(),
            aliases: net.aliases.clone(),
            ip: net.ip,
            publish: if mode == "none" { Vec::new() } else { publish_specs(net) },
            dns: net.dns.clone(),
            dns_search: net.dns_search.clone(),
            dns_options: net.dns_options.clone(),
            add_hosts,
            mac_address: net.mac_address.clone(),
            link_local_ips: net.link_local_ips.clone(),
        },
    };
    let a = engine.attach(&req)?;
    for (name, body) in [("hosts", &a.hosts), ("resolv.conf", &a.resolv_conf)] {
        let p = c.dir.join(name);
        if let Err(e) = std::fs::write(&p, body) {
            let _ = engine.detach(&c.id);
            return Err(Error::io(&p, e));
        }
    }
    Ok(())
}

/// In the CLI, before a container's supervisor is spawned: on a user-defined network, makes
/// sure the embedded DNS server runs (see [`berth_network::dns::ensure_running`]).
pub fn before_start(engine: &Engine, c: &Container) -> Result<()> {
    let mode = normalize_mode(&c.host_config.network_mode);
    if matches!(mode.as_str(), "bridge" | "none" | "host") || mode.starts_with("container:") {
        return Ok(());
    }
    Ok(berth_network::dns::ensure_running(&engine.networks())?)
}

/// After the container stopped for good (or its supervisor died): removes its veth, lease,
/// ports, DNS names and namespace. Idempotent; errors are logged, not returned.
pub fn teardown(c: &Container) {
    let mode = normalize_mode(&c.host_config.network_mode);
    if mode == "host" || mode.starts_with("container:") {
        return;
    }
    match Engine::open(root_of(c)).and_then(|e| e.detach(&c.id)) {
        Ok(()) => {}
        Err(e) => tracing::warn!("container {}: removing its network: {e}", c.short_id()),
    }
}

/// `network connect` of a running container: the new endpoint, and the container's
/// `hosts`/`resolv.conf` rewritten in place (they are bind-mounted, so it sees the change:
/// joining its first user-defined network switches it to the embedded DNS server).
pub fn connect(engine: &Engine, c: &Container, o: &NetworkOpts) -> Result<berth_network::Endpoint> {
    let ep = engine.attach_network(&c.id, o)?;
    rewrite_etc(engine, c);
    Ok(ep)
}

/// `network disconnect` of a running container (see [`connect`]).
pub fn disconnect(engine: &Engine, c: &Container, network: &str) -> Result<()> {
    engine.detach_network(&c.id, network)?;
    rewrite_etc(engine, c);
    Ok(())
}

fn rewrite_etc(engine: &Engine, c: &Container) {
    if let Ok(Some(sb)) = engine.sandbox(&c.id) {
        let _ = std::fs::write(c.dir.join("resolv.conf"), berth_network::resolv_file(&sb));
    }
}

/// The ports a running container publishes.
pub fn ports(engine: &Engine, c: &Container) -> Result<Vec<PublishedPort>> {
    Ok(engine.sandbox(&c.id)?.map(|s| s.ports).unwrap_or_default())
}

/// One entry of a container's port list as Docker's API lists it: a binding (host address
/// and port) or, with `host` `None`, an exposed port nothing publishes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortEntry {
    pub private: u16,
    pub host: Option<(Ipv4Addr, u16)>,
    pub proto: Proto,
}

/// The `PORTS` column of `ps` (and `{{.Ports}}`): empty unless the container runs with a
/// network of its own; then its exposed ports and its bindings.
pub fn ports_column(engine: &Engine, c: &Container) -> String {
    let Ok(Some(sb)) = engine.sandbox(&c.id) else { return String::new() };
    let mut entries: Vec<PortEntry> = sb
        .ports
        .iter()
        .map(|p| PortEntry { private: p.container_port, host: Some((p.host_ip, p.host_port)), proto: p.proto })
        .collect();
    for e in &c.net.exposed {
        for (p, proto) in parse_expose(e).unwrap_or_default() {
            if !sb.ports.iter().any(|b| b.container_port == p && b.proto == proto) {
                entries.push(PortEntry { private: p, host: None, proto });
            }
        }
    }
    display_ports(entries)
}

/// Docker's `DisplayablePorts`: sorted by container port, runs of consecutive ports folded
/// into ranges (`8000-8002/tcp`, `0.0.0.0:80-81->80-81/tcp`), bindings to another host port
/// listed last (`127.0.0.1:8080->80/tcp`), all joined with ", ".
pub fn display_ports(mut ports: Vec<PortEntry>) -> String {
    // Docker compares the address as a string, and "" (no binding) first.
    ports.sort_by(|a, b| {
        let ip = |e: &PortEntry| e.host.map(|h| h.0.to_string()).unwrap_or_default();
        (a.private, ip(a), a.host.map_or(0, |h| h.1), a.proto.as_str()).cmp(&(
            b.private,
            ip(b),
            b.host.map_or(0, |h| h.1),
            b.proto.as_str(),
        ))
    });
    let form = |key: &(Option<Ipv4Addr>, Proto), first: u16, last: u16| {
        let range = if first == last { first.to_string() } else { format!("{first}-{last}") };
        match key.0 {
            Some(ip) => format!("{ip}:{range}->{range}/{}", key.1),
            None => format!("{range}/{}", key.1),
        }
    };
    let mut groups: Vec<((Option<Ipv4Addr>, Proto), u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ports {
        let key = match p.host {
            Some((ip, public)) if public != p.private => {
                mappings.push(format!("{ip}:{public}->{}/{}", p.private, p.proto));
                continue;
            }
            Some((ip, _)) => (Some(ip), p.proto),
            None => (None, p.proto),
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2.wrapping_add(1) => g.2 = p.private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    result.extend(groups.iter().map(|g| form(&g.0, g.1, g.2)));
    result.extend(mappings);
    result.join(", ")
}

/// Fills Docker's `NetworkSettings`, `HostConfig.PortBindings` and friends, and
/// `Config.ExposedPorts` into a container's `inspect` document.
pub fn inspect(c: &Container, net: &NetConfig, v: &mut Value) {
    let sb: Option<Sandbox> = Engine::open(root_of(c)).ok().and_then(|e| e.sandbox(&c.id).ok().flatten());
    let mode = normalize_mode(&c.host_config.network_mode);
    let mut exposed = serde_json::Map::new();
    for e in &net.exposed {
        exposed.insert(e.clone(), json!({}));
    }
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &net.publish {
        bindings.entry(format!("{}/{}", p.container_port, p.proto)).or_default().push(json!({
            "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
            "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
        }));
    }
    let mut ports = serde_json::Map::new();
    if let Some(sb) = &sb {
        for e in &net.exposed {
            ports.insert(e.clone(), Value::Null);
        }
        for p in &sb.ports {
            let k = format!("{}/{}", p.container_port, p.proto);
            let entry = ports.entry(k).or_insert_with(|| json!([]));
            if !entry.is_array() {
                *entry = json!([]);
            }
            entry
                .as_array_mut()
                .unwrap()
                .push(json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}));
        }
    }
    let mut networks = serde_json::Map::new();
    let eps = sb.as_ref().map(|s| s.endpoints.clone()).unwrap_or_default();
    // `--link` on a user-defined network is the endpoint's (Docker's `NAME:ALIAS` form).
    let links = match net.links.iter().filter_map(|l| super::runopts::parse_link(l).ok()).collect::<Vec<_>>() {
        l if l.is_empty() => Value::Null,
        l => json!(l.iter().map(|(n, a)| format!("{n}:{a}")).collect::<Vec<_>>()),
    };
    if eps.is_empty() && !mode.starts_with("container:") {
        let user_defined = !matches!(mode.as_str(), "bridge" | "none" | "host");
        networks.insert(
            mode.clone(),
            json!({"IPAMConfig": ipam_config(net.ip.filter(|_| user_defined), &net.link_local_ips), "Links": if user_defined { links.clone() } else { Value::Null }, "Aliases": null, "MacAddress": "", "NetworkID": "", "EndpointID": "",
                   "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                   "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null}),
        );
    }
    for ep in &eps {
        let mut dns_names = vec![Value::from(c.name.clone()), Value::from(c.short_id().to_string())];
        dns_names.extend(ep.aliases.iter().map(|a| Value::from(a.clone())));
        networks.insert(
            ep.network.clone(),
            json!({
                "IPAMConfig": ipam_config(net.ip.filter(|_| ep.user_defined), if ep.network == mode { &net.link_local_ips } else { &[] }),
                "Links": if ep.user_defined { links.clone() } else { Value::Null },
                "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                "MacAddress": ep.mac,
                "NetworkID": ep.network_id,
                "EndpointID": ep.endpoint_id,
                "Gateway": ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                "IPAddress": ep.ip.map(|g| g.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.prefix,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DriverOpts": null,
                "DNSNames": if ep.user_defined { json!(dns_names) } else { Value::Null },
            }),
        );
    }
    let legacy = eps.iter().find(|e| !e.user_defined);
    let settings = json!({
        "Bridge": "",
        "SandboxID": if sb.is_some() { c.id.clone() } else { String::new() },
        "SandboxKey": sb.as_ref().map(|s| s.netns.display().to_string()).or_else(|| c.netns_path.clone()).unwrap_or_default(),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": legacy.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": legacy.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": legacy.and_then(|e| e.ip).map(|g| g.to_string()).unwrap_or_default(),
        "IPPrefixLen": legacy.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": legacy.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    });
    if let Some(o) = v.as_object_mut() {
        o.insert("NetworkSettings".into(), settings);
        if let Some(hc) = o.get_mut("HostConfig").and_then(Value::as_object_mut) {
            hc.insert("PortBindings".into(), json!(bindings));
            hc.insert("PublishAllPorts".into(), json!(net.publish_all));
            hc.insert("Dns".into(), json!(net.dns));
            hc.insert("DnsSearch".into(), json!(net.dns_search));
            hc.insert("DnsOptions".into(), json!(net.dns_options));
            hc.insert("ExtraHosts".into(), if net.add_hosts.is_empty() { Value::Null } else { json!(net.add_hosts) });
        }
        if let Some(cfg) = o.get_mut("Config").and_then(Value::as_object_mut) {
            if !exposed.is_empty() {
                cfg.insert("ExposedPorts".into(), Value::Object(exposed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_column_as_docker_prints_it() {
        let b = |private, ip: [u8; 4], public| PortEntry {
            private,
            host: Some((Ipv4Addr::from(ip), public)),
            proto: Proto::Tcp,
        };
        let e = |private, proto| PortEntry { private, host: None, proto };
        assert_eq!(display_ports(vec![]), "");
        assert_eq!(display_ports(vec![b(80, [0, 0, 0, 0], 8080)]), "0.0.0.0:8080->80/tcp");
        assert_eq!(display_ports(vec![b(80, [127, 0, 0, 1], 80)]), "127.0.0.1:80->80/tcp");
        assert_eq!(
            display_ports(vec![b(80, [127, 0, 0, 1], 8080), e(81, Proto::Tcp)]),
            "81/tcp, 127.0.0.1:8080->80/tcp"
        );
        assert_eq!(
            display_ports(vec![e(8002, Proto::Tcp), e(8000, Proto::Tcp), e(8001, Proto::Tcp), e(53, Proto::Udp)]),
            "53/udp, 8000-8002/tcp"
        );
        assert_eq!(
            display_ports(vec![b(81, [0, 0, 0, 0], 81), b(80, [0, 0, 0, 0], 80), e(90, Proto::Tcp)]),
            "0.0.0.0:80-81->80-81/tcp, 90/tcp"
        );
        assert_eq!(display_ports(vec![e(80, Proto::Tcp), e(82, Proto::Tcp)]), "80/tcp, 82/tcp");
    }

    #[test]
    fn expose_and_publish_all() {
        assert_eq!(parse_expose("80").unwrap(), vec![(80, Proto::Tcp)]);
        assert_eq!(parse_expose("53/udp").unwrap(), vec![(53, Proto::Udp)]);
        assert_eq!(parse_expose("8000-8001").unwrap().len(), 2);
        assert!(parse_expose("x").is_err());
        let net = NetConfig {
            publish: PortSpec::parse("8080:80").unwrap(),
            publish_all: true,
            exposed: vec!["80/tcp".into(), "443/tcp".into()],
            ..Default::default()
        };
        let s = publish_specs(&net);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].host_port, s[1].container_port, s[1].host_port), (8080, 443, 0));
    }
}
