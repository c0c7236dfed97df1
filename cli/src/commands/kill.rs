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
    super::each_container(&args.containers, |name| {
        let mut c = engine.find_container(name)?;
        engine.kill_container(&mut c, sig).map(|()| name.to_string())
    })
}
