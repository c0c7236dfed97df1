//! `berth tag`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Existing image.
    pub source: String,
    /// New name.
    pub target: String,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth tag: not implemented yet")
}
