//! `berth exec`: run a command in a running container.

use super::attach::RawMode;
use super::{Ctx, Exit};
use berth_engine::container::attach;
use berth_engine::container::exec::ExecOptions;
use std::io::IsTerminal;

#[derive(clap::Args)]
pub struct Args {
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Give extended privileges to the command (not supported).
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.privileged {
        anyhow::bail!("exec --privileged is not supported by berth");
    }
    if args.tty && args.interactive && !args.detach && !std::io::stdin().is_terminal() {
        anyhow::bail!("the input device is not a TTY");
    }
    // Docker's exec says "escape keys" where the others say "detach keys".
    let spec = args.detach_keys.as_deref().unwrap_or(attach::DEFAULT_DETACH_KEYS);
    let detach_keys =
        attach::parse_detach_keys(spec).map_err(|_| anyhow::anyhow!("Invalid escape keys ({spec}) provided"))?;
    let engine = ctx.engine()?;
    let mut c = engine.find_container(&args.container)?;
    let mut env = Vec::new();
    for f in &args.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("open {f}: {e}"))?;
        env.extend(
            text.lines().map(str::trim_start).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from),
        );
    }
    env.extend(args.env.iter().cloned());
    let o = ExecOptions {
        cmd: args.command.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        detach: args.detach,
        detach_keys,
    };
    if !args.interactive && !args.detach {
        // Docker gives the process no stdin without -i.
        if let Ok(null) = std::fs::File::open("/dev/null") {
            use std::os::fd::AsRawFd;
            let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        }
    }
    // The user's terminal passes keys through untouched while the process has its own.
    let raw = if args.tty && !args.detach && std::io::stdin().is_terminal() { RawMode::enter() } else { None };
    let r = engine.exec_in(&mut c, &o);
    drop(raw);
    match r? {
        Some(0) => Ok(()),
        Some(code) => Err(Exit(code.clamp(0, 255) as u8).into()),
        None if args.detach => Ok(()),
        // The user typed the detach keys: the process runs on; Docker's CLI says so and exits 1.
        None => {
            eprintln!("read escape sequence");
            Err(Exit(1).into())
        }
    }
}
