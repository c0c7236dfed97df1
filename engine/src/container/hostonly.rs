//! Docker's `run`/`create` flags whose feature this host (or berth) does not have, each
//! accepted or refused exactly as Docker 20.10 does on a Linux host without user-namespace
//! remapping, GPUs, an xfs-backed overlay or IPv6 networks: `--userns` (only `host`),
//! `--isolation` (only `default`), `--volume-driver` (only `local` for the volumes used),
//! `--storage-opt`, `--gpus`, `--ip6`, and the checks of `--link-local-ip` (whose IPv4
//! addresses the network attach adds to the container's interface). What Docker records is
//! recorded under its `HostConfig` names.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// What the flags ask for (part of [`super::runopts::RunOpts`]).
#[derive(Clone, Debug, Default)]
pub struct HostOnly {
    pub userns: String,
    pub isolation: String,
    pub volume_driver: String,
    /// `--storage-opt K=V`.
    pub storage_opts: Vec<String>,
    /// `--gpus`, as given.
    pub gpus: Option<String>,
    pub ip6: Option<String>,
    pub link_local_ips: Vec<String>,
}

/// The flags as `inspect` shows them in `HostConfig` (flattened into it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostOnlyConfig {
    pub userns_mode: String,
    pub isolation: String,
    pub volume_driver: String,
}

/// Docker's CLI check of `--userns`.
pub fn check_userns(mode: &str) -> Result<()> {
    match mode {
        "" | "host" => Ok(()),
        _ => Err(Error::BadFlag("--userns: invalid USER mode".into())),
    }
}

/// Docker's CLI check of `--storage-opt` (`K=V`).
pub fn check_storage_opt(opt: &str) -> Result<()> {
    match opt.split_once('=') {
        Some((k, _)) if !k.is_empty() => Ok(()),
        _ => Err(Error::BadFlag("invalid storage option".into())),
    }
}

/// Docker's CLI check of `--gpus` (`all`, a count, or `key=value` pairs): the driver it names.
pub fn gpu_driver(s: &str) -> Result<String> {
    let mut driver = String::new();
    for field in s.split(',') {
        match field.split_once('=') {
            Some(("driver", d)) => driver = d.to_string(),
            Some(("count" | "device" | "capabilities" | "options", _)) => {}
            Some((k, _)) => return Err(Error::Other(format!("unexpected key '{k}' in '{s}'"))),
            None if field == "all" || field.parse::<i64>().is_ok() => {}
            None => {
                return Err(Error::Other(format!(
                    "invalid count ({field}): value must be either \"all\" or an integer: invalid syntax"
                )))
            }
        }
    }
    Ok(driver)
}

/// Docker's daemon checks, given the network mode and whether a named volume is used; the
/// `HostConfig` block recorded.
pub fn resolve(h: &HostOnly, network: &str, named_volumes: bool) -> Result<HostOnlyConfig> {
    check_userns(&h.userns)?;
    if !(h.isolation.is_empty() || h.isolation.eq_ignore_ascii_case("default")) {
        return Err(Error::Other(format!("Invalid isolation: {:?} - linux only supports 'default'", h.isolation)));
    }
    for o in &h.storage_opts {
        check_storage_opt(o)?;
    }
    if !h.storage_opts.is_empty() {
        // berth's overlay snapshots have no per-container quota (Docker's overlay2 needs xfs
        // with pquota for one, and says so).
        return Err(Error::Other(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option".into(),
        ));
    }
    if let Some(g) = &h.gpus {
        let driver = gpu_driver(g)?;
        return Err(Error::Other(format!("could not select device driver {driver:?} with capabilities: [[gpu]]")));
    }
    let user_network = !matches!(network, "bridge" | "host" | "none") && !network.starts_with("container:");
    if let Some(ip) = &h.ip6 {
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Error::Other(format!("invalid IPv6 address: {ip}")));
        }
        // berth's networks are IPv4 only: none has an IPv6 subnet to take the address from.
        return Err(Error::Other(if user_network {
            "user specified IP address is supported only when connecting to networks with user configured subnets"
                .into()
        } else {
            "user specified IP address is supported on user defined networks only".into()
        }));
    }
    for ip in &h.link_local_ips {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::Other(format!("Invalid link-local IP address: [{ip}]")));
        }
    }
    // With `--network none|host` Docker ignores them; elsewhere they are added to the
    // container's interface. berth's networks are IPv4 only.
    if let Some(ip) = h.link_local_ips.iter().find(|ip| ip.contains(':')) {
        if network != "none" && network != "host" {
            return Err(Error::Unsupported(format!(
                "error setting interface \"eth0\" link local IPs to [{ip}]: berth's networks are IPv4 only"
            )));
        }
    }
    let driver = if h.volume_driver.is_empty() { "local" } else { h.volume_driver.as_str() };
    if driver != "local" && named_volumes {
        return Err(Error::Other(format!("error looking up volume plugin {driver}: plugin {driver:?} not found")));
    }
    Ok(HostOnlyConfig {
        userns_mode: h.userns.clone(),
        isolation: h.isolation.clone(),
        volume_driver: h.volume_driver.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_refused_as_docker() {
        let ok = HostOnly {
            userns: "host".into(),
            isolation: "default".into(),
            volume_driver: "local".into(),
            ..Default::default()
        };
        assert_eq!(resolve(&ok, "none", true).unwrap().userns_mode, "host");
        let e = |h: HostOnly, net: &str| resolve(&h, net, false).unwrap_err().to_string();
        assert_eq!(e(HostOnly { userns: "foo".into(), ..Default::default() }, "none"), "--userns: invalid USER mode");
        assert_eq!(
            e(HostOnly { isolation: "hyperv".into(), ..Default::default() }, "none"),
            "Invalid isolation: \"hyperv\" - linux only supports 'default'"
        );
        assert_eq!(
            e(HostOnly { storage_opts: vec!["bogus".into()], ..Default::default() }, "none"),
            "invalid storage option"
        );
        assert!(e(HostOnly { storage_opts: vec!["size=1G".into()], ..Default::default() }, "none").contains("pquota"));
        assert_eq!(
            e(HostOnly { gpus: Some("all".into()), ..Default::default() }, "none"),
            "could not select device driver \"\" with capabilities: [[gpu]]"
        );
        assert!(e(HostOnly { gpus: Some("bogus".into()), ..Default::default() }, "none")
            .starts_with("invalid count (bogus)"));
        let ip6 = HostOnly { ip6: Some("fd00::5".into()), ..Default::default() };
        assert!(e(ip6.clone(), "none").contains("on user defined networks only"));
        assert!(e(ip6, "mynet").contains("with user configured subnets"));
        assert_eq!(
            e(HostOnly { ip6: Some("bogus".into()), ..Default::default() }, "none"),
            "invalid IPv6 address: bogus"
        );
        let lli = |ip: &str| HostOnly { link_local_ips: vec![ip.into()], ..Default::default() };
        assert!(resolve(&lli("169.254.1.1"), "none", false).is_ok());
        assert_eq!(e(lli("bogus"), "none"), "Invalid link-local IP address: [bogus]");
        assert!(resolve(&lli("169.254.1.1"), "mynet", false).is_ok());
        assert!(e(lli("fe80::5"), "mynet").contains("IPv4 only"));
        let vd = HostOnly { volume_driver: "foo".into(), ..Default::default() };
        assert!(resolve(&vd, "none", false).is_ok());
        assert!(resolve(&vd, "none", true).unwrap_err().to_string().contains("plugin \"foo\" not found"));
    }
}
