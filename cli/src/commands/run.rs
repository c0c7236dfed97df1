//! `berth run`: create a container, start it, and (unless `-d`) stay attached until it exits.
//!
//! The CLI only creates the record and spawns the container's shim; the shim owns the
//! container from then on. Attached, the CLI relays output and input over the shim's stream
//! and exits with the container's status (125/126/127 when it could not start, as Docker);
//! killed, it leaves the container running under its shim. Signals the CLI receives
//! (Ctrl-C without a tty) are passed on to the container, as Docker's sig-proxy does.

use super::create::{create_pulling, ContainerFlags};
use super::{Ctx, Exit};
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
                eprintln!("berth: Error response from daemon: failed to create task for container: {message}");
                return Err(Exit(code).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let attach = !args.detach;
    let session = match engine.start_container(&mut c, attach) {
        Ok(s) => s,
        Err(Error::StartFailed { code, message }) => {
            eprintln!("berth: Error response from daemon: failed to create task for container: {message}");
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
    attached(session, c.state.pid, args.flags.interactive, args.flags.tty, args.sig_proxy)
}

/// Relays a started container's stream until it exits; exits with its status.
pub fn attached(
    session: berth_engine::container::attach::Session,
    pid: i32,
    stdin: bool,
    tty: bool,
    sig_proxy: bool,
) -> anyhow::Result<()> {
    let raw = if tty && std::io::stdin().is_terminal() { RawMode::enter() } else { None };
    if sig_proxy && !tty {
        proxy_signals(pid);
    }
    let r = session.forward(stdin, tty);
    drop(raw);
    match r {
        Ok(code) => {
            if code == 0 {
                Ok(())
            } else {
                Err(Exit(code.clamp(0, 255) as u8).into())
            }
        }
        Err(Error::StartFailed { code, message }) => {
            eprintln!("berth: Error response from daemon: {message}");
            Err(Exit(code).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Passes SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 on to the container's process.
fn proxy_signals(pid: i32) {
    use nix::sys::signal::Signal::*;
    if pid > 0 {
        let _ = berth_sys::process::forward_signals(pid, &[SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]);
    }
}

/// The terminal in raw mode, restored on drop.
pub struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let saved = tcgetattr(std::io::stdin()).ok()?;
        let mut t = saved.clone();
        cfmakeraw(&mut t);
        tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &self.0);
    }
}
