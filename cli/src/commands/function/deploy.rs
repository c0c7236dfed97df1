//! `berth function deploy NAME IMAGE [flags]`: the same fields as an entry of functions.yaml.

use super::Ctx;
use berth_functions::spec::{self, FunctionSpec};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The function's name.
    pub name: String,
    /// The image: a wasi:http component in any wasm image form, or an image listening on $PORT.
    pub image: String,
    /// The path prefix it serves (default /NAME).
    #[arg(long)]
    pub route: Option<String>,
    /// Serve only requests for this Host.
    #[arg(long)]
    pub host: Option<String>,
    /// Set environment variables (K=V, or K to take the value from this environment).
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Bind mount a host path (SRC:DST[:ro]); a preopen for a wasm function.
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// The network of a native function's instances (default bridge).
    #[arg(long)]
    pub network: Option<String>,
    /// Memory limit per instance (e.g. 64m).
    #[arg(short = 'm', long, value_parser = parse_memory)]
    pub memory: Option<i64>,
    /// CPUs per instance.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Wall-clock limit of a request, a cold start included (504 past it).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Concurrent requests per native instance before another is started.
    #[arg(long, default_value_t = spec::DEFAULT_CONCURRENCY)]
    pub concurrency: u32,
    /// Native instances kept running when idle.
    #[arg(long = "min-instances", default_value_t = 0)]
    pub min_instances: u32,
    /// Native instances at most.
    #[arg(long = "max-instances", default_value_t = spec::DEFAULT_MAX_INSTANCES)]
    pub max_instances: u32,
    /// How long a native instance may be idle before it is stopped.
    #[arg(long = "idle-timeout", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Hosts a wasm function may send requests to (HOST[:PORT]; repeatable).
    #[arg(long = "allow-outbound", num_args = 1.., value_name = "HOST[:PORT]")]
    pub allow_outbound: Vec<String>,
}

fn parse_memory(s: &str) -> Result<i64, String> {
    berth_engine::container::volume::parse_size(s).ok_or_else(|| format!("invalid size: '{s}'"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spec::parse(s)
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut s = FunctionSpec {
        name: a.name,
        image: a.image,
        route: a.route.unwrap_or_default(),
        host: a.host,
        env: a.env,
        env_file: a.env_file,
        volumes: a.volumes,
        network: a.network,
        memory: a.memory,
        cpus: a.cpus,
        timeout: a.timeout,
        concurrency: a.concurrency,
        min_instances: a.min_instances,
        max_instances: a.max_instances,
        idle_timeout: a.idle_timeout,
        allow_outbound: a.allow_outbound,
        ..Default::default()
    };
    s.absolutize(&std::env::current_dir()?);
    let s = berth_functions::manage::deploy(&ctx.root, s)?;
    let kind = s.kind.map(|k| k.to_string()).unwrap_or_default();
    println!("{}: {kind} function on {}{}", s.name, s.host.as_deref().unwrap_or(""), s.route);
    Ok(())
}
