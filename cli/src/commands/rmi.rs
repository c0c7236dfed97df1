//! `berth rmi`: untag images and forget those left without a name.
//!
//! As Docker: every argument is tried, errors are reported as they come, and the exit code
//! is 1 when any failed. Blobs are reclaimed by `berth image prune`.

use super::{Ctx, Exit};
use berth_engine::image::RemoveEvent;

#[derive(clap::Args)]
pub struct Args {
    /// Images to remove (names, ids or digests).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even if the image has several names.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents (berth has none; accepted for compatibility).
    #[arg(long)]
    pub no_prune: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut failed = false;
    for i in &args.images {
        match engine.remove_image(i, args.force) {
            Ok(events) => {
                for e in events {
                    match e {
                        RemoveEvent::Untagged(n) => println!("Untagged: {n}"),
                        RemoveEvent::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}
