//! `berth start`: start stopped containers (attached with `-a`).

use super::{Ctx, Exit};
use berth_engine::Error;

#[derive(clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let attach = args.attach || args.interactive;
    if attach && args.containers.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    let mut failed = false;
    for name in &args.containers {
        let mut c = match engine.find_container(name) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
                continue;
            }
        };
        match engine.start_container(&mut c, attach) {
            Ok(s) if attach => {
                let tty = c.config.tty;
                return super::run::attached(s, c.state.pid, args.interactive && c.config.open_stdin, tty, true);
            }
            Ok(_) => println!("{name}"),
            Err(Error::StartFailed { code, message }) => {
                eprintln!("Error response from daemon: failed to create task for container: {message}");
                if attach {
                    return Err(Exit(code).into());
                }
                failed = true;
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("failed to start containers: {}", args.containers.join(", "));
    }
    Ok(())
}
