//! `berth compose create`: create the project's containers without starting them.

use super::super::Ctx;
use berth_compose::project::UpOptions;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Build images before starting containers.
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy.
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long)]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    let o = UpOptions {
        services: a.services,
        detach: true,
        start: false,
        build: a.build,
        no_build: a.no_build,
        pull: a.pull,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        remove_orphans: a.remove_orphans,
        scale: super::up::scale(&a.scale)?,
        ..Default::default()
    };
    c.up(&o)?;
    Ok(())
}
