//! A service's container as the engine's create options: every service key the runtime
//! knows maps onto what `berth create` would be given, plus Compose v2's labels and the
//! network aliases that make the service resolvable by name.

use super::{
    Compose, CONFIG_FILES, CONFIG_HASH, DEPENDS_ON, IMAGE, NUMBER, ONEOFF, PROJECT, SERVICE, VERSION, WORKING_DIR,
};
use crate::model::{parse_bytes, parse_duration, scalar, Service};
use crate::{Error, Result};
use berth_engine::container::health::Healthcheck;
use berth_engine::container::net::NetConfig;
use berth_engine::container::security::Ulimit;
use berth_engine::container::{CreateOptions, MountSpec, RestartPolicy, TmpfsOptions};
use serde_json::Value;
use std::path::Path;

/// What differs between a service's replica and a one-off `run` container.
pub(super) struct Instance<'a> {
    pub name: String,
    pub number: u32,
    pub oneoff: bool,
    /// The image's id (`com.docker.compose.image`).
    pub image_id: &'a str,
}

impl Compose {
    /// The engine's create options of one container of `svc`.
    pub(super) fn create_options(&self, svc: &Service, inst: &Instance<'_>) -> Result<CreateOptions> {
        let p = &self.project;
        let invalid = |m: String| Error::Invalid(format!("service {:?}: {m}", svc.name));
        let mut o = CreateOptions {
            name: Some(inst.name.clone()),
            image: svc.image_name(&p.name),
            cmd: svc.command.clone().unwrap_or_default(),
            ..Default::default()
        };
        // An entrypoint list: the first word is the program, the rest go before the command.
        if let Some(ep) = &svc.entrypoint {
            let mut ep = ep.clone();
            if ep.is_empty() {
                o.entrypoint = Some(String::new());
            } else {
                o.entrypoint = Some(ep.remove(0));
                if !ep.is_empty() {
                    ep.extend(std::mem::take(&mut o.cmd));
                    o.cmd = ep;
                }
            }
        }
        o.env = svc.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect();
        // Volumes, tmpfs, secrets, configs.
        for v in &svc.volumes {
            let source = v.source.clone().unwrap_or_default();
            let m = match v.kind.as_str() {
                "volume" if source.is_empty() => MountSpec { kind: "volume".into(), ..Default::default() },
                "volume" => {
                    let name = if p.volumes.contains_key(&source) { p.volume_name(&source) } else { source.clone() };
                    MountSpec { kind: "volume".into(), source: name, ..Default::default() }
                }
                "bind" => {
                    // Relative to the project directory (the loader makes most absolute).
                    let joined = p.working_dir.join(&source);
                    let path = std::path::PathBuf::from(berth_oci::path::clean_absolute(&joined.to_string_lossy()));
                    // Compose creates a missing host path (`bind.create_host_path`).
                    if !path.exists() {
                        std::fs::create_dir_all(&path)
                            .map_err(|e| invalid(format!("creating {}: {e}", path.display())))?;
                    }
                    MountSpec { kind: "bind".into(), source: path.display().to_string(), ..Default::default() }
                }
                "tmpfs" => MountSpec {
                    kind: "tmpfs".into(),
                    tmpfs_options: v.tmpfs.as_ref().map(|t| TmpfsOptions {
                        size_bytes: t.size.as_ref().and_then(parse_bytes).unwrap_or(0),
                        mode: t.mode.unwrap_or(0),
                    }),
                    ..Default::default()
                },
                k => return Err(invalid(format!("unsupported volume type {k:?}"))),
            };
            o.mounts.push(MountSpec { target: v.target.clone(), read_only: v.read_only, ..m });
        }
        o.tmpfs = svc.tmpfs.clone();
        for (refs, defs, default_dir) in
            [(&svc.secrets, &p.secrets, Some("/run/secrets")), (&svc.configs, &p.configs, None)]
        {
            for r in refs {
                let def =
                    defs.get(&r.source).ok_or_else(|| invalid(format!("undefined secret or config {:?}", r.source)))?;
                let target = match (&r.target, default_dir) {
                    (Some(t), _) if t.starts_with('/') => t.clone(),
                    (Some(t), Some(d)) => format!("{d}/{t}"),
                    (Some(t), None) => format!("/{t}"),
                    (None, Some(d)) => format!("{d}/{}", r.source),
                    (None, None) => format!("/{}", r.source),
                };
                let source = self.file_object_path(&r.source, def)?;
                o.mounts.push(MountSpec {
                    kind: "bind".into(),
                    source: source.display().to_string(),
                    target,
                    read_only: true,
                    tmpfs_options: None,
                });
            }
        }
        o.workdir = svc.working_dir.clone();
        o.user = svc.user.clone();
        o.hostname = svc.hostname.clone();
        o.domainname = svc.domainname.clone();
        if let Some(r) = &svc.restart {
            o.restart = RestartPolicy::parse(r).map_err(|e| invalid(e.to_string()))?;
        }
        let limits = svc.deploy.as_ref().and_then(|d| d.resources.limits.clone()).unwrap_or_default();
        if let Some(m) = svc.mem_limit.as_ref().or(limits.memory.as_ref()) {
            o.memory = parse_bytes(m).ok_or_else(|| invalid(format!("invalid memory limit {}", scalar(m))))?;
        }
        if let Some(c) = svc.cpus.as_ref().or(limits.cpus.as_ref()) {
            let n: f64 = scalar(c).parse().map_err(|_| invalid(format!("invalid cpus {}", scalar(c))))?;
            o.nano_cpus = (n * 1e9) as i64;
        }
        o.pids_limit = svc.pids_limit.or(limits.pids);
        let sec = &mut o.security;
        if !svc.cap_add.is_empty() {
            sec.cap_add = Some(svc.cap_add.clone());
        }
        if !svc.cap_drop.is_empty() {
            sec.cap_drop = Some(svc.cap_drop.clone());
        }
        sec.privileged = svc.privileged;
        if !svc.security_opt.is_empty() {
            sec.security_opt = Some(svc.security_opt.clone());
        }
        if let Some(s) = &svc.shm_size {
            sec.shm_size = parse_bytes(s).ok_or_else(|| invalid(format!("invalid shm_size {}", scalar(s))))?;
        }
        for (k, v) in &svc.sysctls {
            let (k, v) =
                berth_engine::container::security::parse_sysctl(&format!("{k}={}", v.clone().unwrap_or_default()))
                    .map_err(invalid)?;
            sec.sysctls.insert(k, v);
        }
        for (name, v) in &svc.ulimits {
            let (soft, hard) = match v {
                Value::Object(m) => (
                    m.get("soft").and_then(Value::as_i64).unwrap_or(0),
                    m.get("hard").and_then(Value::as_i64).unwrap_or(0),
                ),
                v => {
                    let n = scalar(v).parse::<i64>().map_err(|_| invalid(format!("invalid ulimit {name}")))?;
                    (n, n)
                }
            };
            let u: Ulimit =
                berth_engine::container::security::parse_ulimit(&format!("{name}={soft}:{hard}")).map_err(invalid)?;
            sec.ulimits.push(u);
        }
        if let Some(pid) = &svc.pid {
            sec.pid_mode = pid.clone();
        }
        if let Some(ipc) = &svc.ipc {
            sec.ipc_mode = ipc.clone();
        }
        o.read_only = svc.read_only;
        o.init = svc.init.unwrap_or(false);
        o.stop_signal = svc.stop_signal.clone();
        if let Some(g) = &svc.stop_grace_period {
            let ns = parse_duration(g).ok_or_else(|| invalid(format!("invalid stop_grace_period {g:?}")))?;
            o.stop_timeout = Some(ns / 1_000_000_000);
        }
        o.tty = svc.tty;
        o.open_stdin = svc.stdin_open;
        o.runtime = svc.runtime.clone();
        o.run.platform = svc.platform.clone().filter(|p| !p.is_empty());
        o.healthcheck = svc.healthcheck.as_ref().map(healthcheck).transpose().map_err(invalid)?;
        o.net = self.net_config(svc, inst).map_err(invalid)?;
        o.network = self.network_mode(svc)?;
        // Labels: the service's, then Compose's own.
        o.labels = svc.labels.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
        let files: Vec<String> = p.config_files.iter().map(|f| f.display().to_string()).collect();
        let deps: Vec<String> =
            svc.depends_on.iter().map(|(k, d)| format!("{k}:{}:{}", d.condition, d.restart)).collect();
        for (k, v) in [
            (PROJECT, p.name.clone()),
            (SERVICE, svc.name.clone()),
            (NUMBER, inst.number.to_string()),
            (ONEOFF, if inst.oneoff { "True" } else { "False" }.to_string()),
            (CONFIG_HASH, svc.config_hash.clone()),
            (WORKING_DIR, p.working_dir.display().to_string()),
            (CONFIG_FILES, files.join(",")),
            (VERSION, super::COMPOSE_VERSION.to_string()),
            (IMAGE, inst.image_id.to_string()),
            (DEPENDS_ON, deps.join(",")),
        ] {
            o.labels.insert(k.to_string(), v);
        }
        Ok(o)
    }

    /// `network_mode` as the engine's `--network`; else the service's first network.
    fn network_mode(&self, svc: &Service) -> Result<String> {
        let p = &self.project;
        match svc.network_mode.as_deref() {
            Some(m) if m.starts_with("service:") => {
                let other = &m["service:".len()..];
                let c = self
                    .containers(false)?
                    .into_iter()
                    .find(|c| super::service_of(c) == other && c.state.running)
                    .ok_or_else(|| {
                        Error::Invalid(format!("service {:?}: network_mode {m}: no running container", svc.name))
                    })?;
                Ok(format!("container:{}", c.id))
            }
            Some(m) => Ok(m.to_string()),
            None => Ok(match svc.network_order().first() {
                Some((key, _)) => p.network_name(key),
                None => "none".into(),
            }),
        }
    }

    /// Ports, exposed ports, DNS, extra hosts, and the first network's aliases.
    fn net_config(&self, svc: &Service, inst: &Instance<'_>) -> std::result::Result<NetConfig, String> {
        let mut n = NetConfig::default();
        for port in &svc.ports {
            let target = scalar(&port.target);
            let proto = port.protocol.clone().unwrap_or_else(|| "tcp".into());
            let published = port.published.as_ref().map(scalar).unwrap_or_default();
            let spec = match (port.host_ip.as_deref().filter(|h| !h.is_empty()), published.as_str()) {
                (Some(ip), p) => format!("{ip}:{p}:{target}/{proto}"),
                (None, "") => format!("{target}/{proto}"),
                (None, p) => format!("{p}:{target}/{proto}"),
            };
            n.publish.extend(berth_network::PortSpec::parse(&spec).map_err(|e| e.to_string())?);
        }
        n.exposed = svc.expose.iter().map(scalar).collect();
        n.dns = svc.dns.clone();
        n.dns_search = svc.dns_search.clone();
        n.dns_options = svc.dns_opt.clone();
        n.add_hosts = extra_hosts(&svc.extra_hosts);
        if !inst.oneoff {
            if let Some((_, net)) = svc.network_order().first() {
                n.aliases = self.aliases(svc, net);
                n.ip = net
                    .ipv4_address
                    .as_deref()
                    .map(|a| a.parse())
                    .transpose()
                    .map_err(|_| "invalid ipv4_address".to_string())?;
            }
        }
        Ok(n)
    }

    /// A container's aliases on one network: the service's name, and the network's aliases.
    pub(super) fn aliases(&self, svc: &Service, net: &crate::model::ServiceNetwork) -> Vec<String> {
        let mut a = vec![svc.name.clone()];
        a.extend(net.aliases.iter().cloned());
        a
    }

    /// The host file a secret or config is mounted from: its `file`, or its `environment`
    /// variable's (or inline `content`) written under the engine's root.
    fn file_object_path(&self, key: &str, def: &crate::model::FileObject) -> Result<std::path::PathBuf> {
        if let Some(f) = &def.file {
            return Ok(self.project.working_dir.join(f));
        }
        let content = match (&def.environment, &def.content) {
            (Some(var), _) => {
                self.project.environment.get(var).cloned().or_else(|| std::env::var(var).ok()).unwrap_or_default()
            }
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(Error::Invalid(format!("secret or config {key:?} has no file, environment or content")))
            }
        };
        let dir = self.engine.root().join("compose").join(&self.project.name).join("files");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
        let path = dir.join(key);
        write_private(&path, content.as_bytes()).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// `extra_hosts` as `--add-host` values: a list of `host:ip`/`host=ip`, or a map.
fn extra_hosts(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|e| {
                let s = scalar(e);
                match s.split_once('=') {
                    Some((h, ip)) => format!("{h}:{ip}"),
                    None => s,
                }
            })
            .collect(),
        Value::Object(m) => m
            .iter()
            .flat_map(|(h, ips)| match ips {
                Value::Array(a) => a.iter().map(|ip| format!("{h}:{}", scalar(ip))).collect::<Vec<_>>(),
                ip => vec![format!("{h}:{}", scalar(ip))],
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A service's `healthcheck` as the engine's (Docker's) container healthcheck.
fn healthcheck(h: &crate::model::Healthcheck) -> std::result::Result<Healthcheck, String> {
    if h.disable {
        return Ok(Healthcheck { test: vec!["NONE".into()], ..Default::default() });
    }
    let test = match &h.test {
        Value::Null => Vec::new(),
        Value::String(s) => vec!["CMD-SHELL".into(), s.clone()],
        Value::Array(a) => a.iter().map(scalar).collect(),
        v => return Err(format!("invalid healthcheck test {v}")),
    };
    let d = |v: &Option<String>| -> std::result::Result<i64, String> {
        match v {
            None => Ok(0),
            Some(s) => parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}")),
        }
    };
    Ok(Healthcheck {
        test,
        interval: d(&h.interval)?,
        timeout: d(&h.timeout)?,
        start_period: d(&h.start_period)?,
        start_interval: d(&h.start_interval)?,
        retries: h.retries.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Loaded;
    use crate::model::Project;

    fn compose(model: Value) -> (tempfile::TempDir, Compose) {
        let d = tempfile::tempdir().unwrap();
        let engine = berth_engine::Engine::open(d.path().join("root")).unwrap();
        let loaded = Loaded {
            name: "demo".into(),
            working_dir: d.path().to_path_buf(),
            config_files: vec![d.path().join("compose.yaml")],
            model,
            warnings: vec![],
            environment: [("TOKEN".to_string(), "s3cret".to_string())].into(),
        };
        let project = Project::from_loaded(&loaded).unwrap();
        let mut c = Compose::new(engine, project);
        c.out = super::super::Printer::quiet();
        (d, c)
    }

    #[test]
    fn service_keys_map_to_create_options() {
        let (d, c) = compose(serde_json::json!({
            "services": {"web": {
                "image": "busybox",
                "command": ["httpd", "-f"],
                "entrypoint": ["/bin/sh", "-c"],
                "environment": {"A": "1", "UNSET": null},
                "ports": [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp", "host_ip": "127.0.0.1"}],
                "volumes": [
                    {"type": "volume", "source": "data", "target": "/data", "volume": {}},
                    {"type": "bind", "source": "./site", "target": "/www", "read_only": true},
                    {"type": "tmpfs", "target": "/scratch", "tmpfs": {"size": "64m"}}
                ],
                "networks": {"front": {"aliases": ["www"]}},
                "healthcheck": {"test": ["CMD-SHELL", "true"], "interval": "1m30s", "retries": 3},
                "restart": "on-failure:2",
                "mem_limit": "64m",
                "cpus": 0.5,
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 100},
                "sysctls": {"net.core.somaxconn": "1024"},
                "extra_hosts": ["db.local=10.0.0.2"],
                "stop_grace_period": "30s",
                "secrets": [{"source": "token"}],
                "labels": {"tier": "front"}
            }},
            "networks": {"front": {}},
            "volumes": {"data": {}},
            "secrets": {"token": {"environment": "TOKEN"}}
        }));
        let svc = &c.project.services["web"];
        let inst = Instance { name: "demo-web-1".into(), number: 1, oneoff: false, image_id: "sha256:x" };
        let o = c.create_options(svc, &inst).unwrap();
        assert_eq!(o.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(o.cmd, ["-c", "httpd", "-f"]);
        assert_eq!(o.env, ["A=1"]);
        assert_eq!(o.net.publish.len(), 1);
        assert_eq!(o.net.publish[0].host_port, 8080);
        assert_eq!(o.network, "demo_front");
        assert_eq!(o.net.aliases, ["web", "www"]);
        assert_eq!(o.net.add_hosts, ["db.local:10.0.0.2"]);
        assert_eq!((o.mounts[0].kind.as_str(), o.mounts[0].source.as_str()), ("volume", "demo_data"));
        assert_eq!(o.mounts[1].source, d.path().join("site").display().to_string());
        assert!(o.mounts[1].read_only && d.path().join("site").is_dir());
        assert_eq!(o.mounts[2].tmpfs_options.as_ref().unwrap().size_bytes, 64 << 20);
        let secret = &o.mounts[3];
        assert_eq!(secret.target, "/run/secrets/token");
        assert_eq!(std::fs::read_to_string(&secret.source).unwrap(), "s3cret");
        let h = o.healthcheck.unwrap();
        assert_eq!((h.interval, h.retries), (90_000_000_000, 3));
        assert_eq!((o.restart.name.as_str(), o.restart.maximum_retry_count), ("on-failure", 2));
        assert_eq!((o.memory, o.nano_cpus, o.stop_timeout), (64 << 20, 500_000_000, Some(30)));
        assert_eq!(o.security.ulimits.len(), 2);
        assert_eq!(o.security.sysctls["net.core.somaxconn"], "1024");
        for (k, v) in [
            (PROJECT, "demo"),
            (SERVICE, "web"),
            (NUMBER, "1"),
            (ONEOFF, "False"),
            (IMAGE, "sha256:x"),
            ("tier", "front"),
        ] {
            assert_eq!(o.labels[k], v, "{k}");
        }
        assert_eq!(o.labels[CONFIG_HASH], svc.config_hash);
    }
}
