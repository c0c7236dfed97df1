//! `berth stop`: the stop signal, then SIGKILL after the timeout.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout", allow_hyphen_values = true)]
    pub time: Option<i64>,
    /// Signal to send to the container.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    super::each_container(&args.containers, |name| {
        let mut c = engine.find_container(name)?;
        if let Some(s) = &args.signal {
            berth_engine::container::parse_signal(s)?;
            c.config.stop_signal = Some(s.clone());
        }
        engine.stop_container(&mut c, args.time).map(|()| name.to_string())
    })
}
