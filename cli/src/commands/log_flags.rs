//! `--log-driver` and `--log-opt`, the logging flags `create` and `run` share: flattened into
//! [`super::create::ContainerFlags`]; the engine checks them as Docker does
//! (`berth_engine::container::logs::LogConfig`).

use berth_engine::container::logs::LogConfig;

/// How the container's output is kept.
#[derive(clap::Args, Clone, Debug)]
pub struct LogFlags {
    /// Logging driver for the container (json-file, local, none).
    #[arg(long = "log-driver", value_name = "DRIVER", default_value = "json-file")]
    pub log_driver: String,
    /// Log driver options (max-size=10m, max-file=3, compress=true).
    #[arg(long = "log-opt", value_name = "K=V")]
    pub log_opts: Vec<String>,
}

impl LogFlags {
    /// The record's `HostConfig.LogConfig`, or Docker's error for a bad driver or option.
    pub fn config(&self) -> anyhow::Result<LogConfig> {
        Ok(LogConfig::new(&self.log_driver, &self.log_opts)?)
    }
}
