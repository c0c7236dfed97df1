//! `berth restart`: stop (with the timeout) then start.

use super::Ctx;

/// `docker restart` takes `docker stop`'s flags.
pub use super::stop::Args;

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    super::each_container(&args.containers, |name| {
        let mut c = engine.find_container(name)?;
        let mut stop = c.clone();
        if let Some(s) = &args.signal {
            berth_engine::container::parse_signal(s)?;
            stop.config.stop_signal = Some(s.clone());
        }
        engine.stop_container(&mut stop, args.time)?;
        c.reload_state()?;
        engine.start_container(&mut c, false).map(|_| name.to_string())
    })
}
