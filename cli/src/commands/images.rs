//! `berth images`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Only images matching this reference (repository, optionally with tag).
    pub reference: Option<String>,
    /// Show only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: table (default) or json.
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show all images (berth has no intermediate images; accepted for compatibility).
    #[arg(short = 'a', long)]
    pub all: bool,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth images: not implemented yet")
}
