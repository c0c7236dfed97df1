//! `berth image ...`: the image management group.

use super::{Ctx, Exit};
use berth_engine::image::RemoveEvent;
use serde_json::Value;

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
    /// Format the output using a Go template (`{{.Id}}`, `{{json .Config.Cmd}}`).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all images no container uses, not just dangling ones.
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

fn inspect(ctx: &Ctx, a: InspectArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &a.images {
        match engine.resolve_image(name) {
            Ok(img) => docs.push(img.inspect_json(engine.store())),
            Err(e) if e.is_image_not_found() => {
                eprintln!("Error: No such image: {name}");
                failed = true;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    match &a.format {
        Some(f) => crate::format::print_docs(f, &docs)?,
        None => {
            // Docker indents inspect output with four spaces (JSON strings hold no raw
            // newlines, so each line's leading spaces are indentation only).
            let pretty = serde_json::to_string_pretty(&Value::Array(docs))?;
            for line in pretty.lines() {
                let body = line.trim_start_matches(' ');
                println!("{}{body}", " ".repeat((line.len() - body.len()) * 2));
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<()> {
    let report = ctx.engine()?.prune_images(a.all)?;
    if !report.events.is_empty() {
        println!("Deleted Images:");
        for e in &report.events {
            match e {
                RemoveEvent::Untagged(n) => println!("untagged: {n}"),
                RemoveEvent::Deleted(d) => println!("deleted: {d}"),
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", crate::format::human_size4(report.reclaimed));
    Ok(())
}
