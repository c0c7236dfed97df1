//! `berth compose start`: start services.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    c.start(&a.services)?;
    Ok(())
}
