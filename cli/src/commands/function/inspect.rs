//! `berth function inspect NAME...`: the records as a JSON array, as `docker inspect` prints.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The functions.
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut docs = Vec::new();
    let mut failed = None;
    for n in &a.names {
        match berth_functions::manage::inspect(&ctx.root, n) {
            Ok(v) => docs.push(v),
            Err(e) => failed = Some(e),
        }
    }
    println!("{}", serde_json::to_string_pretty(&docs)?);
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
