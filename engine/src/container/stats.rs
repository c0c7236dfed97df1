//! Resource usage of a container, read from its cgroups (v1 or v2) and its network namespace.

use super::{runtime, Container};

/// One reading.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// CPU time used, in nanoseconds.
    pub cpu_ns: u64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub pids: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
}

fn read_u64(p: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.split_whitespace().next()?.parse().ok()
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next()?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The pids in the container's cgroup.
pub fn pids(c: &Container) -> Vec<i32> {
    let mut out: Vec<i32> = Vec::new();
    for d in runtime::cgroup_dirs(c) {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Reads the container's counters now.
pub fn sample(c: &Container) -> Sample {
    let mut s = Sample::default();
    let host_mem = host_memory();
    for d in runtime::cgroup_dirs(c) {
        // cgroup v2 (one directory) or the v1 hierarchies (one per controller).
        if let Ok(stat) = std::fs::read_to_string(d.join("cpu.stat")) {
            if let Some(us) = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
                s.cpu_ns = us.trim().parse::<u64>().unwrap_or(0) * 1000;
            }
        }
        if let Some(v) = read_u64(&d.join("cpuacct.usage")) {
            s.cpu_ns = v;
        }
        let stat = std::fs::read_to_string(d.join("memory.stat")).unwrap_or_default();
        let stat_val = |k: &str| stat.lines().find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok());
        if let Some(u) = read_u64(&d.join("memory.usage_in_bytes")).or_else(|| read_u64(&d.join("memory.current"))) {
            // Docker subtracts the inactive page cache.
            let inactive = stat_val("total_inactive_file ").or_else(|| stat_val("inactive_file ")).unwrap_or(0);
            s.mem_usage = u.saturating_sub(inactive);
        }
        if let Some(l) = read_u64(&d.join("memory.limit_in_bytes")).or_else(|| read_u64(&d.join("memory.max"))) {
            s.mem_limit = l.min(host_mem.max(1));
        } else if d.join("memory.max").exists() || d.join("memory.limit_in_bytes").exists() {
            s.mem_limit = host_mem;
        }
        if let Some(p) = read_u64(&d.join("pids.current")) {
            s.pids = p;
        }
        if let Ok(b) = std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes")) {
            for l in b.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() == 3 {
                    match f[1] {
                        "Read" => s.blk_read += f[2].parse::<u64>().unwrap_or(0),
                        "Write" => s.blk_write += f[2].parse::<u64>().unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
        if let Ok(b) = std::fs::read_to_string(d.join("io.stat")) {
            for l in b.lines() {
                for kv in l.split_whitespace() {
                    if let Some(v) = kv.strip_prefix("rbytes=") {
                        s.blk_read += v.parse::<u64>().unwrap_or(0);
                    } else if let Some(v) = kv.strip_prefix("wbytes=") {
                        s.blk_write += v.parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
    }
    if s.mem_limit == 0 {
        s.mem_limit = host_mem;
    }
    if c.state.pid > 0 && c.host_config.network_mode != "host" {
        if let Ok(dev) = std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid)) {
            for l in dev.lines().skip(2) {
                let Some((name, rest)) = l.split_once(':') else { continue };
                if name.trim() == "lo" {
                    continue;
                }
                let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
                if f.len() >= 9 {
                    s.net_rx += f[0];
                    s.net_tx += f[8];
                }
            }
        }
    }
    s
}

/// CPU use between two samples as Docker shows it (100% = one CPU fully busy).
pub fn cpu_percent(a: &Sample, b: &Sample, dt: std::time::Duration) -> f64 {
    let used = b.cpu_ns.saturating_sub(a.cpu_ns) as f64;
    let wall = dt.as_nanos() as f64;
    if wall == 0.0 {
        0.0
    } else {
        used / wall * 100.0
    }
}
