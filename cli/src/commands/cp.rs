//! `berth cp`: copy files between a container and the host (either direction; `-` is a tar
//! stream on stdin/stdout).

use super::Ctx;
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    /// Archive mode (copy all uid/gid information; accepted, ownership is root's in the container).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, or a host path, or `-`.
    pub src: String,
    /// CONTAINER:DEST_PATH, or a host path, or `-`.
    pub dest: String,
}

/// Splits `CONTAINER:PATH`; a host path (absolute, or with a `/` before any `:`) is not one.
fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    if c.is_empty() || c.contains('/') {
        return None;
    }
    Some((c, p))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    match (split(&args.src), split(&args.dest)) {
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some((name, path)), None) => {
            let c = engine.find_container(name)?;
            let path = if path.is_empty() { "/" } else { path };
            if args.dest == "-" {
                engine.tar_from_container(&c, path, std::io::stdout().lock())?;
            } else {
                engine.copy_from_container(&c, path, Path::new(&args.dest))?;
            }
        }
        (None, Some((name, path))) => {
            let c = engine.find_container(name)?;
            let path = if path.is_empty() { "/" } else { path };
            if args.src == "-" {
                engine.untar_to_container(&c, std::io::stdin().lock(), path)?;
            } else {
                engine.copy_to_container(&c, Path::new(&args.src), path)?;
            }
        }
    }
    Ok(())
}
