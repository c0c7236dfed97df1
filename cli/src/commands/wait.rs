//! `berth wait`: block until containers stop, print their exit codes.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut failed = false;
    for name in &args.containers {
        match engine.find_container(name).and_then(|mut c| engine.wait_container(&mut c)) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
