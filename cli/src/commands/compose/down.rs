//! `berth compose down`: stop and remove the project's containers and networks.

use super::super::Ctx;
use berth_compose::project::DownOptions;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Remove named volumes declared in the "volumes" section and anonymous volumes.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images used by services ("local": only those without a custom tag, "all").
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    c.down(&DownOptions { volumes: a.volumes, rmi: a.rmi, remove_orphans: a.remove_orphans, timeout: a.timeout })?;
    Ok(())
}
