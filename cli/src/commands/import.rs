//! `berth import`: a rootfs tarball (file or `-` for stdin) becomes a one-layer image.

use super::Ctx;
use anyhow::Context;
use berth_engine::archive::ImportOptions;
use berth_engine::media::Compression;

#[derive(clap::Args)]
pub struct Args {
    /// Rootfs tarball (`-` for stdin): plain, gzip or zstd.
    pub file: String,
    /// Name for the image.
    pub reference: Option<String>,
    /// Dockerfile instruction to apply to the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL, ONBUILD).
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Layer compression: gzip (default), zstd or uncompressed.
    #[arg(long, default_value = "gzip")]
    pub compression: String,
    /// Platform of the image (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let compression: Compression = args.compression.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    if args.file.starts_with("http://") || args.file.starts_with("https://") {
        anyhow::bail!("importing from a URL is not supported: download {} first", args.file);
    }
    let opts = ImportOptions {
        reference: args.reference,
        container_config: Default::default(),
        message: args.message,
        compression,
        platform: args.platform,
    };
    let engine = ctx.engine()?;
    let img = if args.file == "-" {
        engine.import(std::io::stdin().lock(), &args.changes, opts)?
    } else {
        let f = std::fs::File::open(&args.file).with_context(|| format!("open {}", args.file))?;
        engine.import(f, &args.changes, opts)?
    };
    println!("{}", img.id);
    Ok(())
}
