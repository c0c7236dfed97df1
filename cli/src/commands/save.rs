//! `berth save`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Write to this file (default: stdout).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Archive format: docker (default) or oci.
    #[arg(long, default_value = "docker")]
    pub format: String,
    /// Images to save.
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth save: not implemented yet")
}
