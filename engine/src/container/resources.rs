//! The cgroup resource flags of `run`/`create` beyond `--memory`, `--cpus` and `--pids-limit`:
//! `--memory-swap`, `--memory-reservation`, `--cpu-shares`, `--cpuset-cpus`, `--cpuset-mems`
//! and `--oom-kill-disable`, checked as Docker's daemon checks them (same messages), recorded
//! under Docker's `HostConfig` names and written into the OCI spec's `linux.resources`, where
//! berth's runtime, runc and crun all apply them (cgroup v1 and v2 alike; see
//! `berth_runtime_linux::cgroups`).

use super::HostConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

/// What the user asked for (the flags, parsed; 0 / empty = not given).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// `--memory-swap`: memory plus swap in bytes, -1 for unlimited swap, 0 for the default.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub oom_kill_disable: bool,
    /// `--cpu-period` ... `--device-cgroup-rule` (see [`super::limits`]).
    pub limits: super::limits::Limits,
}

/// The same, as `inspect` shows them in `HostConfig` (flattened into it; `MemorySwap` is the
/// `HostConfig`'s own field, it predates these).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostResources {
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory_reservation: i64,
    pub oom_kill_disable: bool,
    #[serde(flatten)]
    pub limits: super::limits::Limits,
}

/// Docker's bounds for `--cpu-shares` (the kernel's, which runc checks).
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262144;
/// Docker's smallest memory reservation.
const MIN_RESERVATION: i64 = 6 * 1024 * 1024;

/// Checks the flags against each other and this host, as Docker's daemon does, and returns
/// `HostConfig.MemorySwap` and the recorded resources. `memory` is `--memory` (0 = none) and
/// `default_swap` what `MemorySwap` is without `--memory-swap`.
pub fn resolve(r: &Resources, memory: i64, default_swap: i64) -> Result<(i64, HostResources)> {
    let bad = |m: &str| Err(Error::Other(m.to_string()));
    let swap = match r.memory_swap {
        0 => default_swap,
        -1 => -1,
        s if s < -1 => return bad(&format!("invalid size: '{s}'")),
        s => {
            if memory == 0 {
                return bad("You should always set the Memory limit when using Memoryswap limit, see usage");
            }
            if s < memory {
                return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
            }
            s
        }
    };
    if r.memory_reservation != 0 {
        if memory > 0 && memory < r.memory_reservation {
            return bad("Minimum memory limit can not be less than memory reservation limit, see usage");
        }
        if r.memory_reservation < MIN_RESERVATION {
            return bad("Minimum memory reservation allowed is 6MB");
        }
    }
    match r.cpu_shares {
        s if s < 0 => return bad("shares: invalid argument"),
        s if s > 0 && s < MIN_SHARES => return bad(&format!("the minimum allowed cpu-shares is {MIN_SHARES}")),
        s if s > MAX_SHARES => return bad(&format!("the maximum allowed cpu-shares is {MAX_SHARES}")),
        _ => {}
    }
    check_cpuset(&r.cpuset_cpus, "cpus", "CPUs", "cpuset.cpus")?;
    check_cpuset(&r.cpuset_mems, "mems", "memory nodes", "cpuset.mems")?;
    let oom_kill_disable = r.oom_kill_disable && oom_kill_disable_supported();
    Ok((
        swap,
        HostResources {
            cpu_shares: r.cpu_shares,
            cpuset_cpus: r.cpuset_cpus.clone(),
            cpuset_mems: r.cpuset_mems.clone(),
            memory_reservation: r.memory_reservation,
            oom_kill_disable,
            limits: r.limits.clone(),
        },
    ))
}

/// The warnings Docker prints for these flags (the CLI prints each as `WARNING: ...`).
pub fn warnings(r: &Resources, memory: i64) -> Vec<String> {
    let mut out = Vec::new();
    if r.oom_kill_disable {
        if !oom_kill_disable_supported() {
            out.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        } else if memory == 0 {
            out.push(
                "Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.".into(),
            );
            out.push(
                "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."
                    .into(),
            );
        }
    }
    out
}

/// cgroup v2 has no switch to turn the OOM killer off (Docker discards the flag there).
fn oom_kill_disable_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists()
}

/// Parses Docker's cpuset list (`0-2,4`): numbers and ascending ranges, no empty element.
pub fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// What this host offers for `file` (`cpuset.cpus`, `cpuset.mems`): the root cpuset cgroup's
/// (v1), else the effective set of the v2 root.
fn available(file: &str) -> Option<String> {
    [format!("/sys/fs/cgroup/cpuset/{file}"), format!("/sys/fs/cgroup/{file}.effective")]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn check_cpuset(value: &str, what: &str, words: &str, file: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let want = parse_list(value)
        .ok_or_else(|| Error::Other(format!("Invalid value {value} for cpuset {what}: invalid format: {value}")))?;
    if let Some(have) = available(file) {
        let ok = parse_list(&have).unwrap_or_default();
        if want.iter().any(|n| !ok.contains(n)) {
            return Err(Error::Other(format!(
                "Requested {words} are not available - requested {value}, available: {have}"
            )));
        }
    }
    Ok(())
}

/// Adds the recorded resources to the spec's `linux.resources` (which already holds the
/// memory limit, CPU quota and pids limit).
pub fn to_spec(hc: &HostConfig, resources: &mut Value) {
    let r = &hc.run.resources;
    let mut memory = resources.get("memory").cloned().unwrap_or_else(|| json!({}));
    if hc.memory > 0 && hc.memory_swap == -1 {
        memory["swap"] = json!(-1);
    }
    if r.memory_reservation > 0 {
        memory["reservation"] = json!(r.memory_reservation);
    }
    if r.oom_kill_disable {
        memory["disableOOMKiller"] = json!(true);
    }
    if memory.as_object().is_some_and(|m| !m.is_empty()) {
        resources["memory"] = memory;
    }
    let mut cpu = resources.get("cpu").cloned().unwrap_or_else(|| json!({}));
    if r.cpu_shares > 0 {
        cpu["shares"] = json!(r.cpu_shares);
    }
    if !r.cpuset_cpus.is_empty() {
        cpu["cpus"] = json!(r.cpuset_cpus);
    }
    if !r.cpuset_mems.is_empty() {
        cpu["mems"] = json!(r.cpuset_mems);
    }
    if cpu.as_object().is_some_and(|m| !m.is_empty()) {
        resources["cpu"] = cpu;
    }
    r.limits.to_spec(resources);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists() {
        assert_eq!(parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_list("1"), Some(vec![1]));
        assert_eq!(parse_list("1-0"), None);
        assert_eq!(parse_list("0,,1"), None);
        assert_eq!(parse_list("abc"), None);
        assert_eq!(parse_list(""), None);
    }

    #[test]
    fn swap_and_reservation_as_docker_checks_them() {
        let m = 64 << 20;
        let r = |swap, res| Resources { memory_swap: swap, memory_reservation: res, ..Default::default() };
        assert_eq!(resolve(&r(0, 0), m, 2 * m).unwrap().0, 2 * m);
        assert_eq!(resolve(&r(-1, 0), m, 2 * m).unwrap().0, -1);
        assert_eq!(resolve(&r(m * 3, 0), m, 2 * m).unwrap().0, 3 * m);
        let e = |r: Resources, mem| resolve(&r, mem, 0).unwrap_err().to_string();
        assert!(e(r(m / 2, 0), m).contains("Minimum memoryswap limit should be larger than memory limit"));
        assert!(e(r(m, 0), 0).contains("You should always set the Memory limit"));
        assert!(e(r(0, 2 * m), m).contains("can not be less than memory reservation"));
        assert!(e(r(0, 1 << 20), 0).contains("Minimum memory reservation allowed is 6MB"));
        let s = |n| Resources { cpu_shares: n, ..Default::default() };
        assert_eq!(e(s(-5), 0), "shares: invalid argument");
        assert!(e(s(1), 0).contains("minimum allowed cpu-shares is 2"));
        assert!(resolve(&s(512), 0, 0).is_ok());
    }

    #[test]
    fn spec_gets_every_resource() {
        let mut hc = HostConfig { memory: 64 << 20, memory_swap: -1, ..Default::default() };
        hc.run.resources = HostResources {
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            cpuset_mems: "0".into(),
            memory_reservation: 32 << 20,
            oom_kill_disable: true,
            ..Default::default()
        };
        let mut r = json!({"memory": {"limit": 64 << 20}});
        to_spec(&hc, &mut r);
        assert_eq!(
            r["memory"],
            json!({"limit": 64 << 20, "swap": -1, "reservation": 32 << 20, "disableOOMKiller": true})
        );
        assert_eq!(r["cpu"], json!({"shares": 512, "cpus": "0", "mems": "0"}));
        let parsed: oci_spec::runtime::LinuxResources = serde_json::from_value(r).unwrap();
        assert_eq!(parsed.memory().unwrap().swap(), Some(-1));
    }
}
