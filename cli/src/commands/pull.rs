//! `berth pull`: `docker pull`'s flags and output, through [`berth_engine::Engine::pull`].

use super::Ctx;
use berth_engine::platform::Platform;
use berth_engine::progress::Progress;
use berth_engine::pull::PullOptions;
use berth_engine::Reference;

#[derive(clap::Args)]
pub struct Args {
    /// Image to pull.
    pub reference: String,
    /// Platform to select from a manifest list (os/arch[/variant]; default: this host; wasi/wasm).
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Print no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let given = Reference::parse_name_only(&args.reference)?;
    let reference = Reference::parse(&args.reference)?;
    let platform = args.platform.as_deref().filter(|p| !p.is_empty()).map(Platform::parse).transpose()?;
    let progress = if args.quiet { Progress::quiet() } else { Progress::auto() };
    if given.tag().is_none() && given.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    let engine = ctx.engine()?;
    let opts = PullOptions { platform, insecure_registries: ctx.insecure_registries.clone(), client: None };
    ctx.block_on(engine.pull(&reference, &opts, &progress))?;
    println!("{reference}");
    Ok(())
}
