//! `berth runtime`: berth's OCI runtime on the command line, with runc's verbs and flags
//! (`create`, `start`, `run`, `kill`, `delete`, `state`, `pause`, `resume`, `exec`, `list`). Hidden from `--help`:
//! the engine re-execs it for every container, which keeps the fork out of its multi-threaded
//! tokio process. `main` dispatches it before the rest of the CLI is parsed, so this path
//! builds no tokio runtime and parses only its own flags.
//!
//! Exit codes: `run` and `exec` end with the container process's status (128+signal when a
//! signal killed it); a command that cannot be found gives 127 and one that cannot be executed
//! 126, with Docker's messages; any other failure of the runtime gives 125.

use anyhow::Context;
use berth_runtime::{CreateOptions, ExecOptions, RunOptions, Runtime, DEFAULT_STATE_ROOT};
use berth_runtime_linux::Linux;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "berth runtime", about = "berth's OCI runtime (runc-compatible verbs)")]
struct Cli {
    /// Directory holding the containers' state.
    #[arg(long, global = true, env = "BERTH_RUNTIME_ROOT", default_value = DEFAULT_STATE_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Args)]
struct CreateArgs {
    /// The bundle: a directory with config.json and the rootfs.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass this many descriptors from 3 up to the container's process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            preserve_fds: self.preserve_fds,
            die_with_parent: false,
        }
    }
}

#[derive(Subcommand)]
enum Verb {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Create, start and wait for a container, then delete it; exits with the container's status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the process has started.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Keep the stopped container (state, cgroup, OOM verdict) until `delete`.
        #[arg(long)]
        keep: bool,
    },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container.
    Delete {
        /// Kill the container first if it is still running.
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Print the container's state as JSON.
    State { id: String },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Wait for the container's init to exit; exits with its status when known.
    #[command(hide = true)]
    Wait { id: String },
    /// List containers.
    #[command(alias = "ps")]
    List {
        /// Output format: table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Print only the ids.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Run a process in a running container; exits with its status.
    Exec {
        /// A JSON file with the OCI process to run (instead of COMMAND and the flags below).
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Allocate a pseudo-terminal (needs --console-socket).
        #[arg(long, short = 't')]
        tty: bool,
        /// Unix socket that receives the pty master.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Working directory inside the container.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Extra environment variables (KEY=VALUE).
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// User as UID[:GID].
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Extra group ids.
        #[arg(long = "additional-gids", short = 'g')]
        additional_gids: Vec<u32>,
        /// Return once the process has started.
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
        id: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

/// Entry point: `args` starts with "runtime".
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Ok(level) = std::env::var("BERTH_LOG") {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::try_new(level).unwrap_or_default())
            .init();
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.downcast_ref::<berth_runtime::Error>().map(|e| e.exit_code()).unwrap_or(125);
            eprintln!("berth: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let rt = Linux::new(&cli.root);
    match cli.verb {
        Verb::Create(a) => {
            rt.create(&a.id, &a.bundle, &a.options())?;
        }
        Verb::Start { id } => rt.start(&id)?,
        Verb::Run { create, detach, keep } => {
            let opts = RunOptions { create: create.options(), detach, keep };
            if let Some(status) = rt.run(&create.id, &create.bundle, &opts)? {
                return Ok(status.code());
            }
        }
        Verb::Kill { all, id, signal } => rt.kill(&id, berth_runtime_linux::process::parse_signal(&signal)?, all)?,
        Verb::Delete { force, id } => rt.delete(&id, force)?,
        Verb::Pause { id } => rt.pause(&id)?,
        Verb::Resume { id } => rt.resume(&id)?,
        Verb::State { id } => {
            let state = rt.state(&id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
        }
        Verb::Wait { id } => {
            if let Some(status) = rt.wait(&id)? {
                return Ok(status.code());
            }
        }
        Verb::List { format, quiet } => list(&rt, &format, quiet)?,
        Verb::Exec {
            process,
            tty,
            console_socket,
            cwd,
            env,
            user,
            additional_gids,
            detach,
            pid_file,
            preserve_fds,
            id,
            command,
        } => {
            let mut p = match process {
                Some(path) => {
                    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                    serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))?
                }
                None => {
                    // Like runc: the container's own process, with the command and flags applied.
                    let state = rt.state(&id)?;
                    let spec = berth_runtime::load_spec(&state.bundle)?;
                    let mut p = spec.process().clone().context("config.json has no process")?;
                    anyhow::ensure!(!command.is_empty(), "exec: a command is required (or --process)");
                    p.set_args(Some(command));
                    p.set_terminal(Some(tty));
                    let mut all_env = p.env().clone().unwrap_or_default();
                    all_env.extend(env);
                    p.set_env(Some(all_env));
                    if let Some(cwd) = cwd {
                        p.set_cwd(cwd);
                    }
                    if let Some(u) = user {
                        let (uid, gid) = match u.split_once(':') {
                            Some((u, g)) => (u.parse()?, g.parse()?),
                            None => (u.parse()?, 0),
                        };
                        p.user_mut().set_uid(uid);
                        p.user_mut().set_gid(gid);
                    }
                    if !additional_gids.is_empty() {
                        p.user_mut().set_additional_gids(Some(additional_gids));
                    }
                    p
                }
            };
            if tty {
                p.set_terminal(Some(true));
            }
            let opts = ExecOptions { console_socket, pid_file, preserve_fds, detach };
            if let Some(status) = rt.exec(&id, &p, &opts)? {
                return Ok(status.code());
            }
        }
    }
    Ok(0)
}

fn list(rt: &Linux, format: &str, quiet: bool) -> anyhow::Result<()> {
    let states = rt.list()?;
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            let rows: Vec<[String; 5]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED"].map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            for r in std::iter::once(&header).chain(rows.iter()) {
                let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => anyhow::bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}
