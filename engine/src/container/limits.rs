//! The rest of Docker's cgroup flags of `run`/`create`: `--cpu-period`, `--cpu-quota`,
//! `--cpu-rt-period`, `--cpu-rt-runtime`, `--memory-swappiness`, `--kernel-memory`, the block
//! I/O flags (`--blkio-weight`, `--blkio-weight-device`, `--device-{read,write}-{bps,iops}`),
//! `--cgroup-parent` and `--device-cgroup-rule`. Checked as Docker's daemon checks them (same
//! messages), recorded under Docker's `HostConfig` names (flattened into
//! [`super::resources::HostResources`]) and written into the OCI spec's `linux.resources`
//! (and `linux.cgroupsPath`), which berth's runtime, runc and crun all apply.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

/// `--blkio-weight-device PATH:WEIGHT`, as `inspect` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `--device-{read,write}-{bps,iops} PATH:RATE`, as `inspect` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// The flags, parsed (0 / empty / `None` = not given), and as `inspect` shows them in
/// `HostConfig` (the same shape: Docker records them as given).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Limits {
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: i64,
    pub memory_swappiness: Option<i64>,
}

/// Docker's smallest kernel memory limit.
const MIN_KERNEL_MEMORY: i64 = 6 * 1024 * 1024;

/// Checks the flags as Docker's daemon does (`nano_cpus` is `--cpus`) and returns what is
/// recorded: a block I/O weight this kernel cannot apply is discarded, as Docker does (with the
/// warning of [`warnings`]).
pub fn resolve(l: &Limits, nano_cpus: i64) -> Result<Limits> {
    let bad = |m: &str| Err(Error::Other(m.to_string()));
    if nano_cpus > 0 && l.cpu_period > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if nano_cpus > 0 && l.cpu_quota > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    if l.cpu_period != 0 && !(1000..=1_000_000).contains(&l.cpu_period) {
        return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    }
    if l.cpu_quota > 0 && l.cpu_quota < 1000 {
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    // Real-time group scheduling: a v1 `cpu` controller built with it (v2 has none).
    let rt = Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists();
    if l.cpu_realtime_period > 0 && !rt {
        return bad("Your kernel does not support cgroup cpu real-time period");
    }
    if l.cpu_realtime_runtime > 0 && !rt {
        return bad("Your kernel does not support cgroup cpu real-time runtime");
    }
    if l.cpu_realtime_period > 0 && l.cpu_realtime_runtime > l.cpu_realtime_period {
        return bad("cpu real-time runtime cannot be higher than cpu real-time period");
    }
    // berth drives cgroupfs only (no systemd slices), and a parent may not climb out of the
    // hierarchy: refused here rather than by the runtime at start.
    if l.cgroup_parent.contains(':') {
        return Err(Error::Other(format!(
            "--cgroup-parent {:?}: systemd slices are not supported (berth uses cgroupfs paths such as /mygroup)",
            l.cgroup_parent
        )));
    }
    if l.cgroup_parent.split('/').any(|c| c == "..") {
        return Err(Error::Other(format!("--cgroup-parent {:?} must not contain '..'", l.cgroup_parent)));
    }
    if l.kernel_memory != 0 && l.kernel_memory < MIN_KERNEL_MEMORY {
        return bad("Minimum kernel memory limit allowed is 6MB");
    }
    let mut out = l.clone();
    if !swappiness_supported() {
        out.memory_swappiness = None;
    }
    if !kernel_memory_supported() {
        out.kernel_memory = 0;
    }
    if l.blkio_weight != 0 {
        if !blkio_weight_supported() {
            out.blkio_weight = 0;
        } else if !(10..=1000).contains(&l.blkio_weight) {
            return bad("Range of blkio weight is from 10 to 1000");
        }
    }
    if !l.blkio_weight_device.is_empty() && !blkio_weight_supported() {
        out.blkio_weight_device.clear();
    }
    for d in
        l.throttles().flat_map(|(_, list)| list).map(|d| &d.path).chain(l.blkio_weight_device.iter().map(|d| &d.path))
    {
        device_numbers(d)?;
    }
    Ok(out)
}

/// The warnings Docker gives for these flags.
pub fn warnings(l: &Limits) -> Vec<String> {
    let mut out = Vec::new();
    if l.kernel_memory != 0 {
        out.push("Specifying a kernel memory limit is deprecated and will be removed in a future release.".into());
        if !kernel_memory_supported() {
            out.push(
                "Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded."
                    .into(),
            );
        }
    }
    if l.memory_swappiness.is_some() && !swappiness_supported() {
        out.push(
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded."
                .into(),
        );
    }
    if !blkio_weight_supported() {
        if l.blkio_weight != 0 {
            out.push(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into(),
            );
        }
        if !l.blkio_weight_device.is_empty() {
            out.push(
                "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded."
                    .into(),
            );
        }
    }
    out
}

/// Whether the kernel offers block I/O weights (a proportional I/O scheduler: BFQ, once CFQ).
fn blkio_weight_supported() -> bool {
    ["/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/blkio/blkio.bfq.weight", "/sys/fs/cgroup/io.weight"]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// cgroup v2 has no kernel memory limit (Docker discards the flag there).
fn kernel_memory_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes").exists()
}

/// cgroup v2 has no swappiness (Docker discards the flag there).
fn swappiness_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.swappiness").exists()
}

/// The major and minor numbers of a device node (Docker's `stat` error when it is missing).
pub fn device_numbers(path: &str) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).map_err(|e| {
        let msg = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => e.to_string(),
        };
        Error::Other(format!("stat {path}: {msg}"))
    })?;
    Ok((nix::sys::stat::major(md.rdev()), nix::sys::stat::minor(md.rdev())))
}

impl Limits {
    fn throttles(&self) -> impl Iterator<Item = (&'static str, &Vec<ThrottleDevice>)> {
        [
            ("throttleReadBpsDevice", &self.blkio_device_read_bps),
            ("throttleWriteBpsDevice", &self.blkio_device_write_bps),
            ("throttleReadIOPSDevice", &self.blkio_device_read_iops),
            ("throttleWriteIOPSDevice", &self.blkio_device_write_iops),
        ]
        .into_iter()
    }

    /// The container's `linux.cgroupsPath`: below `--cgroup-parent`, else berth's `/berth`.
    /// Docker's daemon takes a relative parent below its own cgroup; berth has no daemon, and
    /// the cgroup of whichever shell runs a command varies, so a relative parent is taken from
    /// each hierarchy's root (where dockerd usually sits), and cleanup finds it again.
    pub fn cgroups_path(&self, id: &str) -> String {
        if self.cgroup_parent.is_empty() {
            return format!("/berth/{id}");
        }
        match self.cgroup_parent.trim_matches('/') {
            "" => format!("/{id}"),
            p => format!("/{p}/{id}"),
        }
    }

    /// Adds these limits to the spec's `linux.resources`.
    pub fn to_spec(&self, resources: &mut Value) {
        let obj = |r: &mut Value, k: &str| r.get(k).cloned().unwrap_or_else(|| json!({}));
        let mut cpu = obj(resources, "cpu");
        for (key, v) in [
            ("period", self.cpu_period),
            ("quota", self.cpu_quota),
            ("realtimePeriod", self.cpu_realtime_period),
            ("realtimeRuntime", self.cpu_realtime_runtime),
        ] {
            if v != 0 {
                // A negative quota is "no limit", the kernel's -1.
                cpu[key] = json!(if key == "quota" && v < 0 { -1 } else { v });
            }
        }
        if cpu.as_object().is_some_and(|m| !m.is_empty()) {
            resources["cpu"] = cpu;
        }
        let mut memory = obj(resources, "memory");
        if let Some(s) = self.memory_swappiness.filter(|s| *s >= 0) {
            memory["swappiness"] = json!(s);
        }
        // The kernel memory limit is recorded but not applied: Linux 5.4+ ignores it, and
        // Docker 20.10's runc no longer sets it (the deprecation warning says so).
        if memory.as_object().is_some_and(|m| !m.is_empty()) {
            resources["memory"] = memory;
        }
        let mut blkio = serde_json::Map::new();
        if self.blkio_weight > 0 {
            blkio.insert("weight".into(), json!(self.blkio_weight));
        }
        let numbered = |path: &str, mut v: Value| {
            // Resolved when the spec is written: a device gone since create is left out.
            let (major, minor) = device_numbers(path).ok()?;
            v["major"] = json!(major);
            v["minor"] = json!(minor);
            Some(v)
        };
        let weights: Vec<Value> =
            self.blkio_weight_device.iter().filter_map(|d| numbered(&d.path, json!({"weight": d.weight}))).collect();
        if !weights.is_empty() {
            blkio.insert("weightDevice".into(), json!(weights));
        }
        for (key, list) in self.throttles() {
            let v: Vec<Value> = list.iter().filter_map(|d| numbered(&d.path, json!({"rate": d.rate}))).collect();
            if !v.is_empty() {
                blkio.insert(key.into(), json!(v));
            }
        }
        if !blkio.is_empty() {
            resources["blockIO"] = Value::Object(blkio);
        }
        for rule in self.device_cgroup_rules.iter().flatten() {
            if let Some(v) = device_rule_json(rule) {
                if let Some(list) = resources["devices"].as_array_mut() {
                    list.push(v);
                }
            }
        }
    }
}

/// Parses a `--device-cgroup-rule` (`c 1:3 rwm`, `a *:* rwm`): Docker's format check.
pub fn parse_device_rule(s: &str) -> Result<String> {
    device_rule_json(s)
        .map(|_| s.to_string())
        .ok_or_else(|| Error::Other(format!("invalid device cgroup format '{s}'")))
}

/// The OCI allow rule of a `--device-cgroup-rule`.
fn device_rule_json(s: &str) -> Option<Value> {
    let parts: Vec<&str> = s.split(' ').collect();
    let [typ, nums, access] = parts.as_slice() else { return None };
    if !matches!(*typ, "a" | "b" | "c") || access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return None;
    }
    let (major, minor) = nums.split_once(':')?;
    let num = |n: &str| -> Option<Option<i64>> {
        if n == "*" {
            Some(None)
        } else {
            n.parse().ok().map(Some)
        }
    };
    let mut v = json!({"allow": true, "type": typ, "access": access});
    if let Some(m) = num(major)? {
        v["major"] = json!(m);
    }
    if let Some(m) = num(minor)? {
        v["minor"] = json!(m);
    }
    Some(v)
}

/// Parses `PATH:WEIGHT` of `--blkio-weight-device` (Docker's CLI check).
pub fn parse_weight_device(s: &str) -> Result<WeightDevice> {
    let (path, w) = device_path(s)?;
    let weight: u16 = w
        .parse()
        .ok()
        .filter(|w| (10..=1000).contains(w) || *w == 0)
        .ok_or_else(|| Error::Other(format!("invalid weight for device: {s}")))?;
    Ok(WeightDevice { path: path.into(), weight })
}

/// Parses `PATH:RATE` of `--device-{read,write}-bps` (`bytes`: a size with a unit) or
/// `-iops` (a plain number), Docker's CLI checks and words.
pub fn parse_throttle(s: &str, bytes: bool) -> Result<ThrottleDevice> {
    let (path, r) = device_path(s)?;
    let rate = if bytes {
        super::volume::parse_size(r).filter(|v| *v >= 0).map(|v| v as u64).ok_or_else(|| {
            Error::Other(format!("invalid rate for device: {s}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"))
        })?
    } else {
        r.parse::<u64>().map_err(|_| {
            Error::Other(format!(
                "invalid rate for device: {s}. The correct format is <device-path>:<number>. Number must be a positive integer"
            ))
        })?
    };
    Ok(ThrottleDevice { path: path.into(), rate })
}

fn device_path(s: &str) -> Result<(&str, &str)> {
    // Docker splits at the first colon only (a rate `1:2` is an invalid rate).
    let Some((path, value)) = s.split_once(':') else { return Err(Error::Other(format!("bad format: {s}"))) };
    if !path.starts_with("/dev/") {
        return Err(Error::Other(format!("bad format for device path: {s}")));
    }
    Ok((path, value))
}

/// `--memory-swappiness`: -1 (the default) or 0..100, Docker's CLI message.
pub fn check_swappiness(v: i64) -> Result<Option<i64>> {
    match v {
        -1 => Ok(None),
        0..=100 => Ok(Some(v)),
        _ => Err(Error::BadFlag(format!("invalid value: {v}. Valid memory swappiness range is 0-100"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_checks_as_docker() {
        let l = |period, quota| Limits { cpu_period: period, cpu_quota: quota, ..Default::default() };
        let e = |l: Limits, n| resolve(&l, n).unwrap_err().to_string();
        assert_eq!(e(l(50000, 0), 1_000_000_000), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
        assert_eq!(e(l(0, 50000), 1_000_000_000), "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
        assert!(e(l(500, 0), 0).starts_with("CPU cfs period can not be less than 1ms"));
        assert!(e(l(0, 500), 0).starts_with("CPU cfs quota can not be less than 1ms"));
        assert!(resolve(&l(50000, -5), 0).is_ok());
        let rt = Limits { cpu_realtime_period: 1000, cpu_realtime_runtime: 5000, ..Default::default() };
        if Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists() {
            assert_eq!(e(rt, 0), "cpu real-time runtime cannot be higher than cpu real-time period");
        }
        let p = |s: &str| Limits { cgroup_parent: s.into(), ..Default::default() };
        assert!(e(p("system.slice:berth:x"), 0).contains("systemd slices are not supported"));
        assert!(e(p("../x"), 0).contains("must not contain '..'"));
        let k = Limits { kernel_memory: 1 << 20, ..Default::default() };
        assert_eq!(e(k, 0), "Minimum kernel memory limit allowed is 6MB");
    }

    #[test]
    fn parsers_use_dockers_words() {
        assert_eq!(check_swappiness(-1).unwrap(), None);
        assert_eq!(check_swappiness(10).unwrap(), Some(10));
        assert_eq!(
            check_swappiness(101).unwrap_err().to_string(),
            "invalid value: 101. Valid memory swappiness range is 0-100"
        );
        assert_eq!(parse_weight_device("/dev/vda:5").unwrap_err().to_string(), "invalid weight for device: /dev/vda:5");
        assert_eq!(parse_weight_device("vda:300").unwrap_err().to_string(), "bad format for device path: vda:300");
        assert_eq!(parse_throttle("/dev/vda", true).unwrap_err().to_string(), "bad format: /dev/vda");
        assert_eq!(parse_throttle("/dev/vda:1mb", true).unwrap().rate, 1 << 20);
        assert!(parse_throttle("/dev/vda:1:2", true)
            .unwrap_err()
            .to_string()
            .starts_with("invalid rate for device: /dev/vda:1:2."));
        assert_eq!(parse_throttle("/dev/vda:100", false).unwrap().rate, 100);
        assert!(parse_throttle("/dev/vda:abc", false)
            .unwrap_err()
            .to_string()
            .contains("Number must be a positive integer"));
        assert!(parse_device_rule("c 1:3 rwm").is_ok());
        assert!(parse_device_rule("c *:* m").is_ok());
        for bad in ["x 1:3 rwm", "c 1:3", "a", "c 1:3 rwx"] {
            assert_eq!(
                parse_device_rule(bad).unwrap_err().to_string(),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn spec_and_cgroups_path() {
        let l = Limits {
            cpu_period: 50000,
            cpu_quota: 25000,
            memory_swappiness: Some(10),
            blkio_device_read_bps: vec![ThrottleDevice { path: "/dev/null".into(), rate: 1 << 20 }],
            device_cgroup_rules: Some(vec!["c 1:3 rwm".into()]),
            ..Default::default()
        };
        let mut r = json!({"devices": [], "cpu": {"shares": 512}});
        l.to_spec(&mut r);
        assert_eq!(r["cpu"], json!({"shares": 512, "period": 50000, "quota": 25000}));
        assert_eq!(r["memory"], json!({"swappiness": 10}));
        assert_eq!(r["blockIO"], json!({"throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 1 << 20}]}));
        assert_eq!(r["devices"], json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]));
        let parsed: oci_spec::runtime::LinuxResources = serde_json::from_value(r).unwrap();
        assert_eq!(parsed.cpu().as_ref().unwrap().period(), Some(50000));
        assert_eq!(l.cgroups_path("abc"), "/berth/abc");
        let p = |s: &str| Limits { cgroup_parent: s.into(), ..Default::default() }.cgroups_path("abc");
        assert_eq!(p("mypar"), "/mypar/abc");
        assert_eq!(p("/a/b/"), "/a/b/abc");
        assert_eq!(p("/"), "/abc");
    }
}
