//! `berth compose logs`: the services' logs, each line prefixed with its container.

use super::super::Ctx;
use berth_compose::project::LogsOptions;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container ("all").
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Produce monochrome output.
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long)]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    let tail = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().map_err(|_| anyhow::anyhow!("invalid value for --tail: {n:?}"))?),
    };
    c.logs(&LogsOptions {
        services: a.services,
        follow: a.follow,
        tail,
        timestamps: a.timestamps,
        no_color: a.no_color,
        no_log_prefix: a.no_log_prefix,
    })?;
    Ok(())
}
