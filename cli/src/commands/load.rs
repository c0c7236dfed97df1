//! `berth load`: images from a `docker save`, skopeo or OCI archive (file or stdin).

use super::Ctx;
use anyhow::Context;
use std::io::IsTerminal;

#[derive(clap::Args)]
pub struct Args {
    /// Read from this file (default: stdin).
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress progress output (berth prints none; the loaded names are still printed).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let loaded = match args.input.as_deref().filter(|i| *i != "-") {
        Some(path) => {
            let f = std::fs::File::open(path).with_context(|| format!("open {path}"))?;
            engine.load(std::io::BufReader::with_capacity(1 << 20, f))?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            engine.load(stdin.lock())?
        }
    };
    for l in loaded {
        for (name, old) in &l.replaced {
            println!(
                "The image {} already exists, renaming the old one with ID {old} to empty string",
                berth_engine::image::familiar(name)
            );
        }
        if l.names.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for n in &l.names {
            println!("Loaded image: {}", berth_engine::image::familiar(n));
        }
    }
    Ok(())
}
