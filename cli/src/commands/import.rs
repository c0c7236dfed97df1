//! `berth import`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Rootfs tarball (`-` for stdin).
    pub file: String,
    /// Name for the image.
    pub reference: Option<String>,
    /// Dockerfile instruction to apply to the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL).
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Layer compression: gzip (default), zstd or uncompressed.
    #[arg(long, default_value = "gzip")]
    pub compression: String,
    /// Platform of the image (os/arch).
    #[arg(long)]
    pub platform: Option<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("berth import: not implemented yet")
}
