//! `berth volume create|ls|inspect|rm|prune`.

use super::Ctx;
use crate::format;
use std::collections::BTreeMap;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones unless --all).
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Volume name (generated when absent).
    pub name: Option<String>,
    /// Volume driver (only "local").
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume (K=V).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Driver options (none supported by the local driver yet).
    #[arg(short = 'o', long = "opt")]
    pub opts: Vec<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output: table, json or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter (name=, label=, dangling=).
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes.
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    match cmd {
        Cmd::Create(a) => {
            if a.driver != "local" {
                anyhow::bail!(
                    "create {}: volume driver {:?} is not supported (only \"local\")",
                    a.name.unwrap_or_default(),
                    a.driver
                );
            }
            if !a.opts.is_empty() {
                anyhow::bail!("create: the local driver takes no options in berth yet");
            }
            let labels: BTreeMap<String, String> = a
                .labels
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let v = engine.create_volume(a.name.as_deref(), labels)?;
            println!("{}", v.name);
        }
        Cmd::Ls(a) => {
            let mut vols = engine.list_volumes()?;
            let used: std::collections::HashSet<String> = if a.filters.iter().any(|f| f.starts_with("dangling=")) {
                engine.list_containers()?.into_iter().flat_map(|c| c.mounts.into_iter().map(|m| m.name)).collect()
            } else {
                Default::default()
            };
            for f in &a.filters {
                let (k, v) =
                    f.split_once('=').ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
                match k {
                    "name" => vols.retain(|x| x.name.contains(v)),
                    "label" => vols.retain(|x| match v.split_once('=') {
                        Some((lk, lv)) => x.labels.get(lk).is_some_and(|y| y == lv),
                        None => x.labels.contains_key(v),
                    }),
                    "dangling" => {
                        let want = matches!(v, "true" | "1");
                        vols.retain(|x| used.contains(&x.name) != want)
                    }
                    "driver" => vols.retain(|x| x.driver == v),
                    _ => anyhow::bail!("invalid filter '{k}'"),
                }
            }
            if a.quiet {
                for v in &vols {
                    println!("{}", v.name);
                }
            } else {
                let rows: Vec<format::Row> = vols
                    .iter()
                    .map(|v| {
                        format::Row::from([
                            ("Driver", v.driver.clone()),
                            ("Labels", v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")),
                            (format::LABELS, format::labels_entry(&v.labels)),
                            ("Mountpoint", v.mountpoint.display().to_string()),
                            ("Name", v.name.clone()),
                            ("Scope", v.scope.clone()),
                        ])
                    })
                    .collect();
                format::print_rows(
                    a.format.as_deref(),
                    "{{.Driver}}\t{{.Name}}",
                    &format::VOLUMES,
                    &[("Name", "VOLUME NAME")],
                    &rows,
                )?;
            }
        }
        Cmd::Inspect(a) => {
            let mut docs = Vec::new();
            let mut failed = false;
            for n in &a.names {
                match engine.inspect_volume(n) {
                    Ok(v) => docs.push(serde_json::to_value(v)?),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            match &a.format {
                Some(f) => format::print_docs(f, &docs)?,
                None => println!("{}", serde_json::to_string_pretty(&docs)?),
            }
            if failed {
                return Err(super::Exit(1).into());
            }
        }
        Cmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match engine.remove_volume(n, a.force) {
                    Ok(()) => println!("{n}"),
                    Err(berth_engine::Error::NotFound(_)) if a.force => {}
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Err(super::Exit(1).into());
            }
        }
        Cmd::Prune(a) => {
            if !a.force
                && !super::container::confirm(
                    "WARNING! This will remove anonymous local volumes not used by at least one container.",
                )
            {
                return Ok(());
            }
            let (removed, bytes) = engine.prune_volumes(a.all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for r in &removed {
                    println!("{r}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", format::human_size4(bytes));
        }
    }
    Ok(())
}
