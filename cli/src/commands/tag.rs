//! `berth tag`: give an image another name.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Existing image.
    pub source: String,
    /// New name.
    pub target: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    ctx.engine()?.tag_image(&args.source, &args.target)?;
    Ok(())
}
