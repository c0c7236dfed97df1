//! The rest of Docker's cgroup flags of `run`/`create` (issue 13): CPU period, quota and
//! real-time budget, memory swappiness, kernel memory, block I/O weights and throttles,
//! `--cgroup-parent`, `--device-cgroup-rule`; flattened into [`super::run_flags::RunFlags`].
//! The values are parsed here as Docker's CLI parses them (same words); the engine checks them
//! against each other and the host (`berth_engine::container::limits`).

use berth_engine::container::limits::{self, Limits, ThrottleDevice, WeightDevice};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct CgroupFlags {
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long = "cpu-period", value_name = "INT")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long = "cpu-quota", value_name = "INT", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU real-time period in microseconds.
    #[arg(long = "cpu-rt-period", value_name = "INT")]
    pub cpu_rt_period: Option<i64>,
    /// Limit CPU real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", value_name = "INT")]
    pub cpu_rt_runtime: Option<i64>,
    /// Tune container memory swappiness (0 to 100).
    #[arg(long = "memory-swappiness", value_name = "INT", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Kernel memory limit (deprecated, recorded only).
    #[arg(long = "kernel-memory", value_name = "BYTES", value_parser = parse_bytes)]
    pub kernel_memory: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight", value_name = "UINT16", value_parser = parse_u16)]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight) (PATH:WEIGHT).
    #[arg(long = "blkio-weight-device", value_name = "PATH:WEIGHT", value_parser = parse_weight)]
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Limit read rate (bytes per second) from a device (PATH:RATE).
    #[arg(long = "device-read-bps", value_name = "PATH:RATE", value_parser = parse_bps)]
    pub device_read_bps: Vec<ThrottleDevice>,
    /// Limit write rate (bytes per second) to a device (PATH:RATE).
    #[arg(long = "device-write-bps", value_name = "PATH:RATE", value_parser = parse_bps)]
    pub device_write_bps: Vec<ThrottleDevice>,
    /// Limit read rate (IO per second) from a device (PATH:RATE).
    #[arg(long = "device-read-iops", value_name = "PATH:RATE", value_parser = parse_iops)]
    pub device_read_iops: Vec<ThrottleDevice>,
    /// Limit write rate (IO per second) to a device (PATH:RATE).
    #[arg(long = "device-write-iops", value_name = "PATH:RATE", value_parser = parse_iops)]
    pub device_write_iops: Vec<ThrottleDevice>,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent", value_name = "STRING")]
    pub cgroup_parent: Option<String>,
    /// Add a rule to the cgroup allowed devices list ('c 1:3 rwm').
    #[arg(long = "device-cgroup-rule", value_name = "RULE", value_parser = parse_rule)]
    pub device_cgroup_rules: Vec<String>,
}

fn parse_bytes(s: &str) -> Result<i64, String> {
    berth_engine::container::volume::parse_size(s).ok_or_else(|| format!("invalid size: '{s}'"))
}

/// pflag's `Uint16`, with `strconv.ParseUint`'s words.
fn parse_u16(s: &str) -> Result<u16, String> {
    match s.parse::<u64>() {
        Ok(v) => u16::try_from(v).map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": value out of range")),
        Err(_) => Err(format!("strconv.ParseUint: parsing \"{s}\": invalid syntax")),
    }
}

fn parse_weight(s: &str) -> Result<WeightDevice, String> {
    limits::parse_weight_device(s).map_err(|e| e.to_string())
}

fn parse_bps(s: &str) -> Result<ThrottleDevice, String> {
    limits::parse_throttle(s, true).map_err(|e| e.to_string())
}

fn parse_iops(s: &str) -> Result<ThrottleDevice, String> {
    limits::parse_throttle(s, false).map_err(|e| e.to_string())
}

fn parse_rule(s: &str) -> Result<String, String> {
    limits::parse_device_rule(s).map_err(|e| e.to_string())
}

impl CgroupFlags {
    /// The engine's limits (Docker's CLI checks the swappiness range itself).
    pub fn limits(&self) -> anyhow::Result<Limits> {
        let memory_swappiness = match self.memory_swappiness {
            Some(v) => limits::check_swappiness(v)?,
            None => None,
        };
        Ok(Limits {
            cgroup_parent: self.cgroup_parent.clone().unwrap_or_default(),
            blkio_weight: self.blkio_weight.unwrap_or(0),
            blkio_weight_device: self.blkio_weight_device.clone(),
            blkio_device_read_bps: self.device_read_bps.clone(),
            blkio_device_write_bps: self.device_write_bps.clone(),
            blkio_device_read_iops: self.device_read_iops.clone(),
            blkio_device_write_iops: self.device_write_iops.clone(),
            cpu_period: self.cpu_period.unwrap_or(0),
            cpu_quota: self.cpu_quota.unwrap_or(0),
            cpu_realtime_period: self.cpu_rt_period.unwrap_or(0),
            cpu_realtime_runtime: self.cpu_rt_runtime.unwrap_or(0),
            device_cgroup_rules: (!self.device_cgroup_rules.is_empty()).then(|| self.device_cgroup_rules.clone()),
            kernel_memory: self.kernel_memory.unwrap_or(0),
            kernel_memory_tcp: 0,
            memory_swappiness,
        })
    }
}
