//! `berth pull`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Image to pull.
    pub reference: String,
    /// Platform to select from a manifest list (os/arch[/variant]; default: this host; wasi/wasm).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth pull: not implemented yet")
}
