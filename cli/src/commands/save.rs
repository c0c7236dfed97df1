//! `berth save`: images to a tar archive (Docker's format, or `--format oci`).
//!
//! Like Docker, refuses to write an archive to a terminal. With `-o`, the archive is written
//! next to the destination and renamed into place, so a failed save leaves no partial file.

use super::Ctx;
use anyhow::Context;
use berth_engine::archive::SaveFormat;
use std::io::IsTerminal;

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

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let format: SaveFormat = args.format.parse()?;
    let engine = ctx.engine()?;
    match args.output.as_deref().filter(|o| *o != "-") {
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            engine.save(
                &args.images,
                format,
                berth_engine::media::Compression::None,
                std::io::BufWriter::with_capacity(1 << 20, stdout.lock()),
            )?;
        }
        Some(out) => {
            let dest = std::path::Path::new(out);
            let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = dest.file_name().with_context(|| format!("invalid output file {out}"))?.to_string_lossy();
            let tmp = dir.join(format!(".{name}.berth-save-{}", std::process::id()));
            let result = (|| -> anyhow::Result<()> {
                let f = std::fs::File::create(&tmp).with_context(|| format!("failed to save image: create {out}"))?;
                engine.save(
                    &args.images,
                    format,
                    berth_engine::media::Compression::None,
                    std::io::BufWriter::with_capacity(1 << 20, &f),
                )?;
                f.sync_all().with_context(|| format!("write {out}"))?;
                std::fs::rename(&tmp, dest).with_context(|| format!("write {out}"))?;
                Ok(())
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
    }
    Ok(())
}
