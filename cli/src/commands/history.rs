//! `berth history`: an image's history as Docker shows it (newest first, `<missing>` ids
//! below the top, `CREATED BY` cut to 45 characters unless `--no-trunc`).

use super::Ctx;
use crate::format::{self, ellipsis, human_size, since};
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct Args {
    /// Image.
    pub image: String,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print sizes and dates in human readable format (default true).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Output format: table (default), json, or a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let img = engine.resolve_image(&args.image)?;
    let rows = img.history(engine.store());
    let id = |r: &berth_engine::image::HistoryRow| match &r.id {
        Some(d) if args.no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".to_string(),
    };
    if args.quiet {
        for r in &rows {
            println!("{}", id(r));
        }
        return Ok(());
    }
    let fields: Vec<BTreeMap<&str, String>> = rows
        .iter()
        .map(|r| {
            let created_by = r.created_by.replace('\t', " ");
            BTreeMap::from([
                ("Comment", r.comment.clone()),
                (
                    "CreatedAt",
                    r.created.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default(),
                ),
                ("CreatedBy", if args.no_trunc { created_by } else { ellipsis(&created_by, 45) }),
                (
                    "CreatedSince",
                    if args.human { since(r.created) } else { r.created.map(|t| t.to_rfc3339()).unwrap_or_default() },
                ),
                ("ID", id(r)),
                ("Size", if args.human { human_size(r.size) } else { r.size.to_string() }),
            ])
        })
        .collect();
    format::print_rows(
        args.format.as_deref(),
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        &format::HISTORY,
        &[],
        &fields,
    )
}
