//! `berth compose version`: as `docker compose version` prints it.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Format the output: pretty or json.
    #[arg(short = 'f', long, default_value = "pretty")]
    pub format: String,
    /// Shows only the version number.
    #[arg(long)]
    pub short: bool,
}

pub fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let v = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{v}");
    } else if args.format == "json" {
        println!("{}", serde_json::json!({ "version": format!("v{v}") }));
    } else {
        println!("berth compose version v{v}");
    }
    Ok(())
}
