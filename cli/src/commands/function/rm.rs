//! `berth function rm NAME...`: a running gateway stops routing to it at its next look.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The functions.
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut failed = None;
    for n in &a.names {
        match berth_functions::manage::remove(&ctx.root, n) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = Some(());
            }
        }
    }
    match failed {
        Some(()) => Err(crate::exit::Exit(1).into()),
        None => Ok(()),
    }
}
