//! `berth compose restart`: restart service containers.

use super::super::Ctx;

/// `stop`'s flags: a shutdown timeout and the services.
pub use super::stop::Args;

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    c.restart(&a.services, a.timeout)?;
    Ok(())
}
