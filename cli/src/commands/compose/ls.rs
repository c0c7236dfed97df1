//! `berth compose ls`: the projects this engine runs.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Show all stopped Compose projects.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display project names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format the output: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run(ctx: &Ctx, _g: &super::Args, a: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let list = berth_compose::project::list_projects(&engine, a.all)?;
    if a.quiet {
        for p in &list {
            println!("{}", p.name);
        }
        return Ok(());
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    let mut rows = vec![["NAME", "STATUS", "CONFIG FILES"].map(String::from).to_vec()];
    rows.extend(list.into_iter().map(|p| vec![p.name, p.status, p.config_files]));
    print!("{}", crate::format::table(&rows, 3));
    Ok(())
}
