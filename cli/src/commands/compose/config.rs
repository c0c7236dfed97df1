//! `berth compose config`: the resolved model (interpolated, merged, in long syntax), or one
//! of its lists, as `docker compose config` prints them.

use super::Ctx;
use berth_compose::load::{self, print};
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Format the output: yaml or json.
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Only validate the configuration, don't print anything.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line.
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line.
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    pub images: bool,
    /// Don't interpolate environment variables.
    #[arg(long)]
    pub no_interpolate: bool,
    /// Print model variables and default values.
    #[arg(long)]
    pub variables: bool,
    /// Print the environment used for interpolation.
    #[arg(long)]
    pub environment: bool,
    /// Save to file (default to stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only these services (and what they depend on), whatever their profiles.
    pub service: Vec<String>,
}

pub fn run(_ctx: &Ctx, global: &super::Args, args: Args) -> anyhow::Result<()> {
    let mut opts = super::load_options(global);
    if args.variables {
        // As Compose's formatter: a table aligned with a minimum cell width of 20.
        let mut rows =
            vec![vec!["NAME".to_string(), "REQUIRED".into(), "DEFAULT VALUE".into(), "ALTERNATE VALUE".into()]];
        for v in load::variables(&opts)?.into_values() {
            rows.push(vec![v.name, v.required.to_string(), v.default, v.alternate]);
        }
        print!("{}", crate::format::table(&rows, 20));
        return Ok(());
    }
    if args.profiles {
        // Every profile any service declares, active or not: the project with all enabled.
        opts.profiles.push("*".into());
    }
    let loaded =
        if args.no_interpolate { load::load_uninterpolated(&opts)? } else { load::load_for(&opts, &args.service)? };
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let names = |section: &str| -> Vec<String> {
        loaded.model[section].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    let text = if args.services {
        lines(load::dependency_order(&loaded.model))
    } else if args.environment {
        lines(loaded.environment.iter().map(|(k, v)| format!("{k}={v}")).collect())
    } else if args.volumes {
        lines(names("volumes"))
    } else if args.networks {
        lines(names("networks"))
    } else if args.profiles {
        let mut p: Vec<String> = loaded.model["services"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|s| s["profiles"].as_array())
            .flatten()
            .filter_map(|p| p.as_str().map(String::from))
            .collect();
        p.sort();
        p.dedup();
        lines(p)
    } else if args.images {
        let services = loaded.model["services"].as_object().cloned().unwrap_or_default();
        lines(
            services
                .iter()
                .map(|(name, s)| match s["image"].as_str() {
                    Some(i) => i.to_string(),
                    None => format!("{}-{name}", loaded.name),
                })
                .collect(),
        )
    } else {
        let text = match args.format.as_str() {
            "yaml" => print::to_yaml(&loaded.model),
            "json" => print::to_json(&loaded.model),
            f => anyhow::bail!("unsupported format {f:?}: use yaml or json"),
        };
        // As Compose: the printed model reads back as itself, so a `$` is written `$$`.
        if args.no_interpolate {
            text
        } else {
            text.replace('$', "$$")
        }
    };
    if args.quiet {
        return Ok(());
    }
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

fn lines(items: Vec<String>) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}
