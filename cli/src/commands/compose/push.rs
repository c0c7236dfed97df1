//! `berth compose push`: push service images.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    c.push(&a.services)?;
    Ok(())
}
