//! `berth registry serve`: the embedded OCI distribution registry, in the foreground until
//! SIGINT/SIGTERM, so a machine can host images with nothing but berth installed.

use super::Ctx;
use anyhow::Context;

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

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Serve(a) => serve(ctx, a),
    }
}

fn serve(ctx: &Ctx, a: ServeArgs) -> anyhow::Result<()> {
    let storage = a.storage.unwrap_or_else(|| ctx.root.join("registry"));
    let registry = berth_engine::registry::server::Registry::open(&storage)
        .with_context(|| format!("opening registry storage {}", storage.display()))?;
    ctx.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("listening on {}", a.addr))?;
        let addr = listener.local_addr().context("listening address")?;
        eprintln!("berth registry: listening on http://{addr} (storage {})", storage.display());
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let signalled = async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        };
        let server = berth_engine::registry::server::serve(listener, registry, signalled);
        // In-flight requests get a grace period; a stalled client must not keep us alive.
        let grace = async move {
            let _ = rx.wait_for(|s| *s).await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        };
        tokio::select! {
            r = server => r?,
            _ = grace => {}
        }
        Ok(())
    })
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
