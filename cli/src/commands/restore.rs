//! `berth restore`: start every container whose restart policy says it should be running, as
//! Docker's daemon does when it comes up (podman's `podman-restart.service`); run at boot by
//! `contrib/systemd/berth-restore.service`. Prints the id of each container it started; each
//! failure is reported and makes it exit 1.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut failed = false;
    for (id, r) in engine.restore()? {
        match r {
            Ok(()) => println!("{id}"),
            Err(e) => {
                eprintln!("berth: starting container {id}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
