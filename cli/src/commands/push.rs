//! `berth push`: `docker push`'s flags and output, through [`berth_engine::Engine::push`].

use super::Ctx;
use berth_engine::progress::Progress;
use berth_engine::push::PushOptions;
use berth_engine::Reference;

#[derive(clap::Args)]
pub struct Args {
    /// Image to push.
    pub reference: String,
    /// Print no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let given = Reference::parse_name_only(&args.reference)?;
    let reference = Reference::parse(&args.reference)?;
    let progress = if args.quiet { Progress::quiet() } else { Progress::auto() };
    if given.tag().is_none() && given.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    let engine = ctx.engine()?;
    let opts = PushOptions { insecure_registries: ctx.insecure_registries.clone(), client: None };
    let digest = ctx.block_on(engine.push(&reference, &opts, &progress))?;
    if args.quiet {
        println!("{reference}");
    } else {
        let size = engine.store().blob_size(&digest).unwrap_or_default();
        println!("{}: digest: {digest} size: {size}", reference.manifest_ref());
    }
    Ok(())
}
