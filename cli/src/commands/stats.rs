//! `berth stats`: CPU, memory, network, block I/O and pids of running containers, from their
//! cgroups (`--no-stream` prints one sample; otherwise it refreshes every second).

use super::Ctx;
use crate::format::{self, bytes_size, human_size};
use berth_engine::container::stats::{self, Sample};
use std::io::Write;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: table, json or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

/// One container's row, by Docker's `stats --format` field names.
fn row(name: &str, id: &str, s0: &Sample, s1: &Sample, dt: Duration) -> format::Row<'static> {
    let cpu = stats::cpu_percent(s0, s1, dt);
    let mem_pct = if s1.mem_limit > 0 { s1.mem_usage as f64 * 100.0 / s1.mem_limit as f64 } else { 0.0 };
    format::Row::from([
        ("ID", id.to_string()),
        ("Name", name.to_string()),
        ("CPUPerc", format!("{cpu:.2}%")),
        // Docker: binary units for memory, decimal for I/O.
        ("MemUsage", format!("{} / {}", bytes_size(s1.mem_usage), bytes_size(s1.mem_limit))),
        ("MemPerc", format!("{mem_pct:.2}%")),
        ("NetIO", format!("{} / {}", human_size(s1.net_rx), human_size(s1.net_tx))),
        ("BlockIO", format!("{} / {}", human_size(s1.blk_read), human_size(s1.blk_write))),
        ("PIDs", s1.pids.to_string()),
    ])
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    loop {
        let list: Vec<_> = if args.containers.is_empty() {
            engine.list_containers()?.into_iter().filter(|c| args.all || c.state.running).collect()
        } else {
            args.containers.iter().map(|n| engine.find_container(n)).collect::<Result<_, _>>()?
        };
        let dt = Duration::from_millis(500);
        let s0: Vec<Sample> = list.iter().map(stats::sample).collect();
        std::thread::sleep(dt);
        let s1: Vec<Sample> = list.iter().map(stats::sample).collect();
        let mut rows = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let id = if args.no_trunc { c.id.as_str() } else { c.short_id() };
            rows.push(row(&c.name, id, &s0[i], &s1[i], dt));
        }
        let text = format::format_rows(
            args.format.as_deref(),
            "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
            &format::STATS,
            &[
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET I/O"),
                ("BlockIO", "BLOCK I/O"),
                ("PIDs", "PIDS"),
            ],
            &rows,
        )
        .map_err(format::FormatError::exit)?;
        if !args.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print!("{text}");
        let _ = std::io::stdout().flush();
        if args.no_stream {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
