//! `berth login`: checks credentials against the registry, then stores them where Docker
//! does (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, see
//! [`berth_engine::registry::auth`]).

use super::Ctx;
use berth_engine::registry::auth::{normalize_server, server_key, Credentials, DockerConfig, DOCKER_HUB_KEY};
use berth_engine::registry::RegistryClient;
use std::io::{BufRead, IsTerminal, Read, Write};

#[derive(clap::Args)]
pub struct Args {
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The registry domain a `login`/`logout` argument names (`docker.io` for Docker Hub).
pub fn server_domain(server: Option<&str>) -> String {
    let s = server.unwrap_or(DOCKER_HUB_KEY);
    match server_key(s).as_str() {
        DOCKER_HUB_KEY => "docker.io".into(),
        _ => normalize_server(s),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.password.is_some() && args.password_stdin {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password_stdin && args.username.is_none() {
        anyhow::bail!("Must provide --username with --password-stdin");
    }
    let domain = server_domain(args.server.as_deref());
    let key = server_key(&domain);
    let client = RegistryClient::for_root(&ctx.root, &ctx.insecure_registries)?;
    let mut password = args.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    if args.username.is_none() && password.is_none() {
        if let Some(stored) = DockerConfig::load()?.credentials(&domain)? {
            eprintln!("Authenticating with existing credentials...");
            if ctx.block_on(client.login(&domain, stored)).is_ok() {
                println!("Login Succeeded");
                return Ok(());
            }
        }
    }
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", false)?,
    };
    if username.trim().is_empty() {
        anyhow::bail!("Error: Non-null Username Required");
    }
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", true)?,
    };
    if password.is_empty() {
        anyhow::bail!("Error: Password Required");
    }
    let creds = Credentials::basic(username.trim(), &password);
    ctx.block_on(client.login(&domain, creds.clone()))?;
    let mut cfg = DockerConfig::load()?;
    cfg.store(&domain, &creds)?;
    tracing::debug!("stored credentials for {key} in {}", cfg.path().display());
    println!("Login Succeeded");
    Ok(())
}

/// Reads a line from the terminal (echo off for passwords), as `docker login` prompts.
fn prompt(label: &str, secret: bool) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty").arg(arg).stdin(std::process::Stdio::inherit()).status();
    };
    if secret {
        stty("-echo");
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if secret {
        stty("echo");
        eprintln!();
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
