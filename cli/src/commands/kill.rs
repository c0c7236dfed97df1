//! `berth kill`: send a signal (SIGKILL by default) to running containers.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Signal to send to the container.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let sig = berth_engine::container::parse_signal(&args.signal)?;
    let engine = ctx.engine()?;
    let mut failed = false;
    for name in &args.containers {
        match engine.find_container(name).and_then(|mut c| engine.kill_container(&mut c, sig)) {
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
