//! Docker's `run`/`create` flags for features this host does not have (`--userns`,
//! `--isolation`, `--volume-driver`, `--storage-opt`, `--gpus`, `--ip6`, `--link-local-ip`,
//! `--disable-content-trust`); flattened into [`super::run_flags::RunFlags`]. The engine
//! accepts or refuses them as Docker does (`berth_engine::container::hostonly`).

use berth_engine::container::hostonly::{self, HostOnly};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct HostOnlyFlags {
    /// User namespace to use (only 'host': berth does no user-namespace remapping).
    #[arg(long = "userns", value_name = "STRING")]
    pub userns: Option<String>,
    /// Container isolation technology (only 'default' on Linux).
    #[arg(long = "isolation", value_name = "STRING")]
    pub isolation: Option<String>,
    /// Optional volume driver for the container (only 'local').
    #[arg(long = "volume-driver", value_name = "STRING")]
    pub volume_driver: Option<String>,
    /// Storage driver options for the container.
    #[arg(long = "storage-opt", value_name = "LIST")]
    pub storage_opt: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs).
    #[arg(long = "gpus", value_name = "GPU-REQUEST", value_parser = parse_gpus)]
    pub gpus: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33).
    #[arg(long = "ip6", value_name = "STRING")]
    pub ip6: Option<String>,
    /// Container IPv4/IPv6 link-local addresses.
    #[arg(long = "link-local-ip", value_name = "LIST")]
    pub link_local_ip: Vec<String>,
    /// Skip image verification (berth verifies no signatures: a no-op, as Docker's default).
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
}

fn parse_gpus(s: &str) -> Result<String, String> {
    hostonly::gpu_driver(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

impl HostOnlyFlags {
    /// The engine's form (Docker's CLI checks `--userns` and `--storage-opt` itself).
    pub fn options(&self) -> anyhow::Result<HostOnly> {
        let userns = self.userns.clone().unwrap_or_default();
        hostonly::check_userns(&userns)?;
        for o in &self.storage_opt {
            hostonly::check_storage_opt(o)?;
        }
        Ok(HostOnly {
            userns,
            isolation: self.isolation.clone().unwrap_or_default(),
            volume_driver: self.volume_driver.clone().unwrap_or_default(),
            storage_opts: self.storage_opt.clone(),
            gpus: self.gpus.clone(),
            ip6: self.ip6.clone(),
            link_local_ips: self.link_local_ip.clone(),
        })
    }
}
