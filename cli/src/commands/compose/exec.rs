//! `berth compose exec`: run a command in a service's running container.

use super::super::attach::RawMode;
use super::super::{Ctx, Exit};
use berth_compose::project::ExecOptions;
use std::io::IsTerminal;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Disable pseudo-TTY allocation (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Path to workdir directory for this command.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Run the command as this user.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Index of the container if service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Keep STDIN open (the default; accepted for compatibility).
    #[arg(short = 'i', long, default_value_t = true)]
    pub interactive: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    let tty = !a.no_tty && std::io::stdin().is_terminal() && !a.detach;
    let raw = if tty { RawMode::enter() } else { None };
    let r = c.exec(&ExecOptions {
        service: a.service,
        index: a.index,
        command: a.command,
        env: a.env,
        workdir: a.workdir,
        user: a.user,
        tty,
        detach: a.detach,
    });
    drop(raw);
    match r? {
        None | Some(0) => Ok(()),
        Some(code) => Err(Exit(code.clamp(0, 255) as u8).into()),
    }
}
