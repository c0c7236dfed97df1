//! `berth compose restart`: restart service containers.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    c.restart(&a.services, a.timeout)?;
    Ok(())
}
