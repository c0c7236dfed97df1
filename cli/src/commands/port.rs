//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports of a container, as
//! Docker prints them (`80/tcp -> 0.0.0.0:8080`).

use super::Ctx;
use berth_network::Proto;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    /// Only this container port (`80` or `80/udp`).
    pub private_port: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let c = engine.find_container(&a.container)?;
    let mut ports = berth_engine::container::net::ports(&engine, &c)?;
    ports.sort_by_key(|p| (p.container_port, p.proto, p.host_ip, p.host_port));
    match &a.private_port {
        None => {
            for p in &ports {
                println!("{}/{} -> {}", p.container_port, p.proto, p.host_addr());
            }
        }
        Some(s) => {
            let (port, proto) = s.split_once('/').unwrap_or((s.as_str(), "tcp"));
            let port: u16 = port.parse().map_err(|_| anyhow::anyhow!("Invalid port: {s}"))?;
            let proto: Proto = proto.parse()?;
            let hits: Vec<_> = ports.iter().filter(|p| p.container_port == port && p.proto == proto).collect();
            if hits.is_empty() {
                anyhow::bail!("Error: No public port '{port}/{proto}' published for {}", c.name);
            }
            for p in hits {
                println!("{}", p.host_addr());
            }
        }
    }
    Ok(())
}
