//! One module per command; each parses its flags and calls the engine.

pub mod attach;
pub mod build;
pub mod cgroup_flags;
pub mod compose;
pub mod container;
pub mod cp;
pub mod create;
pub mod exec;
pub mod function;
pub mod health_flags;
pub mod history;
pub mod hostonly_flags;
pub mod image;
pub mod images;
pub mod import;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod log_flags;
pub mod login;
pub mod logout;
pub mod logs;
pub mod network;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod registry;
pub mod restart;
pub mod restore;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod run_flags;
pub mod runtime;
pub mod save;
pub mod security_flags;
pub mod serve;
pub mod start;
pub mod stats;
pub mod stop;
pub mod tag;
pub mod top;
pub mod volume;
pub mod wait;
pub mod wasm;

use berth_engine::Engine;
use std::path::PathBuf;

/// What every command gets: the global options.
pub struct Ctx {
    pub root: PathBuf,
    pub insecure_registries: Vec<String>,
}

impl Ctx {
    /// Opens the engine on the state root.
    pub fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::open(&self.root)?)
    }

    /// A runtime for commands that talk to the network (current-thread is plenty for a CLI,
    /// and keeps the process single-threaded for anything it later spawns).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    }
}

/// Runs `op` on each named container as Docker's multi-container commands do: print what
/// `op` returns (the name, an exit code...) for each success, report each failure and go on,
/// and exit 1 if any failed.
pub fn each_container<T: std::fmt::Display>(
    names: &[String],
    mut op: impl FnMut(&str) -> berth_engine::Result<T>,
) -> anyhow::Result<()> {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(out) => println!("{out}"),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

pub use crate::exit::Exit;
