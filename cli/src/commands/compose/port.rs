//! `berth compose port`: the public address a service's private port is published on.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    match c.port(&a.service, a.private_port, &a.protocol, a.index)? {
        Some(addr) => println!("{addr}"),
        None => anyhow::bail!("no port {}/{} for container {}", a.private_port, a.protocol, a.service),
    }
    Ok(())
}
