//! `berth compose up`: create and start the project's containers (converging what exists).

use super::super::{Ctx, Exit};
use berth_compose::project::UpOptions;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Detached mode: run containers in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers.
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy.
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long)]
    pub pull: Option<String>,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy.
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM).
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Stops all containers if any container was stopped.
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit.
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Produce monochrome output.
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps.
    #[arg(long)]
    pub timestamps: bool,
    /// Use this timeout in seconds for container shutdown.
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

/// `--scale SVC=N` flags.
pub fn scale(v: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    v.iter()
        .map(|s| {
            let (k, n) = s.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid scale specifier: {s}"))?;
            Ok((k.to_string(), n.parse().map_err(|_| anyhow::anyhow!("invalid scale specifier: {s}"))?))
        })
        .collect()
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    let o = UpOptions {
        services: a.services,
        detach: a.detach || a.wait,
        start: true,
        build: a.build,
        no_build: a.no_build,
        pull: a.pull,
        wait: a.wait,
        wait_timeout: a.wait_timeout.map(Duration::from_secs),
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        no_deps: a.no_deps,
        remove_orphans: a.remove_orphans,
        scale: scale(&a.scale)?,
        abort_on_container_exit: a.abort_on_container_exit,
        exit_code_from: a.exit_code_from,
        no_log_prefix: a.no_log_prefix,
        no_color: a.no_color,
        timestamps: a.timestamps,
        timeout: a.timeout,
    };
    match c.up(&o)? {
        0 => Ok(()),
        n => Err(Exit(n.clamp(1, 255) as u8).into()),
    }
}
