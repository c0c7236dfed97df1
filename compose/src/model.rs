//! The resolved model, typed: services, networks, volumes, secrets and configs.
//!
//! The loader hands over the tree `compose config --format json` prints (Compose v2's long
//! forms everywhere); this module reads the parts the runtime acts on into plain structs,
//! ignoring the keys it does not use, and computes each service's config hash as Compose v2
//! does (`com.docker.compose.config-hash`: the SHA-256 of the service's JSON with its build,
//! pull policy, scale, replicas, dependencies and profiles left out), so a container is
//! recreated exactly when what it runs changed. Short forms a loader may still leave (a
//! command as one string, a list of `K=V`) are accepted too.

use crate::load::Loaded;
use crate::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A project: its name, where it lives, and what it declares.
#[derive(Clone, Debug, Default)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// By name, sorted.
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, NetworkDef>,
    pub volumes: BTreeMap<String, VolumeDef>,
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// The variables interpolation saw (the `environment:` source of secrets and configs).
    pub environment: BTreeMap<String, String>,
}

/// One service (the keys the runtime uses).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    /// `com.docker.compose.config-hash`.
    #[serde(skip)]
    pub config_hash: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    #[serde(deserialize_with = "command")]
    pub command: Option<Vec<String>>,
    #[serde(deserialize_with = "command")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "kv_map")]
    pub environment: BTreeMap<String, Option<String>>,
    pub ports: Vec<Port>,
    pub expose: Vec<Value>,
    pub volumes: Vec<ServiceVolume>,
    #[serde(deserialize_with = "str_list")]
    pub tmpfs: Vec<String>,
    #[serde(deserialize_with = "service_networks")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    pub network_mode: Option<String>,
    #[serde(deserialize_with = "depends_on")]
    pub depends_on: BTreeMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub container_name: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    #[serde(deserialize_with = "kv_map")]
    pub labels: BTreeMap<String, Option<String>>,
    pub init: Option<bool>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub extra_hosts: Value,
    #[serde(deserialize_with = "str_list")]
    pub dns: Vec<String>,
    #[serde(deserialize_with = "str_list")]
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    #[serde(deserialize_with = "kv_map")]
    pub sysctls: BTreeMap<String, Option<String>>,
    pub ulimits: BTreeMap<String, Value>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<String>,
    pub stdin_open: bool,
    pub tty: bool,
    pub shm_size: Option<Value>,
    pub mem_limit: Option<Value>,
    pub cpus: Option<Value>,
    pub pids_limit: Option<i64>,
    pub deploy: Option<Deploy>,
    pub scale: Option<u32>,
    #[serde(skip)]
    pub secrets: Vec<FileRef>,
    #[serde(skip)]
    pub configs: Vec<FileRef>,
    pub platform: Option<String>,
    pub pull_policy: Option<String>,
    pub runtime: Option<String>,
    pub profiles: Vec<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
}

/// `build:` (long form).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Build {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub dockerfile_inline: Option<String>,
    #[serde(deserialize_with = "kv_map")]
    pub args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    #[serde(deserialize_with = "kv_map")]
    pub labels: BTreeMap<String, Option<String>>,
    pub network: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
}

/// One `ports:` entry (long form).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Port {
    pub target: Value,
    pub published: Option<Value>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
    pub mode: Option<String>,
}

/// One `volumes:` entry of a service (long form).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub tmpfs: Option<TmpfsOpts>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TmpfsOpts {
    pub size: Option<Value>,
    pub mode: Option<u32>,
}

/// A service's attachment to one network.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub priority: i64,
}

/// One `depends_on:` entry (long form).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Dependency {
    pub condition: String,
    pub required: bool,
    pub restart: bool,
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency { condition: "service_started".into(), required: true, restart: false }
    }
}

/// `healthcheck:`; durations as the files give them (`"10s"`, `"1m30s"`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    pub test: Value,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<i64>,
    pub disable: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Deploy {
    pub replicas: Option<u32>,
    pub resources: Resources,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub limits: Option<Limits>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub cpus: Option<Value>,
    pub memory: Option<Value>,
    pub pids: Option<i64>,
}

/// A service's use of a secret or config (`source` and where it is mounted).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FileRef {
    pub source: String,
    pub target: Option<String>,
    pub mode: Option<u32>,
}

impl<'de> Deserialize<'de> for FileRefOrName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(FileRefOrName(match Value::deserialize(d)? {
            Value::String(s) => FileRef { source: s, ..Default::default() },
            v => serde_json::from_value(v).map_err(serde::de::Error::custom)?,
        }))
    }
}
struct FileRefOrName(FileRef);

/// A top-level secret or config: a file, or an environment variable.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FileObject {
    pub name: Option<String>,
    pub file: Option<String>,
    pub environment: Option<String>,
    pub content: Option<String>,
    pub external: bool,
}

/// A top-level network.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkDef {
    pub name: Option<String>,
    pub driver: Option<String>,
    #[serde(deserialize_with = "external")]
    pub external: bool,
    pub internal: bool,
    pub ipam: Ipam,
    #[serde(deserialize_with = "kv_map")]
    pub labels: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ipam {
    pub config: Vec<IpamConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamConfig {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
}

/// A top-level volume.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct VolumeDef {
    pub name: Option<String>,
    #[serde(deserialize_with = "external")]
    pub external: bool,
    #[serde(deserialize_with = "kv_map")]
    pub labels: BTreeMap<String, Option<String>>,
}

// ---- lenient readers: the long form, and the short forms a file may still hold -------------

fn command<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(split_shell(&s)),
        Value::Array(a) => Some(a.iter().map(scalar).collect()),
        v => return Err(serde::de::Error::custom(format!("command must be a string or a list, not {v}"))),
    })
}

fn str_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().map(scalar).collect(),
        v => vec![scalar(&v)],
    })
}

fn kv_map<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, Option<String>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => m.into_iter().map(|(k, v)| (k, (!v.is_null()).then(|| scalar(&v)))).collect(),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                let s = scalar(v);
                match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (s, None),
                }
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

fn service_networks<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, ServiceNetwork>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| {
                let n = if v.is_null() { Ok(ServiceNetwork::default()) } else { serde_json::from_value(v) };
                n.map(|n| (k, n)).map_err(serde::de::Error::custom)
            })
            .collect::<std::result::Result<_, _>>()?,
        Value::Array(a) => a.iter().map(|v| (scalar(v), ServiceNetwork::default())).collect(),
        _ => BTreeMap::new(),
    })
}

fn depends_on<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, Dependency>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| {
                let n = if v.is_null() { Ok(Dependency::default()) } else { serde_json::from_value(v) };
                n.map(|n| (k, n)).map_err(serde::de::Error::custom)
            })
            .collect::<std::result::Result<_, _>>()?,
        Value::Array(a) => a.iter().map(|v| (scalar(v), Dependency::default())).collect(),
        _ => BTreeMap::new(),
    })
}

fn external<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    // `external: true`, or the old `external: {name: x}`.
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Object(_) => true,
        _ => false,
    })
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// Splits a command given as one string as compose-go does (shell words: quotes and
/// backslashes, no expansion).
fn split_shell(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.extend(chars.next()),
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => {
                cur.extend(chars.next());
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Go's `time.ParseDuration` (`1m30s`, `500ms`, `2h`), in nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    berth_oci::time::parse_go_duration(s.trim()).ok()
}

/// Bytes from a number or a size with a unit (`64m`, `1g`, `512k`, `1.5gb`).
pub fn parse_bytes(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| f as i64),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.strip_suffix('b').filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic())).unwrap_or(&s);
            let (num, mult) = match s.chars().last()? {
                'k' => (&s[..s.len() - 1], 1i64 << 10),
                'm' => (&s[..s.len() - 1], 1 << 20),
                'g' => (&s[..s.len() - 1], 1 << 30),
                't' => (&s[..s.len() - 1], 1 << 40),
                'b' => (&s[..s.len() - 1], 1),
                _ => (s, 1),
            };
            num.trim().parse::<f64>().ok().map(|f| (f * mult as f64) as i64)
        }
        _ => None,
    }
}

impl Service {
    /// The replicas `up` keeps: `scale`, else `deploy.replicas`, else one.
    pub fn replicas(&self) -> u32 {
        self.scale.or_else(|| self.deploy.as_ref().and_then(|d| d.replicas)).unwrap_or(1)
    }

    /// The image this service runs: `image`, else Compose v2's name for a built one
    /// (`<project>-<service>`).
    pub fn image_name(&self, project: &str) -> String {
        match &self.image {
            Some(i) if !i.is_empty() => i.clone(),
            _ => format!("{project}-{}", self.name),
        }
    }

    /// The networks it joins (none under a `network_mode`), highest priority first, then by
    /// name, as Compose v2 connects them.
    pub fn network_order(&self) -> Vec<(&String, &ServiceNetwork)> {
        if self.network_mode.is_some() {
            return Vec::new();
        }
        let mut v: Vec<_> = self.networks.iter().collect();
        v.sort_by(|a, b| b.1.priority.cmp(&a.1.priority).then(a.0.cmp(b.0)));
        v
    }
}

/// Compose v2's `ServiceHash`: the SHA-256 of the service's JSON without the keys that do not
/// change what a container runs.
pub fn config_hash(service: &Value) -> String {
    let mut v = service.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            m.remove(k);
        }
        if let Some(d) = m.get_mut("deploy").and_then(Value::as_object_mut) {
            d.insert("replicas".into(), Value::from(1));
        }
    }
    hex::encode(Sha256::digest(serde_json::to_vec(&v).unwrap_or_default()))
}

impl Project {
    /// Reads the loader's tree.
    pub fn from_loaded(l: &Loaded) -> Result<Project> {
        let bad = |what: &str, e: serde_json::Error| Error::Invalid(format!("{what}: {e}"));
        let m = &l.model;
        let mut p = Project {
            name: l.name.clone(),
            working_dir: l.working_dir.clone(),
            config_files: l.config_files.clone(),
            environment: l.environment.clone(),
            ..Default::default()
        };
        if let Some(services) = m.get("services").and_then(Value::as_object) {
            for (name, v) in services {
                let mut s: Service =
                    serde_json::from_value(v.clone()).map_err(|e| bad(&format!("services.{name}"), e))?;
                s.name = name.clone();
                s.config_hash = config_hash(v);
                if s.networks.is_empty() && s.network_mode.is_none() {
                    s.networks.insert("default".into(), ServiceNetwork::default());
                }
                s.secrets = refs(v.get("secrets")).map_err(|e| bad(&format!("services.{name}.secrets"), e))?;
                s.configs = refs(v.get("configs")).map_err(|e| bad(&format!("services.{name}.configs"), e))?;
                p.services.insert(name.clone(), s);
            }
        }
        fn section<T: for<'de> Deserialize<'de> + Default>(
            m: &Value,
            key: &str,
        ) -> std::result::Result<BTreeMap<String, T>, Error> {
            let mut out = BTreeMap::new();
            if let Some(o) = m.get(key).and_then(Value::as_object) {
                for (k, v) in o {
                    let t = if v.is_null() {
                        T::default()
                    } else {
                        serde_json::from_value(v.clone()).map_err(|e| Error::Invalid(format!("{key}.{k}: {e}")))?
                    };
                    out.insert(k.clone(), t);
                }
            }
            Ok(out)
        }
        p.networks = section(m, "networks")?;
        p.volumes = section(m, "volumes")?;
        p.secrets = section(m, "secrets")?;
        p.configs = section(m, "configs")?;
        // The implicit default network, when some service uses it.
        if p.services.values().any(|s| s.networks.contains_key("default")) && !p.networks.contains_key("default") {
            p.networks.insert("default".into(), NetworkDef::default());
        }
        for s in p.services.values() {
            for n in s.networks.keys() {
                if !p.networks.contains_key(n) {
                    return Err(Error::Invalid(format!(
                        "service {:?} refers to undefined network {n}: invalid compose project",
                        s.name
                    )));
                }
            }
            for d in s.depends_on.keys() {
                if !p.services.contains_key(d) && s.depends_on[d].required {
                    return Err(Error::Invalid(format!(
                        "service {:?} depends on undefined service {d:?}: invalid compose project",
                        s.name
                    )));
                }
            }
        }
        Ok(p)
    }

    /// The engine's name of a project network (`name:`, else `<project>_<key>`).
    pub fn network_name(&self, key: &str) -> String {
        match self.networks.get(key).and_then(|n| n.name.clone()) {
            Some(n) => n,
            None => format!("{}_{key}", self.name),
        }
    }

    /// The engine's name of a project volume (`name:`, else `<project>_<key>`).
    pub fn volume_name(&self, key: &str) -> String {
        match self.volumes.get(key).and_then(|v| v.name.clone()) {
            Some(n) => n,
            None => format!("{}_{key}", self.name),
        }
    }

    /// `services` and (unless `no_deps`) everything they depend on; every service when empty.
    pub fn select(&self, services: &[String], no_deps: bool) -> Result<Vec<String>> {
        if services.is_empty() {
            return Ok(self.services.keys().cloned().collect());
        }
        let mut out: Vec<String> = Vec::new();
        let mut todo: Vec<String> = services.to_vec();
        while let Some(s) = todo.pop() {
            let svc = self.services.get(&s).ok_or_else(|| Error::NotFound(format!("no such service: {s}")))?;
            if out.contains(&s) {
                continue;
            }
            out.push(s);
            if !no_deps {
                todo.extend(svc.depends_on.keys().filter(|d| self.services.contains_key(*d)).cloned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// How deep a service sits in the dependency graph: 0 without dependencies, else one more
    /// than its deepest dependency (services of one depth start and stop together).
    pub fn depth(&self, name: &str) -> usize {
        fn go(p: &Project, n: &str, seen: &mut Vec<String>) -> usize {
            if seen.iter().any(|s| s == n) {
                return 0; // a cycle: start_order reports it
            }
            seen.push(n.to_string());
            let d = p.services.get(n).map_or(0, |s| {
                s.depends_on
                    .keys()
                    .filter(|d| p.services.contains_key(*d))
                    .map(|d| go(p, d, seen) + 1)
                    .max()
                    .unwrap_or(0)
            });
            seen.pop();
            d
        }
        go(self, name, &mut Vec::new())
    }

    /// `names` in start order: each after everything it depends on (among `names`). A cycle
    /// is an error naming it.
    pub fn start_order(&self, names: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut visiting: Vec<String> = Vec::new();
        fn visit(
            p: &Project,
            names: &[String],
            n: &str,
            out: &mut Vec<String>,
            visiting: &mut Vec<String>,
        ) -> Result<()> {
            if out.iter().any(|o| o == n) {
                return Ok(());
            }
            if let Some(i) = visiting.iter().position(|v| v == n) {
                let mut cycle = visiting[i..].to_vec();
                cycle.push(n.to_string());
                return Err(Error::Invalid(format!("dependency cycle detected: {}", cycle.join(" -> "))));
            }
            visiting.push(n.to_string());
            if let Some(s) = p.services.get(n) {
                for d in s.depends_on.keys() {
                    if names.iter().any(|x| x == d) {
                        visit(p, names, d, out, visiting)?;
                    }
                }
            }
            visiting.pop();
            out.push(n.to_string());
            Ok(())
        }
        for n in names {
            visit(self, names, n, &mut out, &mut visiting)?;
        }
        Ok(out)
    }
}

fn refs(v: Option<&Value>) -> serde_json::Result<Vec<FileRef>> {
    let Some(Value::Array(a)) = v else { return Ok(Vec::new()) };
    a.iter().map(|v| serde_json::from_value::<FileRefOrName>(v.clone()).map(|r| r.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_shell_words() {
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_bytes(&Value::from("64m")), Some(64 << 20));
        assert_eq!(parse_bytes(&Value::from("1gb")), Some(1 << 30));
        assert_eq!(parse_bytes(&Value::from(1024)), Some(1024));
        assert_eq!(split_shell(r#"sh -c 'echo "a b"' x\ y"#), ["sh", "-c", "echo \"a b\"", "x y"]);
    }

    #[test]
    fn hash_ignores_what_does_not_change_a_container() {
        let a = serde_json::json!({"image": "x", "environment": {"A": "1"}});
        let b = serde_json::json!({"image": "x", "environment": {"A": "1"}, "scale": 3, "depends_on": {"db": {}}});
        let c = serde_json::json!({"image": "x", "environment": {"A": "2"}});
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&c));
    }

    #[test]
    fn order_follows_dependencies_and_finds_cycles() {
        let loaded = |model: Value| Loaded {
            name: "p".into(),
            working_dir: "/".into(),
            config_files: vec![],
            model,
            warnings: vec![],
            environment: BTreeMap::new(),
        };
        let p = Project::from_loaded(&loaded(serde_json::json!({"services": {
            "web": {"image": "b", "depends_on": {"db": {"condition": "service_healthy", "required": true}}},
            "db": {"image": "b"}, "cache": {"image": "b"}}})))
        .unwrap();
        let all: Vec<String> = p.services.keys().cloned().collect();
        let o = p.start_order(&all).unwrap();
        assert!(o.iter().position(|s| s == "db") < o.iter().position(|s| s == "web"));
        assert_eq!(p.select(&["web".into()], false).unwrap(), ["db", "web"]);
        assert!(p.networks.contains_key("default"));
        let p = Project::from_loaded(&loaded(serde_json::json!({"services": {
            "a": {"image": "b", "depends_on": ["b"]}, "b": {"image": "b", "depends_on": ["a"]}}})))
        .unwrap();
        let e = p.start_order(&["a".into(), "b".into()]).unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
    }
}
