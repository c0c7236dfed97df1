//! `berth compose pull`: pull service images.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Pull what it can and ignores images with pull failures.
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    c.pull(&a.services, a.ignore_pull_failures)?;
    Ok(())
}
