//! `berth load`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Read from this file (default: stdin).
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Print only the loaded names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth load: not implemented yet")
}
