//! `berth logout`: forgets a registry's credentials in Docker's `config.json`.

use super::Ctx;
use berth_engine::registry::auth::{server_key, DockerConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
}

pub fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let domain = super::login::server_domain(args.server.as_deref());
    let key = server_key(&domain);
    let mut cfg = DockerConfig::load()?;
    if cfg.remove(&domain)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}
