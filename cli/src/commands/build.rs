//! `berth build`: `docker build`'s flags and BuildKit's plain progress, through
//! [`berth_engine::Engine::build`]. A failed build exits 1 (as `docker build` does) after
//! the error, with the failing step's output; nothing is tagged.

use super::{Ctx, Exit};
use anyhow::Context as _;
use berth_engine::build::BuildOptions;
use berth_engine::platform::Platform;
use berth_engine::progress::Progress;
use berth_engine::pull::PullOptions;
use berth_engine::Reference;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Build context directory.
    pub context: PathBuf,
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; `-` reads stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set a build-time variable (K=V, or K to take V from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build only up to this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Platform of the image (os/arch[/variant]; wasi/wasm for a WebAssembly image).
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the cache for these stages (names, comma-separated; repeatable).
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Always pull the images FROM names.
    #[arg(long)]
    pub pull: bool,
    /// Set metadata on the image (K=V); repeatable.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Secret for RUN --mount=type=secret: id=ID,src=PATH (or env=VAR).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Progress output: auto, plain or quiet.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Also write the image: type=oci|docker,dest=FILE.
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// Push the image after building (needs -t).
    #[arg(long)]
    pub push: bool,
    /// Write the image id to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Network of RUN steps: default (a namespace of their own on the default bridge),
    /// none (loopback only) or host (the host's network; also allows RUN --network=host).
    #[arg(long)]
    pub network: Option<String>,
    /// Entitlements to grant: network.host lets RUN --network=host use the host's network.
    #[arg(long = "allow", value_delimiter = ',')]
    pub allow: Vec<String>,
}

fn kv(s: &str) -> (String, Option<String>) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (s.to_string(), None),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let quiet = args.quiet || args.progress == "quiet";
    if !matches!(args.progress.as_str(), "auto" | "plain" | "tty" | "quiet") {
        anyhow::bail!("invalid progress mode {:?} (auto, plain or quiet)", args.progress);
    }
    let mut build_args = Vec::new();
    for a in &args.build_args {
        match kv(a) {
            (k, Some(v)) => build_args.push((k, v)),
            (k, None) => {
                if let Ok(v) = std::env::var(&k) {
                    build_args.push((k, v));
                }
            }
        }
    }
    let mut secrets = Vec::new();
    for s in &args.secrets {
        let mut id = None;
        let mut src = None;
        for part in s.split(',') {
            match kv(part) {
                (k, Some(v)) if k == "id" => id = Some(v),
                (k, Some(v)) if k == "src" || k == "source" => src = Some(PathBuf::from(v)),
                (k, Some(v)) if k == "env" => {
                    let val = std::env::var(&v).with_context(|| format!("secret env {v} is not set"))?;
                    let p = std::env::temp_dir().join(format!("berth-secret-{}-{v}", std::process::id()));
                    std::fs::write(&p, val)?;
                    src = Some(p);
                }
                _ => anyhow::bail!("invalid secret {s:?}: expected id=ID,src=PATH"),
            }
        }
        let id = id.ok_or_else(|| anyhow::anyhow!("invalid secret {s:?}: id is required"))?;
        let src = src.unwrap_or_else(|| PathBuf::from(&id));
        secrets.push((id, src));
    }
    let output = match &args.output {
        Some(o) => {
            let mut kind = None;
            let mut dest = None;
            // BuildKit's exporters write gzip layers unless told otherwise.
            let mut compression = berth_engine::media::Compression::Gzip;
            for part in o.split(',') {
                match kv(part) {
                    (k, Some(v)) if k == "type" => kind = Some(v),
                    (k, Some(v)) if k == "dest" => dest = Some(PathBuf::from(v)),
                    (k, Some(v)) if k == "compression" => {
                        compression = v.parse().map_err(|e: String| anyhow::anyhow!("invalid --output {o:?}: {e}"))?
                    }
                    // Accepted for BuildKit's command lines: the media types are always OCI's,
                    // and only uncompressed layers are compressed (what BuildKit does without
                    // force-compression; a base's gzip layers stay as they are).
                    (k, Some(_)) if k == "oci-mediatypes" || k == "force-compression" || k == "compression-level" => {}
                    _ => anyhow::bail!(
                        "invalid --output {o:?}: expected type=oci|docker,dest=FILE[,compression=gzip|zstd|uncompressed]"
                    ),
                }
            }
            let format = match kind.as_deref() {
                Some("oci") => berth_engine::archive::SaveFormat::Oci,
                Some("docker") | Some("tar") => berth_engine::archive::SaveFormat::Docker,
                other => anyhow::bail!("unsupported output type {other:?} (oci or docker)"),
            };
            let dest = dest.ok_or_else(|| anyhow::anyhow!("--output needs dest=FILE"))?;
            Some((format, dest, compression))
        }
        None => None,
    };
    if args.push && args.tags.is_empty() {
        anyhow::bail!("--push needs a name: use -t NAME:TAG");
    }
    for a in &args.allow {
        if a != "network.host" {
            anyhow::bail!("invalid entitlement {a:?} (berth knows network.host)");
        }
    }
    let (dockerfile, dockerfile_text) = match args.file.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            (None, Some(s))
        }
        Some(f) => (Some(PathBuf::from(f)), None),
        None => (None, None),
    };
    let opts = BuildOptions {
        context: args.context.clone(),
        dockerfile,
        dockerfile_text,
        tags: args.tags.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        pull: args.pull,
        labels: args.labels.iter().map(|l| kv(l)).map(|(k, v)| (k, v.unwrap_or_default())).collect(),
        platform: args.platform.clone(),
        secrets,
        quiet,
        network: args.network.clone(),
        allow_host_network: args.allow.iter().any(|a| a == "network.host"),
    };
    let engine = ctx.engine()?;
    let pull_opts = PullOptions { platform: None, insecure_registries: ctx.insecure_registries.clone(), client: None };
    let puller = |name: &str, platform: &Platform| -> berth_engine::Result<berth_engine::image::Image> {
        let r = Reference::parse(name)?;
        let mut o = pull_opts.clone();
        if platform.architecture != "wasm" {
            o.platform = Some(platform.clone());
        }
        let progress = if quiet { Progress::quiet() } else { Progress::plain() };
        ctx.block_on(engine.pull(&r, &o, &progress))
    };
    let mut stderr = std::io::stderr();
    let out = match engine.build(&opts, &puller, &mut stderr) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ERROR: failed to solve: {e}");
            return Err(Exit(1).into());
        }
    };
    let id = out.image.id.to_string();
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing {}", f.display()))?;
    }
    if let Some((format, dest, compression)) = output {
        let names = if out.image.names.is_empty() { vec![id.clone()] } else { out.image.names.clone() };
        let f = std::fs::File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
        engine.save(&names, format, compression, std::io::BufWriter::new(f))?;
    }
    if args.push {
        let progress = if quiet { Progress::quiet() } else { Progress::plain() };
        for t in &args.tags {
            let r = Reference::parse(t)?;
            let o =
                berth_engine::push::PushOptions { insecure_registries: ctx.insecure_registries.clone(), client: None };
            ctx.block_on(engine.push(&r, &o, &progress))?;
        }
    }
    if quiet {
        println!("{id}");
    }
    Ok(())
}
