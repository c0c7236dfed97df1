//! `berth serve`: the function gateway, in the foreground or (`-d`) detached.

use super::Ctx;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (HTTP/1.1 and h2c).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Address of the Prometheus /metrics endpoint (none unless given).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Deploy the functions of this file (functions.yaml) before serving.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Run the gateway in the background (it survives this command).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Request bodies larger than this many bytes get 413.
    #[arg(long, default_value_t = 32 << 20, hide = true)]
    pub body_limit: u64,
    /// Seconds a client may take to send its request headers.
    #[arg(long, default_value_t = 10, hide = true)]
    pub header_timeout: u64,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    if args.detach {
        // The same command without -d, detached; relative paths made absolute first.
        let mut argv: Vec<std::ffi::OsString> = vec!["--root".into(), ctx.root.clone().into(), "serve".into()];
        argv.extend(["--addr".into(), args.addr.to_string().into()]);
        if let Some(m) = args.metrics_addr {
            argv.extend(["--metrics-addr".into(), m.to_string().into()]);
        }
        if let Some(f) = &args.file {
            argv.extend(["-f".into(), std::path::absolute(f)?.into()]);
        }
        argv.extend(["--body-limit".into(), args.body_limit.to_string().into()]);
        argv.extend(["--header-timeout".into(), args.header_timeout.to_string().into()]);
        let pid = berth_functions::gateway::detach(&engine, argv)?;
        println!("{pid}");
        return Ok(());
    }
    let opts = berth_functions::gateway::Options {
        addr: args.addr,
        metrics_addr: args.metrics_addr,
        body_limit: args.body_limit,
        header_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
        ..Default::default()
    };
    berth_functions::gateway::serve(engine, opts, args.file.as_deref(), None)?;
    Ok(())
}
