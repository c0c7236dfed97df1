//! Which runtime runs a container (the dispatch rule), and what a wasm container's create and
//! bundle need from its image: the process config of an artifact without one, whether its
//! rootfs can be skipped or copied, and the annotations and module source its runtime reads.
//!
//! The decision is made once, at create, and recorded as the container's `runtime` (`linux` or
//! `wasm`), in the order runwasi and crun use: see [`decide`]. The bundle of a wasm container
//! carries crun's `run.oci.handler: wasm` annotation and the compiled-code cache directory
//! (`<root>/wasm-cache/compiled`, see `berth_runtime_wasm::cache`).

use super::Container;
use crate::wasm::layer_file_name;
use crate::{media, Engine, Error, Result};
use berth_runtime::Kind;
use berth_store::image::Image;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The container config part of a wasm image's config, with the first wasm layer as the
/// entrypoint when the image names none (CNCF artifacts carry no process config at all).
pub fn image_config(image: &Image) -> Value {
    let mut cfg = image.config_json.get("config").cloned().filter(|c| c.is_object()).unwrap_or_else(|| json!({}));
    let named = |k: &str| cfg[k].as_array().is_some_and(|a| !a.is_empty());
    if !named("Entrypoint") && !named("Cmd") {
        if let Some((i, l)) =
            image.manifest.layers().iter().enumerate().find(|(_, l)| media::is_wasm_layer(l.media_type().as_ref()))
        {
            cfg["Entrypoint"] = json!([format!("/{}", layer_file_name(l, i))]);
        }
    }
    cfg
}

/// Whether creating a container of `image` can skip mounting its rootfs: a wasm image (by its
/// config or layers) needs it for nothing when no volume is to be seeded from the image's files
/// and no user name is to be looked up in its `/etc/passwd` (a guest has no users). A mount and
/// unmount of the overlay is most of what a create costs.
pub fn skips_rootfs_at_create(image: &Image, img_cfg: &Value, opts: &super::CreateOptions) -> bool {
    let named_user = |u: &str| !u.is_empty() && !u.split(':').all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let image_user = img_cfg["User"].as_str().unwrap_or_default();
    let image_volumes = img_cfg["Volumes"].as_object().is_some_and(|v| !v.is_empty());
    image.is_wasm()
        && opts.binds.is_empty()
        && opts.mounts.is_empty()
        && !image_volumes
        && !named_user(opts.user.as_deref().unwrap_or(image_user))
}

/// Up to this many bytes of layers, a wasm container's rootfs is a copy rather than an overlay.
const COPY_ROOTFS_MAX: u64 = 1 << 20;

/// Whether a wasm container of `image` gets a private copy of its (small) image files as its
/// rootfs instead of an overlay: copying a module of a few KB costs less than mounting and
/// unmounting an overlay, which the start of a small guest would otherwise mostly consist of.
pub fn copies_rootfs(image: &Image, img_cfg: &Value, opts: &super::CreateOptions) -> bool {
    let size: u64 = image.manifest.layers().iter().map(|l| l.size()).sum();
    size <= COPY_ROOTFS_MAX && skips_rootfs_at_create(image, img_cfg, opts)
}

/// Which runtime runs a container of `image` whose process is `args` (resolved against `env`'s
/// PATH in `rootfs`: a mounted rootfs or the layer view): the dispatch rule of
/// docs/architecture.md, decided once at create.
///
/// 1. and 2. the image itself: its platform, config media type or wasm layers
///    ([`Image::is_wasm`]) mean wasm;
/// 3. else the entrypoint's first bytes: `\0asm` means wasm, an ELF header or `#!` means Linux,
///    and any other executable file is an error with Docker's exit code for a command that
///    cannot run (126); a file without execute permission is the Linux runtime's to refuse. An entrypoint not found in the image is left to the Linux runtime, which reports
///    it as Docker does (127).
pub fn decide(
    image: &Image,
    args: &[String],
    env: &[String],
    rootfs: &dyn berth_store::layerview::RootView,
) -> Result<Kind> {
    if image.is_wasm() {
        return Ok(Kind::Wasm);
    }
    let Some(arg0) = args.first() else { return Ok(Kind::Linux) };
    let arg0 = arg0.split('#').next().unwrap_or_default();
    let candidates: Vec<String> = if arg0.contains('/') {
        vec![arg0.to_string()]
    } else {
        let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(super::spec::DEFAULT_PATH);
        path.split(':').map(|d| format!("{d}/{arg0}")).collect()
    };
    for c in candidates {
        let Some(mut f) = rootfs.open(&c) else { continue };
        let mut head = [0u8; 4];
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
        let head = &head[..n];
        if head.len() == 4 && berth_runtime_wasm::is_wasm(head) {
            return Ok(Kind::Wasm);
        }
        // A file nobody may execute is the Linux runtime's to refuse, as Docker does
        // (`permission denied`, 126, the container left created).
        let executable =
            f.metadata().is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
        if head.starts_with(b"\x7fELF") || head.starts_with(b"#!") || !executable {
            return Ok(Kind::Linux);
        }
        return Err(Error::StartFailed {
            code: 126,
            message: format!(
                "exec {c}: exec format error: the entrypoint is neither a Linux executable (ELF, #!) nor WebAssembly (\\0asm)"
            ),
        });
    }
    Ok(Kind::Linux)
}

/// Marks a wasm container's spec for the wasm runtime, points it at the compiled-code cache, and
/// names what the engine knows of the binary's content (see [`module_source`]).
pub fn annotate_spec(engine: &Engine, c: &Container, spec: &mut oci_spec::runtime::Spec) {
    let mut ann = spec.annotations().clone().unwrap_or_default();
    ann.insert(berth_runtime_wasm::HANDLER_ANNOTATION.into(), "wasm".into());
    ann.insert(
        berth_runtime_wasm::CACHE_ANNOTATION.into(),
        engine.wasm_cache_dir().join("compiled").display().to_string(),
    );
    if let Some(src) = module_source(engine, c) {
        ann.insert(berth_runtime_wasm::SOURCE_ANNOTATION.into(), src.to_annotation());
    }
    spec.set_annotations(Some(ann));
}

/// The store's immutable copy of the binary the container's process names, and its content key,
/// found in the container's lower layers without mounting them: a wasm layer's file is its blob
/// (key: the blob's digest, already its content address), an unpacked tar layer's file is named
/// by the layer's diff id and its path in it. `None` (the runtime then hashes the binary) when
/// the path crosses a symlink or the file is not a plain file of one layer.
pub fn module_source(engine: &Engine, c: &Container) -> Option<berth_runtime_wasm::ModuleSource> {
    find_module_source(engine, &c.process.args, &c.process.cwd, &c.process.env, &c.layers)
}

/// [`module_source`] for a process (`args`, `cwd`, `env`) over lower `layers` (bottom to top)
/// that are no container's: a wasm function's component (`Engine::wasm_component`).
pub fn find_module_source(
    engine: &Engine,
    args: &[String],
    cwd: &str,
    env: &[String],
    layers: &[PathBuf],
) -> Option<berth_runtime_wasm::ModuleSource> {
    use sha2::Digest as _;
    let arg0 = args.first()?.split('#').next().unwrap_or_default();
    let candidates: Vec<String> = if arg0.starts_with('/') {
        vec![arg0.to_string()]
    } else if arg0.contains('/') {
        vec![format!("{cwd}/{arg0}")]
    } else {
        let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(super::spec::DEFAULT_PATH);
        path.split(':').map(|d| format!("{d}/{arg0}")).collect()
    };
    let wasm_layers = engine.wasm_cache_dir().join("layers");
    for cand in candidates {
        let parts: Vec<&str> = cand.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.is_empty() || parts.contains(&"..") {
            return None;
        }
        let rel: PathBuf = parts.iter().collect();
        for layer in layers.iter().rev() {
            // Every directory on the way must be a real directory of this layer.
            let mut dir = layer.clone();
            let mut plain = true;
            for p in &parts[..parts.len() - 1] {
                dir.push(p);
                match std::fs::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return None,
                    Err(_) => {
                        plain = false;
                        break;
                    }
                }
            }
            if !plain {
                continue;
            }
            let file = layer.join(&rel);
            match std::fs::symlink_metadata(&file) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return None,
                Err(_) => continue,
            }
            let name = layer.file_name()?.to_string_lossy().into_owned();
            let key = if layer.parent() == Some(wasm_layers.as_path()) {
                name.split_once('-').map(|(hex, _)| hex.to_string())?
            } else {
                let h = sha2::Sha256::digest(format!("layer:{name}/{}", rel.display()).as_bytes());
                hex::encode(h)
            };
            return Some(berth_runtime_wasm::ModuleSource { key, path: file });
        }
    }
    None
}
