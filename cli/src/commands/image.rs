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

/// Go's default formatting of a value in a template (`[a b]`, `map[k:v]`).
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            format!("map[{}]", o.iter().map(|(k, v)| format!("{k}:{}", go_value(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// Evaluates `{{.A.B}}` / `{{json .A}}` placeholders against an inspect document.
fn template(tmpl: &str, v: &Value) -> anyhow::Result<String> {
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tmpl.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find("}}").ok_or_else(|| anyhow::anyhow!("template: unclosed action"))?;
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json") {
            Some(p) if p.starts_with(char::is_whitespace) => (true, p.trim()),
            _ => (false, expr),
        };
        let path =
            path.strip_prefix('.').ok_or_else(|| anyhow::anyhow!("template: unsupported action {{{{{expr}}}}}"))?;
        let mut cur = v;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = cur.get(part).unwrap_or(&Value::Null);
        }
        out.push_str(&if json { serde_json::to_string(cur)? } else { go_value(cur) });
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    Ok(out)
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
        Some(f) => {
            for d in &docs {
                println!("{}", template(f, d)?);
            }
        }
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
    println!("Total reclaimed space: {}", super::images::human_size(report.reclaimed));
    Ok(())
}
