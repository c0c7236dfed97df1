//! The `delete` verb: remove a stopped container's cgroup and state. A `created` container is
//! killed first (its init only waits for `start`), a running one only with `--force`.
//! Processes left in the cgroup (a container without its own PID namespace) are killed too, so
//! that the cgroup can be removed and nothing is leaked.

use crate::cgroups::CgroupExt;
use crate::error::{Error, Result};
use crate::process;
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::Status;
use nix::sys::signal::Signal;

impl<S: Syscall> Linux<S> {
    pub(crate) fn delete_impl(&self, id: &str, force: bool) -> Result<()> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        match c.state.status {
            Status::Stopped | Status::Creating => {}
            Status::Created => self.kill_and_wait(&c),
            Status::Running | Status::Paused if force => self.kill_and_wait(&c),
            s => {
                return Err(Error::InvalidState {
                    id: id.to_string(),
                    status: s.to_string(),
                    reason: "cannot delete it; stop it first or use --force".into(),
                })
            }
        }
        self.remove(&c)
    }

    fn kill_and_wait(&self, c: &Container) {
        if let Some(cg) = &c.state.cgroup {
            // A frozen cgroup would hold the SIGKILL until thawed.
            for d in &cg.dirs {
                if d.controllers.iter().any(|x| x == "freezer") {
                    let _ = self.sys.write_file(&d.path.join("freezer.state"), "THAWED");
                } else if d.unified_controllers {
                    let _ = self.sys.write_file(&d.path.join("cgroup.freeze"), "0");
                }
            }
        }
        if process::kill(c.state.pid, Signal::SIGKILL).is_ok() {
            // Reap it if it is ours; otherwise wait until it is gone.
            if process::wait_child(c.state.pid).is_err() {
                let _ = process::wait_any(c.state.pid);
            }
        }
    }

    /// Kills what is left in the cgroup, removes it and the state directory.
    pub(crate) fn remove(&self, c: &Container) -> Result<()> {
        if let Some(cg) = &c.state.cgroup {
            for _ in 0..50 {
                let pids = cg.pids(&self.sys);
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    let _ = process::kill(pid, Signal::SIGKILL);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            cg.destroy(&self.sys)?;
        }
        std::fs::remove_dir_all(&c.dir).map_err(|e| Error::io(&c.dir, e))
    }
}
