//! The security, device and namespace flags of `run`/`create` (`--cap-add` ... `--domainname`).
//! Values Docker's CLI checks as it parses (`--ulimit`, `--sysctl`, `--shm-size`, `--device`)
//! are checked here with the engine's parsers; the rest at create, by the engine.

use berth_engine::container::security::{self, DeviceMapping, SecurityConfig, Ulimit};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct SecurityFlags {
    /// Add Linux capabilities (NAME, CAP_NAME or ALL).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (NAME, CAP_NAME or ALL).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security options (seccomp=unconfined|FILE, no-new-privileges[:true|false], label=..., apparmor=...).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:rwm]).
    #[arg(long = "device", value_parser = |s: &str| security::parse_device(s))]
    pub devices: Vec<DeviceMapping>,
    /// Ulimit options (NAME=SOFT[:HARD]).
    #[arg(long = "ulimit", value_parser = |s: &str| security::parse_ulimit(s))]
    pub ulimits: Vec<Ulimit>,
    /// Size of /dev/shm (e.g. 128m).
    #[arg(long = "shm-size", value_parser = parse_shm_size, allow_hyphen_values = true)]
    pub shm_size: Option<i64>,
    /// Sysctl options (namespaced only: net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*).
    #[arg(long = "sysctl", value_parser = |s: &str| security::parse_sysctl(s), value_name = "K=V")]
    pub sysctls: Vec<(String, String)>,
    /// PID namespace to use (host, container:NAME).
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use (none, private, shareable, host, container:NAME).
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use (host).
    #[arg(long)]
    pub uts: Option<String>,
    /// Add additional groups to join (GID or a name from the image's /etc/group).
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Cgroup namespace to use (host, private).
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Tune the host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Container NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
}

fn parse_shm_size(s: &str) -> Result<i64, String> {
    berth_engine::container::volume::parse_size(s)
        .filter(|_| !s.starts_with('-'))
        .ok_or_else(|| format!("invalid size: '{s}'"))
}

impl SecurityFlags {
    /// The engine's options for these flags (checked and completed at create).
    pub fn config(&self) -> SecurityConfig {
        let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        SecurityConfig {
            cap_add: some(&self.cap_add),
            cap_drop: some(&self.cap_drop),
            privileged: self.privileged,
            security_opt: some(&self.security_opt),
            devices: self.devices.clone(),
            ulimits: self.ulimits.clone(),
            shm_size: self.shm_size.unwrap_or(0),
            sysctls: self.sysctls.iter().cloned().collect(),
            pid_mode: self.pid.clone().unwrap_or_default(),
            ipc_mode: self.ipc.clone().unwrap_or_default(),
            uts_mode: self.uts.clone().unwrap_or_default(),
            group_add: some(&self.group_add),
            cgroupns_mode: self.cgroupns.clone().unwrap_or_default(),
            oom_score_adj: self.oom_score_adj.unwrap_or(0),
        }
    }
}
