//! `berth function logs [-f] NAME`: the function's instances' output and access lines.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Follow the log output (until the function is removed).
    #[arg(short, long)]
    pub follow: bool,
    /// The function.
    pub name: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    Ok(berth_functions::manage::logs(&ctx.root, &a.name, a.follow, &mut std::io::stdout().lock())?)
}
