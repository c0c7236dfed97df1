//! `berth push`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Image to push.
    pub reference: String,
    /// Print no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth push: not implemented yet")
}
