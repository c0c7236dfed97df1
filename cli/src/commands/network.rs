//! `berth network`: create, ls, inspect, rm, prune, connect, disconnect — Docker's flags and
//! output. Also the container flags about networking (`-p`, `-P`, `--dns`...) that
//! `run`/`create` flatten in, and the hidden `dns-serve` (the embedded DNS server process).

use super::Ctx;
use crate::format;
use berth_engine::container::net::NetConfig;
use berth_network::{ErrorKind, NetworkCreate, NetworkOpts, PortSpec};
use std::collections::BTreeMap;
use std::io::BufRead;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// The embedded DNS server of a state root (started by berth itself).
    #[command(name = "dns-serve", hide = true)]
    DnsServe,
    /// Remove every network of the state root, the default bridge included (tests, uninstall).
    #[command(hide = true)]
    Reset {
        /// Also tear down the networks of containers still running.
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 gateway for the master subnet.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Driver to manage the network (bridge).
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set metadata on a network (K=V).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Enable manual container attachment (accepted for compatibility).
    #[arg(long)]
    pub attachable: bool,
    pub name: String,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate the output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (name=, id=, driver=, type=custom|builtin, label=).
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
    /// Format output: table (default), json, or a Go template (`{{.Name}}`).
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using a Go template.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output (accepted for compatibility).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address.
    #[arg(long)]
    pub ip: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

/// The networking flags of `run` and `create` (flattened into their flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NetworkFlags {
    /// Publish a container's port(s) to the host ([HOSTIP:][HOSTPORT:]CTRPORT[/PROTO]).
    #[arg(short = 'p', long = "publish", value_name = "[HOSTIP:][HOSTPORT:]CTRPORT[/PROTO]")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
}

impl NetworkFlags {
    /// The engine's form of these flags.
    pub fn config(&self) -> anyhow::Result<NetConfig> {
        let mut publish = Vec::new();
        for p in &self.publish {
            publish.extend(PortSpec::parse(p)?);
        }
        for e in &self.expose {
            berth_engine::container::net::parse_expose(e)?;
        }
        let ip = match &self.ip {
            Some(s) => Some(s.parse().map_err(|_| anyhow::anyhow!("invalid IPv4 address: {s}"))?),
            None => None,
        };
        for d in &self.dns {
            d.parse::<std::net::IpAddr>().map_err(|_| anyhow::anyhow!("{d} is not an ip address"))?;
        }
        Ok(NetConfig {
            publish,
            publish_all: self.publish_all,
            exposed: self.expose.clone(),
            aliases: self.network_alias.clone(),
            ip,
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            add_hosts: self.add_host.clone(),
            ..Default::default() // `--link`, `--mac-address`: see run_flags
        })
    }
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Create(a) => create(ctx, a),
        Cmd::Ls(a) => ls(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Prune(a) => prune(ctx, a),
        Cmd::Connect(a) => connect(ctx, a),
        Cmd::Disconnect(a) => disconnect(ctx, a),
        Cmd::DnsServe => Ok(berth_network::dns::serve(&ctx.engine()?.networks())?),
        Cmd::Reset { force } => Ok(ctx.engine()?.network_reset(force)?),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let o =
        NetworkCreate { subnet: a.subnet, gateway: a.gateway, internal: a.internal, labels, driver: Some(a.driver) };
    let n = engine.network_create(&a.name, &o)?;
    println!("{}", n.id);
    Ok(())
}

fn ls(ctx: &Ctx, a: LsArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut nets = engine.network_ls()?;
    for f in &a.filters {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        nets.retain(|n| match k {
            "name" => n.name.contains(v),
            "id" => n.id.starts_with(v),
            "driver" => n.driver == v,
            "type" => (v == "custom") != n.is_predefined(),
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v),
            },
            "scope" => v == "local",
            _ => true,
        });
    }
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    if a.quiet {
        for n in &nets {
            println!("{}", if a.no_trunc { n.id.as_str() } else { n.short_id() });
        }
        return Ok(());
    }
    let rows: Vec<BTreeMap<&str, String>> = nets
        .iter()
        .map(|n| {
            let mut r = BTreeMap::new();
            r.insert("ID", if a.no_trunc { n.id.clone() } else { n.short_id().to_string() });
            r.insert("Name", n.name.clone());
            r.insert("Driver", n.driver.clone());
            r.insert("Scope", "local".to_string());
            r.insert("IPv6", "false".to_string());
            r.insert("Internal", n.internal.to_string());
            r.insert("CreatedAt", n.created.clone());
            r.insert("Labels", n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
            r.insert(format::LABELS, format::labels_entry(&n.labels));
            r
        })
        .collect();
    format::print_rows(
        a.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        &format::NETWORKS,
        &[],
        &rows,
    )
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut docs = Vec::new();
    let mut failed = false;
    for n in &a.names {
        match engine.network_inspect(n) {
            Ok(d) => docs.push(d),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    match &a.format {
        Some(f) => format::print_docs(f, &docs)?,
        None => println!("{}", serde_json::to_string_pretty(&serde_json::Value::Array(docs))?),
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}

fn rm(ctx: &Ctx, a: RmArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut failed = false;
    for n in &a.names {
        match engine.network_rm(n) {
            Ok(()) => println!("{n}"),
            Err(berth_engine::Error::Network(e)) if a.force && e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<()> {
    if !a.force {
        eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let engine = ctx.engine()?;
    let gone = engine.network_prune()?;
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for n in gone {
            println!("{n}");
        }
    }
    Ok(())
}

fn connect(ctx: &Ctx, a: ConnectArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let c = engine.find_container(&a.container)?;
    let net = engine.find_network(&a.network)?;
    if c.host_config.network_mode == "host" || net.driver == "host" {
        anyhow::bail!("container cannot be disconnected from host network or connected to host network");
    }
    if engine.sandbox(&c.id)?.is_none() {
        anyhow::bail!("container {} is not running", c.name);
    }
    let ip = match &a.ip {
        Some(s) => Some(s.parse().map_err(|_| anyhow::anyhow!("invalid IPv4 address: {s}"))?),
        None => None,
    };
    let o = NetworkOpts { network: net.name.clone(), aliases: a.alias, ip, ..Default::default() };
    berth_engine::container::net::connect(&engine, &c, &o)?;
    Ok(())
}

fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let c = engine.find_container(&a.container)?;
    match berth_engine::container::net::disconnect(&engine, &c, &a.network) {
        Err(berth_engine::Error::Network(e)) if a.force && e.kind() == ErrorKind::Conflict => Ok(()),
        r => Ok(r?),
    }
}
