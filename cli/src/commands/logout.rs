//! `berth logout`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth logout: not implemented yet")
}
