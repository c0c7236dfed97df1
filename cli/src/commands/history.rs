//! `berth history`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Image.
    pub image: String,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: table (default) or json.
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth history: not implemented yet")
}
