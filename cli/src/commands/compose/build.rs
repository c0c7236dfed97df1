//! `berth compose build`: build or rebuild services.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    c.build(&a.services, a.no_cache, a.pull)?;
    Ok(())
}
