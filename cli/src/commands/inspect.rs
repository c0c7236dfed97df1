//! `berth inspect`: Docker-like JSON for containers (and volumes or images by name).

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Format the output using a Go template (`{{.State.ExitCode}}`, `{{json .Mounts}}`).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of this type (container, volume, image).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (accepted for compatibility).
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let kind = args.kind.as_deref();
        let doc = (|| {
            if kind.is_none() || kind == Some("container") {
                if let Ok(c) = engine.find_container(name) {
                    return Some(c.inspect());
                }
            }
            if kind.is_none() || kind == Some("volume") {
                if let Ok(v) = engine.inspect_volume(name) {
                    return serde_json::to_value(v).ok();
                }
            }
            if kind.is_none() || kind == Some("image") {
                if let Ok(img) = engine.resolve_image(name) {
                    // The same document as `image inspect`.
                    return Some(img.inspect_json(engine.store()));
                }
            }
            None
        })();
        match doc {
            Some(d) => docs.push(d),
            None => {
                eprintln!("Error: No such object: {name}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(f) => crate::format::print_docs(f, &docs)?,
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
