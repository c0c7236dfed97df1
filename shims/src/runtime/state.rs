//! The `state` verb and the state directory: `<root>/<id>/state.json` (the OCI runtime spec's
//! state, plus what berth needs to find the container again) and `<root>/<id>/exec.fifo`.
//!
//! The status is never trusted from disk: it is recomputed from the process (alive, not a
//! zombie, same start time as recorded, so a recycled pid is not mistaken for the container)
//! and the fifo (present until `start`). When the container has stopped, the memory cgroup's
//! OOM-kill counter is read (while the cgroup still exists) and reported as `oomKilled` and
//! the annotation `io.berth.oom-killed`.

use super::Linux;
use crate::cgroups::Cgroup;
use crate::error::{Error, IoContext, Result};
use crate::process;
use crate::syscall::Syscall;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The annotation set on a container whose process the OOM killer killed.
pub const OOM_ANNOTATION: &str = "io.berth.oom-killed";

/// OCI status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// A container's state: the OCI fields first, then berth's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// The init's pid on the host (0 once there is none).
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub created: String,
    /// Set once the OOM killer has killed a process of the container.
    #[serde(default)]
    pub oom_killed: bool,
    /// The init's exit code (128+signal for signals), when the runtime saw it exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// The init's start time (clock ticks since boot), to tell it from a recycled pid.
    #[serde(default)]
    pub pid_start_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Cgroup>,
}

/// Formats a time as RFC 3339 UTC with nanoseconds (what runc prints).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// A container found in the state directory.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub state: State,
}

impl Container {
    /// Loads `<root>/<id>/state.json`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        super::validate_id(id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn state_json_has_the_oci_fields() {
        let s = State {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            status: Status::Created,
            pid: 42,
            bundle: "/b".into(),
            annotations: BTreeMap::new(),
            rootfs: "/b/rootfs".into(),
            created: "2023-11-14T22:13:20Z".into(),
            oom_killed: false,
            exit_status: None,
            pid_start_time: 1,
            cgroup: None,
        };
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        for k in ["ociVersion", "id", "status", "pid", "bundle", "annotations"] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["status"], "created");
    }
}
