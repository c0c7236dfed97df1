//! `berth create`, and the container flags `berth run` shares with it.

use super::Ctx;
use anyhow::Context;
use berth_engine::container::{CreateOptions, MountSpec, RestartPolicy};
use berth_engine::progress::Progress;
use berth_engine::pull::PullOptions;
use berth_engine::{Engine, Reference};

/// The flags that describe a container (`docker create`'s).
#[derive(clap::Args, Clone, Debug)]
pub struct ContainerFlags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (K=V, or K to take the value from this environment).
    #[arg(short = 'e', long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Bind mount a host path or a volume (HOST:CTR[:ro], VOLUME:CTR, CTR).
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=..,target=..[,readonly]).
    #[arg(long = "mount", value_parser = parse_mount)]
    pub mounts: Vec<MountSpec>,
    /// Mount a tmpfs directory (CTR[:OPTIONS]).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub health: super::health_flags::HealthFlags,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped).
    #[arg(long, default_value = "no", value_parser = parse_restart)]
    pub restart: RestartPolicy,
    #[command(flatten)]
    pub log: super::log_flags::LogFlags,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short = 'm', long, value_parser = parse_memory)]
    pub memory: Option<i64>,
    /// Number of CPUs.
    #[arg(long, value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[command(flatten)]
    pub security: super::security_flags::SecurityFlags,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Connect the container to a network (bridge, none, host, NAME, container:NAME).
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    #[command(flatten)]
    pub net: super::network::NetworkFlags,
    /// Signal to stop the container.
    #[arg(long = "stop-signal", value_parser = parse_signal_name)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Set metadata on the container (K=V).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    #[command(flatten)]
    pub run_flags: super::run_flags::RunFlags,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Runtime to use for this container (berth, runc or crun).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Pull image before running (always, missing, never).
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Platform if the server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// The image, then the command and its arguments. Option parsing stops at the image, as
    /// Docker's does: `berth run ruby -e 'puts 1'` passes `-e` to the container.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub argv: Vec<String>,
}

impl ContainerFlags {
    /// The image to run.
    pub fn image(&self) -> &str {
        &self.argv[0]
    }

    /// The command line given after the image.
    pub fn command(&self) -> Vec<String> {
        self.argv[1..].to_vec()
    }
}

fn parse_mount(s: &str) -> Result<MountSpec, String> {
    MountSpec::parse(s).map_err(|e| e.to_string())
}

fn parse_restart(s: &str) -> Result<RestartPolicy, String> {
    RestartPolicy::parse(s).map_err(|e| e.to_string())
}

fn parse_memory(s: &str) -> Result<i64, String> {
    berth_engine::container::volume::parse_size(s).ok_or_else(|| format!("invalid size: '{s}'"))
}

fn parse_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s.parse().map_err(|_| format!("failed to parse {s} as a rational number"))?;
    if !(0.0..=1024.0).contains(&v) {
        return Err(format!(
            "range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
            num_cpus(),
            num_cpus()
        ));
    }
    Ok((v * 1e9) as i64)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn parse_signal_name(s: &str) -> Result<String, String> {
    berth_engine::container::parse_signal(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

/// Docker's check of `-e`: a variable needs a name.
fn parse_env(s: &str) -> Result<String, String> {
    match s.split('=').next() {
        Some("") => Err(format!("invalid environment variable: {s}")),
        _ => Ok(s.to_string()),
    }
}

impl ContainerFlags {
    /// The engine's options for these flags.
    pub fn options(&self) -> anyhow::Result<CreateOptions> {
        let mut env = Vec::new();
        for f in &self.env_file {
            // `K` alone takes the value from this environment (resolved by the engine).
            env.extend(super::run_flags::read_kv_file(f)?);
        }
        env.extend(self.env.iter().cloned());
        let mut labels = self.run_flags.file_labels()?;
        for l in &self.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        if let Some(r) = &self.runtime {
            berth_engine::container::runopts::check_runtime(r)?;
        }
        let cwd = std::env::current_dir().context("the current directory")?;
        let mut net = self.net.config()?;
        net.links = self.run_flags.links.clone();
        net.mac_address = self.run_flags.mac_address.clone();
        // Checked by the engine (`hostonly`); only IPv4 link-local addresses can be added.
        net.link_local_ips = self.run_flags.host_only.link_local_ip.iter().filter_map(|a| a.parse().ok()).collect();
        Ok(CreateOptions {
            name: self.name.clone(),
            image: self.image().to_string(),
            cmd: self.command(),
            entrypoint: self.entrypoint.clone(),
            env,
            binds: self.volumes.iter().map(|b| berth_engine::container::volume::absolute_bind(b, &cwd)).collect(),
            mounts: self.mounts.clone(),
            tmpfs: self.tmpfs.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            restart: self.restart.clone(),
            memory: self.memory.unwrap_or(0),
            nano_cpus: self.cpus.unwrap_or(0),
            pids_limit: self.pids_limit,
            security: self.security.config(),
            domainname: self.security.domainname.clone(),
            read_only: self.read_only,
            init: self.init,
            network: self.network.clone(),
            net,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            labels,
            run: self.run_flags.options(self.platform.as_deref())?,
            tty: self.tty,
            open_stdin: self.interactive,
            auto_remove: false,
            log_config: self.log.config()?,
            runtime: self.runtime.clone(),
            attach: false,
            defer_bundle: false,
            healthcheck: self.health.healthcheck()?,
        })
    }
}

/// Creates the container, pulling the image first when it is missing (Docker's
/// "Unable to find image ... locally").
pub fn create_pulling(
    ctx: &Ctx,
    engine: &Engine,
    flags: &ContainerFlags,
    opts: &CreateOptions,
) -> anyhow::Result<berth_engine::container::Container> {
    if !matches!(flags.pull.as_str(), "always" | "missing" | "never") {
        anyhow::bail!("invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"", flags.pull);
    }
    let mut cidfile = flags.run_flags.cidfile.as_deref().map(super::run_flags::CidFile::create).transpose()?;
    if flags.pull == "always" {
        pull(ctx, engine, flags)?;
    }
    let c = match engine.create_container(opts) {
        Err(e) if e.is_image_not_found() && flags.pull != "never" => {
            if !flags.run_flags.quiet {
                eprintln!("Unable to find image '{}' locally", display_ref(flags.image()));
            }
            pull(ctx, engine, flags)?;
            engine.create_container(opts)?
        }
        r => r?,
    };
    for w in berth_engine::container::runopts::warnings(opts) {
        eprintln!("WARNING: {w}");
    }
    if let Some(f) = cidfile.as_mut() {
        f.write(&c.id)?;
    }
    Ok(c)
}

fn display_ref(s: &str) -> String {
    match Reference::parse(s) {
        Ok(r) if r.tag().is_some() || r.digest().is_some() => {
            // A registry's port is no tag: only the last path component can carry one.
            let last = s.rsplit('/').next().unwrap_or(s);
            if last.contains(':') || s.contains('@') {
                s.to_string()
            } else {
                format!("{s}:latest")
            }
        }
        _ => s.to_string(),
    }
}

fn pull(ctx: &Ctx, engine: &Engine, flags: &ContainerFlags) -> anyhow::Result<()> {
    let reference = Reference::parse(flags.image())?;
    let platform = flags
        .platform
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(berth_engine::container::runopts::parse_platform)
        .transpose()?;
    let opts = PullOptions { platform, insecure_registries: ctx.insecure_registries.clone(), client: None };
    let progress = if flags.run_flags.quiet { Progress::quiet() } else { Progress::auto() };
    ctx.block_on(engine.pull(&reference, &opts, &progress))?;
    Ok(())
}

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Automatically remove the container when it exits (after a later `start`).
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut opts = args.flags.options()?;
    opts.auto_remove = args.rm;
    opts.attach = false;
    let c = create_pulling(ctx, &engine, &args.flags, &opts)?;
    println!("{}", c.id);
    Ok(())
}
