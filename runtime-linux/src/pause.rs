//! The `pause` and `resume` verbs: freeze and thaw every process of the container with the
//! freezer (v1 `freezer.state`, v2 `cgroup.freeze`), waiting until the kernel reports the
//! cgroup frozen so that `state` says `paused` as soon as `pause` returns.

use crate::error::{Error, Result};
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::Status;
use std::time::{Duration, Instant};

impl<S: Syscall> Linux<S> {
    pub(crate) fn freeze(&self, id: &str, freeze: bool) -> Result<()> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        let wanted = if freeze { Status::Running } else { Status::Paused };
        if c.state.status != wanted {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: c.state.status.to_string(),
                reason: format!("only a {wanted} container can be {}", if freeze { "paused" } else { "resumed" }),
            });
        }
        let cg = c.state.cgroup.as_ref().ok_or_else(|| Error::Cgroup("the container has no cgroup".into()))?;
        let dir = cg
            .dirs
            .iter()
            .find(|d| d.unified_controllers || d.controllers.iter().any(|c| c == "freezer"))
            .ok_or_else(|| Error::Cgroup("no freezer: neither a v1 freezer hierarchy nor cgroup v2".into()))?;
        let (file, value, done_file, done) = match (dir.unified_controllers, freeze) {
            (true, true) => ("cgroup.freeze", "1", "cgroup.events", "frozen 1"),
            (true, false) => ("cgroup.freeze", "0", "cgroup.events", "frozen 0"),
            (false, true) => ("freezer.state", "FROZEN", "freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED", "freezer.state", "THAWED"),
        };
        self.sys.write_file(&dir.path.join(file), value)?;
        let t = Instant::now();
        loop {
            let now = self.sys.read_file(&dir.path.join(done_file)).unwrap_or_default();
            if now.lines().any(|l| l.trim() == done) {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(10) {
                return Err(Error::Cgroup(format!("{} did not become {done:?}", dir.path.display())));
            }
            if freeze {
                // v1 can get stuck in FREEZING: asking again moves it along.
                let _ = self.sys.write_file(&dir.path.join(file), value);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
