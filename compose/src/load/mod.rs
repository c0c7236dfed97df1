//! From compose files on disk to one resolved model (the tree `compose config` prints).
//!
//! compose-go's pipeline, written out step by step over a `serde_json::Value` tree:
//!
//! 1. find the files (`-f`, `COMPOSE_FILE`, else `compose.yaml` … and its `.override` file
//!    in the working directory or the nearest parent that has one);
//! 2. the interpolation environment: the `.env` file (or `--env-file`s), with the process
//!    environment winning;
//! 3. each file: YAML ([`yaml`], anchors and merge keys applied, lines kept), interpolated
//!    ([`interp`]), its `include`s loaded as projects of their own and added, every service
//!    and resource brought to long syntax ([`normalize`]) with relative paths resolved, and
//!    `extends` followed (in the file or another one) with the merge rules;
//! 4. the files merged in order ([`merge`]);
//! 5. the project: its name, profiles, the implicit `default` network, `<project>_<name>`
//!    resource names, `env_file`s read into `environment`, unused resources dropped;
//! 6. the checks that need all of it ([`validate`]).
//!
//! Every error names the file, the line and the dotted key (`compose.yaml:7:
//! services.web.ports must be a list`).
//!
//! Why by hand over a tree: the `compose_spec` crate types the spec but has no interpolation,
//! merging, `extends` or positions, reshapes fields (`networks` and `network_mode` as one
//! enum) away from what `config` must print, and sits on the deprecated `serde_yaml`; the
//! pipeline needs the tree between steps anyway, as compose-go keeps a `map[string]any`.
//! YAML comes from `yaml-rust2`'s event parser (maintained; every event has a position).

mod interp;
mod keys;
mod merge;
mod normalize;
pub mod print;
mod validate;
mod yaml;

use crate::{Error, Result};
use normalize::{Bad, Ctx};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What the user gave: the global options of `berth compose` and the environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` (empty: `COMPOSE_FILE`, else discovery).
    pub files: Vec<PathBuf>,
    /// `-p`; else `COMPOSE_PROJECT_NAME`; else the top-level `name:`; else the directory's name.
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    /// `--profile`; `COMPOSE_PROFILES` adds to them.
    pub profiles: Vec<String>,
    /// `--env-file`; default `<project dir>/.env`.
    pub env_files: Vec<PathBuf>,
    /// The process environment (tests pass their own).
    pub environ: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

/// The resolved project.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub working_dir: PathBuf,
    /// Absolute.
    pub config_files: Vec<PathBuf>,
    /// Exactly the shape Docker Compose v2's `docker compose config --format json` prints.
    pub model: Value,
    /// What Compose warns about (unknown keys, unset variables, ...).
    pub warnings: Vec<String>,
    /// The resolved interpolation environment (`.env` + process).
    pub environment: BTreeMap<String, String>,
}

/// Compose v2's discovery names, in its order of preference.
pub const FILE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
const OVERRIDE_NAMES: &[&str] =
    &["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"];

/// Loads the project of `opts`, with the services of the active profiles.
pub fn load(opts: &LoadOptions) -> Result<Loaded> {
    load_for(opts, &[])
}

/// Loads the project with the `services` named on a command line enabled too, whatever
/// their profiles, with the services they depend on (as `docker compose up SERVICE` does).
pub fn load_for(opts: &LoadOptions, services: &[String]) -> Result<Loaded> {
    Loader::new(opts)?.run(opts, services, false)
}

/// `config --no-interpolate`: the same model without `${}` substituted.
pub fn load_uninterpolated(opts: &LoadOptions) -> Result<Loaded> {
    Loader::new(opts)?.run(opts, &[], true)
}

pub use interp::Variable;

/// The variables the compose files read, by name, with what their forms say (required, a
/// default, an alternative): `config --variables`.
pub fn variables(opts: &LoadOptions) -> Result<BTreeMap<String, Variable>> {
    fn walk(v: &Value, out: &mut BTreeMap<String, Variable>) {
        match v {
            Value::String(s) => interp::variables(s, out),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let loaded = load_uninterpolated(opts)?;
    let mut out = BTreeMap::new();
    walk(&loaded.model, &mut out);
    Ok(out)
}

/// The services of a loaded model, each after the services it depends on (ties by name), as
/// `config --services` lists them and `up` starts them.
pub fn dependency_order(model: &Value) -> Vec<String> {
    let empty = Map::new();
    let services = model["services"].as_object().unwrap_or(&empty);
    let mut out: Vec<String> = Vec::new();
    fn visit(n: &str, services: &Map<String, Value>, out: &mut Vec<String>, path: &mut Vec<String>) {
        if out.iter().any(|o| o == n) || path.iter().any(|p| p == n) {
            return;
        }
        path.push(n.to_string());
        if let Some(d) = services.get(n).and_then(|s| s.get("depends_on")).and_then(Value::as_object) {
            for k in d.keys() {
                if services.contains_key(k) {
                    visit(k, services, out, path);
                }
            }
        }
        path.pop();
        out.push(n.to_string());
    }
    for n in services.keys() {
        visit(n, services, &mut out, &mut Vec::new());
    }
    out
}

/// A compose duration (`1m30s`, `500ms`, `10`) in nanoseconds, as the loader reads them.
pub fn parse_duration(s: &str) -> Option<i128> {
    normalize::parse_duration(s)
}

/// Project names as Compose v2 accepts them from `-p` (and makes from a directory's name).
pub fn normalize_project_name(s: &str) -> String {
    let s: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

/// Finds the compose files of `opts` (absolute), as Compose v2 does.
pub fn config_files(opts: &LoadOptions) -> Result<Vec<PathBuf>> {
    let abs = |p: &Path| normalize::clean(&opts.cwd.join(p));
    if !opts.files.is_empty() {
        // `-f -` is the standard input, kept as `-`.
        return Ok(opts.files.iter().map(|f| if f.as_os_str() == "-" { f.clone() } else { abs(f) }).collect());
    }
    let mut dir = opts.project_directory.as_deref().map(abs).unwrap_or_else(|| opts.cwd.clone());
    // `COMPOSE_FILE` and `COMPOSE_PATH_SEPARATOR` from the process, else from the `.env` of
    // the working directory, as Compose v2 reads them before it knows the files.
    let mut vars = opts.environ.clone();
    if !vars.contains_key("COMPOSE_FILE") {
        if let Ok(text) = std::fs::read_to_string(dir.join(".env")) {
            if let Ok(dotenv) = interp::parse_dotenv(&text, &|k| opts.environ.get(k).cloned()) {
                for (k, v) in dotenv {
                    vars.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(cf) = vars.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = vars.get("COMPOSE_PATH_SEPARATOR").filter(|s| !s.is_empty()).map_or(":", String::as_str);
        return Ok(cf.split(sep).filter(|s| !s.is_empty()).map(|f| normalize::clean(&dir.join(f))).collect());
    }
    loop {
        if let Some(f) = FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
            let mut files = vec![f];
            if let Some(o) = OVERRIDE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
                files.push(o);
            }
            return Ok(files);
        }
        if !dir.pop() {
            return Err(Error::NotFound("no configuration file provided: not found".into()));
        }
    }
}

/// A file read so far and the lines of its keys, for error messages.
struct Source {
    file: PathBuf,
    lines: HashMap<String, usize>,
}

struct Loader {
    files: Vec<PathBuf>,
    project_dir: PathBuf,
    env: BTreeMap<String, String>,
    warnings: Vec<String>,
    sources: Vec<Source>,
    no_interpolate: bool,
    /// The standard input's text, once read (`-f -`).
    stdin: Option<String>,
}

fn invalid(msg: String) -> Error {
    Error::Invalid(msg)
}

/// Reads an env file (`.env`, `--env-file`, a service's `env_file`) into `(key, value)`s.
fn read_env_file(path: &Path, outer: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("env file {} not found: {}", path.display(), e.to_string().to_lowercase())))?;
    interp::parse_dotenv(&text, outer).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

impl Loader {
    fn new(opts: &LoadOptions) -> Result<Loader> {
        let files = config_files(opts)?;
        for f in &files {
            if !f.is_file() && f.as_os_str() != "-" {
                return Err(Error::NotFound(format!("open {}: no such file or directory", f.display())));
            }
        }
        let project_dir = match &opts.project_directory {
            Some(d) => normalize::clean(&opts.cwd.join(d)),
            None if files[0].as_os_str() == "-" => opts.cwd.clone(),
            None => files[0].parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let env = environment(&project_dir, opts)?;
        Ok(Loader {
            files,
            project_dir,
            env,
            warnings: Vec::new(),
            sources: Vec::new(),
            no_interpolate: false,
            stdin: None,
        })
    }

    fn run(mut self, opts: &LoadOptions, named: &[String], no_interp: bool) -> Result<Loaded> {
        self.no_interpolate = no_interp;
        if let Some(p) = &opts.project_name {
            if normalize_project_name(p) != *p || p.is_empty() {
                return Err(invalid(format!(
                    "invalid project name {p:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
                )));
            }
            self.env.insert("COMPOSE_PROJECT_NAME".into(), p.clone());
        }
        // The name is known before the files load, so `${COMPOSE_PROJECT_NAME}` in them is it.
        let name = match opts.project_name.clone().or_else(|| {
            self.env.get("COMPOSE_PROJECT_NAME").filter(|s| !s.is_empty()).map(|s| normalize_project_name(s))
        }) {
            Some(n) => n,
            None => match self.name_in_files() {
                Some(n) => n,
                None => normalize_project_name(
                    &self.project_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                ),
            },
        };
        if name.is_empty() {
            return Err(invalid("project name must not be empty: give one with -p or `name:`".into()));
        }
        self.env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());
        let mut model = json!({});
        for f in self.files.clone() {
            let base = self.project_dir.clone();
            let m = self.load_file(&f, &base, &mut Vec::new())?;
            merge::merge(&mut model, m, "");
        }
        if model.as_object().is_some_and(Map::is_empty) {
            return Err(invalid("empty compose file".into()));
        }
        let model_obj = model.as_object_mut().expect("the model is a mapping");
        model_obj.insert("name".into(), Value::String(name.clone()));
        model_obj.entry("services").or_insert_with(|| json!({}));
        let profiles = self.profiles(opts);
        let disabled = self.apply_profiles(&mut model, &profiles, named)?;
        implicit_networks(&mut model);
        implicit_dependencies(&mut model);
        self.env_files(&mut model)?;
        drop_empty(&mut model);
        // Uninterpolated, the model is not a project yet: Compose checks nothing across it.
        if !self.no_interpolate {
            if let Err(b) = validate::validate(&mut model, &disabled, &mut self.warnings) {
                return Err(self.located(None, b));
            }
        }
        drop_unused(&mut model);
        name_resources(&mut model, &name);
        Ok(Loaded {
            name,
            working_dir: self.project_dir.clone(),
            config_files: self.files.clone(),
            model,
            warnings: self.warnings,
            environment: self.env,
        })
    }

    /// The last top-level `name:` of the compose files, interpolated and normalised, as
    /// compose-go reads it before loading them (a file that does not parse gives none here and
    /// its error later).
    fn name_in_files(&mut self) -> Option<String> {
        let mut name = None;
        for f in self.files.clone() {
            let Ok(text) = self.text(&f) else { continue };
            let Ok(docs) = yaml::parse_all(&text) else { continue };
            for n in docs.iter().filter_map(|d| d.value.get("name").and_then(Value::as_str)) {
                let env = &self.env;
                let n = interp::substitute(n, &|k: &str| env.get(k).cloned(), &mut Vec::new()).ok()?;
                let n = normalize_project_name(&n);
                if !n.is_empty() {
                    name = Some(n);
                }
            }
        }
        name
    }

    /// A compose file's text; the standard input (`-`) is read once and kept.
    fn text(&mut self, path: &Path) -> std::io::Result<String> {
        if path.as_os_str() != "-" {
            return std::fs::read_to_string(path);
        }
        if self.stdin.is_none() {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)?;
            self.stdin = Some(t);
        }
        Ok(self.stdin.clone().unwrap_or_default())
    }

    fn profiles(&self, opts: &LoadOptions) -> BTreeSet<String> {
        let mut p: BTreeSet<String> = opts.profiles.iter().cloned().collect();
        if let Some(env) = self.env.get("COMPOSE_PROFILES") {
            p.extend(env.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
        }
        p
    }

    /// The error `b` placed at its file and line: in source `src` when given, else in the
    /// file whose lines know the deepest part of the key's path (the last such file: an
    /// override's line before the base's).
    fn located(&self, src: Option<usize>, b: Bad) -> Error {
        let find = |s: &Source| -> Option<(usize, usize)> {
            let mut p = b.path.as_str();
            loop {
                if let Some(l) = s.lines.get(p) {
                    return Some((p.matches('.').count() + 1, *l));
                }
                p = p.rsplit_once('.')?.0;
            }
        };
        let hit = match src {
            Some(i) => self.sources.get(i).and_then(|s| find(s).map(|(_, l)| (s, l))),
            None => self
                .sources
                .iter()
                .filter_map(|s| find(s).map(|(d, l)| (d, s, l)))
                .max_by_key(|(d, _, _)| *d)
                .map(|(_, s, l)| (s, l)),
        };
        // The key is said once: in the message, or before it.
        let msg =
            if b.msg.contains(&b.path) || b.path.is_empty() { b.msg.clone() } else { format!("{}: {}", b.path, b.msg) };
        match hit {
            Some((s, l)) => invalid(format!("{}:{l}: {msg}", s.file.display())),
            None => match src.and_then(|i| self.sources.get(i)) {
                Some(s) => invalid(format!("{}: {msg}", s.file.display())),
                None => invalid(msg),
            },
        }
    }

    /// Reads, parses and interpolates one file; the index of its [`Source`] and its tree.
    fn read(&mut self, path: &Path, env: &BTreeMap<String, String>) -> Result<(usize, Value)> {
        let text =
            self.text(path).map_err(|e| invalid(format!("{}: {}", path.display(), e.to_string().to_lowercase())))?;
        let docs = yaml::parse_all(&text).map_err(|e| {
            let (line, msg) = e.strip_prefix("line ").and_then(|r| r.split_once(": ")).unwrap_or(("?", &e));
            invalid(format!("{}:{line}: yaml: {msg}", path.display()))
        })?;
        // Several documents in one file merge in order, as compose-go merges them.
        let mut value = Value::Null;
        let mut lines = HashMap::new();
        for doc in docs {
            lines.extend(doc.lines);
            match (&mut value, doc.value) {
                (Value::Null, v) => value = v,
                (_, Value::Null) => {}
                (_, v) => merge::merge(&mut value, v, ""),
            }
        }
        self.sources.push(Source { file: path.to_path_buf(), lines });
        let idx = self.sources.len() - 1;
        if value.is_null() {
            value = json!({});
        }
        if !value.is_object() {
            return Err(invalid(format!("{}: top-level object must be a mapping", path.display())));
        }
        if !self.no_interpolate {
            let mut unset = Vec::new();
            interp::interpolate_tree(&mut value, "", env, &mut unset)
                .map_err(|(p, msg)| self.located(Some(idx), Bad { path: p, msg }))?;
            for v in unset {
                let w = format!("The {v:?} variable is not set. Defaulting to a blank string.");
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
        }
        Ok((idx, value))
    }

    /// One file, normalised, its includes added and its services' `extends` followed.
    /// `chain` holds the files being loaded (include/extends cycles).
    fn load_file(&mut self, path: &Path, base: &Path, chain: &mut Vec<PathBuf>) -> Result<Value> {
        let env = self.env.clone();
        self.load_file_with(path, base, &env, chain)
    }

    fn load_file_with(
        &mut self,
        path: &Path,
        base: &Path,
        env: &BTreeMap<String, String>,
        chain: &mut Vec<PathBuf>,
    ) -> Result<Value> {
        if chain.iter().any(|c| c == path) {
            return Err(invalid(format!(
                "{}: include or extends cycle: {}",
                path.display(),
                chain
                    .iter()
                    .chain(std::iter::once(&path.to_path_buf()))
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )));
        }
        chain.push(path.to_path_buf());
        let (idx, mut value) = self.read(path, env)?;
        let m = value.as_object_mut().expect("checked by read");
        for k in m.keys().cloned().collect::<Vec<_>>() {
            if k == "version" {
                self.warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    path.display()
                ));
                m.remove(&k);
            } else if !(keys::TOP_KEYS.contains(&k.as_str()) || k == "include" || k.starts_with("x-")) {
                self.warnings.push(format!("{}: unknown top-level key {k:?} ignored", path.display()));
                m.remove(&k);
            }
        }
        let include = m.remove("include");
        let mut warnings = std::mem::take(&mut self.warnings);
        let r = (|| -> Result<(), Bad> {
            let mut cx = Ctx { base, env, warnings: &mut warnings, lenient: self.no_interpolate };
            if let Some(services) = m.get_mut("services") {
                if services.is_null() {
                    *services = json!({});
                }
                let Some(ss) = services.as_object_mut() else {
                    return normalize::bad("services", "services must be a mapping");
                };
                for (name, s) in ss.iter_mut() {
                    normalize::service(s, &format!("services.{name}"), &mut cx)?;
                }
            }
            for kind in ["networks", "volumes", "secrets", "configs"] {
                if let Some(r) = m.get_mut(kind) {
                    normalize::resources(kind, r, &mut cx)?;
                }
            }
            Ok(())
        })();
        self.warnings = warnings;
        r.map_err(|b| self.located(Some(idx), b))?;
        let file = path.display().to_string();
        let warnings = &mut self.warnings;
        keys::strip_unknown(&mut value, &mut Vec::new(), &mut |w| warnings.push(format!("{file}: {w}")));
        if let Some(inc) = include {
            self.include(&mut value, inc, idx, base, chain)?;
        }
        self.extends(&mut value, idx, chain)?;
        chain.pop();
        Ok(value)
    }

    /// `include:`: each entry is a project of its own (its directory, its `.env`), whose
    /// services and resources join this file's; the same name defined twice is an error.
    fn include(
        &mut self,
        value: &mut Value,
        inc: Value,
        idx: usize,
        base: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let Value::Array(entries) = inc else {
            return Err(self.located(Some(idx), Bad { path: "include".into(), msg: "include must be a list".into() }));
        };
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("include.{i}");
            let fail = |me: &Self, msg: String| me.located(Some(idx), Bad { path: at.clone(), msg });
            let (paths, pd, env_files) = match &e {
                Value::String(s) => (vec![s.clone()], None, Vec::new()),
                Value::Object(o) => {
                    let paths = match o.get("path") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
                        _ => return Err(fail(self, format!("{at}.path is required"))),
                    };
                    let ef = match o.get("env_file") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
                        _ => Vec::new(),
                    };
                    (paths, o.get("project_directory").and_then(Value::as_str).map(String::from), ef)
                }
                _ => return Err(fail(self, format!("{at} must be a string or a mapping"))),
            };
            let files: Vec<PathBuf> =
                paths.iter().map(|p| PathBuf::from(normalize::resolve(base, p, &self.env))).collect();
            let pd = match pd {
                Some(d) => PathBuf::from(normalize::resolve(base, &d, &self.env)),
                None => files[0].parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            // The included project's environment: its env files (or its `.env`), under the
            // process's and this project's variables.
            let mut env = BTreeMap::new();
            let env_paths: Vec<PathBuf> = if env_files.is_empty() {
                Some(pd.join(".env")).filter(|p| p.is_file()).into_iter().collect()
            } else {
                env_files.iter().map(|p| PathBuf::from(normalize::resolve(base, p, &self.env))).collect()
            };
            for p in env_paths {
                for (k, v) in read_env_file(&p, &|k| self.env.get(k).cloned())? {
                    env.insert(k, v);
                }
            }
            env.extend(self.env.clone());
            let mut sub = json!({});
            for f in &files {
                if !f.is_file() {
                    return Err(fail(self, format!("include {}: no such file or directory", f.display())));
                }
                let m = self.load_file_with(f, &pd, &env, chain)?;
                merge::merge(&mut sub, m, "");
            }
            let target = value.as_object_mut().expect("a mapping");
            for kind in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(Value::Object(add)) = sub.get_mut(kind).map(Value::take) else {
                    continue;
                };
                let dst =
                    target.entry(kind).or_insert_with(|| json!({})).as_object_mut().expect("normalised to a mapping");
                // A name defined on both sides: this file's definition merges over the
                // imported one, as compose-go imports resources.
                for (k, mut v) in add {
                    if let Some(local) = dst.remove(&k) {
                        merge::merge(&mut v, local, &format!("{kind}.{k}"));
                    }
                    dst.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// Follows every service's `extends` in the file `value` (source `idx`).
    fn extends(&mut self, value: &mut Value, idx: usize, chain: &mut Vec<PathBuf>) -> Result<()> {
        let Some(services) = value.get("services").and_then(Value::as_object).cloned() else {
            return Ok(());
        };
        let mut done: BTreeMap<String, Value> = BTreeMap::new();
        for name in services.keys() {
            let s = self.extended(name, &services, idx, chain, &mut done, &mut Vec::new())?;
            value["services"][name] = s;
        }
        Ok(())
    }

    /// The service `name` of `services` with its `extends` chain applied.
    #[allow(clippy::too_many_arguments)]
    fn extended(
        &mut self,
        name: &str,
        services: &Map<String, Value>,
        idx: usize,
        chain: &mut Vec<PathBuf>,
        done: &mut BTreeMap<String, Value>,
        seen: &mut Vec<String>,
    ) -> Result<Value> {
        if let Some(v) = done.get(name) {
            return Ok(v.clone());
        }
        let mut s = services[name].clone();
        let Some(ext) = s.as_object_mut().and_then(|o| o.remove("extends")) else {
            done.insert(name.to_string(), s.clone());
            return Ok(s);
        };
        let at = format!("services.{name}.extends");
        if seen.iter().any(|x| x == name) {
            return Err(self
                .located(Some(idx), Bad { path: at, msg: format!("extends cycle: {} -> {name}", seen.join(" -> ")) }));
        }
        let Some(target) = ext.get("service").and_then(Value::as_str).map(String::from) else {
            return Err(self.located(Some(idx), Bad { path: at.clone(), msg: format!("{at}.service is required") }));
        };
        let mut parent = match ext.get("file").and_then(Value::as_str) {
            Some(file) => {
                let file = PathBuf::from(file);
                if !file.is_file() {
                    return Err(self.located(
                        Some(idx),
                        Bad { path: at.clone(), msg: format!("{at}: file {} not found", file.display()) },
                    ));
                }
                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                let other = self.load_file(&file, &dir, chain)?;
                match other.get("services").and_then(|s| s.get(&target)) {
                    Some(v) => v.clone(),
                    None => {
                        return Err(self.located(
                            Some(idx),
                            Bad {
                                path: at.clone(),
                                msg: format!(
                                    "cannot extend service {name:?}: service {target:?} not found in {}",
                                    file.display()
                                ),
                            },
                        ))
                    }
                }
            }
            None => {
                if !services.contains_key(&target) {
                    return Err(self.located(
                        Some(idx),
                        Bad {
                            path: at.clone(),
                            msg: format!("cannot extend service {name:?}: service {target:?} not found"),
                        },
                    ));
                }
                seen.push(name.to_string());
                let p = self.extended(&target, services, idx, chain, done, seen)?;
                seen.pop();
                p
            }
        };
        merge::merge(&mut parent, s, &format!("services.{name}"));
        done.insert(name.to_string(), parent.clone());
        Ok(parent)
    }

    /// Drops the services no active profile enables, and, when services are named, all but
    /// them and what they depend on, as Compose v2 does: a named service's profiles are
    /// enabled with it, a dependency's are not. Returns the disabled services and their
    /// profiles, for the error a dependency on one of them gets.
    fn apply_profiles(
        &mut self,
        model: &mut Value,
        profiles: &BTreeSet<String>,
        named: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let services = model["services"].as_object_mut().expect("a mapping");
        let profiles_of = |s: &Value| -> Vec<String> {
            s.get("profiles")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let mut enabled = profiles.clone();
        for n in named {
            match services.get(n) {
                Some(s) => enabled.extend(profiles_of(s)),
                None => return Err(invalid(format!("no such service: {n}"))),
            }
        }
        let all = enabled.contains("*");
        let mut disabled = BTreeMap::new();
        services.retain(|name, s| {
            let p = profiles_of(s);
            let on = p.is_empty() || all || p.iter().any(|x| enabled.contains(x));
            if !on {
                disabled.insert(name.clone(), p);
            }
            on
        });
        if !named.is_empty() {
            let mut keep = BTreeSet::new();
            let mut todo: Vec<String> = named.to_vec();
            while let Some(n) = todo.pop() {
                if !keep.insert(n.clone()) {
                    continue;
                }
                if let Some(d) = services.get(&n).and_then(|s| s.get("depends_on")).and_then(Value::as_object) {
                    todo.extend(d.keys().cloned());
                }
            }
            services.retain(|k, _| keep.contains(k));
        }
        Ok(disabled)
    }

    /// `env_file`s read into `environment` (the service's own `environment` wins), then
    /// dropped, as `docker compose config` prints a service.
    fn env_files(&mut self, model: &mut Value) -> Result<()> {
        let Some(services) = model["services"].as_object_mut() else {
            return Ok(());
        };
        for (name, s) in services.iter_mut() {
            let Some(files) = s.as_object_mut().and_then(|o| o.remove("env_file")) else {
                continue;
            };
            let own: Map<String, Value> = s.get("environment").and_then(Value::as_object).cloned().unwrap_or_default();
            let mut env: Map<String, Value> = Map::new();
            for (i, f) in files.as_array().into_iter().flatten().enumerate() {
                let path = PathBuf::from(f["path"].as_str().unwrap_or_default());
                if !path.is_file() {
                    if f["required"] == Value::Bool(false) {
                        continue;
                    }
                    return Err(self.located(
                        None,
                        Bad {
                            path: format!("services.{name}.env_file.{i}"),
                            msg: format!(
                                "env file {} not found: stat {}: no such file or directory",
                                path.display(),
                                path.display()
                            ),
                        },
                    ));
                }
                let lookup =
                    |k: &str| self.env.get(k).cloned().or_else(|| own.get(k).and_then(Value::as_str).map(String::from));
                for (k, v) in read_env_file(&path, &lookup)? {
                    env.insert(k, Value::String(v));
                }
            }
            env.extend(own);
            s["environment"] = Value::Object(env);
        }
        Ok(())
    }
}

/// The interpolation environment: the env files, under the process environment.
fn environment(project_dir: &Path, opts: &LoadOptions) -> Result<BTreeMap<String, String>> {
    // `--env-file`s, else `COMPOSE_ENV_FILES` (comma-separated), else the project's `.env`.
    let from_env: Vec<PathBuf> = opts
        .environ
        .get("COMPOSE_ENV_FILES")
        .map(|l| l.split(',').filter(|f| !f.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default();
    let given = if opts.env_files.is_empty() { &from_env } else { &opts.env_files };
    let files: Vec<PathBuf> = if given.is_empty() {
        Some(project_dir.join(".env")).filter(|p| p.is_file()).into_iter().collect()
    } else {
        given.iter().map(|f| opts.cwd.join(f)).collect()
    };
    let mut env = BTreeMap::new();
    for f in files {
        let vars = read_env_file(&f, &|k| env.get(k).cloned().or_else(|| opts.environ.get(k).cloned()))?;
        env.extend(vars);
    }
    env.extend(opts.environ.clone());
    Ok(env)
}

/// Services with no `networks` (and no `network_mode`) join `default`, which then exists.
fn implicit_networks(model: &mut Value) {
    let mut uses_default = false;
    if let Some(services) = model["services"].as_object_mut() {
        for s in services.values_mut() {
            let Some(o) = s.as_object_mut() else { continue };
            if o.contains_key("network_mode") || o.contains_key("provider") {
                continue;
            }
            match o.get("networks").and_then(Value::as_object) {
                Some(n) if !n.is_empty() => {
                    if n.contains_key("default") {
                        uses_default = true;
                    }
                }
                _ => {
                    o.insert("networks".into(), json!({"default": null}));
                    uses_default = true;
                }
            }
        }
    }
    if uses_default {
        let nets = model.as_object_mut().expect("a mapping").entry("networks").or_insert_with(|| json!({}));
        if let Some(n) = nets.as_object_mut() {
            n.entry("default").or_insert_with(|| json!({}));
        }
    }
}

/// A service's empty lists and maps (`profiles: []`, `environment: {}`) are left out, as
/// Compose's `omitempty` leaves them; `command` and `entrypoint` keep an empty list, which
/// means something (no command).
fn drop_empty(model: &mut Value) {
    let Some(services) = model["services"].as_object_mut() else { return };
    for s in services.values_mut() {
        if let Some(o) = s.as_object_mut() {
            o.retain(|k, v| {
                matches!(k.as_str(), "command" | "entrypoint")
                    || !(v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty))
            });
        }
    }
}

/// The dependencies Compose v2 adds: a service sharing another's namespace
/// (`network_mode: service:X`, and `ipc`, `pid`, `uts`, `cgroup`) or linking to it (`links`)
/// depends on it with `restart: true`, one mounting its volumes (`volumes_from`) without.
fn implicit_dependencies(model: &mut Value) {
    let Some(services) = model["services"].as_object_mut() else { return };
    for s in services.values_mut() {
        let Some(o) = s.as_object_mut() else { continue };
        let mut add: Vec<(String, bool)> = Vec::new();
        for link in o.get("links").and_then(Value::as_array).into_iter().flatten() {
            if let Some(l) = link.as_str() {
                add.push((l.split(':').next().unwrap_or(l).to_string(), true));
            }
        }
        for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
            if let Some(other) = o.get(ns).and_then(Value::as_str).and_then(|m| m.strip_prefix("service:")) {
                add.push((other.to_string(), true));
            }
        }
        for vf in o.get("volumes_from").and_then(Value::as_array).into_iter().flatten() {
            if let Some(v) = vf.as_str().filter(|v| !v.starts_with("container:")) {
                add.push((v.split(':').next().unwrap_or(v).to_string(), false));
            }
        }
        if add.is_empty() {
            continue;
        }
        let deps = o.entry("depends_on").or_insert_with(|| json!({}));
        let Some(d) = deps.as_object_mut() else { continue };
        for (name, restart) in add {
            d.entry(name).or_insert_with(|| {
                let mut dep = json!({"condition": "service_started", "required": true});
                if restart {
                    dep["restart"] = Value::Bool(true);
                }
                dep
            });
        }
    }
}

/// Networks, volumes, secrets and configs no service uses are left out, as Compose v2 does.
fn drop_unused(model: &mut Value) {
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    if let Some(services) = model["services"].as_object() {
        for s in services.values() {
            if let Some(n) = s.get("networks").and_then(Value::as_object) {
                used.entry("networks").or_default().extend(n.keys().cloned());
            }
            for v in s.get("volumes").and_then(Value::as_array).into_iter().flatten() {
                if v["type"] == "volume" {
                    if let Some(src) = v["source"].as_str() {
                        used.entry("volumes").or_default().insert(src.to_string());
                    }
                }
            }
            for kind in ["secrets", "configs"] {
                let build = s.get("build").and_then(|b| b.get(kind)).and_then(Value::as_array);
                let own = s.get(kind).and_then(Value::as_array);
                for r in own.into_iter().flatten().chain(build.into_iter().flatten()) {
                    if let Some(src) = r["source"].as_str() {
                        used.entry(kind).or_default().insert(src.to_string());
                    }
                }
            }
        }
    }
    let m = model.as_object_mut().expect("a mapping");
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let keep = used.remove(kind).unwrap_or_default();
        if let Some(Value::Object(r)) = m.get_mut(kind) {
            r.retain(|k, _| keep.contains(k) || k.starts_with("x-"));
            if r.is_empty() {
                m.remove(kind);
            }
        }
    }
}

/// `name:` of each resource: as given, the key for an external one, else `<project>_<key>`.
fn name_resources(model: &mut Value, project: &str) {
    let m = model.as_object_mut().expect("a mapping");
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(Value::Object(r)) = m.get_mut(kind) else { continue };
        for (k, v) in r.iter_mut() {
            if k.starts_with("x-") {
                continue;
            }
            let Some(o) = v.as_object_mut() else { continue };
            if o.get("name").is_none_or(Value::is_null) {
                let n =
                    if o.get("external") == Some(&Value::Bool(true)) { k.clone() } else { format!("{project}_{k}") };
                o.insert("name".into(), Value::String(n));
            }
        }
    }
}

#[cfg(test)]
mod tests;
