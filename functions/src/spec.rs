//! What a function is: its record ([`FunctionSpec`]), the `functions.yaml` file that describes
//! several ([`load_file`]), the on-disk registry of deployed ones ([`Registry`]) and the stats a
//! running gateway publishes for `berth function ls` ([`Stats`]).
//!
//! `berth function deploy` flags and an entry of the file are the same thing: both end up as one
//! `FunctionSpec`, checked by [`FunctionSpec::validate`]. Deployed functions are one JSON file
//! each, `<root>/functions/<name>.json`, written atomically; every deploy or removal bumps
//! `<root>/functions/generation`, which a running gateway polls to pick up changes without a
//! restart (a read of a few bytes, cheaper than listing the directory).

use crate::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which side of the gateway serves a function, decided at deploy by berth's dispatch rule
/// (image platform, wasm layer media types, the entrypoint's magic bytes: see
/// `Engine::image_kind`), exactly as `berth run` of the image would decide.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A `wasi:http/proxy` component: a fresh instance per request.
    Wasm,
    /// An image listening on `$PORT`, run as berth containers scaled from zero.
    #[default]
    Native,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Wasm => "wasm",
            Kind::Native => "native",
        })
    }
}

/// Cloud Run's default number of concurrent requests one instance gets.
pub const DEFAULT_CONCURRENCY: u32 = 80;
/// How many instances a native function may run at most unless told.
pub const DEFAULT_MAX_INSTANCES: u32 = 10;
/// How long a request may take, start of an instance included, unless told.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an instance may sit idle before it is stopped, unless told.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One function: the `deploy` flags, an entry of `functions.yaml`, and the registry's record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionSpec {
    /// Its name (a container name's alphabet: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
    pub name: String,
    /// The image, as given (a reference or an id).
    pub image: String,
    /// Wasm or native; absent in a file, filled in at deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The path prefix it serves (default `/<name>`); the longest matching prefix wins.
    pub route: String,
    /// The `Host` it serves (without port); any host when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `K=V` (or `K`, from the deploying environment), as `-e`; a file may give a map.
    #[serde(deserialize_with = "de_env")]
    pub env: Vec<String>,
    /// Files of `K=V` lines, as `--env-file` (absolute once loaded; read at each start).
    pub env_file: Vec<String>,
    /// `SRC:DST[:ro]`, as `-v` (host paths absolute once loaded).
    pub volumes: Vec<String>,
    /// The network of a native function's containers (default `bridge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Memory limit in bytes (per instance); a file may say `64m`.
    #[serde(deserialize_with = "de_size", skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// CPUs per instance (`--cpus`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Wall-clock limit of a request (a cold start included): 504 past it.
    #[serde(with = "go_duration")]
    pub timeout: Duration,
    /// Concurrent requests one native instance gets before another is started.
    pub concurrency: u32,
    /// Native instances kept running even when idle.
    pub min_instances: u32,
    /// Native instances at most.
    pub max_instances: u32,
    /// How long a native instance may be idle before it is stopped (down to `min_instances`).
    #[serde(with = "go_duration")]
    pub idle_timeout: Duration,
    /// `HOST[:PORT]` a wasm function may send `wasi:http` requests to (none by default).
    pub allow_outbound: Vec<String>,
    /// When it was deployed (RFC 3339), set by the registry.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deployed: String,
}

impl Default for FunctionSpec {
    fn default() -> Self {
        FunctionSpec {
            name: String::new(),
            image: String::new(),
            kind: None,
            route: String::new(),
            host: None,
            env: Vec::new(),
            env_file: Vec::new(),
            volumes: Vec::new(),
            network: None,
            memory: None,
            cpus: None,
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            min_instances: 0,
            max_instances: DEFAULT_MAX_INSTANCES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            allow_outbound: Vec::new(),
            deployed: String::new(),
        }
    }
}

/// The field names of [`FunctionSpec`] a file may use, in the order the docs list them.
const FIELDS: &[&str] = &[
    "name",
    "image",
    "route",
    "host",
    "env",
    "env_file",
    "volumes",
    "network",
    "memory",
    "cpus",
    "timeout",
    "concurrency",
    "min_instances",
    "max_instances",
    "idle_timeout",
    "allow_outbound",
];

impl FunctionSpec {
    /// Checks what needs no engine, and fills in the defaults that depend on other fields
    /// (the route).
    pub fn validate(&mut self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if !valid_name(&self.name) {
            return bad(format!("invalid function name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", self.name));
        }
        if self.image.trim().is_empty() {
            return bad(format!("function {:?}: no image", self.name));
        }
        if self.route.is_empty() {
            self.route = format!("/{}", self.name);
        }
        self.route = normalize_route(&self.route).ok_or_else(|| {
            Error::Invalid(format!("function {:?}: route {:?} must start with /", self.name, self.route))
        })?;
        if let Some(h) = &self.host {
            let h = h.trim().to_ascii_lowercase();
            if h.is_empty() || h.contains(['/', ' ', ':']) {
                return bad(format!("function {:?}: invalid host {h:?} (a name, without port)", self.name));
            }
            self.host = Some(h);
        }
        if self.concurrency == 0 {
            return bad(format!("function {:?}: concurrency must be at least 1", self.name));
        }
        if self.max_instances == 0 || self.min_instances > self.max_instances {
            return bad(format!(
                "function {:?}: need 0 <= min-instances ({}) <= max-instances ({}), max-instances >= 1",
                self.name, self.min_instances, self.max_instances
            ));
        }
        if self.timeout.is_zero() || self.idle_timeout.is_zero() {
            return bad(format!("function {:?}: timeouts must be positive", self.name));
        }
        if self.cpus.is_some_and(|c| !(0.01..=1024.0).contains(&c)) {
            return bad(format!("function {:?}: cpus must be between 0.01 and 1024", self.name));
        }
        if self.memory.is_some_and(|m| m < 6 * 1024 * 1024) {
            return bad(format!("function {:?}: minimum memory limit allowed is 6MB", self.name));
        }
        for v in &self.volumes {
            if !v.contains(':') {
                return bad(format!("function {:?}: volume {v:?} is not SRC:DST[:ro]", self.name));
            }
        }
        for a in &self.allow_outbound {
            if a.is_empty() || a.contains('/') {
                return bad(format!("function {:?}: allow-outbound {a:?} is not HOST[:PORT]", self.name));
            }
        }
        Ok(())
    }

    /// The environment a function's instances get: its env files' lines, then `env` (later
    /// wins, as `-e` after `--env-file` does). `K` alone takes the value from this process.
    pub fn environment(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::Invalid(format!("function {:?}: env file {f}: {e}", self.name)))?;
            out.extend(
                text.lines().map(str::trim_start).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from),
            );
        }
        out.extend(self.env.iter().cloned());
        Ok(out
            .into_iter()
            .filter_map(|kv| match kv.split_once('=') {
                Some(_) => Some(kv),
                None => std::env::var(&kv).ok().map(|v| format!("{kv}={v}")),
            })
            .collect())
    }

    /// Host paths of volumes and env files made absolute against `base` (the current
    /// directory for `deploy`, the file's directory for `functions.yaml`).
    pub fn absolutize(&mut self, base: &Path) {
        for v in &mut self.volumes {
            *v = berth_engine::container::volume::absolute_bind(v, base);
        }
        for f in &mut self.env_file {
            if !f.starts_with('/') {
                *f = base.join(&*f).to_string_lossy().into_owned();
            }
        }
    }

    /// The key routes are unique by: host (empty for any) and path.
    pub fn route_key(&self) -> (String, String) {
        (self.host.clone().unwrap_or_default(), self.route.clone())
    }
}

fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && s.len() <= 128
}

/// `/a//b/` → `/a/b`; `None` when it does not start with `/`.
pub fn normalize_route(r: &str) -> Option<String> {
    if !r.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = r.split('/').filter(|p| !p.is_empty()).collect();
    Some(format!("/{}", parts.join("/")))
}

/// Refuses two functions on the same host and path.
fn check_routes<'a>(specs: impl IntoIterator<Item = &'a FunctionSpec>) -> Result<()> {
    let mut seen: BTreeMap<(String, String), &str> = BTreeMap::new();
    for s in specs {
        if let Some(other) = seen.insert(s.route_key(), &s.name) {
            return Err(Error::Conflict(format!(
                "route {}{} of function {:?} is already taken by function {other:?}",
                s.host.as_deref().unwrap_or(""),
                s.route,
                s.name
            )));
        }
    }
    Ok(())
}

// ---- field formats -------------------------------------------------------------------------

/// Durations as Go and Docker write them (`30s`, `1m30s`, `500ms`); a bare number is seconds.
mod go_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum V {
            N(f64),
            S(String),
        }
        match V::deserialize(d)? {
            V::N(n) if n >= 0.0 => Ok(Duration::from_secs_f64(n)),
            V::S(s) => parse(&s).map_err(serde::de::Error::custom),
            V::N(n) => Err(serde::de::Error::custom(format!("negative duration {n}"))),
        }
    }
}

/// Parses a Go duration (`30s`, `1m`, `250ms`); negative ones are refused.
pub fn parse(s: &str) -> std::result::Result<Duration, String> {
    let ns = berth_oci::time::parse_go_duration(s)?;
    u64::try_from(ns).map(Duration::from_nanos).map_err(|_| format!("negative duration {s:?}"))
}

/// A duration the way Go prints it, without the zero parts (`1m30s`, `500ms`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 {
        out += &format!("{s}s");
    }
    out
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        N(i64),
        S(String),
    }
    match Option::<V>::deserialize(d)? {
        None => Ok(None),
        Some(V::N(n)) => Ok(Some(n)),
        Some(V::S(s)) => berth_engine::container::volume::parse_size(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid size: {s:?}"))),
    }
}

fn de_env<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        List(Vec<String>),
        Map(BTreeMap<String, serde_json::Value>),
    }
    Ok(match V::deserialize(d)? {
        V::List(l) => l,
        V::Map(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                serde_json::Value::Null => k,
                v => format!("{k}={v}"),
            })
            .collect(),
    })
}

// ---- functions.yaml ------------------------------------------------------------------------

/// A YAML node with the line it starts on (1-based), for errors that point into the file.
enum Node {
    Scalar(String, bool, usize),
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, _, l) | Node::Seq(_, l) | Node::Map(_, l) => *l,
        }
    }

    /// Plain scalars are typed as YAML 1.2's core schema says (`30` a number, `true` a
    /// boolean, `~` null); quoted ones stay strings.
    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Scalar(s, true, _) => Value::String(s.clone()),
            Node::Scalar(s, false, _) => match yaml_rust2::Yaml::from_str(s) {
                yaml_rust2::Yaml::Integer(i) => i.into(),
                yaml_rust2::Yaml::Real(r) => r.parse::<f64>().map(Value::from).unwrap_or(Value::String(s.clone())),
                yaml_rust2::Yaml::Boolean(b) => b.into(),
                yaml_rust2::Yaml::Null => Value::Null,
                _ => Value::String(s.clone()),
            },
            Node::Seq(items, _) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(entries, _) => Value::Object(entries.iter().map(|(k, v)| (k.key(), v.to_json())).collect()),
        }
    }

    fn key(&self) -> String {
        match self {
            Node::Scalar(s, _, _) => s.clone(),
            _ => String::from("?"),
        }
    }
}

/// Builds [`Node`]s from the parser's events (anchors and aliases are not part of the format).
#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    done: Option<Node>,
    alias_line: Option<usize>,
}

impl Builder {
    fn push(&mut self, n: Node) {
        match self.stack.last_mut() {
            Some(Node::Seq(items, _)) => items.push(n),
            Some(Node::Map(entries, _)) => match entries.last_mut() {
                Some((_, v @ Node::Scalar(_, _, 0))) => *v = n,
                _ => entries.push((n, Node::Scalar(String::new(), false, 0))),
            },
            _ => self.done = Some(n),
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        let line = mark.line().max(1);
        match ev {
            Event::Scalar(s, style, _, _) => {
                self.push(Node::Scalar(s, style != yaml_rust2::scanner::TScalarStyle::Plain, line))
            }
            Event::SequenceStart(..) => self.stack.push(Node::Seq(Vec::new(), line)),
            Event::MappingStart(..) => self.stack.push(Node::Map(Vec::new(), line)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(n) = self.stack.pop() {
                    self.push(n)
                }
            }
            Event::Alias(_) => {
                self.alias_line.get_or_insert(line);
                self.push(Node::Scalar(String::new(), false, line))
            }
            _ => {}
        }
    }
}

/// Reads a `functions.yaml` (format: docs/functions.md): a `functions:` list of entries with
/// the `deploy` flags' names. Errors name the file, the line and the field. Paths in it are
/// relative to the file's directory. Checks each entry ([`FunctionSpec::validate`]) and that
/// no two share a name or a route.
pub fn load_file(path: &Path) -> Result<Vec<FunctionSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("reading {}: {e}", path.display())))?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| ".".into());
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    parse_file(&text, &path.display().to_string(), &base)
}

fn parse_file(text: &str, file: &str, base: &Path) -> Result<Vec<FunctionSpec>> {
    let at = |line: usize, m: String| Error::Invalid(format!("{file}:{line}: {m}"));
    let mut b = Builder::default();
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut b, false)
        .map_err(|e| at(e.marker().line(), format!("invalid YAML: {}", e.info())))?;
    if let Some(l) = b.alias_line {
        return Err(at(l, "YAML aliases are not supported".into()));
    }
    let Some(Node::Map(top, _)) = b.done else {
        return Err(at(1, "expected a mapping with a `functions:` list".into()));
    };
    let mut specs = Vec::new();
    for (k, v) in &top {
        match k.key().as_str() {
            "version" => {}
            "functions" => {
                let Node::Seq(items, _) = v else {
                    return Err(at(v.line(), "`functions` must be a list".into()));
                };
                for item in items {
                    specs.push(entry(item, &at, base)?);
                }
            }
            other => return Err(at(k.line(), format!("unknown key {other:?} (expected `functions`)"))),
        }
    }
    let mut names = BTreeMap::new();
    for s in &specs {
        if names.insert(s.name.clone(), ()).is_some() {
            return Err(Error::Conflict(format!("{file}: function {:?} is defined twice", s.name)));
        }
    }
    check_routes(&specs).map_err(|e| Error::Conflict(format!("{file}: {e}")))?;
    Ok(specs)
}

/// One entry of the `functions:` list: each field checked on its own so an error names it.
fn entry(item: &Node, at: &dyn Fn(usize, String) -> Error, base: &Path) -> Result<FunctionSpec> {
    let Node::Map(fields, line) = item else {
        return Err(at(item.line(), "each function must be a mapping (name:, image:, ...)".into()));
    };
    for (k, v) in fields {
        let key = k.key();
        if key == "kind" || !FIELDS.contains(&key.as_str()) {
            return Err(at(k.line(), format!("unknown field {key:?}, expected one of: {}", FIELDS.join(", "))));
        }
        let one = serde_json::json!({ key.clone(): v.to_json() });
        if let Err(e) = serde_json::from_value::<FunctionSpec>(one) {
            return Err(at(v.line().max(k.line()), format!("field {key:?}: {e}")));
        }
    }
    let mut spec: FunctionSpec = serde_json::from_value(item.to_json()).map_err(|e| at(*line, e.to_string()))?;
    spec.validate().map_err(|e| at(*line, e.to_string()))?;
    spec.absolutize(base);
    Ok(spec)
}

// ---- the registry --------------------------------------------------------------------------

/// The deployed functions of a state root: `<root>/functions/<name>.json`, the generation
/// counter, the per-function logs and the gateway's stats file.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry of the state root `root` (nothing is created until a deploy).
    pub fn new(root: &Path) -> Self {
        Registry { dir: root.join("functions") }
    }

    /// `<root>/functions`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// `<root>/functions/logs/<name>.log`: the guest's output and one access line a request.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// `<root>/functions/stats.json`, written by a running gateway (see [`Stats`]).
    pub fn stats_path(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// `<root>/functions/generation`: a number bumped by every deploy and removal.
    pub fn generation_path(&self) -> PathBuf {
        self.dir.join("generation")
    }

    /// The current generation (0 before the first deploy). A gateway reloads [`Registry::list`]
    /// when it changes.
    pub fn generation(&self) -> u64 {
        std::fs::read_to_string(self.generation_path()).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    fn io(&self, p: &Path, e: std::io::Error) -> Error {
        Error::Other(format!("{}: {e}", p.display()))
    }

    /// Holds `<root>/functions/.lock` for a change (deploys of two CLIs do not interleave).
    fn lock(&self) -> Result<std::fs::File> {
        std::fs::create_dir_all(self.dir.join("logs")).map_err(|e| self.io(&self.dir, e))?;
        let p = self.dir.join(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| self.io(&p, e))?;
        fs4::fs_std::FileExt::lock_exclusive(&f).map_err(|e| self.io(&p, e))?;
        Ok(f)
    }

    fn write(&self, p: &Path, bytes: &[u8]) -> Result<()> {
        berth_sys::fs::write_atomic(p, bytes, 0o600, berth_sys::fs::Durability::Synced, None).map_err(|e| self.io(p, e))
    }

    fn bump(&self) -> Result<()> {
        let g = self.generation() + 1;
        self.write(&self.generation_path(), format!("{g}\n").as_bytes())
    }

    /// Every deployed function, by name. Unreadable records are skipped with a warning.
    pub fn list(&self) -> Result<Vec<FunctionSpec>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") && p.file_name() != Some("stats.json".as_ref()) {
                match std::fs::read(&p).map(|b| serde_json::from_slice::<FunctionSpec>(&b)) {
                    Ok(Ok(s)) => out.push(s),
                    Ok(Err(err)) => tracing::warn!("{}: {err}", p.display()),
                    Err(err) => tracing::warn!("{}: {err}", p.display()),
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One function by name.
    pub fn get(&self, name: &str) -> Result<FunctionSpec> {
        if !valid_name(name) {
            return Err(Error::NotFound(format!("No such function: {name}")));
        }
        let p = self.record(name);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Other(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(format!("No such function: {name}")))
            }
            Err(e) => Err(self.io(&p, e)),
        }
    }

    /// Records `spec` (validated, its kind decided), replacing a function of the same name:
    /// a deploy of an existing name is an update, as `gcloud run deploy` is. Another
    /// function's route on the same host is a conflict.
    pub fn put(&self, spec: &FunctionSpec) -> Result<()> {
        let _lock = self.lock()?;
        let others: Vec<FunctionSpec> = self.list()?.into_iter().filter(|s| s.name != spec.name).collect();
        check_routes(others.iter().chain(std::iter::once(spec)))?;
        let mut spec = spec.clone();
        if spec.deployed.is_empty() {
            spec.deployed = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        }
        let body = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Other(e.to_string()))?;
        self.write(&self.record(&spec.name), &body)?;
        self.bump()
    }

    /// Removes a function's record and its log (as `docker rm` removes a container's log).
    pub fn remove(&self, name: &str) -> Result<FunctionSpec> {
        let _lock = self.lock()?;
        let spec = self.get(name)?;
        let p = self.record(name);
        std::fs::remove_file(&p).map_err(|e| self.io(&p, e))?;
        let _ = std::fs::remove_file(self.log_path(name));
        self.bump()?;
        Ok(spec)
    }
}

// ---- stats ---------------------------------------------------------------------------------

/// What a running gateway publishes about each function, rewritten (atomically) about once a
/// second to `<root>/functions/stats.json`; `berth function ls` and `inspect` read it. Absent
/// or stale (its `pid` not alive) means no gateway runs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Stats {
    /// The gateway's process id.
    pub pid: u32,
    /// The address it listens on.
    pub addr: String,
    /// When it wrote this (RFC 3339).
    pub updated: String,
    /// Per function name.
    pub functions: BTreeMap<String, FunctionStats>,
}

/// One function's numbers since the gateway started.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct FunctionStats {
    /// Instances now (native: running containers; wasm: requests in flight).
    pub instances: usize,
    /// Requests served (any status).
    pub requests: u64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Cold starts (native: containers started; wasm: 0, every instance is fresh).
    pub cold_starts: u64,
}

impl Stats {
    /// The stats of a live gateway, if one runs for `reg`'s root.
    pub fn read(reg: &Registry) -> Option<Stats> {
        let s: Stats = serde_json::from_slice(&std::fs::read(reg.stats_path()).ok()?).ok()?;
        Path::new(&format!("/proc/{}", s.pid)).exists().then_some(s)
    }

    /// Writes the file atomically.
    pub fn write(&self, reg: &Registry) -> Result<()> {
        std::fs::create_dir_all(&reg.dir).map_err(|e| reg.io(&reg.dir, e))?;
        let body = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        berth_sys::fs::write_atomic(&reg.stats_path(), &body, 0o600, berth_sys::fs::Durability::Ordered, None)
            .map_err(|e| reg.io(&reg.stats_path(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<FunctionSpec>> {
        parse_file(text, "f.yaml", Path::new("/base"))
    }

    #[test]
    fn file_round_trip() {
        let s = parse(
            "functions:\n  - name: hello\n    image: hello:1\n    route: /hi/\n    env: {A: \"1\", B: x}\n    memory: 64m\n    timeout: 5s\n    idle_timeout: 2m\n    max_instances: 3\n    volumes: [\"./data:/data:ro\"]\n    env_file: [e.env]\n  - name: two\n    image: two\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].route, "/hi");
        assert_eq!(s[0].env, vec!["A=1", "B=x"]);
        assert_eq!(s[0].memory, Some(64 << 20));
        assert_eq!(s[0].timeout, Duration::from_secs(5));
        assert_eq!(s[0].idle_timeout, Duration::from_secs(120));
        assert_eq!(s[0].max_instances, 3);
        assert_eq!(s[0].volumes, vec!["/base/data:/data:ro"]);
        assert_eq!(s[0].env_file, vec!["/base/e.env"]);
        assert_eq!(s[1].route, "/two");
        assert_eq!(s[1].concurrency, DEFAULT_CONCURRENCY);
        let json = serde_json::to_string(&s[0]).unwrap();
        assert!(json.contains("\"timeout\":\"5s\"") && json.contains("\"idle_timeout\":\"2m\""), "{json}");
        assert_eq!(serde_json::from_str::<FunctionSpec>(&json).unwrap(), s[0]);
    }

    #[test]
    fn file_errors_name_line_and_field() {
        let e = parse("functions:\n  - name: a\n    image: b\n    timout: 3s\n").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml:4: unknown field \"timout\""), "{e}");
        let e = parse("functions:\n  - name: a\n    image: b\n    concurrency: many\n").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml:4: field \"concurrency\""), "{e}");
        let e = parse("functions:\n  - name: a\n    image: [b\n").unwrap_err().to_string();
        assert!(e.contains("invalid YAML"), "{e}");
        let e = parse("functions:\n  - name: a\n    image: b\n    timeout: soon\n").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml:4: field \"timeout\""), "{e}");
        let e = parse("services: {}\n").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml:1: unknown key \"services\""), "{e}");
        let e = parse("functions:\n  - name: a\n    image: b\n  - name: c\n    image: d\n    route: /a\n").unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        let e =
            parse("functions:\n  - name: a\n    image: b\n    min_instances: 3\n    max_instances: 2\n").unwrap_err();
        assert!(e.to_string().starts_with("f.yaml:2: "), "{e}");
    }

    #[test]
    fn registry_conflicts_and_generation() {
        let d = tempfile::tempdir().unwrap();
        let r = Registry::new(d.path());
        assert_eq!(r.generation(), 0);
        let mut a = FunctionSpec { name: "a".into(), image: "x".into(), ..Default::default() };
        a.validate().unwrap();
        r.put(&a).unwrap();
        assert_eq!(r.generation(), 1);
        let mut b = FunctionSpec { name: "b".into(), image: "x".into(), route: "/a/".into(), ..Default::default() };
        b.validate().unwrap();
        assert!(matches!(r.put(&b), Err(Error::Conflict(_))));
        b.host = Some("example.com".into());
        r.put(&b).unwrap();
        assert_eq!(r.list().unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(!r.get("a").unwrap().deployed.is_empty());
        r.remove("a").unwrap();
        assert!(matches!(r.get("a"), Err(Error::NotFound(_))));
        assert_eq!(r.generation(), 3);
    }
}
