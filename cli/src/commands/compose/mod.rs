//! `berth compose`: Docker Compose v2's commands over the compose crate ([`berth_compose`]),
//! one file per subcommand. The global options (`-f`, `-p`, `--project-directory`,
//! `--profile`, `--env-file`) are parsed here and handed to the crate as they are.

use super::Ctx;
use std::path::PathBuf;

pub mod config;
pub mod version;

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
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.command {
        Cmd::Version(a) => version::run(ctx, a),
        Cmd::Config(ref a) => config::run(ctx, &args, a.clone()),
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
