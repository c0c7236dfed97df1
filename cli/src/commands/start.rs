//! `berth start`: start stopped containers (attached with `-a`).

use super::{Ctx, Exit};
use berth_engine::container::attach::Forward;
use berth_engine::Error;

#[derive(clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let keys = super::attach::detach_keys(args.detach_keys.as_deref())?;
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
                eprintln!("Error: {e}");
                failed = true;
                continue;
            }
        };
        match engine.start_container(&mut c, attach) {
            Ok(s) if attach => {
                let f = Forward {
                    stdin: args.interactive && c.config.open_stdin,
                    tty: c.config.tty,
                    close_stdin: true,
                    detach_keys: keys,
                    redraw: false,
                };
                return super::attach::attached(s, c.state.pid, &f, true, false);
            }
            Ok(_) => println!("{name}"),
            Err(Error::StartFailed { code, message }) => {
                eprintln!("Error: failed to create task for container: {message}");
                if attach {
                    return Err(Exit(code).into());
                }
                failed = true;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("failed to start containers: {}", args.containers.join(", "));
    }
    Ok(())
}
