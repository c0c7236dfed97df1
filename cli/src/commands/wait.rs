//! `berth wait`: block until containers stop, print their exit codes.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    super::each_container(&args.containers, |name| {
        let mut c = engine.find_container(name)?;
        engine.wait_container(&mut c)
    })
}
