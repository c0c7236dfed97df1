//! What `state` reports: the OCI runtime spec's state of a container, plus what berth needs to
//! find it again (the init's start time, to tell it from a recycled pid; its cgroup
//! directories), as `state.json` holds it under the runtime's state root.
//!
//! Every runtime writes and reads the same record, so its types live with the interface; how a
//! status is computed (from the process, the fifo, the freezer) is each runtime's business.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

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

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupDir {
    pub name: String,
    pub path: PathBuf,
    pub mountpoint: PathBuf,
    #[serde(default)]
    pub controllers: Vec<String>,
    #[serde(default)]
    pub v2: bool,
    /// A cgroup2 tree that holds the controllers (pure v2), as opposed to the hybrid's bare one.
    #[serde(default)]
    pub unified_controllers: bool,
}

/// The container's cgroup: one directory per hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub dirs: Vec<CgroupDir>,
}

impl Cgroup {
    /// The directory holding `controller` (on pure v2, the one tree).
    pub fn dir_for(&self, controller: &str) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == controller)).or_else(|| {
            // On pure v2 every controller lives in the one tree.
            self.dirs.iter().find(|d| d.unified_controllers)
        })
    }

    /// Whether this is a pure cgroup v2 setup.
    pub fn is_v2(&self) -> bool {
        self.dirs.iter().any(|d| d.unified_controllers)
    }

    /// The `cgroup.procs` files a process writes "0" to in order to join the container's cgroup.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.join("cgroup.procs")).collect()
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
