//! `berth top`: the container's processes, as the host's `ps` shows them.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    /// Options for ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let c = engine.find_container(&args.container)?;
    if !c.state.running {
        anyhow::bail!("container {} is not running", c.id);
    }
    let pids = berth_engine::container::stats::pids(&c);
    let ps_args = if args.ps_args.is_empty() { vec!["-ef".to_string()] } else { args.ps_args.clone() };
    let out = std::process::Command::new("ps").args(&ps_args).output()?;
    if !out.status.success() {
        anyhow::bail!("ps {}: {}", ps_args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("Couldn't find PID field in ps output"))?;
    let mut rows: Vec<Vec<String>> = vec![header.split_whitespace().map(String::from).collect()];
    let ncols = rows[0].len();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = fields.get(col).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if pids.contains(&pid) {
            // The last column (the command) may contain spaces.
            let mut row: Vec<String> = fields.iter().take(ncols - 1).map(|s| s.to_string()).collect();
            row.push(fields.iter().skip(ncols - 1).copied().collect::<Vec<_>>().join(" "));
            rows.push(row);
        }
    }
    print!("{}", crate::format::table(&rows, crate::format::TOP_MIN_WIDTH));
    Ok(())
}
