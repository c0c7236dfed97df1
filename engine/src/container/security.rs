//! The security, device and namespace options of `run`/`create`: `--cap-add`/`--cap-drop`,
//! `--privileged`, `--security-opt`, `--device`, `--ulimit`, `--shm-size`, `--sysctl`, `--pid`,
//! `--ipc`, `--uts`, `--group-add`, `--cgroupns`, `--oom-score-adj` (and `--domainname`, which
//! lives in `Config`).
//!
//! Docker users pass these to relax or tighten what [`super::spec`] gives by default, so each is
//! validated at create with Docker's own rules and messages, recorded in `HostConfig` under
//! Docker's names (a flattened [`SecurityConfig`], so `inspect` shows Docker's flat JSON), and
//! applied to the OCI spec as one edit of the default ([`apply`]). The spec is the contract: berth's
//! runtime, runc and crun all honour it. Joining another container's PID or IPC namespace needs
//! that container's current init, so the path is filled in by the supervisor right before each
//! start ([`join_namespaces`]), as Docker resolves it at start. Nothing here resolves a path inside
//! a container's root: device paths are the host's (the user's to name), and the runtime creates
//! the nodes inside the root with its in-root resolver.

use super::{Container, CreateOptions};
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::str::FromStr;

/// Docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// A `--device` mapping (Docker's `HostConfig.Devices` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// A `--ulimit` (Docker's `HostConfig.Ulimits` entry; -1 is unlimited).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// What these flags record, flattened into `HostConfig` under Docker's names.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityConfig {
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub security_opt: Option<Vec<String>>,
    pub devices: Vec<DeviceMapping>,
    pub ulimits: Vec<Ulimit>,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    pub pid_mode: String,
    pub ipc_mode: String,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub group_add: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub oom_score_adj: i64,
}

/// What `--security-opt` asks for, parsed from the recorded strings.
#[derive(Debug, Default)]
struct SecurityOpts {
    no_new_privileges: Option<bool>,
    /// `None`: Docker's default profile; `Some(None)`: unconfined; `Some(Some(json))`: a profile.
    seccomp: Option<Option<Value>>,
    /// `systempaths=unconfined`: no masked or read-only paths.
    unconfined_paths: bool,
}

fn bad(msg: String) -> Error {
    Error::Other(msg)
}

// ---- flag values (the CLI's value parsers call these, so the messages are Docker's) ----------

/// Docker's ulimit names and the OCI types they stand for.
const ULIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

fn parse_int(s: &str) -> std::result::Result<i64, String> {
    s.parse().map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
}

/// `name=soft[:hard]`, as Docker's go-units parses it.
pub fn parse_ulimit(s: &str) -> std::result::Result<Ulimit, String> {
    let (name, limits) = s.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    if parts.len() > 2 {
        return Err(format!("too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"));
    }
    let soft = parse_int(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => parse_int(h)?,
        None => soft,
    };
    if soft > hard {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(Ulimit { name: name.into(), hard, soft })
}

// The IPC-namespaced sysctls Docker allows by name (the rest: `net.*`, `fs.mqueue.*`).
use berth_runtime_linux::create::IPC_SYSCTLS;

/// `key=value` of a namespaced sysctl (Docker's `ValidateSysctl`).
pub fn parse_sysctl(s: &str) -> std::result::Result<(String, String), String> {
    let not_allowed = || format!("sysctl '{s}' is not allowed");
    let (k, v) = s.split_once('=').ok_or_else(not_allowed)?;
    if IPC_SYSCTLS.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.") {
        Ok((k.to_string(), v.to_string()))
    } else {
        Err(not_allowed())
    }
}

fn valid_cgroup_perms(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c))
}

/// `HOST[:CONTAINER][:PERMISSIONS]` (Docker's `parseDevice`); the host path is checked at create.
pub fn parse_device(s: &str) -> std::result::Result<DeviceMapping, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, perms) = match parts[..] {
        [src] => (src, src, "rwm"),
        [src, p] if valid_cgroup_perms(p) => (src, src, p),
        [src, dst] => (src, dst, "rwm"),
        [src, dst, p] => {
            if !valid_cgroup_perms(p) {
                return Err(format!("bad mode specified: {p}"));
            }
            (src, dst, p)
        }
        _ => return Err(format!("invalid device specification: {s}")),
    };
    if !dst.starts_with('/') {
        return Err(format!("{dst} is not an absolute path"));
    }
    Ok(DeviceMapping { path_on_host: src.into(), path_in_container: dst.into(), cgroup_permissions: perms.into() })
}

// ---- create -----------------------------------------------------------------------------------

/// Every capability this host's kernel knows and this process may grant (`ALL`): the caps crate's
/// list, bounded by our own bounding set (a capability we lack could not be given anyway).
fn all_caps() -> Vec<String> {
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
    let mut v: Vec<String> =
        caps::runtime::thread_all_supported().intersection(&bounding).map(|c| c.to_string()).collect();
    v.sort();
    v
}

/// `net_admin`, `CAP_NET_ADMIN`, `Net_Admin` → `CAP_NET_ADMIN`; `all` → `ALL`.
fn normalize_cap(c: &str, flag: &str) -> Result<String> {
    let up = c.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    caps::Capability::from_str(&name)
        .map(|_| name.clone())
        .map_err(|_| bad(format!("invalid {flag}: unknown capability: {name:?}")))
}

/// The capability set a container's processes get (Docker's `TweakCapabilities`).
pub fn capabilities(hc: &super::HostConfig) -> Vec<String> {
    let s = &hc.security;
    if s.privileged {
        return all_caps();
    }
    let add = s.cap_add.clone().unwrap_or_default();
    let drop = s.cap_drop.clone().unwrap_or_default();
    let has = |l: &[String], c: &str| l.iter().any(|x| x == c);
    let mut out: Vec<String> = if has(&add, "ALL") {
        all_caps().into_iter().filter(|c| !has(&drop, c)).collect()
    } else if has(&drop, "ALL") {
        add
    } else {
        let mut v: Vec<String> =
            super::spec::DEFAULT_CAPS.iter().map(|c| c.to_string()).filter(|c| !has(&drop, c)).collect();
        v.extend(add);
        v
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Normalises `--security-opt` values as Docker's CLI does (a seccomp file is read and its JSON
/// recorded in place of its path) and checks them as its daemon does.
fn normalize_security_opts(opts: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for opt in opts {
        if opt == "no-new-privileges" || opt == "disable" {
            out.push(opt.clone());
            continue;
        }
        let (k, v) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
            Some(kv) => kv,
            None => return Err(bad(format!("Invalid --security-opt: {opt:?}"))),
        };
        match k {
            "seccomp" if v != "unconfined" => {
                let text = std::fs::read_to_string(v)
                    .map_err(|e| bad(format!("opening seccomp profile ({v}) failed: open {v}: {}", go_io_error(&e))))?;
                let prof: Value = serde_json::from_str(&text)
                    .map_err(|e| bad(format!("compacting json for seccomp profile ({v}) failed: {e}")))?;
                out.push(format!("seccomp={prof}"));
            }
            "seccomp" | "label" | "apparmor" => out.push(format!("{k}={v}")),
            "systempaths" if v == "unconfined" => out.push(opt.clone()),
            "no-new-privileges" if parse_bool(v).is_some() => out.push(opt.clone()),
            _ => return Err(bad(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok(out)
}

/// Go's wording of an I/O error (`no such file or directory`), as Docker's messages carry it.
fn go_io_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_ascii_lowercase(),
        None => e.to_string(),
    }
}

fn parse_security_opts(opts: &[String]) -> SecurityOpts {
    let mut out = SecurityOpts::default();
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        let Some((k, v)) = opt.split_once('=').or_else(|| opt.split_once(':')) else { continue };
        match k {
            "no-new-privileges" => out.no_new_privileges = parse_bool(v),
            "seccomp" if v == "unconfined" => out.seccomp = Some(None),
            "seccomp" => out.seccomp = Some(serde_json::from_str(v).ok()),
            "systempaths" => out.unconfined_paths = true,
            _ => {} // label= and apparmor=: recorded; this host has neither SELinux nor AppArmor
        }
    }
    out
}

/// `container:NAME` → `container:ID` of an existing container (Docker records the id).
fn container_mode(engine: &Engine, mode: &str) -> Result<String> {
    match mode.strip_prefix("container:") {
        Some(target) => Ok(format!("container:{}", engine.find_container(target)?.id)),
        None => Ok(mode.to_string()),
    }
}

/// Validates the options and records them in `c.host_config.security` and `c.config`, with
/// Docker's defaults filled in (`IpcMode` private, `ShmSize` 64 MiB, `CgroupnsMode` per
/// cgroup version).
pub(crate) fn resolve(engine: &Engine, c: &mut Container, o: &CreateOptions) -> Result<()> {
    let mut s = o.security.clone();
    let norm = |l: &Option<Vec<String>>, flag: &str| -> Result<Option<Vec<String>>> {
        l.as_ref().filter(|l| !l.is_empty()).map(|l| l.iter().map(|x| normalize_cap(x, flag)).collect()).transpose()
    };
    s.cap_add = norm(&s.cap_add, "CapAdd")?;
    s.cap_drop = norm(&s.cap_drop, "CapDrop")?;
    let mut sec = normalize_security_opts(s.security_opt.as_deref().unwrap_or_default())?;
    if s.privileged && !sec.iter().any(|o| o.starts_with("label=") || o == "disable") {
        sec.push("label=disable".into()); // as Docker records it
    }
    s.security_opt = (!sec.is_empty()).then_some(sec);
    for d in &s.devices {
        let m = parse_device(&format!("{}:{}:{}", d.path_on_host, d.path_in_container, d.cgroup_permissions))
            .map_err(bad)?;
        let gather = |why: String| {
            bad(format!("error gathering device information while adding custom device {:?}: {why}", m.path_on_host))
        };
        let ft = std::fs::metadata(&m.path_on_host).map_err(|e| gather(go_io_error(&e)))?.file_type();
        if !(ft.is_char_device() || ft.is_block_device() || ft.is_dir()) {
            return Err(gather("not a device node".into()));
        }
    }
    for u in &s.ulimits {
        parse_ulimit(&format!("{}={}:{}", u.name, u.soft, u.hard)).map_err(bad)?;
    }
    s.ulimits.sort_by(|a, b| a.name.cmp(&b.name));
    if s.shm_size < 0 {
        return Err(bad("SHM size can not be less than 0".into()));
    }
    if s.shm_size == 0 {
        s.shm_size = DEFAULT_SHM_SIZE;
    }
    let pid_ok = match s.pid_mode.as_str() {
        "" | "host" => true,
        m => m.strip_prefix("container:").is_some_and(|t| !t.is_empty()),
    };
    if !pid_ok {
        return Err(bad("--pid: invalid PID mode".into()));
    }
    if !matches!(s.uts_mode.as_str(), "" | "host") {
        return Err(bad("--uts: invalid UTS mode".into()));
    }
    if s.uts_mode == "host" && o.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
        return Err(bad("conflicting options: hostname and the UTS mode".into()));
    }
    match s.cgroupns_mode.as_str() {
        "" => s.cgroupns_mode = if cgroup_v2() { "private".into() } else { "host".into() },
        "host" | "private" => {}
        _ => return Err(bad("--cgroupns: invalid CGROUP mode".into())),
    }
    match s.ipc_mode.as_str() {
        "" => s.ipc_mode = "private".into(),
        "none" | "private" | "shareable" | "host" => {}
        m if m.len() > "container:".len() && m.starts_with("container:") => {}
        m => return Err(bad(format!("Invalid IPC mode: {m}"))),
    }
    s.pid_mode = container_mode(engine, &s.pid_mode)?;
    s.ipc_mode = container_mode(engine, &s.ipc_mode)?;
    if let Some(id) = s.ipc_mode.strip_prefix("container:") {
        donor_ipc(&engine.load_container(id)?)?;
    }
    for (k, v) in &s.sysctls {
        parse_sysctl(&format!("{k}={v}")).map_err(bad)?;
        if k.starts_with("net.") && c.host_config.network_mode == "host" {
            return Err(bad(format!("sysctl {k:?} not allowed in host network namespace")));
        }
        if !k.starts_with("net.") && s.ipc_mode == "host" {
            return Err(bad(format!("sysctl {k:?} is not allowed in the hosts ipc namespace")));
        }
    }
    if !(-1000..=1000).contains(&s.oom_score_adj) {
        return Err(bad(format!("Invalid value {}, range for oom score adj is [-1000, 1000]", s.oom_score_adj)));
    }
    c.host_config.security = s;
    c.config.domainname = o.domainname.clone().unwrap_or_default();
    Ok(())
}

/// Docker joins only a donor whose IPC is shareable (or the host's).
fn donor_ipc(donor: &Container) -> Result<()> {
    if matches!(donor.host_config.security.ipc_mode.as_str(), "shareable" | "host") {
        return Ok(());
    }
    Err(bad(format!(
        "can't join IPC of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
        donor.id
    )))
}

fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Adds `--group-add` groups (gids, or names from the image's `/etc/group`) to the process's
/// supplementary groups, as Docker does after resolving the user.
pub(crate) fn resolve_groups(c: &mut Container, rootfs: &dyn berth_store::layerview::RootView) -> Result<()> {
    let Some(groups) = c.host_config.security.group_add.clone().filter(|g| !g.is_empty()) else { return Ok(()) };
    // Docker's supplementary groups then start with the primary group (runc's exec user).
    if !c.process.additional_gids.contains(&c.process.gid) {
        c.process.additional_gids.insert(0, c.process.gid);
    }
    let text = rootfs.open("/etc/group").and_then(|f| std::io::read_to_string(f).ok()).unwrap_or_default();
    for g in groups {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => text
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g).then(|| f[2].parse::<u32>().ok()).flatten()
                })
                .ok_or_else(|| bad(format!("Unable to find group {g}: no matching entries in group file")))?,
        };
        if !c.process.additional_gids.contains(&gid) {
            c.process.additional_gids.push(gid);
        }
    }
    Ok(())
}

/// A wasm guest has no capabilities, devices, rlimits, sysctls or namespaces of its own to
/// tune: these flags are refused for it rather than silently ignored.
pub(crate) fn check_wasm(c: &Container, o: &CreateOptions) -> Result<()> {
    let s = &o.security;
    let used = [
        ("--cap-add", s.cap_add.as_ref().is_some_and(|v| !v.is_empty())),
        ("--cap-drop", s.cap_drop.as_ref().is_some_and(|v| !v.is_empty())),
        ("--privileged", s.privileged),
        ("--security-opt", s.security_opt.as_ref().is_some_and(|v| !v.is_empty())),
        ("--device", !s.devices.is_empty()),
        ("--ulimit", !s.ulimits.is_empty()),
        ("--shm-size", s.shm_size != 0),
        ("--sysctl", !s.sysctls.is_empty()),
        ("--pid", !s.pid_mode.is_empty()),
        ("--ipc", !s.ipc_mode.is_empty()),
        ("--uts", !s.uts_mode.is_empty()),
        ("--group-add", s.group_add.as_ref().is_some_and(|v| !v.is_empty())),
        ("--cgroupns", !s.cgroupns_mode.is_empty()),
        ("--oom-score-adj", s.oom_score_adj != 0),
        ("--domainname", o.domainname.as_ref().is_some_and(|d| !d.is_empty())),
    ];
    match used.iter().find(|(_, u)| *u) {
        Some((flag, _)) if c.kind() == berth_runtime::Kind::Wasm => {
            Err(Error::Unsupported(format!("{flag} does not apply to a wasm container ({})", c.config.image)))
        }
        _ => Ok(()),
    }
}

// ---- the spec -----------------------------------------------------------------------------------

/// The process's capabilities and no_new_privs, for the init and for `exec` alike (Docker's
/// exec inherits both from the container).
pub fn process_privileges(hc: &super::HostConfig) -> (Vec<String>, bool) {
    let opts = parse_security_opts(hc.security.security_opt.as_deref().unwrap_or_default());
    // berth's default is on (see docs/security.md); `no-new-privileges=false` turns it off.
    (capabilities(hc), opts.no_new_privileges.unwrap_or(true))
}

/// Host device nodes under `dir` (a device itself, or a directory walked as Docker walks
/// `/dev` for `--privileged`), as (host path, OCI device entry without its path).
fn host_devices(dir: &Path, skip_dirs: bool) -> Vec<(std::path::PathBuf, Value)> {
    const SKIP: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(dir).follow_links(false).into_iter().filter_entry(|e| {
        !(skip_dirs && e.depth() > 0 && e.file_type().is_dir() && SKIP.iter().any(|s| e.file_name() == *s))
    });
    for e in walk.flatten() {
        let ft = e.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        if skip_dirs && matches!(e.file_name().to_str(), Some("console" | "ptmx")) {
            continue; // the runtime makes these (console from the terminal, ptmx -> pts/ptmx)
        }
        let Ok(md) = e.metadata() else { continue };
        let rdev = md.rdev();
        out.push((
            e.path().to_path_buf(),
            json!({
                "type": kind,
                "major": nix::sys::stat::major(rdev),
                "minor": nix::sys::stat::minor(rdev),
                "fileMode": md.mode() & 0o777,
                "uid": md.uid(),
                "gid": md.gid(),
            }),
        ));
    }
    out
}

fn remove_namespace(spec: &mut Value, kind: &str) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != kind);
    }
}

fn ensure_namespace(spec: &mut Value, kind: &str) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        if !ns.iter().any(|n| n["type"] == kind) {
            ns.push(json!({ "type": kind }));
        }
    }
}

/// Edits the default spec ([`super::spec::generate`]'s) for these options. A no-op for a record
/// with the defaults (or none: records from before these flags).
pub(crate) fn apply(c: &Container, spec: &mut Value) -> Result<()> {
    let hc = &c.host_config;
    let s = &hc.security;
    let opts = parse_security_opts(s.security_opt.as_deref().unwrap_or_default());
    let (caps, nnp) = process_privileges(hc);
    let caps_ref: Vec<&str> = caps.iter().map(String::as_str).collect();
    let p = &mut spec["process"];
    p["capabilities"] = json!({ "bounding": caps, "effective": caps, "permitted": caps });
    p["noNewPrivileges"] = json!(nnp);
    p["oomScoreAdj"] = json!(s.oom_score_adj);
    if !p["user"]["additionalGids"].is_array() && !c.process.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(c.process.additional_gids);
    }
    let rlimits: Vec<Value> = s
        .ulimits
        .iter()
        .filter_map(|u| {
            let t = ULIMITS.iter().find(|(n, _)| *n == u.name)?.1;
            // -1 is unlimited (RLIM_INFINITY), as Docker converts it.
            Some(json!({ "type": t, "soft": u.soft as u64, "hard": u.hard as u64 }))
        })
        .collect();
    if !rlimits.is_empty() {
        p["rlimits"] = json!(rlimits);
    }
    let linux = &mut spec["linux"];
    // Seccomp: privileged and `seccomp=unconfined` run without; a profile given is reduced for
    // this architecture and these capabilities like Docker's default.
    match (s.privileged, &opts.seccomp) {
        (true, _) | (_, Some(None)) => {
            linux.as_object_mut().map(|l| l.remove("seccomp"));
        }
        (false, Some(Some(prof))) => linux["seccomp"] = super::spec::reduce_profile(prof, &caps_ref),
        // The default spec already has the default profile for the default set.
        (false, None) if caps_ref != super::spec::DEFAULT_CAPS => {
            linux["seccomp"] = super::spec::seccomp_for(&caps_ref)
        }
        (false, None) => {}
    }
    if s.privileged || opts.unconfined_paths {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
    }
    for (k, v) in &s.sysctls {
        linux["sysctl"][k] = json!(v);
    }
    let mut devices: Vec<Value> = Vec::new();
    let mut rules: Vec<Value> = Vec::new();
    if s.privileged {
        for (path, mut d) in host_devices(Path::new("/dev"), true) {
            d["path"] = json!(path);
            devices.push(d);
        }
        // Every device: the one rule replaces Docker's default list.
        linux["resources"]["devices"] = json!([{ "allow": true, "access": "rwm" }]);
    }
    for m in &s.devices {
        let src = Path::new(&m.path_on_host);
        for (path, mut d) in host_devices(src, false) {
            let rel = path.strip_prefix(src).unwrap_or(Path::new(""));
            let dst = if rel.as_os_str().is_empty() {
                Path::new(&m.path_in_container).to_path_buf()
            } else {
                Path::new(&m.path_in_container).join(rel)
            };
            rules.push(json!({
                "allow": true, "type": d["type"], "major": d["major"], "minor": d["minor"],
                "access": m.cgroup_permissions,
            }));
            d["path"] = json!(dst);
            devices.retain(|x| x["path"] != d["path"]);
            devices.push(d);
        }
    }
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    if let Some(r) = linux["resources"]["devices"].as_array_mut() {
        r.extend(rules);
    }
    // Namespaces: the host's, or another container's (its path is filled in at each start).
    match s.pid_mode.as_str() {
        "host" => remove_namespace(spec, "pid"),
        m if m.starts_with("container:") => ensure_namespace(spec, "pid"),
        _ => {}
    }
    if s.uts_mode == "host" {
        remove_namespace(spec, "uts");
        spec.as_object_mut().map(|o| o.remove("hostname"));
    } else if !c.config.domainname.is_empty() {
        spec["domainname"] = json!(c.config.domainname);
        // Also as Docker passes it: runtimes older than the spec's field (runc 1.1) set it so.
        spec["linux"]["sysctl"]["kernel.domainname"] = json!(c.config.domainname);
    }
    match s.cgroupns_mode.as_str() {
        "host" => remove_namespace(spec, "cgroup"),
        "private" if Path::new("/proc/self/ns/cgroup").exists() => ensure_namespace(spec, "cgroup"),
        _ => {}
    }
    let shm = if s.shm_size > 0 { s.shm_size } else { DEFAULT_SHM_SIZE };
    if s.ipc_mode == "host" {
        remove_namespace(spec, "ipc");
    }
    // A shareable IPC's /dev/shm lives on the host (`<container>/shm`, mounted by [`prepare`])
    // so that the containers joining it bind the very same tmpfs, as Docker's does.
    let shared_shm = match s.ipc_mode.as_str() {
        "shareable" => Some(c.dir.join(SHM_DIR)),
        m => m.strip_prefix("container:").and_then(|id| Some(c.dir.parent()?.join(id).join(SHM_DIR))),
    };
    let Some(mounts) = spec["mounts"].as_array_mut() else { return Ok(()) };
    match s.ipc_mode.as_str() {
        "none" => mounts.retain(|m| m["destination"] != "/dev/shm"),
        "host" => {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                *m = json!({ "destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                             "options": ["rbind", "rprivate"] });
            }
        }
        _ if shared_shm.is_some() => {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                *m = json!({ "destination": "/dev/shm", "type": "bind", "source": shared_shm,
                             "options": ["rbind", "rprivate"] });
            }
        }
        _ => {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                m["options"] = json!(["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]);
            }
        }
    }
    if s.privileged {
        // /sys and the cgroup file system writable, as Docker mounts them for --privileged.
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup") {
            if let Some(o) = m["options"].as_array_mut() {
                o.retain(|x| x != "ro");
                o.push(json!("rw"));
            }
        }
    }
    Ok(())
}

/// The directory of a shareable IPC's `/dev/shm` tmpfs, in the container's directory.
const SHM_DIR: &str = "shm";

/// Mounts a shareable IPC's `/dev/shm` tmpfs on the host (once per start).
fn mount_shm(c: &Container) -> Result<()> {
    let dir = c.dir.join(SHM_DIR);
    if super::snapshot::is_mountpoint(&dir) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let size = if c.host_config.security.shm_size > 0 { c.host_config.security.shm_size } else { DEFAULT_SHM_SIZE };
    use nix::mount::MsFlags;
    nix::mount::mount(
        Some("shm"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| bad(format!("mounting {}: {e}", dir.display())))
}

/// Unmounts a shareable IPC's `/dev/shm` when its container stops or goes (containers that
/// joined it keep their own bind of it until they stop). Idempotent.
pub fn release_shm(dir: &Path) {
    let _ = super::snapshot::unmount(&dir.join(SHM_DIR));
}

/// Right before the runtime creates the container (in its supervisor): mounts a shareable
/// IPC's `/dev/shm`, and points its PID and IPC namespaces at those of the containers it shares
/// them with, which must be running (Docker's check at start), in the bundle's `config.json`.
pub fn prepare(c: &Container) -> Result<()> {
    let s = &c.host_config.security;
    if s.ipc_mode == "shareable" {
        mount_shm(c)?;
    }
    let targets: Vec<(&str, &str)> = [("pid", s.pid_mode.as_str()), ("ipc", s.ipc_mode.as_str())]
        .into_iter()
        .filter_map(|(k, m)| Some((k, m.strip_prefix("container:")?)))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let engine = Engine::open(super::runtime::state_root(c))?;
    let path = c.dir.join("config.json");
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut spec: Value = serde_json::from_slice(&text).map_err(|e| Error::malformed(path.display().to_string(), e))?;
    for (kind, id) in targets {
        let other = engine.load_container(id).map_err(|_| bad(format!("No such container: {id}")))?;
        let running = other.state.running && other.state.pid > 0 && super::shim_alive(&other.dir);
        if !running {
            let msg = match kind {
                "ipc" => format!("can't join IPC of container {id}: container {id} is not running"),
                _ => format!("container {id} is not running"),
            };
            return Err(Error::StartFailed { code: 125, message: msg });
        }
        if kind == "ipc" {
            donor_ipc(&other).map_err(|e| Error::StartFailed { code: 125, message: e.to_string() })?;
            if other.host_config.security.ipc_mode == "shareable"
                && !super::snapshot::is_mountpoint(&other.dir.join(SHM_DIR))
            {
                let message = format!("can't join IPC of container {id}: its /dev/shm is not mounted");
                return Err(Error::StartFailed { code: 125, message });
            }
        }
        let ns_path = format!("/proc/{}/ns/{kind}", other.state.pid);
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != kind);
            ns.push(json!({ "type": kind, "path": ns_path }));
        }
    }
    super::write_json_atomic(&path, &spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(s: SecurityConfig) -> Value {
        let mut c = Container { id: "a".repeat(64), dir: "/r/containers/x".into(), ..Default::default() };
        c.process.args = vec!["sh".into()];
        c.process.cwd = "/".into();
        c.host_config.security = s;
        serde_json::to_value(super::super::spec::generate(&c).unwrap()).unwrap()
    }

    fn has_ns(spec: &Value, kind: &str) -> bool {
        spec["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == kind)
    }

    #[test]
    fn defaults_leave_the_default_spec() {
        let spec = spec_of(SecurityConfig::default());
        assert_eq!(spec["process"]["noNewPrivileges"], true);
        assert!(spec["linux"]["seccomp"].is_object());
        assert_eq!(spec["linux"]["resources"]["devices"].as_array().unwrap().len(), 14);
        assert!(has_ns(&spec, "pid") && has_ns(&spec, "ipc") && has_ns(&spec, "uts"));
        let shm = spec["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/dev/shm").unwrap().clone();
        assert!(shm["options"].as_array().unwrap().contains(&json!("size=67108864")), "{shm}");
    }

    #[test]
    fn privileged_and_host_namespaces_in_the_spec() {
        let spec = spec_of(SecurityConfig {
            privileged: true,
            pid_mode: "host".into(),
            ipc_mode: "none".into(),
            uts_mode: "host".into(),
            ulimits: vec![Ulimit { name: "nofile".into(), soft: 10, hard: -1 }],
            oom_score_adj: 7,
            ..Default::default()
        });
        let linux = &spec["linux"];
        assert!(linux.get("seccomp").is_none() || linux["seccomp"].is_null());
        assert_eq!(linux["maskedPaths"], json!([]));
        assert_eq!(linux["resources"]["devices"], json!([{ "allow": true, "access": "rwm" }]));
        assert!(!has_ns(&spec, "pid") && !has_ns(&spec, "uts") && has_ns(&spec, "ipc"));
        assert!(spec.get("hostname").is_none() || spec["hostname"].is_null());
        let mounts = spec["mounts"].as_array().unwrap();
        assert!(!mounts.iter().any(|m| m["destination"] == "/dev/shm"), "--ipc none");
        let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
        assert!(!sys["options"].as_array().unwrap().contains(&json!("ro")));
        assert_eq!(spec["process"]["rlimits"], json!([{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": u64::MAX }]));
        assert_eq!(spec["process"]["oomScoreAdj"], 7);
    }

    #[test]
    fn shareable_ipc_binds_the_hosts_tmpfs() {
        let spec = spec_of(SecurityConfig { ipc_mode: format!("container:{}", "b".repeat(64)), ..Default::default() });
        let shm = spec["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/dev/shm").unwrap().clone();
        assert_eq!(shm["source"], format!("/r/containers/{}/shm", "b".repeat(64)));
        assert_eq!(shm["type"], "bind");
    }

    #[test]
    fn ulimits_parse_as_docker() {
        assert_eq!(parse_ulimit("nofile=10:20").unwrap(), Ulimit { name: "nofile".into(), soft: 10, hard: 20 });
        assert_eq!(parse_ulimit("core=5").unwrap().hard, 5);
        assert_eq!(parse_ulimit("nofile=abc").unwrap_err(), "strconv.ParseInt: parsing \"abc\": invalid syntax");
        assert_eq!(parse_ulimit("bogus=1").unwrap_err(), "invalid ulimit type: bogus");
        assert!(parse_ulimit("nofile=10:5").unwrap_err().contains("10 > 5"));
    }

    #[test]
    fn sysctls_are_namespaced_only() {
        assert!(parse_sysctl("net.ipv4.ip_forward=1").is_ok());
        assert!(parse_sysctl("kernel.shmmax=1").is_ok());
        assert!(parse_sysctl("fs.mqueue.msg_max=20").is_ok());
        assert_eq!(parse_sysctl("kernel.hostname=x").unwrap_err(), "sysctl 'kernel.hostname=x' is not allowed");
        assert_eq!(parse_sysctl("foo").unwrap_err(), "sysctl 'foo' is not allowed");
    }

    #[test]
    fn devices_parse_as_docker() {
        let d = parse_device("/dev/zero:/dev/z:r").unwrap();
        assert_eq!((d.path_in_container.as_str(), d.cgroup_permissions.as_str()), ("/dev/z", "r"));
        assert_eq!(parse_device("/dev/zero:rw").unwrap().path_in_container, "/dev/zero");
        assert_eq!(parse_device("/dev/zero:/dev/z:rwq").unwrap_err(), "bad mode specified: rwq");
        assert_eq!(parse_device("/dev/zero:dev/z").unwrap_err(), "dev/z is not an absolute path");
    }

    #[test]
    fn capabilities_drop_all_then_add() {
        let mut hc = super::super::HostConfig::default();
        hc.security.cap_drop = Some(vec!["ALL".into()]);
        hc.security.cap_add = Some(vec!["CAP_NET_ADMIN".into()]);
        assert_eq!(capabilities(&hc), vec!["CAP_NET_ADMIN"]);
        hc.security.cap_drop = Some(vec!["CAP_CHOWN".into()]);
        let caps = capabilities(&hc);
        assert!(!caps.contains(&"CAP_CHOWN".to_string()) && caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert_eq!(normalize_cap("net_admin", "CapAdd").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(
            normalize_cap("bogus", "CapAdd").unwrap_err().to_string(),
            "invalid CapAdd: unknown capability: \"CAP_BOGUS\""
        );
    }

    #[test]
    fn security_opts_as_docker() {
        assert_eq!(
            normalize_security_opts(&["bogus".into()]).unwrap_err().to_string(),
            "Invalid --security-opt: \"bogus\""
        );
        assert!(normalize_security_opts(&["no-new-privileges:bogus".into()]).is_err());
        assert!(normalize_security_opts(&["label=disable".into(), "apparmor=unconfined".into()]).is_ok());
        let e = normalize_security_opts(&["seccomp=/missing.json".into()]).unwrap_err().to_string();
        assert_eq!(e, "opening seccomp profile (/missing.json) failed: open /missing.json: no such file or directory");
        let o = parse_security_opts(&["no-new-privileges:false".into(), "seccomp=unconfined".into()]);
        assert_eq!(o.no_new_privileges, Some(false));
        assert!(matches!(o.seccomp, Some(None)));
    }
}
