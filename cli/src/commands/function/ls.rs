//! `berth function ls`: the functions and, when a gateway runs, its numbers for each.

use super::Ctx;
use crate::format;

#[derive(clap::Args)]
pub struct Args {
    /// Only display names.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let rows = berth_functions::manage::list(&ctx.root)?;
    if a.quiet {
        for (s, _) in rows {
            println!("{}", s.name);
        }
        return Ok(());
    }
    let mut table = vec![["NAME", "KIND", "ROUTE", "INSTANCES", "REQUESTS", "P50", "P99", "COLD STARTS"]
        .map(String::from)
        .to_vec()];
    for (s, st) in rows {
        let route = format!("{}{}", s.host.as_deref().unwrap_or(""), s.route);
        let kind = s.kind.map(|k| k.to_string()).unwrap_or_default();
        let nums = match st {
            Some(st) => vec![
                st.instances.to_string(),
                st.requests.to_string(),
                format!("{:.1}ms", st.p50_ms),
                format!("{:.1}ms", st.p99_ms),
                st.cold_starts.to_string(),
            ],
            None => vec!["-".to_string(); 5], // no gateway runs
        };
        let mut row = vec![s.name, kind, route];
        row.extend(nums);
        table.push(row);
    }
    print!("{}", format::table(&table, 0));
    Ok(())
}
