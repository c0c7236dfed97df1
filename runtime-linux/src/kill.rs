//! The `kill` verb: a signal to the container's init, or (`--all`) to every process in its
//! cgroup. The init's start time is checked first (in [`Container::refresh`]), so a recycled
//! pid is never signalled.

use crate::cgroups::CgroupExt;
use crate::error::{Error, Result};
use crate::process;
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::Status;
use nix::sys::signal::Signal;

impl<S: Syscall> Linux<S> {
    pub(crate) fn kill_impl(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        if all {
            if let Some(cg) = &c.state.cgroup {
                for pid in cg.pids(&self.sys) {
                    let _ = process::kill(pid, signal);
                }
            }
            return Ok(());
        }
        match c.state.status {
            Status::Created | Status::Running | Status::Paused => process::kill(c.state.pid, signal),
            s => Err(Error::InvalidState {
                id: id.to_string(),
                status: s.to_string(),
                reason: "the container is not running".into(),
            }),
        }
    }
}
