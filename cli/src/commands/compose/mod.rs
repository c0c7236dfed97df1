//! `berth compose`: Docker Compose v2's commands over the compose crate ([`berth_compose`]),
//! one file per subcommand. The global options (`-f`, `-p`, `--project-directory`,
//! `--profile`, `--env-file`) are parsed here and handed to the crate as they are.

use super::Ctx;
use std::path::PathBuf;

pub mod config;
pub mod version;

// The runtime's subcommands (one file each).
pub mod build;
pub mod create;
pub mod down;
pub mod exec;
pub mod images;
pub mod kill;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod top;
pub mod unpause;
pub mod up;

#[derive(clap::Args)]
pub struct Args {
    /// Compose configuration files (repeatable; merged in order).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first compose file).
    #[arg(long)]
    pub project_directory: Option<PathBuf>,
    /// Specify a profile to enable (repeatable).
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Specify an alternate environment file (repeatable).
    #[arg(long = "env-file")]
    pub env_files: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Show the berth compose version information.
    Version(version::Args),
    /// Parse, resolve and render the compose file in canonical format.
    Config(config::Args),
    /// Create and start containers.
    Up(up::Args),
    /// Stop and remove containers, networks.
    Down(down::Args),
    /// List containers.
    Ps(ps::Args),
    /// View output from containers.
    Logs(logs::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Run a one-off command on a service.
    Run(run::Args),
    /// Build or rebuild services.
    Build(build::Args),
    /// Pull service images.
    Pull(pull::Args),
    /// Push service images.
    Push(push::Args),
    /// Creates containers for a service.
    Create(create::Args),
    /// Start services.
    Start(start::Args),
    /// Stop services.
    Stop(stop::Args),
    /// Restart service containers.
    Restart(restart::Args),
    /// Force stop service containers.
    Kill(kill::Args),
    /// Removes stopped service containers.
    Rm(rm::Args),
    /// Pause services.
    Pause(pause::Args),
    /// Unpause services.
    Unpause(unpause::Args),
    /// Display the running processes.
    Top(top::Args),
    /// Print the public port for a port binding.
    Port(port::Args),
    /// List images used by the created containers.
    Images(images::Args),
    /// List running compose projects.
    Ls(ls::Args),
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.command {
        Cmd::Version(a) => version::run(ctx, a),
        Cmd::Config(ref a) => config::run(ctx, &args, a.clone()),
        Cmd::Up(ref a) => up::run(ctx, &args, a.clone()),
        Cmd::Down(ref a) => down::run(ctx, &args, a.clone()),
        Cmd::Ps(ref a) => ps::run(ctx, &args, a.clone()),
        Cmd::Logs(ref a) => logs::run(ctx, &args, a.clone()),
        Cmd::Exec(ref a) => exec::run(ctx, &args, a.clone()),
        Cmd::Run(ref a) => run::run(ctx, &args, a.clone()),
        Cmd::Build(ref a) => build::run(ctx, &args, a.clone()),
        Cmd::Pull(ref a) => pull::run(ctx, &args, a.clone()),
        Cmd::Push(ref a) => push::run(ctx, &args, a.clone()),
        Cmd::Create(ref a) => create::run(ctx, &args, a.clone()),
        Cmd::Start(ref a) => start::run(ctx, &args, a.clone()),
        Cmd::Stop(ref a) => stop::run(ctx, &args, a.clone()),
        Cmd::Restart(ref a) => restart::run(ctx, &args, a.clone()),
        Cmd::Kill(ref a) => kill::run(ctx, &args, a.clone()),
        Cmd::Rm(ref a) => rm::run(ctx, &args, a.clone()),
        Cmd::Pause(ref a) => pause::run(ctx, &args, a.clone()),
        Cmd::Unpause(ref a) => unpause::run(ctx, &args, a.clone()),
        Cmd::Top(ref a) => top::run(ctx, &args, a.clone()),
        Cmd::Port(ref a) => port::run(ctx, &args, a.clone()),
        Cmd::Images(ref a) => images::run(ctx, &args, a.clone()),
        Cmd::Ls(ref a) => ls::run(ctx, &args, a.clone()),
    }
}

/// The loader's options from the global flags, the process environment and directory.
pub fn load_options(args: &Args) -> berth_compose::load::LoadOptions {
    berth_compose::load::LoadOptions {
        files: args.files.clone(),
        project_name: args.project_name.clone(),
        project_directory: args.project_directory.clone(),
        profiles: args.profiles.clone(),
        env_files: args.env_files.clone(),
        environ: std::env::vars().collect(),
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
    }
}

/// The project the files name, on this root's engine (progress and registries set).
pub fn open(ctx: &Ctx, args: &Args) -> anyhow::Result<berth_compose::project::Compose> {
    let mut c = berth_compose::project::Compose::load(ctx.engine()?, &load_options(args))?;
    c.insecure_registries = ctx.insecure_registries.clone();
    Ok(c)
}

/// As [`open`], or with no compose file and `-p NAME`, that project's containers alone.
pub fn open_named(ctx: &Ctx, args: &Args) -> anyhow::Result<berth_compose::project::Compose> {
    let mut c = berth_compose::project::Compose::load_or_named(ctx.engine()?, &load_options(args))?;
    c.insecure_registries = ctx.insecure_registries.clone();
    Ok(c)
}

impl Args {
    /// Subcommands that only print: they end quietly when their reader goes away.
    pub fn prints_only(&self) -> bool {
        matches!(
            self.command,
            Cmd::Ps(_) | Cmd::Logs(_) | Cmd::Ls(_) | Cmd::Images(_) | Cmd::Top(_) | Cmd::Port(_) | Cmd::Config(_)
        )
    }
}
