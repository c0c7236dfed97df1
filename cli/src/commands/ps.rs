//! `berth ps`: Docker's container table, filters and formats.

use super::Ctx;
use crate::format::{self, container_status, ellipsis, running_for};
use berth_engine::container::Container;
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided (name=, id=, status=, label=, ancestor=, exited=, health=).
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
    /// Format output: table, json, or a Go template like '{{.ID}} {{.Names}}'.
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes (accepted for compatibility).
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Docker's State word for a container.
pub fn state_word(c: &Container) -> &'static str {
    let s = &c.state;
    if s.restarting {
        "restarting"
    } else if s.running {
        "running"
    } else {
        match s.status.as_str() {
            "created" => "created",
            "dead" => "dead",
            "removing" => "removing",
            _ => "exited",
        }
    }
}

fn matches(c: &Container, filters: &[(String, String)]) -> anyhow::Result<bool> {
    // Docker: values of one key are ORed, different keys ANDed.
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in filters {
        by_key.entry(k.as_str()).or_default().push(v.as_str());
    }
    for (k, vals) in by_key {
        let ok = vals.iter().any(|v| match k {
            "name" => c.name.contains(v.trim_start_matches('/')),
            "id" => c.id.starts_with(v),
            "status" => state_word(c) == *v,
            "exited" => state_word(c) == "exited" && v.parse::<i32>().ok() == Some(c.state.exit_code),
            "label" => match v.split_once('=') {
                Some((lk, lv)) => c.config.labels.get(lk).map(|x| x == lv).unwrap_or(false),
                None => c.config.labels.contains_key(*v),
            },
            "ancestor" => c.config.image == *v || c.image.trim_start_matches("sha256:").starts_with(v),
            "volume" => c.mounts.iter().any(|m| m.name == *v || m.destination == *v),
            // What the container runs (`linux`, `wasm`: the RUNTIME of `inspect`), one field.
            "runtime" => c.kind().as_str() == *v,
            "health" => berth_engine::container::health::status_word(&c.state) == *v,
            _ => false,
        });
        if !matches!(k, "name" | "id" | "status" | "exited" | "label" | "ancestor" | "volume" | "runtime" | "health") {
            anyhow::bail!("invalid filter '{k}'");
        }
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The fields a row shows, by Docker's template names.
fn fields(c: &Container, ports: String, no_trunc: bool) -> format::Row<'static> {
    let cmd = c.command_line();
    let mut m = BTreeMap::new();
    m.insert("ID", if no_trunc { c.id.clone() } else { c.short_id().to_string() });
    m.insert("Image", c.config.image.clone());
    m.insert("Command", if no_trunc { format!("\"{cmd}\"") } else { format!("\"{}\"", ellipsis(&cmd, 20)) });
    m.insert("CreatedAt", c.created.clone());
    m.insert("RunningFor", running_for(c));
    m.insert("Status", container_status(c));
    m.insert("State", state_word(c).to_string());
    m.insert("Ports", ports);
    m.insert("Names", c.name.clone());
    m.insert("Labels", c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
    m.insert(format::LABELS, format::labels_entry(&c.config.labels));
    m.insert(
        "Mounts",
        c.mounts
            .iter()
            .map(|m| if m.name.is_empty() { m.source.as_str() } else { m.name.as_str() })
            .map(|n| if no_trunc { n.to_string() } else { ellipsis(n, 15) })
            .collect::<Vec<_>>()
            .join(","),
    );
    m.insert("Networks", c.host_config.network_mode.clone());
    m.insert("Runtime", c.runtime.clone());
    m.insert("Size", "0B".into());
    m.insert("LocalVolumes", c.mounts.iter().filter(|m| m.kind == "volume").count().to_string());
    m
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut filters = Vec::new();
    for f in &args.filters {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        if k == "health" && !matches!(v, "starting" | "healthy" | "unhealthy" | "none") {
            anyhow::bail!("Unrecognised filter value for health: {v}");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let all =
        args.all || args.last.is_some() || args.latest || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut list: Vec<Container> = Vec::new();
    for c in engine.list_containers()? {
        if (all || c.state.running || c.state.restarting) && matches(&c, &filters)? {
            list.push(c);
        }
    }
    if let Some(n) = args.last {
        list.truncate(n);
    }
    if args.latest {
        list.truncate(1);
    }
    let ports = |c: &Container| berth_engine::container::net::ports_column(&engine, c);
    if args.quiet {
        for c in &list {
            println!("{}", if args.no_trunc { c.id.as_str() } else { c.short_id() });
        }
        return Ok(());
    }
    // Docker's `json` rows carry whole ids and commands.
    let json = matches!(args.format.as_deref(), Some("json") | Some("{{json .}}"));
    let rows: Vec<format::Row> = list.iter().map(|c| fields(c, ports(c), args.no_trunc || json)).collect();
    format::print_rows(
        args.format.as_deref(),
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
        &format::CONTAINERS,
        &[],
        &rows,
    )
}
