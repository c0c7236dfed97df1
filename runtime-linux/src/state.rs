//! The `state` verb and the state directory: `<root>/<id>/state.json` (the OCI runtime spec's
//! state, plus what berth needs to find the container again) and `<root>/<id>/exec.fifo`.
//!
//! The status is never trusted from disk: it is recomputed from the process (alive, not a
//! zombie, same start time as recorded, so a recycled pid is not mistaken for the container)
//! and the fifo (present until `start`). When the container has stopped, the memory cgroup's
//! OOM-kill counter is read (while the cgroup still exists) and reported as `oomKilled` and
//! the annotation `io.berth.oom-killed`.

use crate::cgroups::CgroupExt;
use crate::error::{Error, IoContext, Result};
use crate::process;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::{State, Status, OOM_ANNOTATION};
use std::path::{Path, PathBuf};

/// A container found in the state directory.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub state: State,
}

impl Container {
    /// Loads `<root>/<id>/state.json`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        berth_runtime::validate_id(id)?;
        let dir = root.join(id);
        let path = dir.join("state.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(id.to_string())),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let state: State =
            serde_json::from_slice(&bytes).map_err(|e| Error::Init(format!("{}: {e}", path.display())))?;
        Ok(Container { dir, state })
    }

    /// Writes state.json atomically (a reader never sees half a file).
    pub fn save(&self) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let json = serde_json::to_vec(&self.state).expect("state serializes");
        std::fs::write(&tmp, json).at(&tmp)?;
        std::fs::rename(&tmp, self.dir.join("state.json")).at(self.dir.join("state.json"))
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// Whether the recorded init is still the live process with that pid.
    pub fn alive(&self) -> bool {
        if self.state.pid <= 0 {
            return false;
        }
        match process::start_time_and_state(self.state.pid) {
            Some((start, state)) => start == self.state.pid_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    /// Recomputes the status (and the OOM verdict once stopped).
    pub fn refresh(&mut self, sys: &dyn Syscall) {
        let status = if self.state.status == Status::Creating && self.state.pid <= 0 {
            Status::Creating
        } else if !self.alive() {
            Status::Stopped
        } else if self.fifo().exists() {
            Status::Created
        } else if self.frozen(sys) {
            Status::Paused
        } else {
            Status::Running
        };
        self.state.status = status;
        if status == Status::Stopped {
            self.check_oom(sys);
        }
    }

    fn frozen(&self, sys: &dyn Syscall) -> bool {
        let Some(cg) = &self.state.cgroup else { return false };
        cg.dirs.iter().any(|d| {
            let (file, frozen) = if d.unified_controllers {
                ("cgroup.freeze", "1")
            } else if d.controllers.iter().any(|c| c == "freezer") {
                ("freezer.state", "FROZEN")
            } else {
                return false;
            };
            sys.read_file(&d.path.join(file)).map(|t| t.trim() == frozen).unwrap_or(false)
        })
    }

    /// Reads the OOM-kill counter and records a kill in the state.
    pub fn check_oom(&mut self, sys: &dyn Syscall) {
        if self.state.oom_killed {
            return;
        }
        if let Some(cg) = &self.state.cgroup {
            if cg.oom_kills(sys).unwrap_or(0) > 0 {
                self.state.oom_killed = true;
                self.state.annotations.insert(OOM_ANNOTATION.into(), "true".into());
            }
        }
    }
}

impl<S: Syscall> Linux<S> {
    pub(crate) fn state_impl(&self, id: &str) -> Result<State> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        Ok(c.state)
    }
}
