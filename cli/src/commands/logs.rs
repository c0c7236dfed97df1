//! `berth logs`: a container's log (json-file or local, rotated files included), optionally
//! followed.

use super::Ctx;
use berth_engine::container::logs::{self, ReadOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for everything).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or relative duration (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative duration (e.g. 42m).
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details (accepted for compatibility).
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

/// Parses Docker's `--since`/`--until`: RFC 3339, a Unix timestamp, or a duration ago.
pub fn parse_time(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let t = chrono::DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32);
        return t.ok_or_else(|| anyhow::anyhow!("invalid timestamp {s:?}"));
    }
    let d = parse_duration(s).ok_or_else(|| {
        anyhow::anyhow!("invalid time value {s:?}: use RFC 3339, a Unix timestamp or a duration like 10m")
    })?;
    Ok(chrono::Utc::now() - d)
}

/// Go-style durations: `1h30m`, `10s`, `250ms`.
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    if s.is_empty() {
        return None;
    }
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            i += 1;
            continue;
        }
        let unit_len =
            if s[i..].starts_with("ms") || s[i..].starts_with("us") || s[i..].starts_with("ns") { 2 } else { 1 };
        let unit = &s[i..i + unit_len];
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        i += unit_len;
    }
    if !num.is_empty() {
        return None;
    }
    Some(chrono::Duration::milliseconds((total * 1000.0) as i64))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut c = engine.find_container(&args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().map_err(|_| anyhow::anyhow!("invalid value for --tail: {n:?}"))?),
    };
    let o = ReadOptions {
        tail,
        timestamps: args.timestamps,
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
    };
    let path = c.log_path();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let cursor = logs::read(&path, &c.host_config.log_config, &o, &mut out, &mut err)?;
    if args.follow {
        let mut done = || {
            if c.reload_state().is_err() {
                return true;
            }
            !(c.state.running || c.state.restarting || berth_engine::container::shim_alive(&c.dir))
        };
        logs::follow(&path, cursor, &o, &mut done)?;
    }
    Ok(())
}
