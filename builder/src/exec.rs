//! Executing a build: stages in dependency order (each on its own thread as soon as the
//! stages it uses are built, so independent stages build in parallel), each step against the
//! cache, then the image written and named.
//!
//! A stage's state is an image in the making: its container config (Docker's field names),
//! its layers (blobs in the store) and its history. RUN goes to the [`StepRunner`] (the
//! engine's makes a container of it with the same machinery as `berth run`), over the
//! stage's layers; what the command changed, minus the mount points the runner had to
//! create, is the step's layer. COPY and ADD assemble their files
//! in a staging directory that becomes the layer (`--link`: without reading the stage, and
//! keyed without it; URLs fetched over HTTP, git repositories checked out with `git`).
//! Everything else edits the config. The
//! image is named only once every stage succeeded, so a failed build tags nothing.

use crate::cache::{self, Cache, CachedLayer, Entry};
use crate::context::{self, Context, Ignore};
use crate::instructions::{Command, CopyArgs, Health, Instr, Step};
use crate::parser::{self, expand, expand_words, Heredoc};
use crate::plan::{self, Plan};
use crate::step::{MountKind, Network, RunMount, RunStep, StepRunner};
use crate::{Digest, Error, Result};
use berth_oci::config::DEFAULT_PATH;
use berth_oci::media;
use berth_oci::platform::Platform;
use berth_oci::{IoContext, Reference};
use berth_store::image::Image;
use berth_store::layer::{self, LayerBlob};
use berth_store::{descriptor, unpack, Store};
use oci_spec::image::{ImageManifestBuilder, MediaType};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// What `berth build` was asked.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// `-f`: the Dockerfile's path (default `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `-f -`: the Dockerfile's text.
    pub dockerfile_text: Option<String>,
    /// `-t`, full or familiar references.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (a bare `K` takes the value from the environment, in the CLI).
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (by name) whose steps ignore the cache.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: fetch FROM images even when present.
    pub pull: bool,
    /// `--label`, added to the final image.
    pub labels: Vec<(String, String)>,
    /// `--platform` (the host's by default; `wasi/wasm` builds a wasm image).
    pub platform: Option<String>,
    /// `--secret id=ID,src=PATH`.
    pub secrets: Vec<(String, PathBuf)>,
    /// `--progress quiet` / `-q`: print nothing while building.
    pub quiet: bool,
    /// `--network`: the network of RUN steps that name none (`default`, `host`, `none`).
    /// `host` also grants BuildKit's `network.host` entitlement.
    pub network: Option<String>,
    /// `--allow network.host`: RUN `--network=host` is permitted (the default stays).
    pub allow_host_network: bool,
}

/// The result of a build.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    pub image: Image,
    /// Steps executed and steps answered by the cache.
    pub executed: usize,
    pub cached: usize,
}

/// Fetches an image a FROM or `--from` names that the store lacks (or `--pull` asks).
/// Shared by the threads that build independent stages in parallel, hence `Sync`.
pub type Puller<'a> = &'a (dyn Fn(&str, &Platform) -> Result<Image> + Sync);

/// What a build works with, given by its caller (the engine).
#[derive(Clone, Copy)]
pub struct Host<'a> {
    /// The state root: the build cache (`build-cache/`) and scratch space (`build-tmp/`).
    pub root: &'a Path,
    /// The image store: base images, layers, the result.
    pub store: &'a Store,
    /// Runs RUN steps.
    pub runner: &'a dyn StepRunner,
    /// Fetches base images the store lacks.
    pub pull: Puller<'a>,
}

/// The in-progress image of one stage.
#[derive(Clone, Debug, Default)]
struct StageState {
    config: Map<String, Value>,
    author: Option<String>,
    layers: Vec<CachedLayer>,
    history: Vec<Value>,
    key: Option<Digest>,
    /// ARGs declared in this stage, with their values (None: declared without one).
    args: BTreeMap<String, Option<String>>,
    cmd_set: bool,
    /// Created time of the newest step, so a fully cached rebuild gives the same image.
    created: String,
    /// The stage's layers unpacked (filled lazily).
    dirs: Option<Vec<PathBuf>>,
}

impl StageState {
    fn key(&self) -> Digest {
        self.key.clone().unwrap_or_else(|| Digest::of(b""))
    }

    fn env(&self) -> Vec<String> {
        self.config
            .get("Env")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    fn env_get(&self, name: &str) -> Option<String> {
        self.env().iter().find_map(|e| e.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        let kv = format!("{k}={v}");
        match env.iter_mut().find(|e| e.split_once('=').map(|x| x.0) == Some(k)) {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
        self.config.insert("Env".into(), json!(env));
    }

    /// The lookup for variable expansion: ENV wins over ARG, as in Docker.
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |n: &str| self.env_get(n).or_else(|| self.args.get(n).cloned().flatten())
    }

    fn workdir(&self) -> String {
        match self.config.get("WorkingDir").and_then(|v| v.as_str()) {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".into(),
        }
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .get("Shell")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn user(&self) -> String {
        self.config.get("User").and_then(|v| v.as_str()).unwrap_or("").to_string()
    }

    fn add_history(&mut self, created_by: String, empty: bool) {
        let mut h = json!({"created": self.created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"});
        if empty {
            h["empty_layer"] = json!(true);
        }
        self.history.push(h);
    }
}

/// BuildKit-style progress lines (`#N ...`) to a writer, or nothing when quiet. Stages built
/// on other threads send their lines to the thread that owns the writer; vertex numbers are
/// shared, so lines of parallel stages interleave as BuildKit's plain output does.
struct Out<'a> {
    sink: Sink<'a>,
    n: Arc<AtomicUsize>,
    quiet: bool,
}

enum Sink<'a> {
    Writer(&'a mut (dyn Write + Send)),
    Thread(mpsc::Sender<Msg>),
}

/// What a stage's thread tells the thread that owns the output.
enum Msg {
    Line(String),
    Done(usize, Box<Result<(StageState, Stats)>>),
}

/// What a stage's thread did, merged into the build's totals when it ends.
struct Stats {
    used_args: HashSet<String>,
    executed: usize,
    cached: usize,
    rootfs: HashMap<String, PathBuf>,
}

impl Out<'_> {
    fn vertex(&mut self, name: &str) -> usize {
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        self.say(&format!("#{n} {name}"));
        n
    }
    fn say(&mut self, line: &str) {
        if self.quiet {
            return;
        }
        match &mut self.sink {
            Sink::Writer(w) => {
                let _ = writeln!(w, "{line}");
                let _ = w.flush();
            }
            Sink::Thread(tx) => {
                let _ = tx.send(Msg::Line(line.to_string()));
            }
        }
    }
    fn done(&mut self, n: usize, t: Instant) {
        self.say(&format!("#{n} DONE {:.1}s", t.elapsed().as_secs_f64()));
        self.say("");
    }
    fn cached(&mut self, n: usize) {
        self.say(&format!("#{n} CACHED"));
        self.say("");
    }
}

/// What a build run carries across stages.
struct Run<'a> {
    host: Host<'a>,
    opts: &'a BuildOptions,
    ctx: Context,
    cache: Cache,
    plan: Plan,
    platform: Platform,
    escape: char,
    build_args: HashMap<String, String>,
    used_args: HashSet<String>,
    global: BTreeMap<String, Option<String>>,
    done: HashMap<usize, StageState>,
    bases: Vec<String>,
    executed: usize,
    cached: usize,
    epoch: Option<i64>,
    /// Materialized root filesystems of stages and images used by `COPY --from`.
    rootfs: HashMap<String, PathBuf>,
    tmp: PathBuf,
    /// Names this run's scratch directories apart from those of stages built beside it.
    slot: String,
    /// The stage being built is in `--no-cache-filter`.
    bypass_cache: bool,
}

/// Proxy build args Docker passes to RUN without an ARG line.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn epoch_time(e: i64) -> String {
    chrono::DateTime::from_timestamp(e, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Builds an image from a Dockerfile and a context; names it after every `-t` when the
/// whole build succeeded. Progress goes to `w` (BuildKit's plain format).
pub fn build(host: Host<'_>, opts: &BuildOptions, w: &mut (dyn Write + Send)) -> Result<BuildOutput> {
    let mut out = Out { sink: Sink::Writer(w), n: Arc::new(AtomicUsize::new(0)), quiet: opts.quiet };
    let t = Instant::now();
    let df_path = opts.dockerfile.clone().unwrap_or_else(|| opts.context.join("Dockerfile"));
    let file_label =
        if opts.dockerfile_text.is_some() { "Dockerfile".to_string() } else { df_path.display().to_string() };
    let v = out.vertex("[internal] load build definition from Dockerfile");
    let text = match &opts.dockerfile_text {
        Some(t) => t.clone(),
        None => fs::read_to_string(&df_path)
            .map_err(|e| Error::NotFound(format!("failed to read dockerfile: open {}: {e}", df_path.display())))?,
    };
    out.done(v, t);
    let (df, steps) = crate::instructions::parse_steps(&text, &file_label)?;
    let plan = plan::split(&df, steps)?;
    // Tags are checked before any work, so a bad -t never costs a build.
    for tag in &opts.tags {
        Reference::parse(tag)?;
    }
    if let Some(n) = opts.network.as_deref() {
        if !matches!(n, "" | "default" | "bridge" | "host" | "none") {
            return Err(Error::Unsupported(format!(
                "network mode {n:?} not supported by build (default, host or none)"
            )));
        }
    }
    let t = Instant::now();
    let v = out.vertex("[internal] load .dockerignore");
    let ctx = Context::open(&opts.context, opts.dockerfile_text.is_none().then_some(df_path.as_path()))?;
    out.done(v, t);
    let platform = match &opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let _shared = host.store.lock_shared()?;
    sweep_scratch(&host.root.join("build-tmp"));
    let tmp = host.root.join("build-tmp").join(format!(
        "{}-{}",
        std::process::id(),
        &Digest::of(format!("{:?}", Instant::now()).as_bytes()).hex()[..12]
    ));
    fs::create_dir_all(&tmp).at(&tmp)?;
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok());
    let mut run = Run {
        host,
        opts,
        ctx,
        cache: Cache::open(host.root)?,
        plan,
        platform,
        escape: df.escape,
        build_args: opts.build_args.iter().cloned().collect(),
        used_args: HashSet::new(),
        global: BTreeMap::new(),
        done: HashMap::new(),
        bases: Vec::new(),
        executed: 0,
        cached: 0,
        epoch,
        rootfs: HashMap::new(),
        tmp: tmp.clone(),
        slot: "main".into(),
        bypass_cache: false,
    };
    let r = run.go(&df, &mut out);
    remove_scratch(&tmp);
    r
}

/// Removes a build's scratch directory, unmounting the stage roots mounted in it first.
fn remove_scratch(tmp: &Path) {
    if let Ok(rd) = fs::read_dir(tmp) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("rootfs-") {
                let _ = berth_store::snapshot::unmount(&e.path());
            }
        }
    }
    let _ = unpack::remove_tree(tmp);
}

/// Removes the scratch directories of builds whose process is gone (`<pid>-<nonce>`: a
/// SIGKILLed build leaves its directory, maybe with stage roots mounted).
fn sweep_scratch(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            remove_scratch(&e.path());
        }
    }
}

impl Run<'_> {
    fn predefined(&self) -> BTreeMap<String, String> {
        let p = &self.platform;
        let h = Platform::host();
        let fmt = |p: &Platform| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        };
        let mut m = BTreeMap::new();
        m.insert("TARGETPLATFORM".into(), fmt(p));
        m.insert("TARGETOS".into(), p.os.clone());
        m.insert("TARGETARCH".into(), p.architecture.clone());
        m.insert("TARGETVARIANT".into(), p.variant.clone().unwrap_or_default());
        m.insert("BUILDPLATFORM".into(), fmt(&h));
        m.insert("BUILDOS".into(), h.os.clone());
        m.insert("BUILDARCH".into(), h.architecture.clone());
        m.insert("BUILDVARIANT".into(), h.variant.clone().unwrap_or_default());
        m
    }

    /// The network of a RUN step without `--network`: `--network`'s (`bridge` is the
    /// default one, as in `docker build`).
    fn default_network(&self) -> String {
        match self.opts.network.as_deref() {
            None | Some("" | "default" | "bridge") => "default".into(),
            Some(n) => n.into(),
        }
    }

    fn host_network_allowed(&self) -> bool {
        self.opts.allow_host_network || self.opts.network.as_deref() == Some("host")
    }

    fn is_wasm(&self) -> bool {
        self.platform.architecture == "wasm"
    }

    fn go(&mut self, df: &parser::Dockerfile, out: &mut Out) -> Result<BuildOutput> {
        // Global ARGs: visible to FROM lines (and to stages that re-declare them).
        let predefined = self.predefined();
        for (k, v) in &predefined {
            self.global.insert(k.clone(), Some(v.clone()));
        }
        for s in self.plan.global_args.clone() {
            let Instr::Arg { args } = &s.instr else { continue };
            let g = self.global.clone();
            let look = |n: &str| g.get(n).cloned().flatten();
            for word in expand_words(args, self.escape, &look).map_err(invalid)? {
                let (name, v) = arg_word(&word, &self.build_args, &mut self.used_args);
                self.global.insert(name, v);
            }
        }
        let g = self.global.clone();
        let look = |n: &str| g.get(n).cloned().flatten();
        self.bases = self
            .plan
            .stages
            .iter()
            .map(|st| expand(&st.base, self.escape, &look).map_err(|e| Error::from(df.error(st.from_line, 1, e))))
            .collect::<Result<_>>()?;
        let order = self.plan.order(df, self.opts.target.as_deref(), &self.bases)?;
        self.build_stages(df, &order, out)?;
        let last = *order.last().expect("a target stage");
        let unused: Vec<&String> = self
            .build_args
            .keys()
            .filter(|k| {
                !self.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()) && !predefined.contains_key(*k)
            })
            .collect();
        if !unused.is_empty() {
            let mut u: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            u.sort();
            out.say(&format!("[Warning] One or more build-args [{}] were not consumed", u.join(" ")));
        }
        let st = self.done.remove(&last).expect("built");
        self.export(st, out)
    }

    /// Builds the stages in `order`, each on its own thread as soon as the stages it uses are
    /// built, so independent stages build in parallel (BuildKit's concurrent dependency
    /// resolution). After a failure no new stage starts; the first error is the build's.
    fn build_stages(&mut self, df: &parser::Dockerfile, order: &[usize], out: &mut Out) -> Result<()> {
        let multi = self.plan.stages.len() > 1;
        let deps: HashMap<usize, Vec<usize>> = order
            .iter()
            .map(|&i| (i, self.plan.deps(i, &self.bases[i]).into_iter().map(|(j, _)| j).filter(|j| *j != i).collect()))
            .collect();
        let mut pending: Vec<usize> = order.to_vec();
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut running = 0usize;
        let mut failed: Option<Error> = None;
        std::thread::scope(|scope| loop {
            if failed.is_none() {
                let ready: Vec<usize> =
                    pending.iter().copied().filter(|i| deps[i].iter().all(|j| self.done.contains_key(j))).collect();
                pending.retain(|i| !ready.contains(i));
                for i in ready {
                    let mut w = self.worker(i);
                    let mut wout = Out { sink: Sink::Thread(tx.clone()), n: out.n.clone(), quiet: out.quiet };
                    let tx = tx.clone();
                    running += 1;
                    scope.spawn(move || {
                        let r = w.stage(df, i, multi, &mut wout).map(|st| {
                            let stats = Stats {
                                used_args: w.used_args,
                                executed: w.executed,
                                cached: w.cached,
                                rootfs: w.rootfs,
                            };
                            (st, stats)
                        });
                        let _ = tx.send(Msg::Done(i, Box::new(r)));
                    });
                }
            }
            if running == 0 {
                break;
            }
            match rx.recv() {
                Ok(Msg::Line(l)) => out.say(&l),
                Ok(Msg::Done(i, r)) => {
                    running -= 1;
                    match *r {
                        Ok((st, stats)) => {
                            self.used_args.extend(stats.used_args);
                            self.executed += stats.executed;
                            self.cached += stats.cached;
                            self.rootfs.extend(stats.rootfs);
                            self.done.insert(i, st);
                        }
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    }
                }
                Err(_) => break,
            }
        });
        match failed {
            Some(e) => Err(e),
            None if !pending.is_empty() => Err(Error::Other("build stages left unbuilt".into())),
            None => Ok(()),
        }
    }

    /// A run for stage `i` on its own thread: the build's state so far, its own counters and
    /// scratch names.
    fn worker(&self, i: usize) -> Self {
        Run {
            host: self.host,
            opts: self.opts,
            ctx: self.ctx.clone(),
            cache: self.cache.clone(),
            plan: self.plan.clone(),
            platform: self.platform.clone(),
            escape: self.escape,
            build_args: self.build_args.clone(),
            used_args: HashSet::new(),
            global: self.global.clone(),
            done: self.done.clone(),
            bases: self.bases.clone(),
            executed: 0,
            cached: 0,
            epoch: self.epoch,
            rootfs: self.rootfs.clone(),
            tmp: self.tmp.clone(),
            slot: format!("s{i}"),
            bypass_cache: self.plan.stages[i]
                .name
                .as_ref()
                .is_some_and(|n| self.opts.no_cache_filter.iter().any(|f| f.eq_ignore_ascii_case(n)))
                || self.opts.no_cache_filter.iter().any(|f| *f == i.to_string()),
        }
    }

    /// The directories of a state's layers, unpacked.
    fn dirs(&self, st: &mut StageState) -> Result<Vec<PathBuf>> {
        if let Some(d) = &st.dirs {
            return Ok(d.clone());
        }
        let mut v = Vec::new();
        for l in &st.layers {
            v.push(self.host.store.unpack_layer(&l.blob, Some(&l.diff_id))?.path);
        }
        st.dirs = Some(v.clone());
        Ok(v)
    }

    fn image_state(&self, img: &Image) -> Result<StageState> {
        let mut st = StageState::default();
        if let Some(c) = img.config_json.get("config").and_then(|c| c.as_object()) {
            st.config = c.clone();
        }
        let diff_ids = img.diff_ids();
        for (i, l) in img.manifest.layers().iter().enumerate() {
            let mt = l.media_type().to_string();
            if !media::is_tar_layer(&mt) {
                return Err(Error::Unsupported(format!(
                    "image {} has a {mt} layer: not a base for a build",
                    img.id.short()
                )));
            }
            let blob = berth_store::desc_digest(l)?;
            let diff_id = diff_ids.get(i).cloned().ok_or_else(|| {
                berth_oci::Error::malformed(format!("config {}", img.id), "fewer diff_ids than layers")
            })?;
            st.layers.push(CachedLayer { blob, size: l.size(), media_type: mt, diff_id, diff_size: 0 });
        }
        st.history = img.config_json.get("history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
        st.author = img.config_json.get("author").and_then(|a| a.as_str()).map(String::from);
        st.created = img.config_json.get("created").and_then(|c| c.as_str()).unwrap_or("").to_string();
        st.key = Some(cache::key(&Digest::of(b""), &["FROM", img.id.as_str()]));
        Ok(st)
    }

    /// Finds (or pulls) an image by name.
    fn image(&self, name: &str) -> Result<Image> {
        if !self.opts.pull {
            match self.host.store.resolve_image(name) {
                Ok(i) => return Ok(i),
                Err(berth_store::Error::ImageNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        (self.host.pull)(name, &self.platform)
    }

    fn stage(&mut self, df: &parser::Dockerfile, i: usize, multi: bool, out: &mut Out) -> Result<StageState> {
        let stage = self.plan.stages[i].clone();
        let base = self.bases[i].clone();
        let total = 1 + stage
            .steps
            .iter()
            .filter(|s| matches!(s.instr, Instr::Run { .. } | Instr::Copy(_) | Instr::Workdir { .. }))
            .count();
        let label = |k: usize| {
            if multi || stage.name.is_some() {
                format!("[{} {k}/{total}]", stage.label())
            } else {
                format!("[{k}/{total}]")
            }
        };
        let t = Instant::now();
        let mut st = if base.eq_ignore_ascii_case("scratch") {
            let v = out.vertex(&format!("{} FROM scratch", label(1)));
            out.done(v, t);
            let mut st =
                StageState { key: Some(cache::key(&Digest::of(b""), &["FROM", "scratch"])), ..Default::default() };
            // BuildKit's empty image has `/` as its working directory.
            st.config.insert("WorkingDir".into(), json!("/"));
            if !self.is_wasm() {
                st.set_env("PATH", DEFAULT_PATH);
            }
            st
        } else if let Some(j) = self.plan.find(&base).filter(|j| *j != i && base.parse::<usize>().is_err()) {
            let v = out.vertex(&format!("{} FROM {}", label(1), self.plan.stages[j].label()));
            out.done(v, t);
            let mut s =
                self.done.get(&j).cloned().ok_or_else(|| Error::Other(format!("stage {base} was not built")))?;
            s.args.clear();
            s.cmd_set = false;
            s
        } else {
            let v = out.vertex(&format!("{} FROM {base}", label(1)));
            let img = self.image(&base).map_err(|e| Error::Base {
                file: df.file.clone(),
                line: stage.from_line,
                base: base.clone(),
                source: Box::new(e),
            })?;
            out.say(&format!("#{v} resolve {} done", img.id));
            out.done(v, t);
            let mut st = self.image_state(&img)?;
            // BuildKit gives a base without PATH the default one, first in the image's Env.
            if !self.is_wasm() && st.env_get("PATH").is_none() {
                let mut env = st.env();
                env.insert(0, format!("PATH={DEFAULT_PATH}"));
                st.config.insert("Env".into(), json!(env));
            }
            st
        };
        // ONBUILD triggers of the base run first, then leave the config.
        let triggers: Vec<String> = st
            .config
            .remove("OnBuild")
            .and_then(|v| v.as_array().cloned())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let mut steps: Vec<Step> = Vec::new();
        for trig in &triggers {
            let (_, ts) = crate::instructions::parse_steps(trig, "ONBUILD")?;
            steps.extend(ts);
        }
        steps.extend(stage.steps.iter().cloned());
        let mut k = 1;
        for s in &steps {
            if matches!(s.instr, Instr::Run { .. } | Instr::Copy(_) | Instr::Workdir { .. }) {
                k += 1;
            }
            let name = format!("{} {}", label(k.min(total)), s.original);
            self.step(&mut st, s, &name, out).map_err(|e| position(df, s, e))?;
        }
        Ok(st)
    }

    fn step(&mut self, st: &mut StageState, s: &Step, name: &str, out: &mut Out) -> Result<()> {
        let esc = self.escape;
        if config_step(st, s, esc)? {
            return Ok(());
        }
        let ex = |st: &StageState, raw: &str| expand(raw, esc, &st.lookup()).map_err(invalid);
        let exw = |st: &StageState, raw: &str| expand_words(raw, esc, &st.lookup()).map_err(invalid);
        match &s.instr {
            Instr::From { .. } => unreachable!("FROM starts a stage"),
            Instr::Arg { args } => {
                for word in exw(st, args)? {
                    let (n, v) = arg_word(&word, &self.build_args, &mut self.used_args);
                    let v = v.or_else(|| self.global.get(&n).cloned().flatten());
                    st.key = Some(cache::key(&st.key(), &["ARG", &n, v.as_deref().unwrap_or("\0")]));
                    st.args.insert(n, v);
                }
            }
            Instr::Workdir { path } => {
                let full = set_workdir(st, path, esc)?;
                let key = cache::key(&st.key(), &["WORKDIR", &full, &st.user()]);
                let t = Instant::now();
                let v = out.vertex(name);
                // The file system sees the cleaned path (the config keeps `full` as written).
                let clean = format!("/{}", context::clean(&full));
                // BuildKit: every WORKDIR but `/` is a mkdir step with its own layer, empty when
                // the directory exists; the directories it makes belong to the stage's USER.
                if clean == "/" || self.is_wasm() {
                    st.key = Some(key);
                    out.done(v, t);
                    st.add_history(format!("WORKDIR {full}"), true);
                    return Ok(());
                }
                self.layer_step(st, key, v, t, format!("WORKDIR {full}"), out, |run, st, staging| {
                    let dirs = run.dirs(st)?;
                    if lookup(&dirs, &clean).is_some_and(|m| m.is_dir()) {
                        return Ok(());
                    }
                    let user = st.user();
                    // A name the stage does not know leaves the directories root's, as in BuildKit.
                    let owner = if user.is_empty() { None } else { resolve_owner(&dirs, &user, true).ok() };
                    make_parents(&dirs, staging, &clean, true, owner)?;
                    Ok(())
                })?;
            }
            Instr::Run { command, mounts, network, heredocs } => {
                if self.is_wasm() {
                    return Err(invalid("RUN is not supported when building a wasm image".into()));
                }
                let argv = run_argv(command, heredocs, &st.shell());
                let mut env = st.env();
                if !env.iter().any(|e| e.starts_with("PATH=")) {
                    env.insert(0, format!("PATH={DEFAULT_PATH}"));
                }
                for (k, v) in &st.args {
                    if let Some(v) = v {
                        if !env.iter().any(|e| e.split_once('=').map(|x| x.0) == Some(k.as_str())) {
                            env.push(format!("{k}={v}"));
                        }
                    }
                }
                for p in PROXY_ARGS {
                    if let Some(v) = self.build_args.get(*p) {
                        self.used_args.insert(p.to_string());
                        env.push(format!("{p}={v}"));
                    }
                }
                let net = network.clone().unwrap_or_else(|| self.default_network());
                let Some(network) = Network::parse(&net) else {
                    return Err(invalid(format!("unsupported network mode {net:?} (default, host or none)")));
                };
                if network == Network::Host && !self.host_network_allowed() {
                    // BuildKit's `network.host` entitlement: a Dockerfile alone cannot
                    // reach the host's loopback services.
                    return Err(invalid(
                        "network.host is not allowed: pass --network host or --allow network.host to build".into(),
                    ));
                }
                let mut mounts_spec = Vec::new();
                for m in mounts {
                    mounts_spec.push(self.run_mount(st, &ex(st, m)?)?);
                }
                let mkey: Vec<String> = mounts_spec.iter().map(|m| m.key.clone()).collect();
                let key = cache::key(
                    &st.key(),
                    &["RUN", &argv.join("\0"), &env.join("\0"), &st.workdir(), &st.user(), &net, &mkey.join("\0")],
                );
                let created_by = format!("RUN {} # buildkit", shown_command(&argv));
                let t = Instant::now();
                let v = out.vertex(name);
                self.layer_step(st, key, v, t, created_by, out, |run, st, upper_out| {
                    run.run_step(st, &argv, &env, &mounts_spec, network, name, v, upper_out)
                })?;
            }
            Instr::Copy(c) => {
                let t = Instant::now();
                let v = out.vertex(name);
                let plan = self.copy_plan(st, c)?;
                // --link: the layer depends on the sources alone, not on the steps before it
                // (BuildKit copies into an empty directory and rebases the layer), so its
                // cache entry survives any change above; the steps after it still chain on
                // the stage so far.
                let parent = st.key();
                let key = if c.link {
                    cache::key(&Digest::of(b""), &["COPY --link", &plan.key])
                } else {
                    cache::key(&parent, &["COPY", &plan.key])
                };
                let kw = if c.add { "ADD" } else { "COPY" };
                let created_by = format!(
                    "{kw} {} # buildkit",
                    s.original.split_once(char::is_whitespace).map(|x| x.1).unwrap_or("")
                );
                self.layer_step(st, key.clone(), v, t, created_by, out, |run, st, staging| {
                    run.do_copy(st, &plan, staging)
                })?;
                if c.link {
                    st.key = Some(cache::key(&parent, &["COPY --link", key.as_str()]));
                }
            }
            _ => unreachable!("config_step took the instructions that only edit the config"),
        }
        Ok(())
    }

    /// A step that may add a layer: answered by the cache, or run (`f` fills a directory
    /// that becomes the layer) and recorded.
    #[allow(clippy::too_many_arguments)]
    fn layer_step(
        &mut self,
        st: &mut StageState,
        key: Digest,
        v: usize,
        t: Instant,
        created_by: String,
        out: &mut Out,
        f: impl FnOnce(&mut Self, &mut StageState, &Path) -> Result<()>,
    ) -> Result<()> {
        let store = self.host.store.clone();
        let hit = if self.opts.no_cache || self.bypass_cache { None } else { self.cache.get(&store, &key) };
        let (layer, created) = match hit {
            Some(e) => {
                out.cached(v);
                self.cached += 1;
                (e.layer, e.created)
            }
            None => {
                let dir = self.tmp.join(format!("step-{}-{}", self.slot, key.hex()));
                fs::create_dir_all(&dir).at(&dir)?;
                let r = f(self, st, &dir);
                // Every step a layer, even an empty one, as BuildKit does.
                let layer = r.and_then(|_| {
                    if let Some(e) = self.epoch {
                        clamp_mtimes(&dir, e);
                    }
                    // The directory becomes the unpacked layer as it is (a RUN's upper directory
                    // with overlayfs' whiteouts, a COPY's staging directory): nothing is
                    // compressed or unpacked again; the blob is made only if something reads it.
                    let l = layer::commit_dir(&store, &dir)?;
                    // bench/build-commit.sh reads this line's time against the RUN's exit.
                    tracing::info!(target: "berth::build", diff_id = %l.diff_id, bytes = l.size, "layer committed");
                    Ok(Some(l))
                });
                let _ = unpack::remove_tree(&dir);
                let layer: Option<LayerBlob> = layer?;
                let created = match self.epoch {
                    Some(e) => epoch_time(e),
                    None => now(),
                };
                let entry = Entry { layer: layer.as_ref().map(CachedLayer::from), created: created.clone() };
                self.cache.put(&key, &entry)?;
                self.executed += 1;
                out.done(v, t);
                (entry.layer, created)
            }
        };
        st.key = Some(key);
        st.created = created;
        let empty = layer.is_none();
        if let Some(l) = layer {
            st.layers.push(l);
            st.dirs = None;
        }
        st.add_history(created_by, empty);
        Ok(())
    }

    /// A `RUN --mount=...` spec resolved to a mount point (and its part of the cache key).
    fn run_mount(&mut self, st: &mut StageState, spec_s: &str) -> Result<MountSpec> {
        let mut kv: BTreeMap<String, String> = BTreeMap::new();
        for part in spec_s.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            kv.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let kind = kv.get("type").cloned().unwrap_or_else(|| "bind".into());
        let target = kv.get("target").or_else(|| kv.get("dst")).or_else(|| kv.get("destination")).cloned();
        let rw = kv.get("rw").or_else(|| kv.get("readwrite")).is_some_and(|v| v == "true")
            || kv.get("ro").or_else(|| kv.get("readonly")).is_some_and(|v| v == "false");
        let mp =
            |kind: MountKind, source: String, destination: String, rw: bool| RunMount { kind, source, destination, rw };
        match kind.as_str() {
            "cache" => {
                let target = target.ok_or_else(|| Error::Invalid("cache mount needs a target".into()))?;
                let id = kv.get("id").cloned().unwrap_or_else(|| target.clone());
                let dir = self.cache.mount_dir(&id)?;
                if let Some(m) = kv.get("mode").and_then(|m| u32::from_str_radix(m, 8).ok()) {
                    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(m));
                }
                Ok(MountSpec {
                    mount: mp(MountKind::Bind, dir.display().to_string(), target.clone(), true),
                    key: format!("cache:{id}:{target}"),
                })
            }
            "tmpfs" => {
                let target = target.ok_or_else(|| Error::Invalid("tmpfs mount needs a target".into()))?;
                Ok(MountSpec {
                    mount: mp(MountKind::Tmpfs, "tmpfs".into(), target.clone(), true),
                    key: format!("tmpfs:{target}"),
                })
            }
            "secret" => {
                let id = kv
                    .get("id")
                    .cloned()
                    .or_else(|| {
                        target.as_ref().and_then(|t| Path::new(t).file_name().map(|f| f.to_string_lossy().into_owned()))
                    })
                    .ok_or_else(|| Error::Invalid("secret mount needs an id".into()))?;
                let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                let src = self.opts.secrets.iter().find(|(i, _)| *i == id).map(|(_, p)| p.clone());
                match src {
                    Some(p) => Ok(MountSpec {
                        // The secret's content is not part of the key, as in BuildKit.
                        mount: mp(MountKind::Bind, p.display().to_string(), target.clone(), false),
                        key: format!("secret:{id}:{target}"),
                    }),
                    None if kv.get("required").is_some_and(|v| v == "true") => {
                        Err(Error::NotFound(format!("secret {id} not found")))
                    }
                    None => Ok(MountSpec {
                        mount: mp(MountKind::Tmpfs, "tmpfs".into(), target.clone(), false),
                        key: format!("nosecret:{id}"),
                    }),
                }
            }
            "bind" => {
                let target = target.ok_or_else(|| Error::Invalid("bind mount needs a target".into()))?;
                let source = kv.get("source").or_else(|| kv.get("src")).cloned().unwrap_or_default();
                let (root, identity) = match kv.get("from") {
                    Some(f) => {
                        let (root, id) = self.stage_root(f, true)?;
                        (root, id)
                    }
                    None => (self.ctx.root.clone(), "context".to_string()),
                };
                let rel = context::resolve_in(&root, &source, None)?.remove(0);
                let mut h = Sha256::new();
                h.update(identity.as_bytes());
                if !kv.contains_key("from") {
                    for r in context::walk(&root, &rel, Some(&self.ctx.ignore))? {
                        context::hash_entry(&mut h, &root, &r, true)?;
                    }
                }
                let _ = st;
                Ok(MountSpec {
                    mount: mp(MountKind::Bind, root.join(&rel).display().to_string(), target.clone(), rw),
                    key: format!("bind:{}:{target}:{rw}", Digest::from_hasher(h)),
                })
            }
            other => Err(Error::Invalid(format!("unsupported mount type {other:?}"))),
        }
    }

    /// The root filesystem a `--from` names (a stage or an image), materialized once per
    /// build; and an identity for cache keys. `COPY --from` only reads it: as root, its layers
    /// are mounted read-only (nothing copied, whatever the stage's size); a `RUN --mount` may
    /// write to it (writes BuildKit discards), so it gets a copy.
    fn stage_root(&mut self, from: &str, writable: bool) -> Result<(PathBuf, String)> {
        let (dirs, identity) = match self.plan.find(from) {
            Some(j) => {
                let mut st =
                    self.done.get(&j).cloned().ok_or_else(|| Error::Other(format!("stage {from} was not built")))?;
                let d = self.dirs(&mut st)?;
                let id = st.key().to_string();
                self.done.insert(j, st);
                (d, id)
            }
            None => {
                let img = self.image(from).map_err(|e| match e {
                    e if e.is_image_unavailable() => {
                        Error::NotFound(format!("--from={from}: no build stage named {from:?} and no such image ({e})"))
                    }
                    e => e,
                })?;
                let mut st = self.image_state(&img)?;
                (self.dirs(&mut st)?, img.id.to_string())
            }
        };
        let key = format!("{identity}{}", if writable { " rw" } else { "" });
        if let Some(p) = self.rootfs.get(&key) {
            return Ok((p.clone(), identity));
        }
        let dest = self.tmp.join(format!("rootfs-{}-{}", self.slot, self.rootfs.len()));
        let mounted = !writable
            && unpack::is_root()
            && berth_store::snapshot::overlay_supported()
            && berth_store::snapshot::mount_readonly(&dirs, &dest, &self.tmp.join("empty")).is_ok();
        if !mounted {
            fs::create_dir_all(&dest).at(&dest)?;
            unpack::apply_layer_dirs_copy(&dirs, &dest)?;
        }
        self.rootfs.insert(key, dest.clone());
        Ok((dest, identity))
    }

    /// Resolves a COPY/ADD: sources, destination, ownership, and the content hash.
    fn copy_plan(&mut self, st: &mut StageState, c: &CopyArgs) -> Result<CopyPlan> {
        let esc = self.escape;
        let look = st.lookup();
        let mut words: Vec<String> = if c.json {
            c.sources.iter().chain([&c.dest]).map(|w| expand(w, esc, &look)).collect::<std::result::Result<_, _>>()
        } else {
            let mut all = c.sources.clone();
            all.push(c.dest.clone());
            expand_words(&all.join(" "), esc, &look)
        }
        .map_err(Error::Other)?;
        let dest_raw = words.pop().unwrap_or_default();
        let chown = c.chown.as_deref().map(|x| expand(x, esc, &look)).transpose().map_err(Error::Other)?;
        let chmod =
            match c.chmod.as_deref() {
                Some(m) => Some(u32::from_str_radix(m, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
                    Error::Invalid(format!("invalid chmod {m:?}: an octal mode like 0755 is expected"))
                })?),
                None => None,
            };
        drop(look);
        let from = c.from.as_deref().map(|f| expand(f, esc, &st.lookup())).transpose().map_err(Error::Other)?;
        let wd = st.workdir();
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{dest_raw}", wd.trim_end_matches('/'))
        };
        let dest_dir = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == "." || words.len() > 1;
        let (root, identity, ignore) = match &from {
            Some(f) => {
                let (r, id) = self.stage_root(f, false)?;
                (r, id, None)
            }
            None => (self.ctx.root.clone(), "context".to_string(), Some(self.ctx.ignore.clone())),
        };
        let mut h = Sha256::new();
        h.update(identity.as_bytes());
        let mut sources = Vec::new();
        let mut excl = Ignore::parse(&c.exclude.join("\n"));
        let _ = &mut excl;
        for w in &words {
            if let Some(hd) =
                w.strip_prefix("<<").map(|n| n.trim_start_matches('-').trim_matches(|c| c == '"' || c == '\''))
            {
                if let Some(doc) = c.heredocs.iter().find(|d| d.name == hd) {
                    h.update(format!("heredoc:{}:{}", doc.name, doc.content).as_bytes());
                    sources.push(Source::Heredoc(doc.clone()));
                    continue;
                }
            }
            if let Some(g) = GitSource::parse(w) {
                if !c.add {
                    return Err(Error::Invalid(format!("COPY does not support git sources: {w} (use ADD)")));
                }
                // Keyed by the commit the ref names now, as BuildKit's git source is.
                let commit = g.resolve()?;
                // --checksum on a git source pins the commit (a prefix of it is enough).
                if let Some(cs) = c.checksum.as_deref().filter(|cs| !commit.starts_with(&cs.to_ascii_lowercase())) {
                    return Err(Error::Invalid(format!("ADD {w}: checksum mismatch: {cs} is not commit {commit}")));
                }
                h.update(format!("git:{}:{commit}:{}:{}", g.url, g.subdir, c.keep_git_dir).as_bytes());
                sources.push(Source::Git { git: g, commit, keep_git_dir: c.keep_git_dir });
                continue;
            }
            if w.starts_with("http://") || w.starts_with("https://") {
                if !c.add {
                    return Err(Error::Invalid(format!("COPY does not support URLs: {w} (use ADD)")));
                }
                let checksum = match &c.checksum {
                    Some(cs) => Some(cs.parse::<Digest>().map_err(|e| {
                        Error::Invalid(format!("invalid checksum {cs:?}: {e} (expected sha256:<64 hex digits>)"))
                    })?),
                    None => None,
                };
                match checksum {
                    // The checksum is the content's identity: no fetch unless the step runs.
                    Some(d) => {
                        h.update(format!("url:{w}:{d}").as_bytes());
                        sources.push(Source::Url { url: w.clone(), checksum: Some(d), fetched: None });
                    }
                    // Otherwise the content keys the step, as BuildKit's HTTP source does.
                    None => {
                        let dest = self.tmp.join(format!("url-{}-{}", self.slot, sources.len()));
                        let f = fetch_url(w, &dest)?;
                        h.update(format!("url:{w}:{}:{}:{}", f.digest, f.filename, f.mtime).as_bytes());
                        sources.push(Source::Url { url: w.clone(), checksum: None, fetched: Some(f) });
                    }
                }
                continue;
            }
            if c.checksum.is_some() {
                return Err(Error::Invalid("checksum can't be specified for non-HTTP(S) sources".into()));
            }
            for rel in context::resolve_in(&root, w, ignore.as_ref())? {
                let mut files = context::walk(&root, &rel, ignore.as_ref())?;
                if !c.exclude.is_empty() {
                    files.retain(|f| f == &rel || !excl.excluded(f.strip_prefix(&format!("{rel}/")).unwrap_or(f)));
                }
                for f in &files {
                    context::hash_entry(&mut h, &root, f, true)?;
                }
                sources.push(Source::Path { rel, files });
            }
        }
        let key = format!(
            "{}\0{}\0{}\0{:?}\0{:?}\0{}\0{}",
            Digest::from_hasher(h),
            words.join("\0"),
            dest,
            chown,
            chmod,
            c.add,
            dest_dir
        );
        Ok(CopyPlan {
            root,
            from_context: from.is_none(),
            sources,
            dest,
            dest_dir,
            chown,
            chmod,
            add: c.add,
            link: c.link,
            key,
        })
    }

    fn do_copy(&mut self, st: &mut StageState, p: &CopyPlan, staging: &Path) -> Result<()> {
        let stage_dirs = self.dirs(st)?;
        let dirs = if p.link { Vec::new() } else { stage_dirs.clone() };
        let owner = match &p.chown {
            Some(c) => Some(resolve_chown(&stage_dirs, c)?),
            None if p.from_context => Some((0, 0)),
            None => None,
        };
        let dest = resolve_dest(&dirs, &p.dest, p.dest_dir);
        let dest_exists_dir = lookup(&dirs, &dest).is_some_and(|m| m.is_dir());
        let into_dir = p.dest_dir || dest_exists_dir;
        let dest_dir_path = if into_dir { dest.clone() } else { parent_of(&dest) };
        make_parents(&dirs, staging, &dest_dir_path, true, None)?;
        let target_root = staging.join(context::clean(&dest_dir_path));
        if into_dir {
            if let Some((u, g)) = owner.filter(|_| !dest_exists_dir) {
                let _ = std::os::unix::fs::lchown(&target_root, Some(u), Some(g));
            }
        }
        for s in &p.sources {
            match s {
                Source::Heredoc(h) => {
                    let t = if into_dir { target_root.join(&h.name) } else { staging.join(context::clean(&dest)) };
                    fs::write(&t, h.content.as_bytes()).at(&t)?;
                    fs::set_permissions(&t, fs::Permissions::from_mode(p.chmod.unwrap_or(0o644))).at(&t)?;
                    if let Some((u, g)) = owner {
                        std::os::unix::fs::lchown(&t, Some(u), Some(g)).at(&t)?;
                    }
                }
                Source::Git { git, commit, keep_git_dir } => {
                    let x = staging.with_extension(format!("git{}", rand::random::<u32>()));
                    let res = git.checkout(commit, &x).and_then(|_| {
                        if !keep_git_dir {
                            unpack::remove_tree(&x.join(".git"))?;
                        }
                        let from = x.join(&git.subdir);
                        if !from.is_dir() {
                            let sd = &git.subdir;
                            return Err(Error::NotFound(format!("ADD {}: no directory {sd:?} at {commit}", git.url)));
                        }
                        // A repository is a directory: its contents land in the destination.
                        let t = staging.join(context::clean(&dest));
                        fs::create_dir_all(&t).at(&t)?;
                        for e in walkdir::WalkDir::new(&from).min_depth(1).sort_by_file_name() {
                            let e = e.map_err(|e| Error::Other(format!("ADD {}: {e}", git.url)))?;
                            let sub = e.path().strip_prefix(&from).unwrap_or(e.path());
                            copy_entry(e.path(), &t.join(sub), owner, p.chmod)?;
                        }
                        Ok(())
                    });
                    let _ = unpack::remove_tree(&x);
                    res?;
                }
                Source::Url { url, checksum, fetched } => {
                    let fresh;
                    let f = match fetched {
                        Some(f) => f,
                        None => {
                            fresh = fetch_url(url, &staging.with_extension(format!("url{}", rand::random::<u32>())))?;
                            &fresh
                        }
                    };
                    let res = (|| {
                        if let Some(want) = checksum {
                            if &f.digest != want {
                                return Err(Error::Invalid(format!("digest mismatch {}: {want}", f.digest)));
                            }
                        }
                        let t =
                            if into_dir { target_root.join(&f.filename) } else { staging.join(context::clean(&dest)) };
                        if let Some(parent) = t.parent() {
                            fs::create_dir_all(parent).at(parent)?;
                        }
                        fs::copy(&f.path, &t).at(&t)?;
                        fs::set_permissions(&t, fs::Permissions::from_mode(p.chmod.unwrap_or(0o600))).at(&t)?;
                        let (u, g) = owner.unwrap_or((0, 0));
                        std::os::unix::fs::lchown(&t, Some(u), Some(g)).at(&t)?;
                        set_mtime(&t, f.mtime);
                        Ok(())
                    })();
                    if fetched.is_none() {
                        let _ = fs::remove_file(&f.path);
                    }
                    res?;
                }
                Source::Path { rel, files } => {
                    let src = p.root.join(rel);
                    let m = fs::symlink_metadata(&src).at(&src)?;
                    if m.is_dir() {
                        // A directory's contents land in the destination directory.
                        let t = if into_dir { target_root.clone() } else { staging.join(context::clean(&dest)) };
                        fs::create_dir_all(&t).at(&t)?;
                        for f in files {
                            let sub = if f == rel { "" } else { f.strip_prefix(&format!("{rel}/")).unwrap_or(f) };
                            if sub.is_empty() {
                                continue;
                            }
                            copy_entry(&p.root.join(f), &t.join(sub), owner, p.chmod)?;
                        }
                        continue;
                    }
                    if p.add && m.is_file() && is_tar(&src) {
                        let t = if into_dir { target_root.clone() } else { staging.join(context::clean(&dest)) };
                        fs::create_dir_all(&t).at(&t)?;
                        // Extracted apart (with the store's checks against escaping entries),
                        // then merged over what the destination already holds.
                        let x = staging.with_extension("add");
                        let _ = unpack::remove_tree(&x);
                        fs::create_dir_all(&x).at(&x)?;
                        let f = fs::File::open(&src).at(&src)?;
                        let r = unpack::decompress(f).at(&src)?;
                        let what = format!("ADD {rel}");
                        // The merge keeps the archive's hard links as links (one file and
                        // N links in the layer, as Docker's ADD makes, not N copies) and
                        // never follows a symlink the destination already holds.
                        let res = unpack::extract(r, &x, &what, unpack::ExtractOptions::default())
                            .and_then(|_| unpack::apply_layer_dirs_copy(std::slice::from_ref(&x), &t))
                            .map_err(Error::from);
                        let _ = unpack::remove_tree(&x);
                        res?;
                        continue;
                    }
                    let name = Path::new(rel).file_name().map(|n| n.to_os_string()).unwrap_or_default();
                    let t = if into_dir { target_root.join(name) } else { staging.join(context::clean(&dest)) };
                    copy_entry(&src, &t, owner, p.chmod)?;
                }
            }
        }
        Ok(())
    }

    /// Runs one RUN step through the runner over the stage's layers; fills `layer_out` with
    /// the files it changed.
    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &mut self,
        st: &mut StageState,
        argv: &[String],
        env: &[String],
        mounts: &[MountSpec],
        network: Network,
        name: &str,
        v: usize,
        layer_out: &Path,
    ) -> Result<()> {
        let dirs = self.dirs(st)?;
        let mounts: Vec<RunMount> = mounts.iter().map(|m| m.mount.clone()).collect();
        let (user, workdir) = (st.user(), st.workdir());
        let step = RunStep {
            lower: &dirs,
            argv,
            env,
            user: &user,
            workdir: &workdir,
            hostname: "buildkitsandbox",
            network,
            mounts: &mounts,
            name,
            upper: layer_out,
        };
        let t0 = Instant::now();
        let mut output = String::new();
        let quiet = self.opts.quiet;
        let outcome = self.host.runner.run(&step, &mut |line| self_say(v, t0, line, &mut output, quiet))?;
        if outcome.exit_code != 0 {
            return Err(Error::RunFailed {
                command: argv.join(" "),
                code: outcome.exit_code,
                step: name.to_string(),
                output,
            });
        }
        Ok(())
    }

    fn export(&mut self, st: StageState, out: &mut Out) -> Result<BuildOutput> {
        let t = Instant::now();
        let v = out.vertex("exporting to image");
        let store = self.host.store;
        let mut cfg = st.config.clone();
        if !self.opts.labels.is_empty() {
            let mut labels = cfg.get("Labels").and_then(|l| l.as_object().cloned()).unwrap_or_default();
            for (k, val) in &self.opts.labels {
                labels.insert(k.clone(), json!(val));
            }
            cfg.insert("Labels".into(), Value::Object(labels));
        }
        let wasm = self.is_wasm()
            || (st.layers.iter().all(|_| true)
                && cfg
                    .get("Entrypoint")
                    .or_else(|| cfg.get("Cmd"))
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.as_str())
                    .is_some_and(|e| e.ends_with(".wasm"))
                && !cfg.get("Env").is_some_and(|_| false)
                && self.plan.stages.iter().any(|s| s.base.eq_ignore_ascii_case("scratch")));
        let created = match self.epoch {
            Some(e) => epoch_time(e),
            None if st.created.is_empty() => now(),
            None => st.created.clone(),
        };
        let (os, arch, variant) = if wasm {
            ("wasip1".to_string(), "wasm".to_string(), None)
        } else {
            (self.platform.os.clone(), self.platform.architecture.clone(), self.platform.variant.clone())
        };
        let mut config = json!({
            "architecture": arch,
            "os": os,
            "created": created,
            "config": Value::Object(cfg),
            "history": st.history,
            "rootfs": {"type": "layers", "diff_ids": st.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        });
        if let Some(a) = &st.author {
            config["author"] = json!(a);
        }
        if let Some(vr) = variant {
            config["variant"] = json!(vr);
        }
        out.say(&format!("#{v} exporting layers done"));
        let config_desc = store.put_json(media::OCI_CONFIG, &config)?;
        let layers: Vec<_> = st.layers.iter().map(|l| descriptor(&l.media_type, &l.blob, l.size)).collect();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc.clone())
            .layers(layers)
            .build()
            .map_err(|e| Error::Other(format!("building manifest: {e}")))?;
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Other(e.to_string()))?;
        let (digest, size) = store.put_blob(&bytes, None)?;
        let desc = descriptor(media::OCI_MANIFEST, &digest, size);
        out.say(&format!("#{v} writing image {} done", config_desc.digest()));
        let mut names = Vec::new();
        for tag in &self.opts.tags {
            let r = Reference::parse(tag)?;
            store.name_image(&r.to_string(), &desc)?;
            out.say(&format!("#{v} naming to {r} done"));
            names.push(r.to_string());
        }
        if names.is_empty() {
            store.add_dangling(&desc)?;
        }
        out.done(v, t);
        let image = Image::load(store, &desc, names)?;
        Ok(BuildOutput { image, executed: self.executed, cached: self.cached })
    }
}

fn self_say(v: usize, t0: Instant, line: &str, output: &mut String, quiet: bool) {
    output.push_str(line);
    output.push('\n');
    if !quiet {
        eprintln!("#{v} {:.3} {line}", t0.elapsed().as_secs_f64());
    }
}

/// A `RUN --mount` resolved, and its part of the step's cache key.
struct MountSpec {
    mount: RunMount,
    key: String,
}

enum Source {
    Heredoc(Heredoc),
    Path {
        rel: String,
        files: Vec<String>,
    },
    /// `ADD <url>`: fetched while planning when no `--checksum` keys it, else only on a miss.
    Url {
        url: String,
        checksum: Option<Digest>,
        fetched: Option<Fetched>,
    },
    /// `ADD <git url>[#ref[:subdir]]`, resolved to a commit while planning.
    Git {
        git: GitSource,
        commit: String,
        keep_git_dir: bool,
    },
}

/// A git repository `ADD` names, in BuildKit's URL forms: `git@host:path`, `git://`, `ssh://`,
/// or `http(s)://` ending in `.git`; then `#ref` and `#ref:subdir`.
struct GitSource {
    url: String,
    reference: Option<String>,
    subdir: String,
}

impl GitSource {
    fn parse(w: &str) -> Option<GitSource> {
        let (url, frag) = match w.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (w, None),
        };
        let is_git = url.starts_with("git@")
            || url.starts_with("git://")
            || url.starts_with("ssh://")
            || ((url.starts_with("http://") || url.starts_with("https://")) && url.ends_with(".git"));
        if !is_git {
            return None;
        }
        let (reference, subdir) = match frag.map(|f| f.split_once(':').unwrap_or((f, ""))) {
            Some((r, sd)) => ((!r.is_empty()).then(|| r.to_string()), context::clean(sd)),
            None => (None, String::new()),
        };
        Some(GitSource { url: url.to_string(), reference, subdir })
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        let o = std::process::Command::new("git")
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::Unavailable(format!("ADD {}: running git: {e}", self.url)))?;
        if !o.status.success() {
            return Err(Error::Unavailable(format!(
                "ADD {}: git {}: {}",
                self.url,
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// The commit the reference (default: HEAD) names.
    fn resolve(&self) -> Result<String> {
        let r = self.reference.as_deref().unwrap_or("HEAD");
        if r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(r.to_ascii_lowercase());
        }
        let out = self.git(&["ls-remote", &self.url, r, &format!("{r}^{{}}")])?;
        // A peeled annotated tag (`^{}`) names the commit; otherwise the ref itself.
        let mut lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once('\t')).collect();
        lines.sort_by_key(|(_, name)| !name.ends_with("^{}"));
        lines
            .first()
            .map(|(sha, _)| sha.to_string())
            .ok_or_else(|| Error::NotFound(format!("ADD {}: no ref {r:?} in the repository", self.url)))
    }

    /// Checks the commit out into `dir` (a shallow fetch when a ref names it).
    fn checkout(&self, commit: &str, dir: &Path) -> Result<()> {
        let d = dir.to_string_lossy();
        self.git(&["init", "-q", &d])?;
        let by_ref = self.reference.as_deref().filter(|r| r.to_ascii_lowercase() != commit).unwrap_or("HEAD");
        let shallow = self.git(&["-C", &d, "fetch", "-q", "--depth", "1", &self.url, by_ref]).is_ok()
            && self.git(&["-C", &d, "rev-parse", "FETCH_HEAD"])?.trim() == commit;
        if !shallow {
            let all = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
            self.git(&["-C", &d, "fetch", "-q", &self.url, all[0], all[1]])?;
        }
        self.git(&["-C", &d, "-c", "advice.detachedHead=false", "checkout", "-q", commit])?;
        Ok(())
    }
}

/// A file `ADD` fetched over HTTP(S).
struct Fetched {
    path: PathBuf,
    digest: Digest,
    /// BuildKit's name for it: Content-Disposition's filename, else the URL path's last part.
    filename: String,
    /// Last-Modified, in seconds (BuildKit uses the epoch when the server sends none).
    mtime: i64,
}

/// Fetches `url` into `dest` as BuildKit's HTTP source does: a status outside 200-399 is an
/// error; the content's sha256, its file name and its modification time come back.
fn fetch_url(url: &str, dest: &Path) -> Result<Fetched> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::Invalid(format!("ADD {url}: invalid URL: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("ADD {url}: {e}")))?;
    let fail = |source: reqwest::Error| Error::Fetch { url: url.to_string(), source };
    let (bytes, headers) = rt.block_on(async {
        let resp = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(fail)?
            .get(parsed.clone())
            .send()
            .await
            .map_err(fail)?;
        let status = resp.status().as_u16();
        if !(200..400).contains(&status) {
            return Err(Error::Unavailable(format!("ADD {url}: invalid response status {status}")));
        }
        let headers = resp.headers().clone();
        Ok((resp.bytes().await.map_err(fail)?, headers))
    })?;
    fs::write(dest, &bytes).at(dest)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let from_disposition = header("content-disposition").and_then(|cd| {
        cd.split(';').find_map(|p| {
            let v = p.trim().strip_prefix("filename=")?.trim_matches('"');
            (!v.is_empty() && !v.ends_with('/')).then(|| v.rsplit('/').next().unwrap_or(v).to_string())
        })
    });
    let from_path = parsed
        .path_segments()
        .and_then(|mut s| s.next_back().map(String::from))
        .filter(|b| !b.is_empty() && b != "." && b != "/");
    let mtime = header("last-modified")
        .and_then(|lm| chrono::DateTime::parse_from_rfc2822(&lm).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0);
    Ok(Fetched {
        path: dest.to_path_buf(),
        digest: Digest::of(&bytes),
        filename: from_disposition.or(from_path).unwrap_or_else(|| "download".into()),
        mtime,
    })
}

struct CopyPlan {
    root: PathBuf,
    from_context: bool,
    sources: Vec<Source>,
    dest: String,
    dest_dir: bool,
    chown: Option<String>,
    chmod: Option<u32>,
    add: bool,
    /// `--link`: nothing of the stage is read (parents are new 0755 root directories).
    link: bool,
    key: String,
}

/// Applies an instruction that only edits the image config (ENV, LABEL, EXPOSE, VOLUME, USER,
/// STOPSIGNAL, MAINTAINER, ONBUILD, SHELL, CMD, ENTRYPOINT, HEALTHCHECK): the config, the
/// cache key and the history. False for any other instruction. One implementation for
/// Dockerfiles and `import --change`.
fn config_step(st: &mut StageState, s: &Step, esc: char) -> Result<bool> {
    let ex = |st: &StageState, raw: &str| expand(raw, esc, &st.lookup()).map_err(invalid);
    let exw = |st: &StageState, raw: &str| expand_words(raw, esc, &st.lookup()).map_err(invalid);
    match &s.instr {
        Instr::Env { args } => {
            let pairs = key_values(args, esc, &st.lookup()).map_err(invalid)?;
            let mut shown = Vec::new();
            for (k, v) in pairs {
                st.set_env(&k, &v);
                shown.push(format!("{k}={v}"));
            }
            st.key = Some(cache::key(&st.key(), &["ENV", &shown.join("\0")]));
            st.add_history(format!("ENV {}", shown.join(" ")), true);
        }
        Instr::Label { args } => {
            let pairs = key_values(args, esc, &st.lookup()).map_err(invalid)?;
            let mut labels = st.config.get("Labels").and_then(|l| l.as_object().cloned()).unwrap_or_default();
            let mut shown = Vec::new();
            for (k, v) in pairs {
                shown.push(format!("{k}={v}"));
                labels.insert(k, json!(v));
            }
            st.config.insert("Labels".into(), Value::Object(labels));
            st.key = Some(cache::key(&st.key(), &["LABEL", &shown.join("\0")]));
            st.add_history(format!("LABEL {}", shown.join(" ")), true);
        }
        Instr::Expose { args } => {
            let mut ports = st.config.get("ExposedPorts").and_then(|l| l.as_object().cloned()).unwrap_or_default();
            let words = exw(st, args)?;
            for w in &words {
                for p in expand_port(w).map_err(invalid)? {
                    ports.insert(p, json!({}));
                }
            }
            st.config.insert("ExposedPorts".into(), Value::Object(ports));
            st.key = Some(cache::key(&st.key(), &["EXPOSE", &words.join(" ")]));
            st.add_history(
                format!("EXPOSE map[{}]", words.iter().map(|w| format!("{w}:{{}}")).collect::<Vec<_>>().join(" ")),
                true,
            );
        }
        Instr::Volume { paths, json } => {
            let mut vols = st.config.get("Volumes").and_then(|l| l.as_object().cloned()).unwrap_or_default();
            let list: Vec<String> = if *json {
                paths.iter().map(|p| ex(st, p)).collect::<Result<_>>()?
            } else {
                exw(st, &paths.join(" "))?
            };
            for p in &list {
                if p.trim().is_empty() {
                    return Err(invalid("VOLUME specified can not be an empty string".into()));
                }
                vols.insert(p.clone(), json!({}));
            }
            st.config.insert("Volumes".into(), Value::Object(vols));
            st.key = Some(cache::key(&st.key(), &["VOLUME", &list.join("\0")]));
            st.add_history(format!("VOLUME {}", serde_json::to_string(&list).unwrap_or_default()), true);
        }
        Instr::User { user } => {
            let u = ex(st, user)?;
            st.config.insert("User".into(), json!(u));
            st.key = Some(cache::key(&st.key(), &["USER", &u]));
            st.add_history(format!("USER {u}"), true);
        }
        Instr::Stopsignal { signal } => {
            let sig = ex(st, signal)?;
            berth_oci::config::parse_signal(&sig)?;
            st.config.insert("StopSignal".into(), json!(sig));
            st.key = Some(cache::key(&st.key(), &["STOPSIGNAL", &sig]));
            st.add_history(format!("STOPSIGNAL {sig}"), true);
        }
        Instr::Maintainer { name: m } => {
            st.author = Some(m.clone());
            st.key = Some(cache::key(&st.key(), &["MAINTAINER", m]));
            st.add_history(format!("MAINTAINER {m}"), true);
        }
        Instr::Onbuild { trigger } => {
            let mut list = st.config.get("OnBuild").and_then(|l| l.as_array().cloned()).unwrap_or_default();
            let t = match trigger.split_once(char::is_whitespace) {
                Some((kw, rest)) => format!("{} {}", kw.to_ascii_uppercase(), rest.trim_start()),
                None => trigger.to_ascii_uppercase(),
            };
            list.push(json!(t));
            st.config.insert("OnBuild".into(), Value::Array(list));
            st.key = Some(cache::key(&st.key(), &["ONBUILD", &t]));
            st.add_history(format!("ONBUILD {t}"), true);
        }
        Instr::Shell { shell } => {
            st.config.insert("Shell".into(), json!(shell));
            st.key = Some(cache::key(&st.key(), &["SHELL", &shell.join("\0")]));
            st.add_history(format!("SHELL {}", serde_json::to_string(shell).unwrap_or_default()), true);
        }
        Instr::Cmd { command } | Instr::Entrypoint { command } => {
            let is_cmd = matches!(s.instr, Instr::Cmd { .. });
            let argv = match command {
                Command::Exec(v) => v.clone(),
                Command::Shell(c) => {
                    let mut v = st.shell();
                    v.push(c.clone());
                    v
                }
            };
            let field = if is_cmd { "Cmd" } else { "Entrypoint" };
            st.config.insert(field.into(), json!(argv));
            if is_cmd {
                st.cmd_set = true;
            } else if !st.cmd_set {
                st.config.insert("Cmd".into(), Value::Null);
            }
            let kw = if is_cmd { "CMD" } else { "ENTRYPOINT" };
            let shown = serde_json::to_string(&argv).unwrap_or_default();
            st.key = Some(cache::key(&st.key(), &[kw, &shown]));
            st.add_history(format!("{kw} {shown}"), true);
        }
        Instr::Healthcheck(h) => {
            let v = healthcheck(h, &st.shell()).map_err(invalid)?;
            st.key = Some(cache::key(&st.key(), &["HEALTHCHECK", &v.to_string()]));
            st.config.insert("Healthcheck".into(), v);
            st.add_history(
                format!("HEALTHCHECK {}", s.original.split_once(char::is_whitespace).map(|x| x.1).unwrap_or("")),
                true,
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// WORKDIR's edit of the config: the path expanded; an absolute one is kept as written (a
/// trailing slash too, as BuildKit records it), a relative one is joined to the current one
/// and cleaned (Go's `path.Join`). Returns it.
fn set_workdir(st: &mut StageState, path: &str, esc: char) -> Result<String> {
    let p = expand(path, esc, &st.lookup()).map_err(invalid)?;
    let full = if p.starts_with('/') { p } else { format!("/{}", context::clean(&format!("{}/{p}", st.workdir()))) };
    st.config.insert("WorkingDir".into(), json!(full));
    Ok(full)
}

/// A step's error, unpositioned (the stage positions it): an argument or value it refused.
fn invalid(msg: String) -> Error {
    Error::Invalid(msg)
}

/// Positions a step's error as BuildKit does: the file and line, the line shown, the message.
fn position(df: &parser::Dockerfile, s: &Step, e: Error) -> Error {
    let text = df.lines.get(s.line.wrapping_sub(1)).cloned().unwrap_or_else(|| s.original.clone());
    Error::Step { file: df.file.clone(), line: s.line, text, source: Box::new(e) }
}

/// `k=v k2="v 2"` (or the legacy `k v w`) for ENV and LABEL, expanded.
fn key_values(args: &str, esc: char, look: &dyn parser::Lookup) -> std::result::Result<Vec<(String, String)>, String> {
    let first = args.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, rest) = args.trim().split_once(char::is_whitespace).ok_or("must have two arguments")?;
        return Ok(vec![(expand(k, esc, look)?, expand(rest.trim(), esc, look)?)]);
    }
    let mut out = Vec::new();
    for w in expand_words(args, esc, look)? {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("syntax error - can't find = in {w:?}. Must be of the form: name=value"))?;
        if k.is_empty() {
            return Err(format!("{w:?}: a key is required"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// An ARG word (`NAME` or `NAME=default`): its name and value, the `--build-arg` when one is
/// given (which marks it used), else the declared default.
fn arg_word(word: &str, build_args: &HashMap<String, String>, used: &mut HashSet<String>) -> (String, Option<String>) {
    let (name, default) = match word.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (word.to_string(), None),
    };
    match build_args.get(&name) {
        Some(v) => {
            used.insert(name.clone());
            (name, Some(v.clone()))
        }
        None => (name, default),
    }
}

/// EXPOSE words (Dockerfiles and `--change` alike): `80` -> `80/tcp`; `8000-8002/udp` ->
/// three ports.
pub fn expand_port(w: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match w.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (w, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid containerPort: {p}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// The instructions `import --change` (Docker's `commit --change`) accepts.
const CHANGE_COMMANDS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
/// STOPSIGNAL, USER, VOLUME, WORKDIR) to `config`, an image config's `config` object, with
/// the Dockerfile's parser and the code a build applies them with: the same quoting and
/// `$VAR`/`${VAR...}` expansion from the config's environment. The config is edited as JSON
/// so fields berth does not model survive. As in Docker, an ENTRYPOINT drops the CMD unless
/// the same batch sets one.
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut st = StageState { config: std::mem::take(config), ..Default::default() };
    let r = changes.iter().try_for_each(|c| apply_change(&mut st, c));
    *config = st.config;
    r
}

fn apply_change(st: &mut StageState, change: &str) -> Result<()> {
    let bad = |e: Error| Error::invalid_change(change, e);
    let kw = change.split_whitespace().next().unwrap_or("");
    if kw.is_empty() {
        return Err(bad(Error::Invalid("empty change".into())));
    }
    if !CHANGE_COMMANDS.contains(&kw.to_ascii_uppercase().as_str()) {
        return Err(Error::NotAChangeCommand(kw.to_string()));
    }
    let (df, steps) = crate::instructions::parse_steps(change, "--change").map_err(|e| bad(e.into()))?;
    for s in &steps {
        let kw = s.original.split_whitespace().next().unwrap_or("");
        if !CHANGE_COMMANDS.contains(&kw.to_ascii_uppercase().as_str()) {
            return Err(Error::NotAChangeCommand(kw.to_string()));
        }
        match &s.instr {
            Instr::Workdir { path } => {
                set_workdir(st, path, df.escape).map_err(bad)?;
            }
            _ => {
                config_step(st, s, df.escape).map_err(bad)?;
            }
        }
        // A build leaves a null CMD after ENTRYPOINT; an imported config has none at all.
        if matches!(s.instr, Instr::Entrypoint { .. }) && st.config.get("Cmd") == Some(&Value::Null) {
            st.config.remove("Cmd");
        }
    }
    Ok(())
}

/// Go duration strings (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(s: &str) -> std::result::Result<i64, String> {
    berth_oci::time::parse_go_duration(s)
}

fn healthcheck(h: &Health, shell: &[String]) -> std::result::Result<Value, String> {
    let _ = shell;
    if h.none {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let test = match &h.test {
        Some(Command::Exec(v)) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v.iter().cloned());
            t
        }
        Some(Command::Shell(s)) => vec!["CMD-SHELL".into(), s.clone()],
        None => return Err("HEALTHCHECK needs CMD".into()),
    };
    let mut v = json!({"Test": test});
    for (field, val) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
        ("StartInterval", &h.start_interval),
    ] {
        if let Some(x) = val {
            v[field] = json!(duration_ns(x)?);
        }
    }
    if let Some(r) = &h.retries {
        v["Retries"] = json!(r.parse::<i64>().map_err(|_| format!("invalid retries {r:?}"))?);
    }
    Ok(v)
}

/// RUN's argv: exec form as is; shell form through the SHELL; a heredoc-only RUN runs the
/// heredoc as the script; other heredocs go to the shell as written.
fn run_argv(command: &Command, heredocs: &[Heredoc], shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut argv = shell.to_vec();
            let markers = parser::heredoc_markers(s);
            let only_heredoc = heredocs.len() == 1 && markers.len() == 1 && {
                let t = s.trim();
                t.starts_with("<<") && !t.contains(char::is_whitespace)
            };
            if only_heredoc {
                argv.push(heredocs[0].content.clone());
            } else if heredocs.is_empty() {
                argv.push(s.clone());
            } else {
                let mut script = s.clone();
                for h in heredocs {
                    script.push('\n');
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                }
                argv.push(script);
            }
            argv
        }
    }
}

fn shown_command(argv: &[String]) -> String {
    argv.join(" ")
}

/// The metadata of `path` in a stack of unpacked layers (top wins; a whiteout hides).
fn lookup(dirs: &[PathBuf], path: &str) -> Option<fs::Metadata> {
    let rel = context::clean(path);
    if rel.is_empty() {
        return dirs.last().and_then(|d| fs::metadata(d).ok());
    }
    let parts: Vec<&str> = rel.split('/').collect();
    'layers: for d in dirs.iter().rev() {
        // A link or a file on the way covers the path in this layer and the lower ones; it is
        // never followed (joined onto the layer directory, the host would follow it).
        let mut p = d.clone();
        for part in &parts[..parts.len() - 1] {
            p.push(part);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return None,
                Err(_) => continue 'layers,
            }
        }
        if let Ok(m) = fs::symlink_metadata(d.join(&rel)) {
            if m.file_type().is_char_device() && m.rdev() == 0 {
                return None;
            }
            return Some(m);
        }
        let name = Path::new(&rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let wh = d.join(parent_of(&rel).trim_start_matches('/')).join(format!("{}{name}", unpack::WHITEOUT_PREFIX));
        if wh.exists() {
            return None;
        }
    }
    None
}

fn parent_of(p: &str) -> String {
    match Path::new(p).parent() {
        Some(x) => x.display().to_string(),
        None => "/".into(),
    }
}

/// Creates `dir` (and its parents) in `staging` with the metadata they have in the stage
/// (or 0755 root:root when new), so the layer does not change them.
/// New ones belong to `owner` (WORKDIR under a USER) when given.
fn make_parents(
    dirs: &[PathBuf],
    staging: &Path,
    dir: &str,
    include_self: bool,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let rel = context::clean(dir);
    if rel.is_empty() {
        return Ok(());
    }
    let parts: Vec<&str> = rel.split('/').collect();
    let n = if include_self { parts.len() } else { parts.len() - 1 };
    let mut cur = String::new();
    for p in &parts[..n] {
        cur = if cur.is_empty() { p.to_string() } else { format!("{cur}/{p}") };
        let t = staging.join(&cur);
        if t.exists() {
            continue;
        }
        fs::create_dir(&t).at(&t)?;
        match lookup(dirs, &cur).filter(|m| m.is_dir()) {
            Some(m) => {
                fs::set_permissions(&t, fs::Permissions::from_mode(m.mode() & 0o7777)).at(&t)?;
                let _ = std::os::unix::fs::lchown(&t, Some(m.uid()), Some(m.gid()));
                set_mtime(&t, m.mtime());
            }
            None => {
                fs::set_permissions(&t, fs::Permissions::from_mode(0o755)).at(&t)?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::lchown(&t, Some(u), Some(g)).at(&t)?;
                }
            }
        }
    }
    Ok(())
}

fn set_mtime(p: &Path, secs: i64) {
    let _ = unpack::set_mtime_nofollow(p, secs);
}

/// Copies one file, link, directory (itself, not its contents) or device.
fn copy_entry(src: &Path, dst: &Path, owner: Option<(u32, u32)>, chmod: Option<u32>) -> Result<()> {
    let m = fs::symlink_metadata(src).at(src)?;
    if let Some(p) = dst.parent() {
        if !p.exists() {
            fs::create_dir_all(p).at(p)?;
        }
    }
    let ft = m.file_type();
    if let Ok(old) = fs::symlink_metadata(dst) {
        if !(old.is_dir() && ft.is_dir()) {
            let _ = if old.is_dir() { fs::remove_dir_all(dst) } else { fs::remove_file(dst) };
        }
    }
    if ft.is_dir() {
        if !dst.exists() {
            fs::create_dir(dst).at(dst)?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).at(src)?, dst).at(dst)?;
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(|e| Error::Other(format!("error from sender: {}: {e}", src.display())))?;
    } else {
        let rdev = m.rdev();
        unpack::mknod(dst, m.mode() & libc::S_IFMT, m.mode(), nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev))
            .at(dst)?;
    }
    let (u, g) = owner.unwrap_or((m.uid(), m.gid()));
    std::os::unix::fs::lchown(dst, Some(u), Some(g)).at(dst)?;
    if !ft.is_symlink() {
        let mode = chmod.unwrap_or(m.mode() & 0o7777);
        fs::set_permissions(dst, fs::Permissions::from_mode(mode)).at(dst)?;
    }
    set_mtime(dst, m.mtime());
    Ok(())
}

fn is_tar(p: &Path) -> bool {
    let Ok(f) = fs::File::open(p) else { return false };
    let Ok(mut r) = unpack::decompress(f) else { return false };
    let mut head = vec![0u8; 512];
    let mut got = 0;
    while got < 512 {
        match std::io::Read::read(&mut r, &mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got == 512 && &head[257..262] == b"ustar"
}

/// `--chown=user[:group]`: numbers, or names looked up in the stage's /etc/passwd and
/// /etc/group. A user alone gives the same number as the group, as Docker does.
fn resolve_chown(dirs: &[PathBuf], spec_s: &str) -> Result<(u32, u32)> {
    resolve_owner(dirs, spec_s, false)
}

/// `user[:group]` as numbers. A user alone gets its uid as the group, or with `primary` (how
/// BuildKit reads USER for WORKDIR) a named user gets its passwd entry's group.
fn resolve_owner(dirs: &[PathBuf], spec_s: &str, primary: bool) -> Result<(u32, u32)> {
    let (u, g) = match spec_s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec_s, None),
    };
    // Read in the stage's merged view: its symlinks resolve inside it, never on the host.
    use berth_store::layerview::{LayerView, RootView};
    let read = |f: &str| -> String {
        LayerView::new(dirs).open(f).and_then(|f| std::io::read_to_string(f).ok()).unwrap_or_default()
    };
    let find_field = |file: &str, name: &str, field: usize| -> Option<u32> {
        read(file).lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(field)?.parse().ok()).flatten()
        })
    };
    let find = |file: &str, name: &str| find_field(file, name, 2);
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => find("etc/passwd", u)
            .ok_or_else(|| Error::NotFound(format!("unable to find user {u}: no matching entries in passwd file")))?,
    };
    let gid = match g {
        None if primary && u.parse::<u32>().is_err() => find_field("etc/passwd", u, 3).unwrap_or(uid),
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => find("etc/group", g).ok_or_else(|| {
                Error::NotFound(format!("unable to find group {g}: no matching entries in group file"))
            })?,
        },
    };
    Ok((uid, gid))
}

/// A COPY/ADD destination as the stage sees it: the links among its existing directories
/// resolved in the stage's merged view (BuildKit's rule), so `COPY f /var/run/` lands in
/// `/run` where `/var/run -> /run` instead of shadowing the link with a directory. The last
/// name of a file destination is kept. `--link` (no stage below) and chains past 40 links keep
/// the path as written: either way the files go to the step's own staging directory.
fn resolve_dest(dirs: &[PathBuf], dest: &str, dest_dir: bool) -> String {
    if dirs.is_empty() {
        return dest.to_string();
    }
    let view = berth_store::layerview::LayerView::new(dirs);
    if dest_dir {
        return view.canonical(dest).unwrap_or_else(|| dest.to_string());
    }
    let name = Path::new(dest).file_name().map(|n| n.to_string_lossy().into_owned());
    match (view.canonical(&parent_of(dest)), name) {
        (Some(parent), Some(name)) => format!("{}/{name}", parent.trim_end_matches('/')),
        _ => dest.to_string(),
    }
}

/// SOURCE_DATE_EPOCH: no file in a new layer is newer than the epoch.
fn clamp_mtimes(dir: &Path, epoch: i64) {
    for e in walkdir::WalkDir::new(dir).min_depth(1).into_iter().flatten() {
        if let Ok(m) = e.path().symlink_metadata() {
            if m.mtime() > epoch {
                set_mtime(e.path(), epoch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_durations() {
        assert_eq!(expand_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expand_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(expand_port("8000-8001").unwrap(), vec!["8000/tcp", "8001/tcp"]);
        assert!(expand_port("x").is_err());
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
    }

    #[test]
    fn heredoc_run_forms() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let h = vec![Heredoc { name: "EOF".into(), content: "echo hi\n".into(), expand: true, chomp: false }];
        assert_eq!(run_argv(&Command::Shell("<<EOF".into()), &h, &sh)[2], "echo hi\n");
        assert_eq!(run_argv(&Command::Shell("cat <<EOF".into()), &h, &sh)[2], "cat <<EOF\necho hi\nEOF");
    }
}

/// Build plans run against a fake [`StepRunner`]: layers, cache hits and failures without
/// containers, root or a network.
#[cfg(test)]
mod fake_runner {
    use super::*;
    use crate::step::RunOutcome;
    use std::sync::Mutex;

    /// Writes `/ran` with the argv into the step's upper directory, or exits with the code a
    /// `exit N` at the end of the command asks for; records every step it is handed.
    #[derive(Default)]
    struct Fake {
        steps: Mutex<Vec<Seen>>,
    }

    /// What the fake was handed: argv, env, workdir, user, network, number of lower layers.
    type Seen = (Vec<String>, Vec<String>, String, String, Network, usize);

    impl StepRunner for Fake {
        fn run(&self, step: &RunStep<'_>, output: &mut dyn FnMut(&str)) -> Result<RunOutcome> {
            self.steps.lock().unwrap().push((
                step.argv.to_vec(),
                step.env.to_vec(),
                step.workdir.to_string(),
                step.user.to_string(),
                step.network,
                step.lower.len(),
            ));
            let cmd = step.argv.last().cloned().unwrap_or_default();
            output(&format!("running {cmd}"));
            if let Some(code) = cmd.rsplit_once("exit ").and_then(|(_, n)| n.trim().parse::<i32>().ok()) {
                output("it failed");
                return Ok(RunOutcome { exit_code: code });
            }
            fs::write(step.upper.join("ran"), cmd.as_bytes()).unwrap();
            Ok(RunOutcome { exit_code: 0 })
        }
    }

    struct Env {
        root: tempfile::TempDir,
        context: tempfile::TempDir,
        store: Store,
        fake: Fake,
    }

    impl Env {
        fn new() -> Env {
            let root = tempfile::tempdir().unwrap();
            let store = Store::open(root.path()).unwrap();
            Env { context: tempfile::tempdir().unwrap(), root, store, fake: Fake::default() }
        }

        fn build(&self, dockerfile: &str, tags: &[&str]) -> Result<BuildOutput> {
            let pull = |name: &str, _: &Platform| -> Result<Image> {
                Err(Error::external(ErrorKind::NotFound, berth_store::Error::ImageNotFound(name.into())))
            };
            let host = Host { root: self.root.path(), store: &self.store, runner: &self.fake, pull: &pull };
            let opts = BuildOptions {
                context: self.context.path().to_path_buf(),
                dockerfile_text: Some(dockerfile.into()),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                quiet: true,
                ..Default::default()
            };
            build(host, &opts, &mut Vec::new())
        }

        fn runs(&self) -> usize {
            self.fake.steps.lock().unwrap().len()
        }
    }

    use berth_oci::ErrorKind;

    /// BuildKit's choices: `/` as a scratch image's working directory; WORKDIR a layer (empty
    /// when the directory exists), none for `/`; its new directories the USER's.
    #[test]
    fn workdir_follows_buildkit() {
        // Making directories another user's takes root (/proc/self belongs to the euid).
        let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let e = Env::new();
        let user = if root { "USER 7" } else { "" };
        let df = format!("FROM scratch\nWORKDIR /\nWORKDIR /a\nWORKDIR /a\n{user}\nWORKDIR /a/b/c\n");
        let df = df.as_str();
        let out = e.build(df, &[]).unwrap();
        assert_eq!(out.image.config_json["config"]["WorkingDir"], "/a/b/c");
        let layers = out.image.manifest.layers();
        assert_eq!(layers.len(), 3, "WORKDIR / adds none, the others one each");
        let dir = |i: usize| e.store.unpack_layer(&berth_store::desc_digest(&layers[i]).unwrap(), None).unwrap().path;
        assert_eq!(fs::metadata(dir(0).join("a")).unwrap().uid(), 0);
        assert_eq!(fs::read_dir(dir(1)).unwrap().count(), 0, "/a exists: an empty layer");
        for p in ["a/b", "a/b/c"] {
            let m = fs::metadata(dir(2).join(p)).unwrap();
            assert!(!root || (m.uid(), m.gid()) == (7, 7), "{p} is USER 7's");
        }
        let scratch = e.build("FROM scratch\nENV A=1\n", &[]).unwrap();
        assert_eq!(scratch.image.config_json["config"]["WorkingDir"], "/");
    }

    #[test]
    fn run_steps_become_layers_and_cache_hits() {
        let e = Env::new();
        let df = "FROM scratch\nENV A=1\nUSER 7\nRUN make it\nRUN --network=none make more\n";
        let out = e.build(df, &["example.com/app:1"]).unwrap();
        assert_eq!((out.executed, out.cached, e.runs()), (2, 0, 2));
        assert_eq!(out.image.names, vec!["example.com/app:1"]);
        assert_eq!(out.image.manifest.layers().len(), 2, "one layer per RUN");
        {
            let steps = e.fake.steps.lock().unwrap();
            let (argv, env, workdir, user, network, lower) = &steps[0];
            assert_eq!(argv, &["/bin/sh", "-c", "make it"]);
            assert_eq!(env, &[format!("PATH={DEFAULT_PATH}"), "A=1".to_string()]);
            assert_eq!((workdir.as_str(), user.as_str(), *network, *lower), ("/", "7", Network::Default, 0));
            // The second step runs over the first one's layer, in the network it asked for.
            assert_eq!((steps[1].4, steps[1].5), (Network::None, 1));
        }
        let layer = e.store.unpack_layer(&berth_store::desc_digest(&out.image.manifest.layers()[0]).unwrap(), None);
        assert_eq!(fs::read_to_string(layer.unwrap().path.join("ran")).unwrap(), "make it");

        // Unchanged: every step answered by the cache, the same image, nothing run.
        let again = e.build(df, &[]).unwrap();
        assert_eq!((again.executed, again.cached, e.runs()), (0, 2, 2));
        assert_eq!(again.image.id, out.image.id);
        // A changed step runs again, and the ones after it too; the ones before stay cached.
        let changed = e.build(&df.replace("make it", "make it now"), &[]).unwrap();
        assert_eq!((changed.executed, changed.cached, e.runs()), (2, 0, 4));
    }

    #[test]
    fn a_failing_run_is_docker_s_error_positioned_and_tags_nothing() {
        let e = Env::new();
        let err = e.build("FROM scratch\nRUN echo hi; exit 3\n", &["x:1"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:2\n--------------------\n   2 | >>> RUN echo hi; exit 3\n--------------------\n\
             process \"/bin/sh -c echo hi; exit 3\" did not complete successfully: exit code: 3\n------\n \
             > [2/2] RUN echo hi; exit 3:\nrunning echo hi; exit 3\nit failed\n------"
        );
        let Error::Step { file, line, source, .. } = &err else { panic!("{err:?}") };
        assert_eq!((file.as_str(), *line), ("Dockerfile", 2));
        assert!(matches!(**source, Error::RunFailed { code: 3, .. }), "{source:?}");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(matches!(e.store.resolve_image("x:1"), Err(berth_store::Error::ImageNotFound(_))));
    }

    #[test]
    fn dockerfile_errors_carry_their_position() {
        let e = Env::new();
        let err = e.build("FROM scratch\n  FROBNICATE x\n", &[]).unwrap_err();
        let Error::Parse(p) = &err else { panic!("{err:?}") };
        assert_eq!((p.file.as_str(), p.line, p.col), ("Dockerfile", 2, 3));
        assert_eq!(p.message, "unknown instruction: FROBNICATE");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        // A base image nobody has: the FROM line, and the pull's kind.
        let err = e.build("FROM nosuch\nRUN x\n", &[]).unwrap_err();
        assert!(matches!(&err, Error::Base { line: 1, base, .. } if base == "nosuch"), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        // RUN --network=host needs the entitlement.
        let err = e.build("FROM scratch\nRUN --network=host x\n", &[]).unwrap_err();
        assert!(err
            .to_string()
            .ends_with("network.host is not allowed: pass --network host or --allow network.host to build"));
        assert_eq!(e.runs(), 0);
    }
}

#[cfg(test)]
mod changes {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut m = Map::new();
        apply_changes(&mut m, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Value::Object(m)
    }

    fn refused(changes: &[&str]) -> Error {
        let mut m = Map::new();
        apply_changes(&mut m, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err()
    }

    #[test]
    fn docker_forms() {
        let c = apply(&[
            r#"CMD ["sh"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV C $A-x",
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL a=b \"c d\"=e",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGTERM",
            "onbuild run echo hi",
            "HEALTHCHECK --interval=5s CMD true",
        ]);
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Env"], json!(["A=1", "B=two words", "C=1-x"]));
        assert_eq!(c["WorkingDir"], json!("/app/sub"));
        // An absolute path is recorded as written, trailing slash included (issue 14, bug 2);
        // a relative one joins the current one, cleaned.
        assert_eq!(apply(&["WORKDIR /srv/www/"])["WorkingDir"], json!("/srv/www/"));
        assert_eq!(apply(&["WORKDIR /srv/www/", "WORKDIR ../x/"])["WorkingDir"], json!("/srv/x"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
        assert_eq!(c["StopSignal"], json!("SIGTERM"));
        assert_eq!(c["OnBuild"], json!(["RUN echo hi"]));
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64}));
    }

    #[test]
    fn shell_form_and_entrypoint_reset() {
        let c = apply(&["CMD echo hi", "ENTRYPOINT [\"/bin/app\"]"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/app"]));
        let mut m = Map::new();
        m.insert("Cmd".into(), json!(["old"]));
        apply_changes(&mut m, &["ENTRYPOINT top".to_string()]).unwrap();
        assert!(m.get("Cmd").is_none());
    }

    #[test]
    fn the_dockerfile_s_expansion_forms() {
        let c = apply(&["ENV B=set", "ENV A=${B-w} C=${NONE-w} D=${NONE:-d} E=${B:+alt}"]);
        assert_eq!(c["Env"], json!(["B=set", "A=set", "C=w", "D=d", "E=alt"]));
        let e = refused(&["ENV A=${B:?must be set}"]);
        assert_eq!(e.to_string(), "invalid change \"ENV A=${B:?must be set}\": B: must be set");
        assert_eq!(e.kind(), berth_oci::ErrorKind::InvalidArgument);
    }

    #[test]
    fn refuses_unknown() {
        assert_eq!(refused(&["RUN echo"]).to_string(), "RUN is not a valid change command");
        assert_eq!(refused(&["FROBNICATE x"]).to_string(), "FROBNICATE is not a valid change command");
        assert_eq!(refused(&["CMD x\nRUN echo"]).to_string(), "RUN is not a valid change command");
        assert_eq!(
            refused(&["EXPOSE 99999"]).to_string(),
            "invalid change \"EXPOSE 99999\": invalid containerPort: 99999"
        );
        assert_eq!(
            refused(&["USER a b"]).to_string(),
            "invalid change \"USER a b\": USER requires exactly one argument"
        );
        assert_eq!(
            refused(&["STOPSIGNAL NOPE"]).to_string(),
            "invalid change \"STOPSIGNAL NOPE\": invalid signal: NOPE"
        );
    }
}
