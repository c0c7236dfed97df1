//! `berth run`: create a container, start it, and (unless `-d`) stay attached until it exits.
//!
//! The CLI only creates the record and spawns the container's shim; the shim owns the
//! container from then on. Attached, the CLI relays output and input over the shim's stream
//! and exits with the container's status (125/126/127 when it could not start, as Docker);
//! killed, it leaves the container running under its shim. Signals the CLI receives
//! (Ctrl-C without a tty) are passed on to the container, as Docker's sig-proxy does.

use super::attach::attached;
use super::create::{create_pulling, ContainerFlags};
use super::{Ctx, Exit};
use berth_engine::container::attach::Forward;
use berth_engine::Error;
use std::io::IsTerminal;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Run the container in the background and print its id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Proxy received signals to the process (non-TTY mode only).
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.flags.tty && args.flags.interactive && !args.detach && !std::io::stdin().is_terminal() {
        anyhow::bail!("the input device is not a TTY");
    }
    if args.detach && !args.flags.run_flags.attach.is_empty() {
        eprintln!("Conflicting options: -a and -d");
        return Err(Exit(1).into()); // Docker's CLI exits 1 here
    }
    let keys = super::attach::detach_keys(args.detach_keys.as_deref())?;
    let engine = ctx.engine()?;
    let mut opts = args.flags.options()?;
    opts.auto_remove = args.rm;
    opts.attach = !args.detach;
    opts.defer_bundle = !args.detach;
    let mut c = create_pulling(ctx, &engine, &args.flags, &opts)?;
    if !args.detach {
        // A wasm guest that needs no network runs right here, this process its supervisor.
        match engine.run_inline(&mut c, args.flags.interactive) {
            Ok(None) => {}
            Ok(Some(code)) => return if code == 0 { Ok(()) } else { Err(Exit(code.clamp(0, 255) as u8).into()) },
            Err(Error::StartFailed { code, message }) => {
                eprintln!("Error: failed to create task for container: {message}");
                return Err(Exit(code).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let attach = !args.detach;
    let session = match engine.start_container(&mut c, attach) {
        Ok(s) => s,
        Err(Error::StartFailed { code, message }) => {
            eprintln!("Error: failed to create task for container: {message}");
            if !args.rm {
                // As Docker: the container stays, in "Created" state, with the error recorded.
            }
            return Err(Exit(code).into());
        }
        Err(e) => return Err(e.into()),
    };
    if args.detach {
        println!("{}", c.id);
        return Ok(());
    }
    let rf = &args.flags.run_flags;
    if !rf.attaches("stdout") && !rf.attaches("stderr") {
        println!("{}", c.id); // Docker: nothing to show, so the id
    }
    let session = session.with_streams(rf.attaches("stdout"), rf.attaches("stderr"));
    let f = Forward {
        stdin: args.flags.interactive,
        tty: args.flags.tty,
        close_stdin: true,
        detach_keys: keys,
        redraw: false,
    };
    attached(session, c.state.pid, &f, args.sig_proxy, false)
}
