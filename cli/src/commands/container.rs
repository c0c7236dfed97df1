//! `berth container ...`: the container command group, and `container prune`.

use super::Ctx;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create and run a new container from an image.
    Run(super::run::Args),
    /// Create a new container.
    Create(super::create::Args),
    /// List containers.
    #[command(alias = "ps", alias = "list")]
    Ls(super::ps::Args),
    /// Start one or more stopped containers.
    Start(super::start::Args),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(super::attach::Args),
    /// Stop one or more running containers.
    Stop(super::stop::Args),
    /// Restart one or more containers.
    Restart(super::restart::Args),
    /// Kill one or more running containers.
    Kill(super::kill::Args),
    /// Remove one or more containers.
    #[command(alias = "remove")]
    Rm(super::rm::Args),
    /// Display detailed information on one or more containers.
    Inspect(super::inspect::Args),
    /// Fetch the logs of a container.
    Logs(super::logs::Args),
    /// Block until containers stop, then print their exit codes.
    Wait(super::wait::Args),
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (label=, until= accepted).
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Run(a) => super::run::run(ctx, a),
        Cmd::Create(a) => super::create::run(ctx, a),
        Cmd::Ls(a) => super::ps::run(ctx, a),
        Cmd::Start(a) => super::start::run(ctx, a),
        Cmd::Attach(a) => super::attach::run(ctx, a),
        Cmd::Stop(a) => super::stop::run(ctx, a),
        Cmd::Restart(a) => super::restart::run(ctx, a),
        Cmd::Kill(a) => super::kill::run(ctx, a),
        Cmd::Rm(a) => super::rm::run(ctx, a),
        Cmd::Inspect(mut a) => {
            a.kind = Some("container".into());
            super::inspect::run(ctx, a)
        }
        Cmd::Logs(a) => super::logs::run(ctx, a),
        Cmd::Wait(a) => super::wait::run(ctx, a),
        Cmd::Prune(a) => prune(ctx, a),
    }
}

/// Asks Docker's confirmation question on a terminal; elsewhere proceeds only with `-f`
/// semantics already decided by the caller.
pub fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return true;
    }
    print!("{question}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<()> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let engine = ctx.engine()?;
    let mut label_filters = Vec::new();
    for f in &a.filters {
        match f.split_once('=') {
            Some(("label", v)) => label_filters.push(v.to_string()),
            Some(("until", _)) => {}
            _ => anyhow::bail!("invalid filter '{f}'"),
        }
    }
    // What killed commands left (half-removed or never-recorded containers, build steps) is
    // swept by the listing below.
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for mut c in engine.list_containers()? {
        if c.state.running || c.state.restarting || berth_engine::container::shim_alive(&c.dir) {
            continue;
        }
        let labelled = label_filters.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => c.config.labels.get(k).is_some_and(|x| x == v),
            None => c.config.labels.contains_key(l),
        });
        if !labelled {
            continue;
        }
        reclaimed += berth_engine::container::volume::dir_size(&c.dir.join("upper"));
        if engine.remove_container(&mut c, false, false).is_ok() {
            deleted.push(c.id.clone());
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", crate::format::human_size4(reclaimed));
    Ok(())
}
