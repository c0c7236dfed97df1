//! `berth compose ps`: the project's containers, as Compose v2 lists them.

use super::super::Ctx;
use crate::format;
use berth_compose::project::PsOptions;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Show all stopped containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services.
    #[arg(long)]
    pub services: bool,
    /// Format the output: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter services by status (created, restarting, running, removing, paused, exited, dead).
    #[arg(long)]
    pub status: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    let rows = c.ps(&PsOptions { services: a.names, all: a.all, status: a.status })?;
    if a.quiet {
        for r in &rows {
            println!("{}", r.container.id);
        }
        return Ok(());
    }
    if a.services {
        let mut s: Vec<&str> = rows.iter().map(|r| r.service.as_str()).collect();
        s.dedup();
        for s in s {
            println!("{s}");
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" => {
            for r in &rows {
                let ct = &r.container;
                let health = ct.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default();
                let doc = serde_json::json!({
                    "Command": format!("\"{}\"", ct.command_line()),
                    "CreatedAt": format::go_time(chrono::DateTime::parse_from_rfc3339(&ct.created).ok().map(|t| t.with_timezone(&chrono::Utc))),
                    "ExitCode": ct.state.exit_code,
                    "Health": health,
                    "ID": ct.id,
                    "Image": ct.config.image,
                    "Labels": ct.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    "Name": ct.name,
                    "Names": ct.name,
                    "Ports": r.ports,
                    "Project": r.project,
                    "RunningFor": format::running_for(ct),
                    "Service": r.service,
                    "State": ct.state.status,
                    "Status": format::container_status(ct),
                });
                println!("{doc}");
            }
        }
        "table" => {
            let mut t = vec![["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()];
            for r in &rows {
                let ct = &r.container;
                t.push(vec![
                    ct.name.clone(),
                    ct.config.image.clone(),
                    format!("\"{}\"", format::ellipsis(&ct.command_line(), 20)),
                    r.service.clone(),
                    format::running_for(ct),
                    format::container_status(ct),
                    r.ports.clone(),
                ]);
            }
            print!("{}", format::table(&t, 3));
        }
        f => anyhow::bail!("unsupported format {f:?}: table or json"),
    }
    Ok(())
}
