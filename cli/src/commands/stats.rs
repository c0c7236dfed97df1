//! `berth stats`: CPU, memory, network, block I/O and pids of running containers, from their
//! cgroups (`--no-stream` prints one sample; otherwise it refreshes every second).

use super::Ctx;
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

fn human(b: u64) -> String {
    // Docker's binary units for memory (MiB, GiB), decimal for I/O.
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.3}{}", units[i]).replace(".000", "")
    }
}

fn row(name: &str, id: &str, s0: &Sample, s1: &Sample, dt: Duration) -> Vec<String> {
    let cpu = stats::cpu_percent(s0, s1, dt);
    let mem_pct = if s1.mem_limit > 0 { s1.mem_usage as f64 * 100.0 / s1.mem_limit as f64 } else { 0.0 };
    vec![
        id.to_string(),
        name.to_string(),
        format!("{cpu:.2}%"),
        format!("{} / {}", human(s1.mem_usage), human(s1.mem_limit)),
        format!("{mem_pct:.2}%"),
        format!("{} / {}", super::container::human_bytes(s1.net_rx), super::container::human_bytes(s1.net_tx)),
        format!("{} / {}", super::container::human_bytes(s1.blk_read), super::container::human_bytes(s1.blk_write)),
        s1.pids.to_string(),
    ]
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
        let mut rows =
            vec![["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()];
        for (i, c) in list.iter().enumerate() {
            let id = if args.no_trunc { c.id.as_str() } else { c.short_id() };
            rows.push(row(&c.name, id, &s0[i], &s1[i], dt));
        }
        if !args.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        match args.format.as_deref() {
            Some("json") => {
                let keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"];
                for r in &rows[1..] {
                    let m: serde_json::Map<String, serde_json::Value> =
                        keys.iter().zip(r).map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
                    println!("{}", serde_json::Value::Object(m));
                }
            }
            _ => super::ps::print_table(&rows),
        }
        let _ = std::io::stdout().flush();
        if args.no_stream {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
