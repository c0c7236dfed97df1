//! `berth image ...`: the image management group.

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// List images.
    #[command(alias = "list")]
    Ls(super::images::Args),
    /// Show an image's manifest digest, config and layers as JSON.
    Inspect(InspectArgs),
    /// Remove images.
    Rm(super::rmi::Args),
    /// Give an image another name.
    Tag(super::tag::Args),
    /// Show the history of an image.
    History(super::history::Args),
    /// Remove blobs and unpacked layers that nothing references.
    Prune(PruneArgs),
    /// Import a rootfs tarball.
    Import(super::import::Args),
    /// Save images.
    Save(super::save::Args),
    /// Load images.
    Load(super::load::Args),
    /// Pull an image.
    Pull(super::pull::Args),
    /// Push an image.
    Push(super::push::Args),
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Also remove images that have names (berth keeps named images unless -a).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation (berth never asks; accepted for compatibility).
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Ls(a) => super::images::run(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Rm(a) => super::rmi::run(ctx, a),
        Cmd::Tag(a) => super::tag::run(ctx, a),
        Cmd::History(a) => super::history::run(ctx, a),
        Cmd::Prune(a) => prune(ctx, a),
        Cmd::Import(a) => super::import::run(ctx, a),
        Cmd::Save(a) => super::save::run(ctx, a),
        Cmd::Load(a) => super::load::run(ctx, a),
        Cmd::Pull(a) => super::pull::run(ctx, a),
        Cmd::Push(a) => super::push::run(ctx, a),
    }
}

fn inspect(_ctx: &Ctx, _a: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("berth image inspect: not implemented yet")
}

fn prune(_ctx: &Ctx, _a: PruneArgs) -> anyhow::Result<()> {
    anyhow::bail!("berth image prune: not implemented yet")
}
