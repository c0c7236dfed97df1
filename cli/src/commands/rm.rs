//! `berth rm`: remove containers (running ones with `-f`), and their anonymous volumes with `-v`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let r = super::each_container(&args.containers, |name| {
        let mut c = engine.find_container(name)?;
        engine.remove_container(&mut c, args.force, args.volumes).map(|()| name.to_string())
    });
    // Removals an earlier `rm` was killed in the middle of (one readdir).
    engine.sweep_removals();
    r
}
