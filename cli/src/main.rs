//! `berth`: the command line. Thin by design: clap structs, one file per command, each calling
//! the engine. Exit codes follow Docker's CLI: 125 when `run` fails, 126/127 when a container's
//! command cannot run, 1 for every other failure, else the container's own status.

// Every unsafe block of berth lives in berth-sys (sys/).
#![forbid(unsafe_code)]

mod commands;
mod exit;
mod flag_errors;
mod format;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "berth", version, about = "A daemonless container engine for native and WebAssembly workloads")]
struct Cli {
    /// State root: content store, layers, containers [env: BERTH_ROOT] [default: /var/lib/berth].
    // Read from the environment by hand: clap lists an argument its `env` supplied in the
    // usage line of every error, as if it were required (`Usage: berth run --root <ROOT> ...`).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Registries to speak plain HTTP to (besides loopback ones).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Log level for berth's own diagnostics (error, warn, info, debug, trace) [env: BERTH_LOG]
    /// [default: warn].
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a new container from an image.
    Run(commands::run::Args),
    /// Create a new container.
    Create(commands::create::Args),
    /// List containers.
    Ps(commands::ps::Args),
    /// Fetch the logs of a container.
    Logs(commands::logs::Args),
    /// Stop one or more running containers.
    Stop(commands::stop::Args),
    /// Kill one or more running containers.
    Kill(commands::kill::Args),
    /// Remove one or more containers.
    Rm(commands::rm::Args),
    /// Start one or more stopped containers.
    Start(commands::start::Args),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(commands::attach::Args),
    /// Restart one or more containers.
    Restart(commands::restart::Args),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(commands::wait::Args),
    /// Start every container whose restart policy says it should be running (at boot).
    Restore(commands::restore::Args),
    /// Return low-level information on containers, volumes or images.
    Inspect(commands::inspect::Args),
    /// Manage containers.
    #[command(subcommand)]
    Container(commands::container::Cmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(commands::volume::Cmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(commands::network::Cmd),
    /// Define and run multi-container applications (Docker Compose v2).
    Compose(commands::compose::Args),
    /// Run the function gateway (HTTP functions: wasm and native).
    Serve(commands::serve::Args),
    /// WebAssembly: package a .wasm file as an image.
    #[command(subcommand)]
    Wasm(commands::wasm::Cmd),
    /// Manage functions (served by `berth serve`).
    #[command(subcommand)]
    Function(commands::function::Cmd),
    /// List port mappings or a specific mapping for the container.
    Port(commands::port::Args),
    /// Run a command in a running container.
    Exec(commands::exec::Args),
    /// Copy files between a container and the local filesystem.
    Cp(commands::cp::Args),
    /// Display the running processes of a container.
    Top(commands::top::Args),
    /// Display a live stream of container resource usage statistics.
    Stats(commands::stats::Args),
    /// Build an image from a Dockerfile.
    Build(commands::build::Args),
    /// Import a rootfs tarball as a one-layer image.
    Import(commands::import::Args),
    /// Save images to a tar archive (Docker's format, or an OCI layout with --format oci).
    Save(commands::save::Args),
    /// Load images from a tar archive (Docker's or OCI).
    Load(commands::load::Args),
    /// List images.
    Images(commands::images::Args),
    /// Manage images.
    #[command(subcommand)]
    Image(commands::image::Cmd),
    /// Give an image another name.
    Tag(commands::tag::Args),
    /// Remove images.
    Rmi(commands::rmi::Args),
    /// Show the history of an image.
    History(commands::history::Args),
    /// Pull an image from a registry.
    Pull(commands::pull::Args),
    /// Push an image to a registry.
    Push(commands::push::Args),
    /// Log in to a registry.
    Login(commands::login::Args),
    /// Log out from a registry.
    Logout(commands::logout::Args),
    /// Run the embedded OCI registry.
    #[command(subcommand)]
    Registry(commands::registry::Cmd),
    /// berth's OCI runtime (runc-compatible verbs; what the engine runs containers with).
    #[command(hide = true, disable_help_flag = true)]
    Runtime {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Whether this invocation forks processes into a container itself (`berth exec`, and
/// `berth runtime`), given its arguments after the program name: global options (and their
/// values) are skipped, the first other word is the command.
fn enters_containers(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if matches!(a.as_ref(), "--root" | "--log-level" | "--insecure-registry") {
            it.next();
        } else if a == "compose" {
            // `compose exec`: the subcommand, past compose's own options.
            return compose_enters_containers(it.map(|a| a.to_string_lossy().into_owned()));
        } else if !a.starts_with('-') {
            return a == "exec" || a == "runtime" || a == "health-probe";
        }
    }
    false
}

/// Whether `berth compose ...`'s subcommand is `exec` (compose's options taking a value skipped).
fn compose_enters_containers(mut it: impl Iterator<Item = String>) -> bool {
    while let Some(a) = it.next() {
        if matches!(
            a.as_str(),
            "-f" | "--file" | "-p" | "--project-name" | "--project-directory" | "--profile" | "--env-file"
        ) {
            it.next();
        } else if !a.starts_with('-') {
            return a == "exec";
        }
    }
    false
}

/// The command line as Docker's CLI reads it: a flag given twice takes its last value
/// (`--memory 6m --memory 7m`), where clap would refuse the second.
fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    fn override_self(c: clap::Command) -> clap::Command {
        c.args_override_self(true).mut_subcommands(override_self)
    }
    let matches = override_self(Cli::command()).try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

fn main() -> ExitCode {
    // Processes that will run inside a container before they exec its program run from a
    // sealed view of this binary, so none can reach the host's binary writable through
    // /proc/<pid>/exe (see berth_sys::sealed; the shim is spawned from one directly).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if enters_containers(&args) {
        if let Err(e) = berth_sys::sealed::reexec_sealed() {
            eprintln!("Error: cannot run from a sealed copy of the berth binary: {e}");
            return ExitCode::from(125);
        }
        // Exec'd through a descriptor, the kernel named the process after its number.
        let _ = nix::sys::prctl::set_name(c"berth");
    }
    // The per-container supervisor: dispatched before anything else is initialised, to keep
    // its footprint minimal (see the berth-shim crate).
    if std::env::args_os().nth(1).is_some_and(|a| a == "shim") {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
        return ExitCode::from(berth_shim::main(&args) as u8);
    }
    // One health check of a container, re-run by its shim (see berth_engine::container::health).
    if std::env::args_os().nth(1).is_some_and(|a| a == "health-probe") {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
        let (Some(root), Some(id)) = (args.first(), args.get(1)) else {
            eprintln!("usage: berth health-probe ROOT ID");
            return ExitCode::from(2);
        };
        let code = berth_engine::container::health::probe_main(std::path::Path::new(root), &id.to_string_lossy());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // berth's OCI runtime: dispatched first too, so a container start parses only its own flags.
    if std::env::args_os().nth(1).is_some_and(|a| a == "runtime") {
        return commands::runtime::main(std::env::args_os().skip(1));
    }
    // Docker exits 125 on a bad flag or flag value (clap's default would be 2), 1 when an
    // argument is missing (`docker logs` with no container).
    let cli = parse().unwrap_or_else(|e| {
        match flag_errors::docker_message(&e, &<Cli as clap::CommandFactory>::command(), &args) {
            Some(m) => eprintln!("{m}"),
            None => drop(e.print()),
        }
        let code = match e.kind() {
            _ if !e.use_stderr() => 0,
            clap::error::ErrorKind::MissingRequiredArgument => 1,
            _ => 125,
        };
        std::process::exit(code)
    });
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let log_level = cli.log_level.clone().or_else(|| env("BERTH_LOG").map(|v| v.to_string_lossy().into_owned()));
    let log_level = log_level.unwrap_or_else(|| "warn".into());
    let root = cli.root.clone().or_else(|| env("BERTH_ROOT").map(PathBuf::from));
    let root = root.unwrap_or_else(|| PathBuf::from(berth_engine::DEFAULT_ROOT));
    // Made absolute once: records, mounts and re-run helpers all name paths under it, from
    // other working directories.
    let root = std::path::absolute(&root).unwrap_or(root);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&log_level).unwrap_or_default())
        .init();
    // Commands that only print end quietly when their reader goes away (`berth images | head`);
    // servers, relays and supervisors keep Rust's default of seeing EPIPE as an error.
    if matches!(
        cli.command,
        Command::Ps(_)
            | Command::Logs(_)
            | Command::Inspect(_)
            | Command::Images(_)
            | Command::Image(_)
            | Command::History(_)
            | Command::Top(_)
            | Command::Stats(_)
            | Command::Port(_)
            | Command::Volume(_)
            | Command::Save(_)
    ) || matches!(&cli.command, Command::Compose(a) if a.prints_only())
    {
        berth_sys::process::restore_default_sigpipe();
    }
    let ctx = commands::Ctx { root, insecure_registries: cli.insecure_registries };
    let codes = Codes::of(&cli.command);
    let result = match cli.command {
        Command::Run(a) => commands::run::run(&ctx, a),
        Command::Create(a) => commands::create::run(&ctx, a),
        Command::Ps(a) => commands::ps::run(&ctx, a),
        Command::Logs(a) => commands::logs::run(&ctx, a),
        Command::Stop(a) => commands::stop::run(&ctx, a),
        Command::Kill(a) => commands::kill::run(&ctx, a),
        Command::Rm(a) => commands::rm::run(&ctx, a),
        Command::Start(a) => commands::start::run(&ctx, a),
        Command::Attach(a) => commands::attach::run(&ctx, a),
        Command::Restart(a) => commands::restart::run(&ctx, a),
        Command::Wait(a) => commands::wait::run(&ctx, a),
        Command::Restore(a) => commands::restore::run(&ctx, a),
        Command::Inspect(a) => commands::inspect::run(&ctx, a),
        Command::Container(c) => commands::container::run(&ctx, c),
        Command::Volume(c) => commands::volume::run(&ctx, c),
        Command::Network(c) => commands::network::run(&ctx, c),
        Command::Compose(a) => commands::compose::run(&ctx, a),
        Command::Serve(a) => commands::serve::run(&ctx, a),
        Command::Wasm(c) => commands::wasm::run(&ctx, c),
        Command::Function(c) => commands::function::run(&ctx, c),
        Command::Port(a) => commands::port::run(&ctx, a),
        Command::Exec(a) => commands::exec::run(&ctx, a),
        Command::Cp(a) => commands::cp::run(&ctx, a),
        Command::Top(a) => commands::top::run(&ctx, a),
        Command::Stats(a) => commands::stats::run(&ctx, a),
        Command::Build(a) => commands::build::run(&ctx, a),
        Command::Import(a) => commands::import::run(&ctx, a),
        Command::Save(a) => commands::save::run(&ctx, a),
        Command::Load(a) => commands::load::run(&ctx, a),
        Command::Images(a) => commands::images::run(&ctx, a),
        Command::Image(c) => commands::image::run(&ctx, c),
        Command::Tag(a) => commands::tag::run(&ctx, a),
        Command::Rmi(a) => commands::rmi::run(&ctx, a),
        Command::History(a) => commands::history::run(&ctx, a),
        Command::Pull(a) => commands::pull::run(&ctx, a),
        Command::Push(a) => commands::push::run(&ctx, a),
        Command::Login(a) => commands::login::run(&ctx, a),
        Command::Logout(a) => commands::logout::run(&ctx, a),
        Command::Registry(c) => commands::registry::run(&ctx, c),
        Command::Runtime { args } => return commands::runtime::main(std::iter::once("runtime".into()).chain(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(code) = e.downcast_ref::<commands::Exit>() {
                return ExitCode::from(code.0);
            }
            eprintln!("Error: {}", message(&e));
            ExitCode::from(exit_code(&e, codes))
        }
    }
}

/// An error and its causes on one line, each cause once: an error that names a file prints
/// its cause itself, and the cause is its `source` too.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Which exit codes a command fails with, as Docker's CLI gives them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Codes {
    /// `run`: 125 when berth fails, 126/127 when the container's command cannot run.
    Run,
    /// `create`: 125 for a bad flag value, 1 for what the engine refuses (Docker's daemon).
    Create,
    /// `exec`: 126/127 when the command cannot run, 1 for everything else.
    Exec,
    /// Everything else: 1.
    Other,
}

impl Codes {
    fn of(c: &Command) -> Codes {
        use commands::container::Cmd;
        match c {
            Command::Run(_) | Command::Container(Cmd::Run(_)) => Codes::Run,
            Command::Create(_) | Command::Container(Cmd::Create(_)) => Codes::Create,
            Command::Exec(_) => Codes::Exec,
            _ => Codes::Other,
        }
    }
}

/// The one place errors become exit codes, as Docker's CLI chooses them: 125, 126 and 127
/// belong to `run`, `create` and `exec` (see [`Codes`]); every other failing command exits 1,
/// whatever the kind of error (Docker's CLI does not tell a missing object from a refused
/// operation by its exit code either). A container's own exit status reaches here as
/// [`commands::Exit`].
fn exit_code(e: &anyhow::Error, codes: Codes) -> u8 {
    let engine = e.downcast_ref::<berth_engine::Error>();
    if let Some(berth_engine::Error::StartFailed { code, .. }) = engine {
        if codes != Codes::Other {
            return *code;
        }
    }
    match codes {
        Codes::Run => 125,
        // Flag values Docker's CLI checks: not engine errors, or the engine's BadFlag.
        Codes::Create if matches!(engine, None | Some(berth_engine::Error::BadFlag(_))) => 125,
        Codes::Create | Codes::Exec | Codes::Other => 1,
    }
}
