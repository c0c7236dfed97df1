//! `berth rmi`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Images to remove (names, ids or digests).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even if the image has several names.
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth rmi: not implemented yet")
}
