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
    let mut failed = false;
    for name in &args.containers {
        match engine.find_container(name).and_then(|mut c| engine.remove_container(&mut c, args.force, args.volumes)) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
