//! `berth compose kill`: force stop service containers.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// SIGNAL to send to the container.
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    c.kill(&a.services, &a.signal)?;
    Ok(())
}
