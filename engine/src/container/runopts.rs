//! The everyday `run`/`create` flags of Docker that are neither security nor health nor log
//! options: `-a/--attach`, `--cidfile` (recorded; the CLI writes the file), `--volumes-from`,
//! `--link`, `--mac-address`, `--annotation`, `--platform`, the cgroup resource flags (see
//! [`super::resources`]) and Docker's WebAssembly runtime names for `--runtime`.
//!
//! Each is checked here with Docker's message, recorded under Docker's names (a `HostConfig`
//! block flattened into the record, so `inspect` shows it as Docker does), and acted on where
//! it belongs: volumes-from when the mounts are resolved, links when the supervisor attaches
//! the container to its network (the linked container's address is only known then), the
//! annotations and resources in the OCI spec.

use super::resources::{HostResources, Resources};
use super::{Container, CreateOptions, MountPoint};
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the flags ask for (part of [`CreateOptions`]).
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    /// `-a`: the streams to attach (`stdin`, `stdout`, `stderr`); empty = Docker's default.
    pub attach: Vec<String>,
    /// `--cidfile`, as given (the CLI writes the file).
    pub cidfile: String,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    pub mac_address: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// `--platform`: the image used must be of this platform (`os[/arch[/variant]]`).
    pub platform: Option<String>,
    pub resources: Resources,
    /// `--userns`, `--isolation`, `--gpus`, ... (see [`super::hostonly`]).
    pub host_only: super::hostonly::HostOnly,
}

/// The flags as `inspect` shows them in `HostConfig` (flattened into it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunHostConfig {
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    /// Legacy links on the default bridge, Docker's way: `/name:/container/alias`.
    pub links: Option<Vec<String>>,
    pub volumes_from: Option<Vec<String>>,
    #[serde(flatten)]
    pub resources: HostResources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub host_only: super::hostonly::HostOnlyConfig,
}

/// The runtime names Docker Desktop documents for WebAssembly (runwasi's shims and others):
/// each selects berth's wasm runtime.
pub const WASM_RUNTIMES: &[&str] = &[
    "io.containerd.wasmtime.v1",
    "io.containerd.wasmedge.v1",
    "io.containerd.wasmer.v1",
    "io.containerd.wamr.v1",
    "io.containerd.spin.v2",
    "io.containerd.slight.v1",
    "io.containerd.lunatic.v1",
    "io.containerd.wws.v1",
];

/// Whether `--runtime` names one of the wasm runtimes.
pub fn is_wasm_runtime(name: &str) -> bool {
    WASM_RUNTIMES.contains(&name)
}

/// Checks `--runtime`: berth's own, runc, crun or a wasm runtime name.
pub fn check_runtime(name: &str) -> Result<()> {
    if matches!(name, "berth" | "runc" | "crun") || is_wasm_runtime(name) {
        return Ok(());
    }
    Err(Error::Other(format!("unknown or invalid runtime name: {name}")))
}

/// After the dispatch rule decided what the container runs: a wasm runtime name runs only
/// WebAssembly.
pub(crate) fn check_runtime_kind(c: &Container) -> Result<()> {
    let name = &c.host_config.runtime;
    if is_wasm_runtime(name) && c.kind() != berth_runtime::Kind::Wasm {
        return Err(Error::Other(format!(
            "runtime {name} runs WebAssembly only, and image {} is not a wasm image (its entrypoint {} is not a wasm module)",
            c.config.image,
            c.process.args.first().map(String::as_str).unwrap_or_default()
        )));
    }
    Ok(())
}

/// Checks `--mac-address` (Docker's `net.ParseMAC` for the 6-byte forms).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    berth_network::parse_mac(s).ok_or_else(|| Error::Other(format!("{s} is not a valid mac address")))
}

/// `--link NAME[:ALIAS]` as Docker parses it: (name, alias).
pub fn parse_link(s: &str) -> Result<(String, String)> {
    if s.is_empty() {
        return Err(Error::Other("empty string specified for links".into()));
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [n] => Ok((n.to_string(), n.to_string())),
        [n, a] if n.starts_with('/') => Ok((n[1..].to_string(), a.rsplit('/').next().unwrap_or_default().to_string())),
        [n, a] => Ok((n.to_string(), a.to_string())),
        _ => Err(Error::Other(format!("bad format for links: {s}"))),
    }
}

/// Checks `--platform` as containerd parses it: a lone component must be a known operating
/// system or architecture.
pub fn parse_platform(s: &str) -> Result<berth_oci::platform::Platform> {
    const OSES: &[&str] = &[
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
        "wasi",
        "wasip1",
        "wasip2",
    ];
    const ARCHES: &[&str] = &[
        "386", "amd64", "x86_64", "x86-64", "aarch64", "arm64", "arm", "armhf", "armel", "ppc64le", "ppc64", "riscv64",
        "s390x", "mips", "mips64", "mips64le", "mipsle", "loong64", "wasm", "wasm32", "i386",
    ];
    let bad = || {
        Error::Other(format!(
            "error parsing specified platform: \"{s}\": unknown operating system or architecture: invalid argument"
        ))
    };
    let lower = s.trim().to_ascii_lowercase();
    if !lower.contains('/') {
        if OSES.contains(&lower.as_str()) {
            return berth_oci::platform::Platform::parse(&lower).map_err(|_| bad());
        }
        if ARCHES.contains(&lower.as_str()) {
            let host = berth_oci::platform::Platform::host();
            return Ok(berth_oci::platform::Platform::new(&host.os, &lower, None));
        }
        return Err(bad());
    }
    berth_oci::platform::Platform::parse(&lower).map_err(|_| bad())
}

/// Whether a local image satisfies `--platform` (Docker then uses it; else it pulls).
pub fn image_matches_platform(image: &berth_store::image::Image, want: &str) -> Result<bool> {
    let want = parse_platform(want)?;
    let cfg = &image.config_json;
    let have = berth_oci::platform::Platform::new(
        cfg["os"].as_str().unwrap_or("linux"),
        cfg["architecture"].as_str().unwrap_or_default(),
        cfg["variant"].as_str(),
    );
    // Docker normalises the same way on both sides (x86_64 is amd64, aarch64 arm64).
    let norm = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        a => a.to_string(),
    };
    Ok(want.os == have.os
        && norm(&want.architecture) == norm(&have.architecture)
        && (want.variant.is_none() || want.variant == have.variant))
}

/// Docker's checks of these flags against each other and the rest of the options; the
/// `HostConfig` block they record.
pub(crate) fn host_config(c: &Container, o: &CreateOptions, memory_swap: &mut i64) -> Result<RunHostConfig> {
    if o.auto_remove && !o.restart.is_none() {
        return Err(Error::BadFlag("Conflicting options: --restart and --rm".into()));
    }
    if let Some(m) = &o.run.mac_address {
        parse_mac(m)?;
    }
    for v in &o.run.volumes_from {
        volumes_from_spec(v)?;
    }
    let (swap, mut resources) = super::resources::resolve(&o.run.resources, o.memory, *memory_swap)?;
    resources.limits = super::limits::resolve(&o.run.resources.limits, o.nano_cpus)?;
    let named_volumes =
        o.binds.iter().any(|b| !(b.starts_with('/') && b.contains(':'))) || o.mounts.iter().any(|m| m.kind == "volume");
    let host_only = super::hostonly::resolve(&o.run.host_only, &super::net::normalize_mode(&o.network), named_volumes)?;
    *memory_swap = swap;
    let mut links = Vec::new();
    for l in &o.net.links {
        let (name, alias) = parse_link(l)?;
        links.push(format!("/{name}:/{}/{alias}", c.name));
    }
    Ok(RunHostConfig {
        container_id_file: o.run.cidfile.clone(),
        // Docker records legacy links on the default bridge only (on a user-defined network
        // they are the endpoint's, see `net::inspect`).
        links: (!links.is_empty() && super::net::normalize_mode(&o.network) == berth_network::DEFAULT_NETWORK)
            .then_some(links),
        volumes_from: (!o.run.volumes_from.is_empty()).then(|| o.run.volumes_from.clone()),
        resources,
        annotations: (!o.run.annotations.is_empty()).then(|| o.run.annotations.clone()),
        host_only,
    })
}

/// `-a` and `--mac-address` in the container's `Config` (Docker's attach flags: with `-a`,
/// the streams named, stdin too with `-i`).
pub(crate) fn apply_config(c: &mut Container, o: &CreateOptions) {
    if !o.run.attach.is_empty() {
        let has = |s: &str| o.run.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
        c.config.attach_stdin = has("stdin") || o.open_stdin;
        c.config.attach_stdout = has("stdout");
        c.config.attach_stderr = has("stderr");
        c.config.stdin_once = c.config.attach_stdin && o.open_stdin;
    }
    c.config.mac_address = o.run.mac_address.clone().unwrap_or_default();
}

/// The warnings Docker gives for these options (printed by the CLI as `WARNING: ...`).
pub fn warnings(o: &CreateOptions) -> Vec<String> {
    let mut out = super::resources::warnings(&o.run.resources, o.memory);
    out.extend(super::limits::warnings(&o.run.resources.limits));
    if super::net::normalize_mode(&o.network) == "host" && (!o.net.publish.is_empty() || o.net.publish_all) {
        out.push("Published ports are discarded when using host network mode".into());
    }
    out
}

/// Splits `CONTAINER[:ro|rw]`.
fn volumes_from_spec(s: &str) -> Result<(&str, bool)> {
    let (name, mode) = s.split_once(':').unwrap_or((s, ""));
    let rw = match mode {
        "" | "rw" => true,
        "ro" => false,
        m => return Err(Error::Other(format!("invalid mode: {m}"))),
    };
    Ok((name, rw))
}

/// `--volumes-from`: the mount points (binds and volumes) of each named container, read-only
/// with `:ro`, as Docker copies them. A destination the user mounts something else at is left
/// to that mount.
pub(crate) fn volumes_from(e: &Engine, from: &[String]) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    for spec in from {
        let (name, rw) = volumes_from_spec(spec)?;
        let other = e.find_container(name)?;
        for m in other.mounts.iter().filter(|m| m.kind == "bind" || m.kind == "volume") {
            if out.iter().any(|o| o.destination == m.destination) {
                continue;
            }
            out.push(MountPoint { rw: m.rw && rw, mode: String::new(), ..m.clone() });
        }
    }
    Ok(out)
}

/// At create, the links on the default bridge as Docker checks them: only there or on a
/// user-defined network, and (on the default bridge) to a container that exists.
pub(crate) fn check_links(e: &Engine, mode: &str, links: &[String]) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    if mode.starts_with("container:") {
        return Err(Error::Other(
            "conflicting options: container type network can't be used with links. This would result in undefined behavior"
                .into(),
        ));
    }
    if matches!(mode, "host" | "none") {
        return Err(Error::Other("links are only supported for user-defined networks".into()));
    }
    for l in links {
        let (name, _) = parse_link(l)?;
        if mode == berth_network::DEFAULT_NETWORK {
            e.find_container(&name)
                .map_err(|err| Error::Other(format!("could not get container for {name}: {err}")))?;
        }
    }
    Ok(())
}

/// At start (in the supervisor, before the network attach): the `/etc/hosts` entries of the
/// links, in `--add-host` form, Docker's line `IP\tALIAS HOSTNAME NAME`. On the default
/// bridge the linked container must be running there; on a user-defined network a link to a
/// container not running on it is ignored, as Docker's DNS-based links are.
pub(crate) fn link_hosts(e: &Engine, c: &Container, network: &str, links: &[String]) -> Result<Vec<String>> {
    let legacy = network == berth_network::DEFAULT_NETWORK;
    let mut out = Vec::new();
    for l in links {
        let (name, alias) = parse_link(l)?;
        let fail = |m: String| Error::StartFailed { code: 125, message: m };
        let other = match e.find_container(&name) {
            Ok(o) if o.state.running => o,
            _ if !legacy => continue,
            Ok(o) => {
                return Err(fail(format!("Cannot link to a non running container: /{} AS /{}/{alias}", o.name, c.name)))
            }
            Err(err) => return Err(fail(format!("could not get container for {name}: {err}"))),
        };
        let ip = e
            .sandbox(&other.id)?
            .and_then(|sb| sb.endpoints.into_iter().find(|ep| ep.network == network))
            .and_then(|ep| ep.ip);
        let Some(ip) = ip else {
            if legacy {
                return Err(fail(format!(
                    "Cannot link to /{}, as it does not belong to the default network",
                    other.name
                )));
            }
            continue;
        };
        let mut names = format!("{alias} {}", other.config.hostname);
        if alias != other.name {
            names.push(' ');
            names.push_str(&other.name);
        }
        out.push(format!("{names}:{ip}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_macs_and_platforms() {
        assert_eq!(parse_link("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse_link("db:d").unwrap(), ("db".into(), "d".into()));
        assert_eq!(parse_link("/db:/web/d").unwrap(), ("db".into(), "d".into()));
        assert_eq!(parse_link("a:b:c").unwrap_err().to_string(), "bad format for links: a:b:c");
        assert_eq!(parse_mac("02:42:ac:11:00:09").unwrap(), [2, 0x42, 0xac, 0x11, 0, 9]);
        assert_eq!(parse_mac("zz").unwrap_err().to_string(), "zz is not a valid mac address");
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_platform("linux/arm64").is_ok());
        assert_eq!(parse_platform("linux").unwrap().os, "linux");
        assert!(parse_platform("bogus").unwrap_err().to_string().contains("unknown operating system or architecture"));
        assert!(check_runtime("io.containerd.wasmtime.v1").is_ok());
        assert!(check_runtime("io.containerd.spin.v2").is_ok());
        assert_eq!(check_runtime("youki").unwrap_err().to_string(), "unknown or invalid runtime name: youki");
        assert!(volumes_from_spec("a:xx").is_err());
        assert_eq!(volumes_from_spec("a:ro").unwrap(), ("a", false));
    }
}
