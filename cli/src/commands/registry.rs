//! `berth registry serve`: the embedded OCI distribution registry.

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Serve an OCI distribution-spec v1.1 registry.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: String,
    /// Storage directory (default: <root>/registry).
    #[arg(long)]
    pub storage: Option<std::path::PathBuf>,
}

pub fn run(_ctx: &Ctx, _cmd: Cmd) -> anyhow::Result<()> {
    anyhow::bail!("berth registry serve: not implemented yet")
}
