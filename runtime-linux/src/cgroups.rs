//! Control groups: where the container's cgroup lives, its limits, joining it, OOM kills and
//! cleanup, for cgroup v1 (including the hybrid layout with a cgroup2 mount at
//! `/sys/fs/cgroup/unified`) and for pure cgroup v2.
//!
//! The layout is read from `/proc/self/mountinfo` and `/proc/self/cgroup` (both small) on every
//! create; nothing is cached across runs. Like runc, the container gets a directory in every
//! mounted hierarchy (so freezer, devices and pids all apply), `linux.cgroupsPath` is honoured
//! (absolute: from each hierarchy's root; relative: below the runtime's own cgroup) and defaults
//! to `/berth/<id>`. Only the leaf directory is removed on delete: parents such as `/berth` are
//! shared with other containers.
//!
//! Every file write goes through [`Syscall`], so the mapping from `linux.resources` to files is
//! unit-tested with the recording double. Device rules are written to the v1 `devices`
//! controller, and compiled to an eBPF program ([`crate::device_filter`]) attached to the
//! cgroup2 directory: the only mechanism on pure v2, a second guard in the hybrid layout.

use crate::error::{Error, Result};
use crate::syscall::Syscall;
pub use berth_runtime::{Cgroup, CgroupDir};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use std::path::{Component, Path, PathBuf};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory name under `/sys/fs/cgroup` (`memory`, `cpu,cpuacct`, `systemd`, `unified`).
    pub name: String,
    pub mountpoint: PathBuf,
    /// The cgroup mounted at `mountpoint` (mountinfo's root field; `/` outside cgroup namespaces).
    pub mount_root: PathBuf,
    /// v1 controllers (`memory`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The runtime's own cgroup in this hierarchy.
    pub own: PathBuf,
    pub v2: bool,
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape_mountinfo(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of /proc/self/mountinfo, the fields berth needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub root: String,
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

/// Parses /proc/self/mountinfo.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else { continue };
        if fields.len() < sep + 4 || sep < 6 {
            continue;
        }
        out.push(MountInfo {
            root: unescape_mountinfo(fields[3]),
            mountpoint: unescape_mountinfo(fields[4]),
            fstype: fields[sep + 1].to_string(),
            source: unescape_mountinfo(fields[sep + 2]),
            super_options: fields[sep + 3].to_string(),
        });
    }
    out
}

impl Layout {
    /// Reads the host's layout from /proc.
    pub fn detect() -> Result<Layout> {
        let mountinfo =
            std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::io("/proc/self/mountinfo", e))?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| Error::io("/proc/self/cgroup", e))?;
        Ok(Layout::parse(&mountinfo, &own))
    }

    /// Builds the layout from the text of /proc/self/mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, self_cgroup: &str) -> Layout {
        let mut own_v1: Vec<(Vec<String>, PathBuf)> = Vec::new();
        let mut own_v2 = PathBuf::from("/");
        for line in self_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if ctrl.is_empty() {
                own_v2 = PathBuf::from(path);
            } else {
                let mut c: Vec<String> = ctrl.split(',').map(str::to_string).collect();
                c.sort();
                own_v1.push((c, PathBuf::from(path)));
            }
        }
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for m in parse_mountinfo(mountinfo) {
            let name =
                Path::new(&m.mountpoint).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match m.fstype.as_str() {
                "cgroup" => {
                    let mut controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    let mut sorted = controllers.clone();
                    sorted.sort();
                    if hierarchies.iter().any(|h| {
                        let mut s = h.controllers.clone();
                        s.sort();
                        s == sorted
                    }) {
                        continue; // another mount of a hierarchy we already have
                    }
                    let own = own_v1.iter().find(|(c, _)| *c == sorted).map(|(_, p)| p.clone()).unwrap_or("/".into());
                    controllers.dedup();
                    hierarchies.push(Hierarchy {
                        name,
                        mountpoint: m.mountpoint.into(),
                        mount_root: m.root.into(),
                        controllers,
                        own,
                        v2: false,
                    });
                }
                "cgroup2" => {
                    if hierarchies.iter().any(|h| h.v2) {
                        continue;
                    }
                    hierarchies.push(Hierarchy {
                        name,
                        mountpoint: m.mountpoint.into(),
                        mount_root: m.root.into(),
                        controllers: Vec::new(),
                        own: own_v2.clone(),
                        v2: true,
                    });
                }
                _ => {}
            }
        }
        Layout { hierarchies }
    }

    /// Whether cgroup v1 controllers are in use (v1 or hybrid); false on pure v2.
    pub fn is_v1(&self) -> bool {
        self.hierarchies.iter().any(|h| !h.v2)
    }

    /// The v1 hierarchies, in mount order.
    pub fn v1(&self) -> impl Iterator<Item = &Hierarchy> {
        self.hierarchies.iter().filter(|h| !h.v2)
    }

    /// The container's cgroup directories for `cgroups_path` (see the module doc).
    pub fn cgroup(&self, cgroups_path: &Path) -> Result<Cgroup> {
        if cgroups_path.to_string_lossy().contains(':') {
            return Err(Error::Cgroup(format!(
                "systemd-style cgroupsPath {:?} is not supported; use a path such as /berth/<id>",
                cgroups_path
            )));
        }
        if cgroups_path.components().any(|c| c == Component::ParentDir) {
            return Err(Error::Cgroup(format!("cgroupsPath {:?} must not contain '..'", cgroups_path)));
        }
        self.cgroup_at(
            |h| if cgroups_path.is_absolute() { cgroups_path.to_path_buf() } else { h.own.join(cgroups_path) },
        )
    }

    /// The cgroup this process is in, in every hierarchy (to go back to after joining another).
    pub fn own_cgroup(&self) -> Result<Cgroup> {
        self.cgroup_at(|h| h.own.clone())
    }

    /// The cgroup at `path(hierarchy)` (a path from the hierarchy's root) in every hierarchy.
    fn cgroup_at(&self, path: impl Fn(&Hierarchy) -> PathBuf) -> Result<Cgroup> {
        let v1 = self.is_v1();
        let mut dirs = Vec::new();
        for h in &self.hierarchies {
            let in_hierarchy = path(h);
            let rel = in_hierarchy
                .strip_prefix(&h.mount_root)
                .unwrap_or_else(|_| in_hierarchy.strip_prefix("/").unwrap_or(&in_hierarchy))
                .to_path_buf();
            dirs.push(CgroupDir {
                name: h.name.clone(),
                path: h.mountpoint.join(&rel),
                mountpoint: h.mountpoint.clone(),
                controllers: h.controllers.clone(),
                v2: h.v2,
                // In the hybrid layout the cgroup2 tree has no controllers: it only tracks processes.
                unified_controllers: h.v2 && !v1,
            });
        }
        if dirs.is_empty() {
            return Err(Error::Cgroup("no cgroup file system is mounted".into()));
        }
        Ok(Cgroup { dirs })
    }
}

/// What the Linux runtime does with a container's cgroup (the record itself, [`Cgroup`], is
/// the runtime interface's: every runtime writes it into its state).
pub trait CgroupExt {
    /// Creates the directories (and the parents that are missing).
    fn create(&self, sys: &dyn Syscall) -> Result<()>;
    /// Writes `linux.resources` into the cgroup files.
    fn apply(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()>;
    /// How many times the kernel's OOM killer killed a process in this cgroup.
    fn oom_kills(&self, sys: &dyn Syscall) -> Option<u64>;
    /// The processes in the cgroup (host pids).
    fn pids(&self, sys: &dyn Syscall) -> Vec<i32>;
    /// Removes the container's directories; waits a little (up to about a second) for exiting
    /// tasks to leave. The first waits are short: a task that is exiting is usually gone
    /// within a fraction of a millisecond (an inline wasm run's threads, whose namespaces go
    /// with them, are just that).
    fn destroy(&self, sys: &dyn Syscall) -> Result<()>;
}

/// The helpers behind [`CgroupExt`].
trait CgroupFiles {
    fn need(&self, controller: &str, what: &str) -> Result<&Path>;
    fn apply_v1(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()>;
    fn apply_v2(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()>;
}

impl CgroupExt for Cgroup {
    /// Creates the directories (and the parents that are missing).
    fn create(&self, sys: &dyn Syscall) -> Result<()> {
        for d in &self.dirs {
            let rel = d.path.strip_prefix(&d.mountpoint).unwrap_or(Path::new(""));
            let mut cur = d.mountpoint.clone();
            let mut parent = d.mountpoint.clone();
            for c in rel.components() {
                cur.push(c);
                let created = match sys.mkdir(&cur) {
                    Ok(()) => true,
                    Err(e) if e.errno() == Some(libc::EEXIST) => false,
                    Err(e) => return Err(Error::Cgroup(format!("create {}: {e}", cur.display()))),
                };
                if d.controllers.iter().any(|c| c == "cpuset") && (created || cur == d.path) {
                    // A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and no task
                    // can join it until both are filled in: inherit them from the parent.
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let mine = sys.read_file(&cur.join(f)).unwrap_or_default();
                        if mine.trim().is_empty() {
                            let theirs = sys.read_file(&parent.join(f)).unwrap_or_default();
                            write(sys, &cur, f, theirs.trim())?;
                        }
                    }
                }
                parent = cur.clone();
            }
        }
        Ok(())
    }

    /// Writes `linux.resources` into the cgroup files.
    fn apply(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()> {
        if self.is_v2() {
            self.apply_v2(sys, r)
        } else {
            self.apply_v1(sys, r)
        }
    }

    /// How many times the kernel's OOM killer killed a process in this cgroup.
    fn oom_kills(&self, sys: &dyn Syscall) -> Option<u64> {
        let d = self.dir_for("memory")?;
        let file = if d.unified_controllers { "memory.events" } else { "memory.oom_control" };
        let text = sys.read_file(&d.path.join(file)).ok()?;
        text.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|v| v.trim().parse().ok())
    }

    /// The processes in the cgroup (host pids).
    fn pids(&self, sys: &dyn Syscall) -> Vec<i32> {
        let dir = self.dir_for("pids").or_else(|| self.dir_for("memory")).or(self.dirs.first());
        let Some(d) = dir else { return Vec::new() };
        sys.read_file(&d.path.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Removes the container's directories; waits a little (up to about a second) for exiting
    /// tasks to leave. The first waits are short: a task that is exiting is usually gone
    /// within a fraction of a millisecond (an inline wasm run's threads, whose namespaces go
    /// with them, are just that).
    fn destroy(&self, sys: &dyn Syscall) -> Result<()> {
        let mut last_err = None;
        for d in &self.dirs {
            let mut waited = std::time::Duration::ZERO;
            let mut pause = std::time::Duration::from_micros(100);
            loop {
                match sys.rmdir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.errno() == Some(libc::ENOENT) => break,
                    Err(e) if e.errno() == Some(libc::EBUSY) && waited < std::time::Duration::from_secs(1) => {
                        std::thread::sleep(pause);
                        waited += pause;
                        pause = (pause * 2).min(std::time::Duration::from_millis(5));
                    }
                    Err(e) => {
                        last_err = Some(Error::Cgroup(format!("remove {}: {e}", d.path.display())));
                        break;
                    }
                }
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

impl CgroupFiles for Cgroup {
    fn need(&self, controller: &str, what: &str) -> Result<&Path> {
        self.dir_for(controller).map(|d| d.path.as_path()).ok_or_else(|| {
            Error::Cgroup(format!("{what} is set but the {controller} cgroup controller is not available"))
        })
    }

    fn apply_v1(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            let any = m.limit().is_some()
                || m.swap().is_some()
                || m.reservation().is_some()
                || m.swappiness().is_some()
                || m.disable_oom_killer().is_some();
            if any {
                let dir = self.need("memory", "linux.resources.memory")?;
                match (m.limit(), m.swap()) {
                    (Some(limit), Some(swap)) => {
                        // memsw must stay >= the limit at every step: try one order, then the other.
                        if write(sys, dir, "memory.limit_in_bytes", &limit.to_string()).is_err() {
                            write(sys, dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                            write(sys, dir, "memory.limit_in_bytes", &limit.to_string())?;
                        } else {
                            write(sys, dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                        }
                    }
                    (Some(limit), None) => write(sys, dir, "memory.limit_in_bytes", &limit.to_string())?,
                    (None, Some(swap)) => write(sys, dir, "memory.memsw.limit_in_bytes", &swap.to_string())?,
                    (None, None) => {}
                }
                if let Some(v) = m.reservation() {
                    write(sys, dir, "memory.soft_limit_in_bytes", &v.to_string())?;
                }
                if let Some(v) = m.swappiness() {
                    if v <= 100 {
                        write(sys, dir, "memory.swappiness", &v.to_string())?;
                    }
                }
                if m.disable_oom_killer() == Some(true) {
                    write(sys, dir, "memory.oom_control", "1")?;
                }
            }
        }
        if let Some(c) = r.cpu() {
            if c.shares().is_some() || c.quota().is_some() || c.period().is_some() || c.idle().is_some() {
                let dir = self.need("cpu", "linux.resources.cpu")?;
                if let Some(v) = c.shares() {
                    write(sys, dir, "cpu.shares", &v.to_string())?;
                }
                // The period first: the kernel checks quota against the current period.
                if let Some(v) = c.period() {
                    write(sys, dir, "cpu.cfs_period_us", &v.to_string())?;
                }
                if let Some(v) = c.quota() {
                    write(sys, dir, "cpu.cfs_quota_us", &v.to_string())?;
                }
                if let Some(v) = c.idle() {
                    write(sys, dir, "cpu.idle", &v.to_string())?;
                }
            }
            if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
                let dir = self.need("cpu", "linux.resources.cpu.realtime*")?;
                if let Some(v) = c.realtime_period() {
                    write(sys, dir, "cpu.rt_period_us", &v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime() {
                    write(sys, dir, "cpu.rt_runtime_us", &v.to_string())?;
                }
            }
            if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                write(sys, self.need("cpuset", "linux.resources.cpu.cpus")?, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                write(sys, self.need("cpuset", "linux.resources.cpu.mems")?, "cpuset.mems", v)?;
            }
        }
        if let Some(p) = r.pids() {
            let dir = self.need("pids", "linux.resources.pids")?;
            write(sys, dir, "pids.max", &pids_max(p.limit()))?;
        }
        if let Some(b) = r.block_io() {
            if let Some(dir) = self.dir_for("blkio").map(|d| d.path.clone()) {
                if let Some(w) = b.weight() {
                    write(sys, &dir, "blkio.weight", &w.to_string())?;
                }
                for d in b.weight_device().iter().flatten() {
                    if let Some(w) = d.weight() {
                        write(sys, &dir, "blkio.weight_device", &format!("{}:{} {w}", d.major(), d.minor()))?;
                    }
                }
                for (file, list) in [
                    ("blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
                    ("blkio.throttle.write_bps_device", b.throttle_write_bps_device()),
                    ("blkio.throttle.read_iops_device", b.throttle_read_iops_device()),
                    ("blkio.throttle.write_iops_device", b.throttle_write_iops_device()),
                ] {
                    for d in list.iter().flatten() {
                        write(sys, &dir, file, &format!("{}:{} {}", d.major(), d.minor(), d.rate()))?;
                    }
                }
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            let dir = self.need("hugetlb", "linux.resources.hugepageLimits")?;
            write(sys, dir, &format!("hugetlb.{}.limit_in_bytes", h.page_size()), &h.limit().to_string())?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                write(
                    sys,
                    self.need("net_cls", "linux.resources.network.classID")?,
                    "net_cls.classid",
                    &id.to_string(),
                )?;
            }
            for p in n.priorities().iter().flatten() {
                let dir = self.need("net_prio", "linux.resources.network.priorities")?;
                write(sys, dir, "net_prio.ifpriomap", &format!("{} {}", p.name(), p.priority()))?;
            }
        }
        if let Some(devices) = r.devices() {
            let rules: Vec<LinuxDeviceCgroup> = devices.iter().cloned().chain(default_device_rules()).collect();
            if let Some(dir) = self.dir_for("devices").map(|d| d.path.clone()) {
                for rule in &rules {
                    let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
                    write(sys, &dir, file, &device_rule(rule))?;
                }
            }
            // The hybrid layout's cgroup2 tree gets the same rules as an eBPF filter: a second,
            // independent guard (and the code path pure v2 relies on), best effort here.
            if let Some(unified) = self.dirs.iter().find(|d| d.v2) {
                if let Err(e) = sys.attach_device_filter(&unified.path, &crate::device_filter::program(&rules)) {
                    tracing::warn!("device filter on {}: {e}", unified.path.display());
                }
            }
        }
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::Cgroup("linux.resources.unified needs cgroup v2, this host uses v1".into()));
        }
        Ok(())
    }

    fn apply_v2(&self, sys: &dyn Syscall, r: &LinuxResources) -> Result<()> {
        let Some(dir) = self.dirs.iter().find(|d| d.unified_controllers) else { return Ok(()) };
        let mut wanted = vec!["memory", "pids"];
        if r.cpu().is_some() {
            wanted.extend(["cpu", "cpuset"]);
        }
        if r.block_io().is_some() {
            wanted.push("io");
        }
        if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
            wanted.push("hugetlb");
        }
        // Controllers must be enabled in every ancestor's subtree_control; an ancestor that does
        // not offer one (or holds processes) refuses, and the limit write below reports it.
        let rel = dir.path.strip_prefix(&dir.mountpoint).unwrap_or(Path::new(""));
        let mut cur = dir.mountpoint.clone();
        for c in rel.components() {
            for w in &wanted {
                let _ = sys.write_file(&cur.join("cgroup.subtree_control"), &format!("+{w}"));
            }
            cur.push(c);
        }
        let p = dir.path.as_path();
        if let Some(m) = r.memory() {
            if let Some(v) = m.limit() {
                write(sys, p, "memory.max", &v2_limit(v))?;
            }
            if let Some(v) = m.reservation() {
                write(sys, p, "memory.low", &v2_limit(v))?;
            }
            if let Some(swap) = m.swap() {
                // OCI's swap is memory+swap; cgroup v2 limits swap alone.
                let v = match (swap, m.limit()) {
                    (s, _) if s < 0 => "max".to_string(),
                    (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write(sys, p, "memory.swap.max", &v)?;
            }
            if let Some(v) = m.swappiness() {
                if v != 60 && v <= 100 {
                    tracing::warn!("memory.swappiness is not supported on cgroup v2; ignored");
                }
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(shares) = c.shares() {
                if shares > 0 {
                    let weight = 1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142;
                    write(sys, p, "cpu.weight", &weight.to_string())?;
                }
            }
            if c.quota().is_some() || c.period().is_some() {
                let period = c.period().unwrap_or(100_000);
                let quota = match c.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".into(),
                };
                write(sys, p, "cpu.max", &format!("{quota} {period}"))?;
            }
            if let Some(v) = c.idle() {
                write(sys, p, "cpu.idle", &v.to_string())?;
            }
            if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                write(sys, p, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                write(sys, p, "cpuset.mems", v)?;
            }
        }
        if let Some(pids) = r.pids() {
            write(sys, p, "pids.max", &pids_max(pids.limit()))?;
        }
        if let Some(b) = r.block_io() {
            if let Some(w) = b.weight() {
                let weight = 1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990;
                write(sys, p, "io.weight", &weight.to_string())?;
            }
            for d in b.weight_device().iter().flatten() {
                if let Some(w) = d.weight() {
                    // The same mapping as the default weight, per device (`MAJ:MIN WEIGHT`).
                    let weight = 1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990;
                    write(sys, p, "io.weight", &format!("{}:{} {weight}", d.major(), d.minor()))?;
                }
            }
            for (key, list) in [
                ("rbps", b.throttle_read_bps_device()),
                ("wbps", b.throttle_write_bps_device()),
                ("riops", b.throttle_read_iops_device()),
                ("wiops", b.throttle_write_iops_device()),
            ] {
                for d in list.iter().flatten() {
                    write(sys, p, "io.max", &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()))?;
                }
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            write(sys, p, &format!("hugetlb.{}.max", h.page_size()), &v2_limit(h.limit()))?;
        }
        if let Some(u) = r.unified() {
            let mut keys: Vec<&String> = u.keys().collect();
            keys.sort();
            for k in keys {
                if k.contains('/') {
                    return Err(Error::Cgroup(format!("linux.resources.unified key {k:?} is not a file name")));
                }
                write(sys, p, k, &u[k])?;
            }
        }
        if let Some(devices) = r.devices() {
            let rules: Vec<LinuxDeviceCgroup> = devices.iter().cloned().chain(default_device_rules()).collect();
            sys.attach_device_filter(p, &crate::device_filter::program(&rules))
                .map_err(|e| Error::Cgroup(format!("device rules: {e}")))?;
        }
        Ok(())
    }
}

fn write(sys: &dyn Syscall, dir: &Path, file: &str, value: &str) -> Result<()> {
    sys.write_file(&dir.join(file), value).map_err(|e| Error::Cgroup(format!("write {value:?}: {e}")))
}

fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// A device rule in the v1 `devices.allow` syntax: `c 1:3 rwm`.
pub fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let typ = rule.typ().map(|t| t.as_str().to_string()).unwrap_or_else(|| "a".into());
    if typ == "a" && rule.major().is_none() && rule.minor().is_none() {
        return "a".into();
    }
    let num = |v: Option<i64>| v.filter(|v| *v >= 0).map(|v| v.to_string()).unwrap_or("*".into());
    format!("{typ} {}:{} {}", num(rule.major()), num(rule.minor()), rule.access().as_deref().unwrap_or("rwm"))
}

/// The devices every container may use whatever its rules say (runc's AllowedDevices): the nodes
/// berth creates in /dev, any pty, and mknod of anything (opening is what the rules police).
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().expect("device rule")
    };
    vec![
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(8), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(7), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(0), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(9), "rwm"),
        rule(LinuxDeviceType::C, Some(136), None, "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::RecordingSyscall;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str =
        "9:name=systemd:/\n8:pids:/\n5:devices:/\n4:memory:/sandbox/abc\n3:cpuset:/\n1:cpu:/\n0::/\n";

    const V2_MOUNTINFO: &str =
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n";

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hybrid_layout_is_v1_with_a_bare_unified_tree() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        assert!(l.is_v1());
        let names: Vec<&str> = l.hierarchies.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuset", "memory", "devices", "pids", "systemd", "unified"]);
        let mem = l.hierarchies.iter().find(|h| h.name == "memory").unwrap();
        assert_eq!(mem.own, Path::new("/sandbox/abc"));
        assert_eq!(l.hierarchies[5].controllers, ["name=systemd"]);
    }

    #[test]
    fn cgroups_path_absolute_and_relative() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        let cg = l.cgroup(Path::new("/berth/c1")).unwrap();
        assert!(cg.dirs.iter().all(|d| d.path.ends_with("berth/c1")));
        assert_eq!(cg.dirs[2].path, Path::new("/sys/fs/cgroup/memory/berth/c1"));
        let cg = l.cgroup(Path::new("berth/c1")).unwrap();
        assert_eq!(cg.dirs[2].path, Path::new("/sys/fs/cgroup/memory/sandbox/abc/berth/c1"));
        assert_eq!(cg.dirs[0].path, Path::new("/sys/fs/cgroup/cpu/berth/c1"));
        assert!(l.cgroup(Path::new("system.slice:berth:c1")).is_err());
        assert!(l.cgroup(Path::new("/a/../../b")).is_err());
    }

    #[test]
    fn v1_resources_go_to_their_controllers() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        let cg = l.cgroup(Path::new("/berth/c1")).unwrap();
        let sys = RecordingSyscall::new();
        let r = resources(
            r#"{"memory":{"limit":67108864,"swap":134217728},"cpu":{"quota":50000,"period":100000,"shares":512},
                "pids":{"limit":50},"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"}]}"#,
        );
        cg.apply(&sys, &r).unwrap();
        let calls = sys.calls();
        let expected = [
            "write /sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes 67108864",
            "write /sys/fs/cgroup/memory/berth/c1/memory.memsw.limit_in_bytes 134217728",
            "write /sys/fs/cgroup/cpu/berth/c1/cpu.shares 512",
            "write /sys/fs/cgroup/cpu/berth/c1/cpu.cfs_period_us 100000",
            "write /sys/fs/cgroup/cpu/berth/c1/cpu.cfs_quota_us 50000",
            "write /sys/fs/cgroup/pids/berth/c1/pids.max 50",
            "write /sys/fs/cgroup/devices/berth/c1/devices.deny a",
            "write /sys/fs/cgroup/devices/berth/c1/devices.allow c 10:200 rwm",
            "write /sys/fs/cgroup/devices/berth/c1/devices.allow c *:* m",
        ];
        assert_eq!(&calls[..expected.len()], &expected);
        assert!(calls.contains(&"write /sys/fs/cgroup/devices/berth/c1/devices.allow c 136:* rwm".to_string()));
        // The same rules guard the hybrid's cgroup2 directory as an eBPF program.
        assert!(calls.iter().any(|c| c.starts_with("device_filter /sys/fs/cgroup/unified/berth/c1 len=")), "{calls:?}");
    }

    #[test]
    fn v1_memsw_order_is_retried_when_lowering() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        let cg = l.cgroup(Path::new("/berth/c1")).unwrap();
        let sys = RecordingSyscall::new();
        sys.fail_on("write /sys/fs/cgroup/memory/berth/c1/memory.limit_in_bytes 1000", nix::errno::Errno::EINVAL);
        let r = resources(r#"{"memory":{"limit":1000,"swap":2000}}"#);
        // The limit write keeps failing in the double, so the error surfaces after the retry.
        assert!(cg.apply(&sys, &r).is_err());
        let calls = sys.matching("write");
        assert!(calls[1].ends_with("memory.memsw.limit_in_bytes 2000"), "{calls:?}");
    }

    #[test]
    fn missing_controller_is_an_error_naming_it() {
        let l = Layout::parse("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "1:cpu:/\n");
        let cg = l.cgroup(Path::new("/x")).unwrap();
        let err = cg.apply(&RecordingSyscall::new(), &resources(r#"{"pids":{"limit":5}}"#)).unwrap_err();
        assert!(err.to_string().contains("pids cgroup controller"), "{err}");
    }

    #[test]
    fn create_makes_parents_and_fills_cpuset() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        let cg = l.cgroup(Path::new("/berth/c1")).unwrap();
        let sys = RecordingSyscall::new();
        sys.add_dir("/sys/fs/cgroup/cpuset");
        sys.add_file("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
        sys.add_file("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
        cg.create(&sys).unwrap();
        assert!(sys.calls().contains(&"mkdir /sys/fs/cgroup/memory/berth".to_string()));
        assert!(sys.calls().contains(&"mkdir /sys/fs/cgroup/memory/berth/c1".to_string()));
        assert_eq!(sys.file("/sys/fs/cgroup/cpuset/berth/cpuset.cpus").as_deref(), Some("0-1"));
        assert_eq!(sys.file("/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems").as_deref(), Some("0"));
        assert_eq!(cg.procs_files().len(), 7);
    }

    #[test]
    fn v2_resources_and_controllers() {
        let l = Layout::parse(V2_MOUNTINFO, "0::/user.slice\n");
        assert!(!l.is_v1());
        let cg = l.cgroup(Path::new("/berth/c1")).unwrap();
        assert!(cg.is_v2());
        let sys = RecordingSyscall::new();
        let r = resources(
            r#"{"memory":{"limit":67108864,"swap":134217728},"cpu":{"quota":50000,"period":100000,"shares":1024},"pids":{"limit":0},
                "devices":[{"allow":false,"access":"rwm"}]}"#,
        );
        cg.apply(&sys, &r).unwrap();
        let calls = sys.calls();
        assert!(calls.contains(&"write /sys/fs/cgroup/cgroup.subtree_control +memory".to_string()));
        assert!(calls.contains(&"write /sys/fs/cgroup/berth/cgroup.subtree_control +pids".to_string()));
        assert!(!calls.iter().any(|c| c.starts_with("write /sys/fs/cgroup/berth/c1/cgroup.subtree_control")));
        for want in [
            "write /sys/fs/cgroup/berth/c1/memory.max 67108864",
            "write /sys/fs/cgroup/berth/c1/memory.swap.max 67108864",
            "write /sys/fs/cgroup/berth/c1/cpu.weight 39",
            "write /sys/fs/cgroup/berth/c1/cpu.max 50000 100000",
            "write /sys/fs/cgroup/berth/c1/pids.max max",
        ] {
            assert!(calls.contains(&want.to_string()), "missing {want}: {calls:?}");
        }
        assert!(calls.iter().any(|c| c.starts_with("device_filter /sys/fs/cgroup/berth/c1 len=")), "{calls:?}");
    }

    #[test]
    fn block_io_and_cpu_limits_v1_and_v2() {
        let r = resources(
            r#"{"cpu":{"period":50000,"quota":25000,"realtimePeriod":100000},"memory":{"swappiness":10},
                "blockIO":{"weight":500,"weightDevice":[{"major":254,"minor":0,"weight":200}],
                "throttleReadBpsDevice":[{"major":254,"minor":0,"rate":1048576}],
                "throttleWriteIOPSDevice":[{"major":254,"minor":0,"rate":100}]}}"#,
        );
        let l = Layout::parse(
            &format!("{HYBRID_MOUNTINFO}42 31 0:39 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"),
            HYBRID_SELF,
        );
        let sys = RecordingSyscall::new();
        l.cgroup(Path::new("/p/c1")).unwrap().apply(&sys, &r).unwrap();
        let calls = sys.calls();
        for want in [
            "write /sys/fs/cgroup/cpu/p/c1/cpu.cfs_period_us 50000",
            "write /sys/fs/cgroup/cpu/p/c1/cpu.cfs_quota_us 25000",
            "write /sys/fs/cgroup/cpu/p/c1/cpu.rt_period_us 100000",
            "write /sys/fs/cgroup/memory/p/c1/memory.swappiness 10",
            "write /sys/fs/cgroup/blkio/p/c1/blkio.weight 500",
            "write /sys/fs/cgroup/blkio/p/c1/blkio.weight_device 254:0 200",
            "write /sys/fs/cgroup/blkio/p/c1/blkio.throttle.read_bps_device 254:0 1048576",
            "write /sys/fs/cgroup/blkio/p/c1/blkio.throttle.write_iops_device 254:0 100",
        ] {
            assert!(calls.contains(&want.to_string()), "missing {want}: {calls:?}");
        }
        let l = Layout::parse(V2_MOUNTINFO, "0::/\n");
        let sys = RecordingSyscall::new();
        l.cgroup(Path::new("/p/c1")).unwrap().apply(&sys, &r).unwrap();
        let calls = sys.calls();
        for want in [
            "write /sys/fs/cgroup/p/c1/cpu.max 25000 50000",
            "write /sys/fs/cgroup/p/c1/io.weight 4950",
            "write /sys/fs/cgroup/p/c1/io.weight 254:0 1920",
            "write /sys/fs/cgroup/p/c1/io.max 254:0 rbps=1048576",
            "write /sys/fs/cgroup/p/c1/io.max 254:0 wiops=100",
        ] {
            assert!(calls.contains(&want.to_string()), "missing {want}: {calls:?}");
        }
    }

    #[test]
    fn oom_kill_counter_v1_and_v2() {
        let sys = RecordingSyscall::new();
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_SELF);
        let cg = l.cgroup(Path::new("/b/c")).unwrap();
        sys.add_file("/sys/fs/cgroup/memory/b/c/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        assert_eq!(cg.oom_kills(&sys), Some(2));
        let l = Layout::parse(V2_MOUNTINFO, "0::/\n");
        let cg = l.cgroup(Path::new("/b/c")).unwrap();
        sys.add_file("/sys/fs/cgroup/b/c/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        assert_eq!(cg.oom_kills(&sys), Some(1));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        let m =
            parse_mountinfo("36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
        assert_eq!(m[0].mountpoint, "/mnt 2");
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].root, "/mnt1");
    }
}
