//! Containers without a daemon: records on disk, one supervisor process (the shim) each.
//!
//! A container is a directory `<root>/containers/<id>/` holding its record (`config.v2.json`,
//! Docker's names), its mutable state (`state.json`), its json-file log, the files bind-mounted
//! into it (`hostname`, `hosts`, `resolv.conf`) and its OCI bundle (`config.json` + `rootfs`,
//! the overlay snapshot). Names are reserved atomically as symlinks in `<root>/names/`, so
//! two concurrent `berth run --name x` cannot both win. There is no daemon: a running
//! container is owned by its shim (`berth shim`, see [`shim`]), which holds `shim.lock` for its
//! whole life (or by the CLI running a wasm guest inline, see [`inline`], checked by pid). Any
//! berth command that finds a container marked running whose supervisor is gone reconciles:
//! kills what is left, unmounts, marks it exited, and starts it again when its restart policy
//! says so (see [`recover`]).

pub mod attach;
pub mod component;
pub mod cp;
pub mod exec;
pub mod health;
pub mod hostonly;
pub mod inline;
pub mod kind;
pub mod limits;
pub mod logs;
pub mod names;
pub mod net;
pub mod recover;
pub mod resources;
pub mod runopts;
pub mod runtime;
pub mod security;
pub mod snapshot;
mod spare;
pub mod spec;
pub mod stats;
pub mod supervisor;
pub mod sweep;
pub mod volume;
pub mod wasm;

use crate::{Engine, Error, Result};
use berth_oci::IoContext;
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

// Record timestamps: owned by berth-network for now (network records carry them too); they
// belong in a lower crate (berth-oci) once there is one.
pub use berth_oci::time::{now_rfc3339, ZERO_TIME};

/// The image-derived and user-given process configuration (Docker's `Config`).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// The effective healthcheck (the image's under the `--health-*` flags), as Docker records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<health::Healthcheck>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// `--mac-address` (Docker keeps it in `Config`, omitted when unset).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// Docker's restart policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    /// Parses `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let bad = || Error::Other(format!("invalid restart policy format: {s:?}"));
        match (name, count) {
            ("" | "no", None) => Ok(RestartPolicy { name: "no".into(), maximum_retry_count: 0 }),
            ("always" | "unless-stopped", None) => Ok(RestartPolicy { name: name.into(), maximum_retry_count: 0 }),
            ("always" | "unless-stopped", Some(_)) => Err(Error::Other(format!(
                "invalid restart policy: maximum retry count cannot be used with restart policy '{name}'"
            ))),
            ("on-failure", c) => {
                let n = match c {
                    Some(c) => c.parse::<i64>().map_err(|_| bad())?,
                    None => 0,
                };
                if n < 0 {
                    return Err(Error::Other("invalid restart policy: maximum retry count cannot be negative".into()));
                }
                Ok(RestartPolicy { name: "on-failure".into(), maximum_retry_count: n })
            }
            _ => Err(bad()),
        }
    }

    pub fn is_none(&self) -> bool {
        self.name.is_empty() || self.name == "no"
    }
}

/// A `--mount`/`-v`/`--tmpfs` request as recorded (Docker's `HostConfig.Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// bind, volume or tmpfs.
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: i64,
    pub mode: u32,
}

/// What the host grants the container (Docker's `HostConfig`).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Vec<String>,
    /// `--cidfile`, `--link`, `--volumes-from`, the cgroup resource flags, `--annotation`
    /// (see [`runopts`]), flat in the JSON as Docker's.
    #[serde(flatten)]
    pub run: runopts::RunHostConfig,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    /// `--log-driver`, `--log-opt` (see [`logs`]).
    pub log_config: logs::LogConfig,
    pub mounts: Vec<MountSpec>,
    pub tmpfs: BTreeMap<String, String>,
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    /// `--cap-add` ... `--oom-score-adj`, under Docker's flat names (see [`security`]).
    #[serde(flatten)]
    pub security: security::SecurityConfig,
    pub readonly_rootfs: bool,
    pub init: Option<bool>,
    /// The OCI runtime that runs the bundle: `berth` (built in), `runc` or `crun`; or, as given,
    /// one of Docker's wasm runtime names (`runopts::WASM_RUNTIMES`) for a wasm container.
    pub runtime: String,
}

/// A mount point as `inspect` shows it (Docker's `Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// The resolved process, computed once at create: what the bundle's `process` says.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct ProcessInfo {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// A container's mutable state (Docker's `State`, plus what the shim needs).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// The shim supervising the container (0 when none).
    pub shim_pid: i32,
    /// The container process's start time (clock ticks since boot), to tell a reused pid.
    pub pid_start_time: u64,
    /// Set by `stop`/`kill`: the restart policy must not bring it back.
    pub has_been_manually_stopped: bool,
    pub restart_count: i64,
    /// `State.Health` (Docker's shape), kept by the shim's health monitor; absent without a check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<health::Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            shim_pid: 0,
            pid_start_time: 0,
            has_been_manually_stopped: false,
            restart_count: 0,
            health: None,
        }
    }
}

impl State {
    /// The transition to running, as the shim (or the CLI running a guest inline) records it
    /// once the process started: the previous run's outcome is cleared.
    pub fn mark_running(&mut self, started_at: String) {
        self.status = "running".into();
        self.running = true;
        self.restarting = false;
        self.oom_killed = false;
        self.exit_code = 0;
        self.error.clear();
        self.started_at = started_at;
    }

    /// Whether a shim is meant to be supervising the container now.
    pub fn is_active(&self) -> bool {
        self.running || self.restarting || self.status == "running" || self.status == "restarting"
    }
}

/// A container record (`config.v2.json`); the state lives beside it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The image id (`sha256:...`).
    pub image: String,
    /// The name without Docker's leading slash.
    pub name: String,
    /// Which of berth's runtimes runs it: `linux` or `wasm` (decided at create, see `crate::wasm`).
    pub runtime: String,
    pub config: Config,
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    /// Unpacked layer directories, bottom to top (the snapshot's lower layers).
    pub layers: Vec<PathBuf>,
    /// `overlay` or `copy`.
    pub snapshotter: String,
    pub process: ProcessInfo,
    /// Network namespace to join (a path), when a network provides one; `None` = a fresh one.
    pub netns_path: Option<String>,
    /// Ports, DNS and aliases asked for at create (see `container::net`).
    #[serde(default)]
    pub net: crate::container::net::NetConfig,
    #[serde(skip)]
    pub state: State,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The state a record was first written with, when no `state.json` was: an inline run
    /// writes its record once, already running (see [`read_state`]).
    #[serde(rename = "State", skip_serializing_if = "Option::is_none")]
    pub first_state: Option<State>,
    /// The OCI spec of a record not written yet (a deferred bundle, see
    /// [`CreateOptions::defer_bundle`]): `config.v2.json`, `config.json` and `state.json`
    /// wait for [`Engine::write_bundle`] or an inline run.
    #[serde(skip)]
    pub pending_spec: Option<Box<oci_spec::runtime::Spec>>,
    /// A `flock` on the log, held by the process creating the container for as long as it
    /// holds this value: a directory without a record whose log is not locked was abandoned
    /// by a creator that died (see [`sweep`]).
    #[serde(skip)]
    pub(crate) creating: Option<std::sync::Arc<File>>,
}

impl Container {
    /// What the container runs (a Linux process or a wasm guest), as decided once at create and
    /// recorded in `runtime` (`linux`, `wasm`); a record without one is a Linux container.
    pub fn kind(&self) -> berth_runtime::Kind {
        self.runtime.parse().unwrap_or(berth_runtime::Kind::Linux)
    }

    /// The OCI program that runs a Linux container (`--runtime`: berth's own, runc or crun),
    /// recorded in `host_config.runtime` (a wasm runtime name there reads as berth's own: the
    /// container is a wasm one, which `kind` dispatches).
    pub fn program(&self) -> berth_runtime::Program {
        self.host_config.runtime.parse().unwrap_or_default()
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
    pub fn bundle(&self) -> &Path {
        &self.dir
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// The signal `stop` sends first.
    pub fn stop_signal(&self) -> String {
        self.config.stop_signal.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGTERM".into())
    }
    /// Seconds `stop` waits before SIGKILL (Docker's default: 10).
    pub fn stop_timeout(&self) -> i64 {
        self.config.stop_timeout.unwrap_or(10)
    }
    /// The cgroup path relative to each hierarchy's root.
    pub fn cgroup_path(&self) -> String {
        self.host_config.run.resources.limits.cgroups_path(&self.id)
    }

    /// Reads the state, under the container's lock.
    pub fn reload_state(&mut self) -> Result<()> {
        self.state = read_state(&self.dir)?;
        Ok(())
    }

    /// Writes the record, `config.v2.json` (see [`spare::write_record`]).
    pub(crate) fn write_record(&self) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Other(e.to_string()))?;
        spare::write_record(&self.dir, &bytes)
    }

    /// Read-modify-writes the state under the container's lock.
    pub fn update_state(&mut self, f: impl FnOnce(&mut State)) -> Result<()> {
        let _g = lock_dir(&self.dir)?;
        let mut st = read_state(&self.dir)?;
        f(&mut st);
        write_json_atomic(&self.state_path(), &st)?;
        self.state = st;
        Ok(())
    }

    /// Docker's `inspect` document.
    pub fn inspect(&self) -> serde_json::Value {
        let mut st = serde_json::to_value(&self.state).unwrap_or_default();
        if let Some(o) = st.as_object_mut() {
            for k in ["ShimPid", "PidStartTime", "HasBeenManuallyStopped", "RestartCount"] {
                o.remove(k);
            }
        }
        let mut doc = serde_json::json!({
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": st,
            "Image": self.image,
            "ResolvConfPath": self.dir.join("resolv.conf"),
            "HostnamePath": self.dir.join("hostname"),
            "HostsPath": self.dir.join("hosts"),
            "LogPath": self.host_config.log_config.shown_path(&self.log_path()),
            "Name": format!("/{}", self.name),
            "RestartCount": self.state.restart_count,
            "Driver": if self.snapshotter == "copy" { "vfs" } else { "overlay2" },
            "Platform": if self.kind() == berth_runtime::Kind::Wasm { "wasi" } else { "linux" },
            "Runtime": self.runtime,
            "HostConfig": self.host_config,
            "GraphDriver": {
                "Name": if self.snapshotter == "copy" { "vfs" } else { "overlay2" },
                "Data": {
                    "LowerDir": self.layers.iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                    "UpperDir": self.dir.join("upper"),
                    "WorkDir": self.dir.join("work"),
                    "MergedDir": self.rootfs(),
                }
            },
            "Mounts": self.mounts,
            "Config": self.config,
        });
        crate::container::net::inspect(self, &self.net, &mut doc); // NetworkSettings, ports
                                                                   // Docker's fields berth has no use for, so that templates naming them print what
                                                                   // Docker prints instead of failing on a missing key.
        for (k, v) in [
            ("MountLabel", serde_json::json!("")),
            ("ProcessLabel", serde_json::json!("")),
            ("AppArmorProfile", serde_json::json!("")),
            ("ExecIDs", serde_json::Value::Null),
        ] {
            if let Some(o) = doc.as_object_mut() {
                o.entry(k).or_insert(v);
            }
        }
        doc
    }

    /// The COMMAND column: entrypoint and args, quoted.
    /// The command as `ps` shows it: Docker's daemon single-quotes each argument holding a
    /// space (`sh -c 'echo hi'`).
    pub fn command_line(&self) -> String {
        let mut v = vec![self.path.clone()];
        v.extend(self.args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }));
        v.join(" ")
    }
}

/// What [`Engine::reconcile`] did to a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// Its supervisor lives, or it was not running.
    Unchanged,
    /// Its supervisor was dead: cleaned up after, marked exited.
    Exited,
    /// Cleaned up after, then started again as its restart policy says (see [`recover`]).
    Recovered,
    /// Cleaned up after and removed (`--rm`).
    Removed,
}

/// Everything `berth create`/`run` can ask for.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    /// `-v` strings (`HOST:CTR[:ro]`, `VOLUME:CTR`, `CTR`).
    pub binds: Vec<String>,
    pub mounts: Vec<MountSpec>,
    pub tmpfs: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub restart: RestartPolicy,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    /// `--cap-add` ... `--oom-score-adj` as given (checked and completed at create).
    pub security: security::SecurityConfig,
    pub domainname: Option<String>,
    pub read_only: bool,
    pub init: bool,
    pub network: String,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// `-a`, `--cidfile`, `--volumes-from`, `--mac-address`, `--annotation`, `--platform`
    /// and the cgroup resource flags (see [`runopts`]).
    pub run: runopts::RunOpts,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    /// `--log-driver`, `--log-opt` (checked by [`logs::LogConfig::new`]).
    pub log_config: logs::LogConfig,
    pub runtime: Option<String>,
    /// Attach flags (recorded, as Docker does).
    pub attach: bool,
    /// The caller may run the container in its own process ([`Engine::run_inline`]): the
    /// bundle (`config.json`) and first state are then written only when it turns out to need
    /// the shim (see [`Engine::write_bundle`]), so a foreground wasm run creates fewer files.
    pub defer_bundle: bool,
    /// `-p`, `-P`, `--expose`, `--dns`, `--add-host`, `--ip`, `--network-alias`.
    pub net: crate::container::net::NetConfig,
    /// `--health-*`/`--no-healthcheck` (Docker's container `Healthcheck`; merged with the image's).
    pub healthcheck: Option<health::Healthcheck>,
}

// ---- on-disk helpers ----------------------------------------------------------------------

/// Holds a container directory's lock; released on drop.
pub struct DirLock(#[allow(dead_code)] File);

/// Locks the container directory itself (flock on the directory): a lock file would be one
/// more inode per container, and inode allocation is what a short-lived container's start
/// spends most of its filesystem time on.
pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock> {
    let f = File::open(dir).at(dir)?;
    FileExt::lock_exclusive(&f).at(dir)?;
    Ok(DirLock(f))
}

/// The state: `state.json`, else the one the record was first written with, else created.
pub fn read_state(dir: &Path) -> Result<State> {
    if let Some(st) = read_state_file(dir)? {
        return Ok(st);
    }
    #[derive(Deserialize)]
    struct First {
        #[serde(rename = "State")]
        state: Option<State>,
    }
    let p = dir.join("config.v2.json");
    match fs::read(&p) {
        Ok(b) => Ok(serde_json::from_slice::<First>(&b).ok().and_then(|f| f.state).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::io(&p, e)),
    }
}

fn read_state_file(dir: &Path) -> Result<Option<State>> {
    let p = dir.join("state.json");
    match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::malformed(p.display().to_string(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&p, e)),
    }
}

/// Writes JSON beside its destination and renames it into place (readers never see half).
pub(crate) fn write_json_atomic<T: Serialize>(dest: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(dest, &bytes)
}

/// Records are the owner's only (0600): they hold the containers' environments. Rewritten at
/// every lifecycle step, so atomic but not fsynced (see [`berth_sys::fs::Durability`]).
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    Ok(berth_sys::fs::write_atomic(dest, bytes, 0o600, berth_sys::fs::Durability::Ordered, None).at(dest)?)
}

/// Whether the shim of the container in `dir` is alive: it holds `shim.lock`, or, for a
/// container run inline (whose supervisor, the CLI, is its process and has no lock file), the
/// recorded supervisor is still the process it was (same pid, same start time).
pub fn shim_alive(dir: &Path) -> bool {
    let p = dir.join("shim.lock");
    let Ok(f) = OpenOptions::new().read(true).write(true).open(&p) else {
        let Ok(st) = read_state(dir) else { return false };
        return st.is_active()
            && st.shim_pid > 0
            && st.shim_pid == st.pid
            && runtime::pid_alive_since(st.shim_pid, st.pid_start_time);
    };
    match FileExt::try_lock_exclusive(&f) {
        Ok(true) => {
            let _ = FileExt::unlock(&f);
            false
        }
        _ => true,
    }
}

/// Creates (truncating) a file only its owner may read: records, process specs and logs.
pub(crate) fn private_file(p: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(p)
}

fn new_id() -> String {
    let a: [u8; 32] = rand::random();
    hex::encode(a)
}

/// Signals by name or number: the image config's grammar, shared with the builder's STOPSIGNAL.
pub use berth_oci::config::parse_signal;

impl Engine {
    /// `<root>/containers`.
    pub fn containers_dir(&self) -> PathBuf {
        self.root().join("containers")
    }

    /// The image's unpacked layer directories, bottom to top (unpacking what is missing).
    fn container_layers(&self, image: &berth_store::image::Image) -> Result<Vec<PathBuf>> {
        let diff_ids: Vec<crate::Digest> = image.config_json["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, l) in image.manifest.layers().iter().enumerate() {
            let blob = berth_store::desc_digest(l)?;
            out.push(self.store().unpack_layer(&blob, diff_ids.get(i))?.path);
        }
        Ok(out)
    }

    fn names_dir(&self) -> PathBuf {
        self.root().join("names")
    }

    /// Loads one container record by its full id (no reconciliation).
    pub fn load_container(&self, id: &str) -> Result<Container> {
        let dir = self.containers_dir().join(id);
        let p = dir.join("config.v2.json");
        let bytes = fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(format!("No such container: {id}")),
            _ => Error::io(&p, e),
        })?;
        let mut c: Container =
            serde_json::from_slice(&bytes).map_err(|e| Error::malformed(p.display().to_string(), e))?;
        c.dir = dir;
        c.state = match read_state_file(&c.dir)? {
            Some(st) => st,
            None => c.first_state.clone().unwrap_or_default(),
        };
        Ok(c)
    }

    /// Every container (reconciled), newest first.
    pub fn list_containers(&self) -> Result<Vec<Container>> {
        let dir = self.containers_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        // Build steps whose build was killed (one readdir of a directory that is usually
        // absent or empty).
        self.sweep_build_runs();
        let mut out = Vec::new();
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with(sweep::REMOVING) {
                self.sweep_removal(&e.path()); // only if its remover died
                continue;
            }
            if id.len() != 64 {
                continue;
            }
            match self.load_container(&id) {
                Ok(mut c) => {
                    if self.reconcile(&mut c)? {
                        out.push(c);
                    }
                }
                // Being created or removed concurrently, or left by a creator that died (then
                // swept: no record and its log lock free).
                Err(Error::NotFound(_)) => {
                    self.sweep_unrecorded_dir(&id);
                }
                Err(_) => continue,
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Finds a container by name, full id or unique id prefix (reconciled).
    pub fn find_container(&self, s: &str) -> Result<Container> {
        let s = s.strip_prefix('/').unwrap_or(s);
        if s.is_empty() {
            return Err(Error::NotFound("No such container: ".into()));
        }
        if let Ok(target) = fs::read_link(self.names_dir().join(s)) {
            let id = names::link_id(&target.to_string_lossy());
            if let Ok(mut c) = self.load_container(&id) {
                if self.reconcile(&mut c)? {
                    return Ok(c);
                }
            }
        }
        if s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits = Vec::new();
            if let Ok(rd) = fs::read_dir(self.containers_dir()) {
                for e in rd.flatten() {
                    let id = e.file_name().to_string_lossy().into_owned();
                    if id.len() == 64 && id.starts_with(&s.to_ascii_lowercase()) {
                        hits.push(id);
                    }
                }
            }
            match hits.len() {
                0 => {}
                1 => {
                    let mut c = self.load_container(&hits[0])?;
                    if self.reconcile(&mut c)? {
                        return Ok(c);
                    }
                }
                _ => return Err(Error::Conflict(format!("multiple containers found with provided prefix: {s}"))),
            }
        }
        Err(Error::NotFound(format!("No such container: {s}")))
    }

    /// Reserves a name atomically; fails with Docker's conflict message if taken.
    fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.names_dir();
        fs::create_dir_all(&dir).at(&dir)?;
        let link = dir.join(name);
        match std::os::unix::fs::symlink(names::link_target(id), &link) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = fs::read_link(&link).map(|t| names::link_id(&t.to_string_lossy())).unwrap_or_default();
                // A name left behind by a container that no longer exists is free again.
                if !other.is_empty() && !self.container_exists(&other) {
                    let _ = fs::remove_file(&link);
                    return self.reserve_name(name, id);
                }
                Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )))
            }
            Err(e) => Err(Error::io(&link, e)),
        }
    }

    /// Whether container `id` exists: it has a record, or its directory was made within the
    /// last minute (a create writes the record last, an inline run only once it starts).
    fn container_exists(&self, id: &str) -> bool {
        let dir = self.containers_dir().join(id);
        if dir.join("config.v2.json").exists() {
            return true;
        }
        let recent = |m: fs::Metadata| m.modified().ok()?.elapsed().ok().map(|a| a < Duration::from_secs(60));
        fs::metadata(&dir).ok().and_then(recent).unwrap_or(false)
    }

    fn release_name(&self, name: &str, id: &str) {
        let link = self.names_dir().join(name);
        if fs::read_link(&link).map(|t| names::link_id(&t.to_string_lossy()) == id).unwrap_or(false) {
            let _ = fs::remove_file(&link);
        }
    }

    /// Creates a container from an image (which must be in the store): resolves the image
    /// config against the options, reserves the name, writes the record, the bundle spec and
    /// the files bind-mounted into the container. Nothing is mounted or started.
    pub fn create_container(&self, opts: &CreateOptions) -> Result<Container> {
        opts.log_config.rotation()?;
        let image = self.resolve_image(&opts.image)?;
        if let Some(p) = &opts.run.platform {
            if !runopts::image_matches_platform(&image, p)? {
                // As Docker: the local image is not the one asked for; the caller pulls it.
                return Err(berth_store::Error::ImageNotFound(opts.image.clone()).into());
            }
        }
        let layers = if image.is_wasm() { self.wasm_image_layers(&image)? } else { self.container_layers(&image)? };
        let id = new_id();
        let name = match &opts.name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !names::valid(n) {
                    return Err(Error::Other(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                self.reserve_name(n, &id)?;
                n.to_string()
            }
            None => {
                let mut i = 0;
                loop {
                    let n = names::generate(i);
                    match self.reserve_name(&n, &id) {
                        Ok(()) => break n,
                        Err(Error::Conflict(_)) if i < 10 => i += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let dir = self.containers_dir().join(&id);
        let r = self.create_in(&dir, &id, &name, &image, layers, opts);
        if r.is_err() {
            let _ = snapshot::unmount(&dir.join("rootfs"));
            let _ = fs::remove_dir_all(&dir);
            self.release_name(&name, &id);
        }
        r
    }

    fn create_in(
        &self,
        dir: &Path,
        id: &str,
        name: &str,
        image: &berth_store::image::Image,
        layers: Vec<PathBuf>,
        opts: &CreateOptions,
    ) -> Result<Container> {
        let log = dir.join(format!("{id}-json.log"));
        let reused = opts.defer_bundle && spare::claim(self.root(), dir, &log);
        if !reused {
            // 0700: the record, logs and live rootfs are nobody else's business.
            berth_store::create_private_dir_all(dir).at(dir)?;
            private_file(&log).at(&log)?;
        }
        let creating = sweep::try_lock(&log).map(std::sync::Arc::new);
        let img_cfg = wasm::image_config(image);
        let mut c = Container {
            id: id.to_string(),
            created: now_rfc3339(),
            image: image.id.to_string(),
            name: name.to_string(),
            runtime: "linux".into(),
            layers,
            snapshotter: if snapshot::overlay_supported() && !wasm::copies_rootfs(image, &img_cfg, opts) {
                "overlay".into()
            } else {
                "copy".into()
            },
            dir: dir.to_path_buf(),
            creating,
            ..Default::default()
        };
        spec::resolve_config(&mut c, &img_cfg, opts)?;
        security::resolve(self, &mut c, opts)?;
        let (net, netns) =
            crate::container::net::resolve(self, id, &mut c.host_config.network_mode, &img_cfg, &opts.net)?;
        (c.net, c.netns_path) = (net, netns);
        // The rootfs is needed to resolve user names and to seed new volumes from the image.
        // Only seeding copies whole trees; the few files the rest reads come from the layers
        // directly when they overlay, which saves a mount the shim would repeat anyway.
        let seeds = c.config.volumes.as_ref().is_some_and(|v| !v.is_empty())
            || opts.mounts.iter().any(|m| m.kind == "volume")
            || opts.binds.iter().any(|b| !b.starts_with('/') || !b.contains(':'));
        let via_layers = c.snapshotter == "overlay" && !seeds;
        let mount = !via_layers && !wasm::skips_rootfs_at_create(image, &img_cfg, opts);
        if mount {
            snapshot::prepare(&c)?;
        }
        let rootfs = c.rootfs();
        let layers = c.layers.clone();
        let view: &dyn berth_store::layerview::RootView =
            if via_layers { &berth_store::layerview::LayerView::new(&layers) } else { &rootfs };
        let res = (|| {
            spec::resolve_user(&mut c, view)?;
            security::resolve_groups(&mut c, view)?;
            c.runtime = wasm::decide(image, &c.process.args, &c.process.env, view)?.to_string();
            runopts::check_runtime_kind(&c)?;
            security::check_wasm(&c, opts)?;
            health::check_kind(&c, opts.healthcheck.as_ref())?;
            volume::resolve_mounts(self, &mut c, opts, &rootfs)?;
            // A wasm guest sees directories only (its preopens), never these files: not written.
            if c.kind() != berth_runtime::Kind::Wasm {
                spec::write_etc_files(&c)?;
            }
            Ok::<(), Error>(())
        })();
        if mount {
            snapshot::release(&c)?;
        }
        res?;
        let spec = self.bundle_spec(&c)?;
        c.pending_spec = Some(Box::new(spec));
        // Only a wasm guest can run in the caller's process; anything else needs its bundle.
        if !(opts.defer_bundle && c.kind() == berth_runtime::Kind::Wasm) {
            self.write_bundle(&mut c)?;
        }
        Ok(c)
    }

    /// The container's OCI spec, as its shim gets it in `config.json`.
    fn bundle_spec(&self, c: &Container) -> Result<oci_spec::runtime::Spec> {
        let mut spec = spec::generate(c)?;
        if c.kind() == berth_runtime::Kind::Wasm {
            wasm::annotate_spec(self, c, &mut spec);
        }
        Ok(spec)
    }

    /// Writes a deferred record and bundle: `config.v2.json`, `config.json` (the pending
    /// spec, or generated again from the record of an inline run that ended) and the state.
    /// A no-op when they are there.
    pub fn write_bundle(&self, c: &mut Container) -> Result<()> {
        let path = c.dir.join("config.json");
        let spec = match c.pending_spec.take() {
            Some(s) => {
                c.write_record()?;
                c.creating = None; // recorded: nothing left for a sweep to judge
                *s
            }
            None if path.exists() => return Ok(()),
            None => self.bundle_spec(c)?,
        };
        write_json_atomic(&path, &spec)?;
        if !c.state_path().exists() {
            write_json_atomic(&c.state_path(), &c.state)?;
        }
        Ok(())
    }

    /// Checks that the shim of a container marked running is alive; if it died, cleans up
    /// after it (kills the processes left, unmounts, removes cgroups), marks it exited and,
    /// when its restart policy says so, starts it again (see [`recover`]).
    /// Returns false when the container is gone (auto-removed during reconciliation).
    pub fn reconcile(&self, c: &mut Container) -> Result<bool> {
        Ok(self.reconcile_as(c)? != Reconciled::Removed)
    }

    /// [`Engine::reconcile`], saying what it did.
    pub(crate) fn reconcile_as(&self, c: &mut Container) -> Result<Reconciled> {
        if !c.state.is_active() || shim_alive(&c.dir) {
            return Ok(Reconciled::Unchanged);
        }
        let g = lock_dir(&c.dir)?;
        c.state = read_state(&c.dir)?;
        if !c.state.is_active() || shim_alive(&c.dir) {
            return Ok(Reconciled::Unchanged);
        }
        tracing::warn!("container {}: its shim died; cleaning up", c.short_id());
        let killed = runtime::kill_leftovers(c);
        runtime::cleanup_after(c);
        crate::container::net::teardown(c);
        let _ = snapshot::unmount(&c.rootfs());
        security::release_shm(&c.dir);
        let mut st = c.state.clone();
        st.status = "exited".into();
        st.running = false;
        st.restarting = false;
        st.pid = 0;
        st.shim_pid = 0;
        if killed || st.exit_code == 0 {
            st.exit_code = 137;
        }
        st.finished_at = now_rfc3339();
        st.error = "the container's supervisor (shim) died".into();
        health::on_stop(&mut st);
        write_json_atomic(&c.state_path(), &st)?;
        c.state = st;
        if c.host_config.auto_remove {
            drop(g);
            self.remove_container_files(c, false)?;
            return Ok(Reconciled::Removed);
        }
        if c.host_config.restart_policy.should_restart(&c.state, c.state.exit_code) {
            self.recover(c, g);
            return Ok(Reconciled::Recovered);
        }
        Ok(Reconciled::Exited)
    }

    /// Starts a created or stopped container: spawns its shim. With `attach`, the returned
    /// stream carries the container's output and exit code (see [`attach`]); without, the
    /// call returns once the process started (or failed to).
    pub fn start_container(&self, c: &mut Container, attach: bool) -> Result<attach::Session> {
        self.write_bundle(c)?;
        let _g = lock_dir(&c.dir)?;
        c.state = read_state(&c.dir)?;
        if c.state.is_active() && shim_alive(&c.dir) {
            if attach {
                return Err(Error::Conflict(format!("container {} is already running", c.short_id())));
            }
            return Ok(attach::Session::none());
        }
        let mut st = c.state.clone();
        st.has_been_manually_stopped = false;
        st.error.clear();
        write_json_atomic(&c.state_path(), &st)?;
        drop(_g);
        crate::container::net::before_start(self, c)?;
        let mut s = supervisor::spawn(self.root(), c)?;
        let started = s.wait_started()?;
        if let attach::Started::Failed { code, message } = started {
            return Err(Error::StartFailed { code, message });
        }
        if !attach {
            s.detach();
        }
        c.reload_state()?;
        Ok(s)
    }

    /// Sends a signal to the container's main process.
    pub fn kill_container(&self, c: &mut Container, signal: i32) -> Result<()> {
        let _g = lock_dir(&c.dir)?;
        c.state = read_state(&c.dir)?;
        if !c.state.running || c.state.pid <= 0 {
            return Err(Error::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                c.name, c.id
            )));
        }
        if signal == libc::SIGKILL || Some(signal) == parse_signal(&c.stop_signal()).ok() {
            c.state.has_been_manually_stopped = true;
            write_json_atomic(&c.state_path(), &c.state)?;
        }
        runtime::signal(c, signal)
    }

    /// Docker's stop: the stop signal, then SIGKILL after `timeout` seconds.
    pub fn stop_container(&self, c: &mut Container, timeout: Option<i64>) -> Result<()> {
        {
            let _g = lock_dir(&c.dir)?;
            c.state = read_state(&c.dir)?;
            if !c.state.is_active() {
                return Ok(());
            }
            c.state.has_been_manually_stopped = true;
            write_json_atomic(&c.state_path(), &c.state)?;
        }
        let timeout = timeout.unwrap_or_else(|| c.stop_timeout());
        if c.state.running {
            let sig = parse_signal(&c.stop_signal()).unwrap_or(libc::SIGTERM);
            let _ = runtime::signal(c, sig);
            if timeout >= 0 && self.wait_stopped(c, Some(Duration::from_secs(timeout as u64)))? {
                return Ok(());
            }
            let _ = runtime::signal(c, libc::SIGKILL);
        }
        self.wait_stopped(c, Some(Duration::from_secs(30)))?;
        Ok(())
    }

    /// Waits until the container is neither running nor about to restart (or its shim is
    /// gone, reconciling). True if it stopped within `timeout`.
    pub fn wait_stopped(&self, c: &mut Container, timeout: Option<Duration>) -> Result<bool> {
        let t0 = std::time::Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            if c.reload_state().is_err() || !c.dir.exists() {
                return Ok(true);
            }
            if !c.state.running && !c.state.restarting {
                return Ok(true);
            }
            if !shim_alive(&c.dir) {
                self.reconcile(c)?;
                return Ok(true);
            }
            if timeout.is_some_and(|t| t0.elapsed() >= t) {
                return Ok(false);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Waits until the container's shim has exited (its final state written, its clean-up
    /// done). True if it did within `timeout`.
    pub fn wait_shim_gone(&self, c: &mut Container, timeout: Duration) -> Result<bool> {
        let t0 = std::time::Instant::now();
        while shim_alive(&c.dir) {
            if t0.elapsed() >= timeout {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = c.reload_state();
        Ok(true)
    }

    /// Docker's `wait`: returns at once with the exit code of a stopped container, else
    /// blocks until the running one exits.
    pub fn wait_container(&self, c: &mut Container) -> Result<i32> {
        let mut delay = Duration::from_millis(2);
        loop {
            if c.reload_state().is_err() || !c.dir.exists() {
                return Ok(c.state.exit_code);
            }
            if !c.state.running {
                return Ok(c.state.exit_code);
            }
            if !shim_alive(&c.dir) {
                self.reconcile(c)?;
                return Ok(c.state.exit_code);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Removes a container; a running one only with `force` (killed first).
    pub fn remove_container(&self, c: &mut Container, force: bool, volumes: bool) -> Result<()> {
        c.reload_state()?;
        if c.state.is_active() && shim_alive(&c.dir) {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            {
                let _g = lock_dir(&c.dir)?;
                let mut st = read_state(&c.dir)?;
                st.has_been_manually_stopped = true;
                write_json_atomic(&c.state_path(), &st)?;
            }
            let _ = runtime::signal(c, libc::SIGKILL);
            self.wait_stopped(c, Some(Duration::from_secs(30)))?;
            self.wait_shim_gone(c, Duration::from_secs(30))?;
            if !c.dir.exists() {
                return Ok(()); // auto-removed by its shim
            }
        }
        self.remove_container_files(c, volumes)
    }

    /// Unmounts and deletes everything of a stopped container.
    pub fn remove_container_files(&self, c: &Container, volumes: bool) -> Result<()> {
        runtime::cleanup_after(c);
        crate::container::net::teardown(c);
        snapshot::unmount(&c.rootfs())?;
        security::release_shm(&c.dir);
        self.release_name(&c.name, &c.id);
        // Rename first so a concurrent lookup never sees a half-deleted container. The
        // directory's lock (ours, or our caller's when it holds it) tells a sweep that the
        // removal is under way (see [`sweep`]).
        let _removing = sweep::try_lock(&c.dir);
        let gone = self.containers_dir().join(format!("{}{}", sweep::REMOVING, c.id));
        if fs::rename(&c.dir, &gone).is_ok() {
            match fs::remove_dir_all(&gone) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&gone, e)),
                _ => {}
            }
        }
        if volumes {
            for m in &c.mounts {
                if m.kind == "volume" && volume::is_anonymous(&m.name) {
                    let _ = self.remove_volume(&m.name, false);
                }
            }
        }
        Ok(())
    }
}
