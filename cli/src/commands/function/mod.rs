//! `berth function deploy|ls|inspect|logs|rm`: the functions a gateway (`berth serve`) routes
//! to, one file per subcommand, each one call into `berth_functions::manage`.

use super::Ctx;

pub mod deploy;
pub mod inspect;
pub mod logs;
pub mod ls;
pub mod rm;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Deploy (or update) a function: a wasi:http component or an image listening on $PORT.
    Deploy(Box<deploy::Args>),
    /// List functions, with the running gateway's numbers.
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Display detailed information on one or more functions.
    Inspect(inspect::Args),
    /// Show a function's log (its output and one access line per request).
    Logs(logs::Args),
    /// Remove one or more functions.
    #[command(alias = "remove")]
    Rm(rm::Args),
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Deploy(a) => deploy::run(ctx, *a),
        Cmd::Ls(a) => ls::run(ctx, a),
        Cmd::Inspect(a) => inspect::run(ctx, a),
        Cmd::Logs(a) => logs::run(ctx, a),
        Cmd::Rm(a) => rm::run(ctx, a),
    }
}
