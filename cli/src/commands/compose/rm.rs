//! `berth compose rm`: remove stopped service containers.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Don't ask to confirm removal.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    // berth never prompts: `-f` is accepted, as scripts pass it.
    let _ = a.force;
    let removed = c.rm(&a.services, a.stop, a.volumes)?;
    if removed.is_empty() {
        eprintln!("No stopped containers");
    }
    Ok(())
}
