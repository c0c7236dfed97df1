//! `berth compose run`: a one-off container of a service.

use super::super::attach::RawMode;
use super::super::{Ctx, Exit};
use berth_compose::project::RunOptions;
use std::io::IsTerminal;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Override the entrypoint of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Publish a container's port(s) to the host.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host.
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Run as specified username or uid.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Add or override a label.
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Disable pseudo-TTY allocation (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long, default_value_t = true)]
    pub interactive: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open(ctx, g)?;
    let tty = !a.no_tty && std::io::stdin().is_terminal() && !a.detach;
    let raw = if tty { RawMode::enter() } else { None };
    let r = c.run(&RunOptions {
        service: a.service,
        command: a.command,
        rm: a.rm,
        detach: a.detach,
        env: a.env,
        entrypoint: a.entrypoint,
        no_deps: a.no_deps,
        publish: a.publish,
        service_ports: a.service_ports,
        name: a.name,
        user: a.user,
        workdir: a.workdir,
        tty,
        interactive: a.interactive,
        labels: a.labels,
    });
    drop(raw);
    match r? {
        0 => Ok(()),
        n => Err(Exit(n.clamp(1, 255) as u8).into()),
    }
}
