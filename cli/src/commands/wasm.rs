//! `berth wasm`: WebAssembly helpers. `package` stores a module or component file (binary, or
//! WebAssembly text converted as `wasm-tools parse` does) as an image in the CNCF wasm artifact
//! layout, ready for `berth run` and `berth push`.

use super::Ctx;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Package a .wasm (or .wat text) module or component as an image (CNCF wasm artifact layout).
    Package(PackageArgs),
}

#[derive(clap::Args)]
pub struct PackageArgs {
    /// The .wasm file, or WebAssembly text (.wat).
    pub file: std::path::PathBuf,
    /// Name and optionally a tag (name:tag).
    #[arg(short = 't', long = "tag")]
    pub tag: String,
    /// The config's author field.
    #[arg(long)]
    pub author: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Package(a) => {
            let d = ctx.engine()?.wasm_package(&a.file, &a.tag, a.author.as_deref())?;
            println!("{d}");
            Ok(())
        }
    }
}
