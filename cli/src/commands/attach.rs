//! `berth attach`: connect this terminal to a running container's input and output, and the
//! relay (with Docker's detach keys) that `run`, `start -a` and `attach` share.

use super::{Ctx, Exit};
use berth_engine::container::attach::{self, Ended, Forward, Session};
use berth_engine::Error;
use std::io::IsTerminal;

#[derive(clap::Args)]
pub struct Args {
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (non-TTY mode only).
    #[arg(long = "sig-proxy", default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let engine = ctx.engine()?;
    let mut c = engine.find_container(&args.container)?;
    let tty = c.config.tty;
    let stdin = !args.no_stdin && c.config.open_stdin;
    if tty && stdin && !std::io::stdin().is_terminal() {
        anyhow::bail!("the input device is not a TTY");
    }
    let session = engine.attach_container(&mut c)?;
    // A later attach leaves the container's stdin open when ours ends (Docker's StdinOnce is
    // for the CLI that started it).
    let f = Forward { stdin, tty, close_stdin: false, detach_keys: keys, redraw: tty };
    attached(session, c.state.pid, &f, args.sig_proxy, true)
}

/// The detach keys `--detach-keys` names (Docker's default without it), or Docker's error.
pub fn detach_keys(spec: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let spec = spec.unwrap_or(attach::DEFAULT_DETACH_KEYS);
    attach::parse_detach_keys(spec).map_err(|_| anyhow::anyhow!("Invalid detach keys ({spec}) provided"))
}

/// Relays an attached session until the container exits (then exits with its status) or the
/// user detaches: `run -it` and `start -ai` then end quietly with 0, `attach` (`announce`) as
/// Docker's does, with `read escape sequence` and 1.
pub fn attached(session: Session, pid: i32, f: &Forward, sig_proxy: bool, announce: bool) -> anyhow::Result<()> {
    let raw = if f.tty && std::io::stdin().is_terminal() { RawMode::enter() } else { None };
    if sig_proxy && !f.tty {
        proxy_signals(pid);
    }
    let r = session.forward(f);
    drop(raw);
    match r {
        Ok(Ended::Exited(0)) => Ok(()),
        Ok(Ended::Exited(code)) => Err(Exit(code.clamp(0, 255) as u8).into()),
        Ok(Ended::Detached) if announce => {
            eprintln!("read escape sequence");
            Err(Exit(1).into())
        }
        Ok(Ended::Detached) => Ok(()),
        Err(Error::StartFailed { code, message }) => {
            eprintln!("Error: {message}");
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
