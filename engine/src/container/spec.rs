//! From image config and `run` flags to an OCI runtime spec, with Docker's defaults.
//!
//! Docker users expect the same container whichever engine starts it: the same default
//! capability set, the same masked and read-only `/proc` and `/sys` paths, the same `/dev`,
//! `/dev/pts`, `/dev/shm` and `/dev/mqueue` mounts, the same device cgroup rules and the same
//! default seccomp profile. The profile is embedded in moby's own format
//! (`seccomp_default.json`, with per-capability and per-architecture rules) and reduced here to
//! a plain OCI `linux.seccomp` for this host's architecture and the container's capabilities,
//! exactly as Docker does; the runtime compiles it. The spec is written once, at create, into
//! the bundle's `config.json`, so `--runtime runc|crun` run the very same bundle.

use super::{Container, CreateOptions, HostConfig, MountPoint, ProcessInfo};
use crate::{Error, Result};
use berth_oci::IoContext;
use berth_store::layerview::RootView;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The PATH Docker gives containers whose image sets none.
pub use berth_oci::config::DEFAULT_PATH;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers (bind-mounted over with /dev/null or an empty tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// moby's default seccomp profile, in moby's format.
pub const SECCOMP_DEFAULT: &str = include_str!("seccomp_default.json");

fn str_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Sets `k=v` in an env list, replacing an earlier value of `k`.
pub fn env_set(env: &mut Vec<String>, kv: String) {
    let k = env_key(&kv).to_string();
    match env.iter_mut().find(|e| env_key(e) == k) {
        Some(e) => *e = kv,
        None => env.push(kv),
    }
}

/// Merges the image config with the user's options into the container's Config, HostConfig,
/// Path/Args and process (user resolution comes later, with the rootfs at hand).
pub(crate) fn resolve_config(c: &mut Container, img: &Value, o: &CreateOptions) -> Result<()> {
    let host_net = o.network == "host";
    let hostname = match (&o.hostname, host_net) {
        (Some(h), _) if !h.is_empty() => h.clone(),
        (_, true) => nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        _ => c.id[..12].to_string(),
    };
    // Config.Env is the image's, then the user's (as `inspect` shows it in Docker); the
    // process gets Docker's daemon additions first: PATH (when neither has one), HOSTNAME, and
    // TERM for a tty, each overridden by Config.Env.
    let mut config_env: Vec<String> = Vec::new();
    for e in str_list(&img["Env"]).unwrap_or_default() {
        env_set(&mut config_env, e);
    }
    for e in &o.env {
        if e.contains('=') {
            env_set(&mut config_env, e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env_set(&mut config_env, format!("{e}={v}"));
        } else {
            config_env.retain(|x| env_key(x) != e);
        }
    }
    let mut env: Vec<String> = Vec::new();
    if !config_env.iter().any(|e| env_key(e) == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env.push(format!("HOSTNAME={hostname}"));
    if o.tty {
        env.push("TERM=xterm".into());
    }
    for e in &config_env {
        env_set(&mut env, e.clone());
    }
    let (entrypoint, cmd) = match &o.entrypoint {
        Some(ep) if ep.is_empty() => (None, (!o.cmd.is_empty()).then(|| o.cmd.clone())),
        Some(ep) => (Some(vec![ep.clone()]), (!o.cmd.is_empty()).then(|| o.cmd.clone())),
        None => {
            let ep = str_list(&img["Entrypoint"]).filter(|v| !v.is_empty());
            let cmd =
                if o.cmd.is_empty() { str_list(&img["Cmd"]).filter(|v| !v.is_empty()) } else { Some(o.cmd.clone()) };
            (ep, cmd)
        }
    };
    let mut args: Vec<String> = entrypoint.clone().unwrap_or_default();
    args.extend(cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(Error::Other("No command specified".into()));
    }
    let workdir = match &o.workdir {
        Some(w) if !w.is_empty() => w.clone(),
        _ => img["WorkingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or("/").to_string(),
    };
    if !workdir.starts_with('/') {
        return Err(Error::Other(format!(
            "the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )));
    }
    let mut labels: std::collections::BTreeMap<String, String> = img["Labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    labels.extend(o.labels.clone());
    let stop_signal = o.stop_signal.clone().or_else(|| img["StopSignal"].as_str().map(String::from));
    if let Some(s) = &stop_signal {
        super::parse_signal(s)?;
    }
    let volumes = img["Volumes"].as_object().filter(|m| !m.is_empty()).map(|m| m.clone().into_iter().collect());
    let runtime = o.runtime.clone().unwrap_or_else(|| "berth".into());
    super::runopts::check_runtime(&runtime)?;
    // Checked against the root's networks by `container::net::resolve` right after.
    let network = crate::container::net::normalize_mode(&o.network);
    let mut memory_swap = if o.memory > 0 && swap_accounting() { o.memory * 2 } else { 0 };
    if o.memory > 0 && o.memory < 6 * 1024 * 1024 {
        return Err(Error::Other("Minimum memory limit allowed is 6MB".into()));
    }
    let run = super::runopts::host_config(c, o, &mut memory_swap)?;
    let mut tmpfs = std::collections::BTreeMap::new();
    for t in &o.tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if !dst.starts_with('/') {
            return Err(Error::Other(format!("invalid mount path: '{dst}' mount path must be absolute")));
        }
        tmpfs.insert(dst.to_string(), opts.to_string());
    }
    c.config = super::Config {
        hostname: hostname.clone(),
        user: o.user.clone().unwrap_or_else(|| img["User"].as_str().unwrap_or("").to_string()),
        attach_stdin: o.attach && o.open_stdin,
        attach_stdout: o.attach,
        attach_stderr: o.attach,
        tty: o.tty,
        open_stdin: o.open_stdin,
        stdin_once: o.attach && o.open_stdin,
        env: config_env,
        cmd,
        image: o.image.clone(),
        volumes,
        working_dir: if o.workdir.is_some() || img["WorkingDir"].as_str().is_some_and(|w| !w.is_empty()) {
            workdir.clone()
        } else {
            String::new()
        },
        entrypoint,
        labels,
        stop_signal,
        stop_timeout: o.stop_timeout,
        healthcheck: super::health::resolve(o.healthcheck.as_ref(), img)?,
        ..Default::default()
    };
    c.host_config = HostConfig {
        binds: o.binds.clone(),
        run,
        network_mode: network,
        restart_policy: o.restart.clone(),
        auto_remove: o.auto_remove,
        log_config: o.log_config.clone(),
        mounts: o.mounts.clone(),
        tmpfs,
        memory: o.memory,
        memory_swap,
        nano_cpus: o.nano_cpus,
        pids_limit: o.pids_limit,
        security: Default::default(), // checked and filled by `security::resolve`
        readonly_rootfs: o.read_only,
        init: o.init.then_some(true),
        runtime,
    };
    if o.init {
        let init = init_binary().ok_or_else(|| {
            Error::Other(
                "--init: no init binary found on the host (install tini: docker-init, tini-static or tini)".into(),
            )
        })?;
        let _ = init;
        let mut a = vec![INIT_PATH.to_string(), "--".to_string()];
        a.extend(args.iter().cloned());
        args = a;
    }
    c.path = args[0].clone();
    c.args = args[1..].to_vec();
    c.process = ProcessInfo { args, env, cwd: workdir, ..Default::default() };
    super::runopts::apply_config(c, o);
    Ok(())
}

/// Where `--init`'s binary is mounted inside the container (Docker's path).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// A static init for `--init` (Docker ships tini as `docker-init`).
pub fn init_binary() -> Option<PathBuf> {
    ["/usr/libexec/docker/docker-init", "/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/sbin/tini-static"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn swap_accounting() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn read_passwd(rootfs: &dyn RootView) -> Vec<PasswdEntry> {
    let text = rootfs.open("/etc/passwd").and_then(|f| std::io::read_to_string(f).ok()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 {
                return None;
            }
            Some(PasswdEntry { name: f[0].into(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() })
        })
        .collect()
}

/// (name, gid, members)
fn read_group(rootfs: &dyn RootView) -> Vec<(String, u32, Vec<String>)> {
    let text = rootfs.open("/etc/group").and_then(|f| std::io::read_to_string(f).ok()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect());
            Some((f[0].into(), f[2].parse().ok()?, members.unwrap_or_default()))
        })
        .collect()
}

/// Resolves `Config.User` (`user`, `uid`, `user:group`, `uid:gid`) through the image's
/// `/etc/passwd` and `/etc/group` (read through `rootfs`: a mounted rootfs or the layer view),
/// as Docker does; sets HOME when the env has none.
pub(crate) fn resolve_user(c: &mut Container, rootfs: &dyn RootView) -> Result<()> {
    let spec = c.config.user.clone();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (spec.clone(), None),
    };
    let passwd = read_passwd(rootfs);
    let (uid, mut gid, home, uname) = if u.is_empty() {
        let root = passwd.iter().find(|p| p.uid == 0);
        (0, 0, root.map(|p| p.home.clone()).unwrap_or_else(|| "/root".into()), root.map(|p| p.name.clone()))
    } else if let Ok(n) = u.parse::<u32>() {
        match passwd.iter().find(|p| p.uid == n) {
            Some(p) => (n, p.gid, p.home.clone(), Some(p.name.clone())),
            None => (n, 0, "/".into(), None),
        }
    } else {
        match passwd.iter().find(|p| p.name == u) {
            Some(p) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
            None => return Err(Error::Other(format!("unable to find user {u}: no matching entries in passwd file"))),
        }
    };
    let groups = read_group(rootfs);
    if let Some(g) = &g {
        gid =
            match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups.iter().find(|(n, _, _)| n == g).map(|(_, id, _)| *id).ok_or_else(|| {
                    Error::Other(format!("unable to find group {g}: no matching entries in group file"))
                })?,
            };
    }
    // Supplementary groups as runc's user lookup gives them to a user named in passwd with no
    // explicit group: the primary group's entry and every group listing the user, in the
    // order of /etc/group (so `id` says `groups=0(root),10(wheel)` as under Docker).
    let mut additional: Vec<u32> = match (&uname, &g) {
        (Some(name), None) => {
            groups.iter().filter(|(_, id, m)| *id == gid || m.contains(name)).map(|(_, id, _)| *id).collect()
        }
        _ => Vec::new(),
    };
    additional.dedup();
    // Never an empty list: Docker's runtime then gives the primary group (`groups=1000`).
    if additional.is_empty() {
        additional.push(gid);
    }
    c.process.uid = uid;
    c.process.gid = gid;
    c.process.additional_gids = additional;
    if !c.process.env.iter().any(|e| env_key(e) == "HOME") {
        c.process.env.push(format!("HOME={}", if home.is_empty() { "/" } else { &home }));
    }
    Ok(())
}

/// Writes `hostname`, `hosts` and `resolv.conf` into the container directory.
pub(crate) fn write_etc_files(c: &Container) -> Result<()> {
    let host_net = c.host_config.network_mode == "host";
    let hostname = format!("{}\n", c.config.hostname);
    let hosts = if host_net {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if host_net { host_resolv } else { filter_resolv(&host_resolv) };
    for (name, body) in [("hostname", hostname), ("hosts", hosts), ("resolv.conf", resolv)] {
        let p = c.dir.join(name);
        std::fs::write(&p, body).at(&p)?;
    }
    Ok(())
}

/// Docker's resolv.conf for a container off the host's network: the host's, without
/// loopback nameservers (unreachable from the container); Google's DNS if none remain.
fn filter_resolv(host: &str) -> String {
    let mut out = String::new();
    let mut ns = 0;
    for l in host.lines() {
        let t = l.trim();
        if let Some(addr) = t.strip_prefix("nameserver") {
            let a = addr.trim();
            if a.starts_with("127.") || a == "::1" {
                continue;
            }
            ns += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if ns == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

fn native_arch() -> (&'static str, &'static str) {
    // (moby's arch name, libseccomp's)
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "x86" => ("x86", "SCMP_ARCH_X86"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        _ => ("amd64", "SCMP_ARCH_X86_64"),
    }
}

fn kernel_at_least(min: &str) -> bool {
    let rel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let parse = |s: &str| -> (u32, u32) {
        let mut it = s.split(|c: char| !c.is_ascii_digit()).filter(|x| !x.is_empty()).map(|x| x.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    parse(&rel) >= parse(min)
}

/// Reduces moby's profile to an OCI `linux.seccomp` for this architecture and capability set.
pub fn seccomp_for(caps: &[&str]) -> Value {
    let prof: Value = serde_json::from_str(SECCOMP_DEFAULT).expect("embedded seccomp profile is valid JSON");
    reduce_profile(&prof, caps)
}

/// Reduces a profile in moby's format (`--security-opt seccomp=FILE` or the default) to an
/// OCI `linux.seccomp` for this architecture and capability set.
pub fn reduce_profile(prof: &Value, caps: &[&str]) -> Value {
    let (arch, scmp_arch) = native_arch();
    let mut arches = vec![json!(scmp_arch)];
    if prof["archMap"].is_null() {
        // A profile listing its architectures itself keeps them.
        arches = prof["architectures"].as_array().cloned().unwrap_or(arches);
    }
    for m in prof["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == scmp_arch {
            arches.extend(m["subArchitectures"].as_array().cloned().unwrap_or_default());
        }
    }
    let has_cap = |c: &Value| c.as_str().is_some_and(|c| caps.contains(&c));
    let mut syscalls = Vec::new();
    for r in prof["syscalls"].as_array().into_iter().flatten() {
        let inc = &r["includes"];
        let exc = &r["excludes"];
        if let Some(cs) = inc["caps"].as_array() {
            if !cs.iter().all(has_cap) {
                continue;
            }
        }
        if let Some(a) = inc["arches"].as_array() {
            if !a.iter().any(|x| x == arch) {
                continue;
            }
        }
        if let Some(k) = inc["minKernel"].as_str() {
            if !kernel_at_least(k) {
                continue;
            }
        }
        if let Some(cs) = exc["caps"].as_array() {
            if cs.iter().any(has_cap) {
                continue;
            }
        }
        if let Some(a) = exc["arches"].as_array() {
            if a.iter().any(|x| x == arch) {
                continue;
            }
        }
        // Older profiles name one syscall per rule (`name`).
        let names = if r["names"].is_array() { r["names"].clone() } else { json!([r["name"]]) };
        let mut s = json!({ "names": names, "action": r["action"] });
        if let Some(e) = r.get("errnoRet") {
            s["errnoRet"] = e.clone();
        }
        if let Some(a) = r.get("args").filter(|a| a.as_array().is_some_and(|a| !a.is_empty())) {
            s["args"] = a.clone();
        }
        syscalls.push(s);
    }
    json!({
        "defaultAction": prof["defaultAction"],
        "defaultErrnoRet": prof["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

fn mount(dst: &str, kind: &str, src: &str, opts: &[&str]) -> Value {
    json!({ "destination": dst, "type": kind, "source": src, "options": opts })
}

/// The bundle's `config.json` for a container.
pub fn generate(c: &Container) -> Result<oci_spec::runtime::Spec> {
    let hc = &c.host_config;
    let host_net = hc.network_mode == "host";
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro", "nosuid", "noexec", "nodev"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]),
    ];
    let user_dsts: Vec<&str> = c.mounts.iter().map(|m| m.destination.as_str()).collect();
    for (name, dst) in [("resolv.conf", "/etc/resolv.conf"), ("hostname", "/etc/hostname"), ("hosts", "/etc/hosts")] {
        if user_dsts.contains(&dst) {
            continue; // the user's own mount wins, as in Docker
        }
        let src = c.dir.join(name).display().to_string();
        let ro = if hc.readonly_rootfs { "ro" } else { "rw" };
        mounts.push(mount(dst, "bind", &src, &["rbind", "rprivate", ro]));
    }
    // Parents before children, as Docker sorts them.
    let mut user: Vec<&MountPoint> = c.mounts.iter().collect();
    user.sort_by_key(|m| Path::new(&m.destination).components().count());
    for m in user {
        let rw = if m.rw { "rw" } else { "ro" };
        if m.kind == "tmpfs" {
            let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            opts.extend(m.mode.split(',').filter(|s| !s.is_empty()).map(String::from));
            if !m.rw {
                opts.push("ro".into());
            }
            let o: Vec<&str> = opts.iter().map(String::as_str).collect();
            mounts.push(mount(&m.destination, "tmpfs", "tmpfs", &o));
        } else {
            mounts.push(mount(&m.destination, "bind", &m.source, &["rbind", "rprivate", rw]));
        }
    }
    if hc.init == Some(true) {
        if let Some(init) = init_binary() {
            mounts.push(mount(INIT_PATH, "bind", &init.display().to_string(), &["bind", "ro", "rprivate"]));
        }
    }
    let mut namespaces =
        vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    if !host_net {
        let mut ns = json!({"type": "network"});
        if let Some(p) = &c.netns_path {
            ns["path"] = json!(p);
        }
        namespaces.push(ns);
    }
    if Path::new("/proc/self/ns/cgroup").exists() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        namespaces.push(json!({"type": "cgroup"})); // Docker's default on cgroup v2 only
    }
    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
        ],
    });
    if hc.memory > 0 {
        let mut m = json!({ "limit": hc.memory });
        if hc.memory_swap > 0 {
            m["swap"] = json!(hc.memory_swap);
        }
        resources["memory"] = m;
    }
    if hc.nano_cpus > 0 {
        resources["cpu"] = json!({ "quota": hc.nano_cpus / 10_000, "period": 100_000 });
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({ "limit": p });
    }
    super::resources::to_spec(hc, &mut resources);
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    let mut sysctl = serde_json::Map::new();
    if !host_net {
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), json!("0"));
        sysctl.insert("net.ipv4.ping_group_range".into(), json!("0 2147483647"));
    }
    let mut process = json!({
        "terminal": c.config.tty,
        "user": { "uid": c.process.uid, "gid": c.process.gid },
        "args": c.process.args,
        "env": c.process.env,
        "cwd": c.process.cwd,
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": true,
        "oomScoreAdj": 0,
    });
    if !c.process.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(c.process.additional_gids);
    }
    if c.config.tty {
        if let Some((rows, cols)) = super::attach::terminal_size() {
            process["consoleSize"] = json!({ "height": rows, "width": cols });
        }
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": "rootfs", "readonly": hc.readonly_rootfs },
        "hostname": c.config.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": c.cgroup_path(),
            "resources": resources,
            "sysctl": sysctl,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp_for(&caps),
        },
    });
    if let Some(a) = &hc.run.annotations {
        spec["annotations"] = json!(a);
    }
    super::security::apply(c, &mut spec)?;
    serde_json::from_value(spec).map_err(|e| Error::Other(format!("generating the OCI spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_profile_reduces_for_default_caps() {
        let s = seccomp_for(DEFAULT_CAPS);
        let names: Vec<String> = s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()))
            .collect();
        assert!(names.contains(&"read".to_string()));
        assert!(names.contains(&"chroot".to_string()), "CAP_SYS_CHROOT is in the default set");
        assert!(!names.contains(&"mount".to_string()), "mount needs CAP_SYS_ADMIN");
        assert!(!names.contains(&"reboot".to_string()));
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(s).unwrap();
        assert!(!oci.syscalls().as_ref().unwrap().is_empty());
    }

    #[test]
    fn env_overrides_by_key() {
        let mut e = vec!["A=1".to_string(), "B=2".to_string()];
        env_set(&mut e, "A=3".into());
        assert_eq!(e, vec!["A=3", "B=2"]);
    }

    #[test]
    fn resolv_conf_drops_loopback() {
        assert_eq!(filter_resolv("nameserver 127.0.0.53\n"), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert_eq!(filter_resolv("nameserver 1.1.1.1\n"), "nameserver 1.1.1.1\n");
    }
}
