//! WebAssembly images and containers: which runtime runs a container, the layers and config a
//! wasm image gives it, and `berth wasm package` (a `.wasm` file to the CNCF artifact layout).
//!
//! The decision is made once, at create, and recorded as the container's `runtime` (`linux` or
//! `wasm`), in the order runwasi and crun use: the image config's platform architecture `wasm`;
//! then layers of a wasm media type; then the entrypoint file's first bytes (`\0asm` means
//! wasm, ELF or `#!` means Linux). Layers of a wasm media type are raw binaries, not tars: each
//! is materialised once as a one-file directory under `<root>/wasm-cache/layers/<hex>/`, which
//! then serves as a lower layer of the container's rootfs like any unpacked tar layer, so every
//! image form reaches the runtime as the same OCI bundle. An image with such layers and no
//! entrypoint runs its first wasm layer. The bundle of a wasm container carries crun's
//! `run.oci.handler: wasm` annotation and the compiled-code cache directory
//! (`<root>/wasm-cache/compiled`, see `berth_runtime_wasm::cache`).

use crate::container::runtime::Io;
use crate::container::Container;
use crate::{media, Digest, Engine, Error, Reference, Result};
use berth_store::image::Image;
use berth_store::{desc_digest, descriptor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The container record's `runtime` for a wasm container.
pub const RUNTIME_WASM: &str = "wasm";
/// The container record's `runtime` for a native container.
pub const RUNTIME_LINUX: &str = "linux";

/// Where a wasm layer is materialised and what its file is called in the rootfs.
fn layer_file_name(desc: &oci_spec::image::Descriptor, index: usize) -> String {
    let title = desc
        .annotations()
        .as_ref()
        .and_then(|a| a.get("org.opencontainers.image.title"))
        .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
        .filter(|t| !t.is_empty() && t != "." && t != "..");
    title.unwrap_or_else(|| if index == 0 { "app.wasm".into() } else { format!("layer{index}.wasm") })
}

impl Engine {
    /// The directory holding materialised wasm layers and compiled code.
    pub fn wasm_cache_dir(&self) -> PathBuf {
        self.root().join("wasm-cache")
    }

    /// The lower layers of a wasm image's containers: tar layers unpacked as usual, wasm
    /// layers as one-file directories. A wasm-typed layer that is not wasm is refused.
    pub fn wasm_image_layers(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let diff_ids = image.diff_ids();
        let mut out = Vec::new();
        for (i, l) in image.manifest.layers().iter().enumerate() {
            let blob = desc_digest(l)?;
            let mt = l.media_type().to_string();
            if !media::is_wasm_layer(&mt) {
                out.push(self.store().unpack_layer(&blob, diff_ids.get(i))?.path);
                continue;
            }
            out.push(self.materialise_wasm_layer(&blob, &mt, &layer_file_name(l, i))?);
        }
        Ok(out)
    }

    fn materialise_wasm_layer(&self, blob: &Digest, mt: &str, name: &str) -> Result<PathBuf> {
        let dir = self.wasm_cache_dir().join("layers").join(format!("{}-{}", blob.hex(), name));
        if dir.join(name).is_file() {
            return Ok(dir);
        }
        let src = self.store().blob_path(blob);
        let mut head = [0u8; 4];
        {
            use std::io::Read;
            let mut f = self.store().open_blob(blob)?;
            let n = f.read(&mut head).map_err(|e| Error::io(&src, e))?;
            if n < 4 || !berth_runtime_wasm::is_wasm(&head) {
                return Err(Error::Other(format!(
                    "layer {blob} ({mt}) is not a WebAssembly module or component (no \\0asm header)"
                )));
            }
        }
        let parent = self.wasm_cache_dir().join("layers");
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let tmp = parent.join(format!(".tmp-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let r = (|| {
            // A hard link shares the (immutable) blob; a copy when the store is elsewhere.
            if std::fs::hard_link(&src, tmp.join(name)).is_err() {
                std::fs::copy(&src, tmp.join(name)).map_err(|e| Error::io(&src, e))?;
            }
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => Ok(()),
                Err(_) if dir.join(name).is_file() => Ok(()), // a concurrent create won
                Err(e) => Err(Error::io(&dir, e)),
            }
        })();
        let _ = std::fs::remove_dir_all(&tmp);
        r.map(|()| dir)
    }

    /// `berth wasm package FILE -t NAME`: stores `file` (binary, or text converted) as a CNCF wasm
    /// artifact (config `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) named `name`.
    /// Returns the manifest digest.
    pub fn wasm_package(&self, file: &Path, name: &str, author: Option<&str>) -> Result<Digest> {
        let r = Reference::parse(name)?;
        let raw = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        // A guest packaged from its text is named as its binary would be (app.wat -> app.wasm).
        let title = if berth_runtime_wasm::is_wasm(&raw) { file.to_path_buf() } else { file.with_extension("wasm") };
        let bytes = wasm_binary(file, raw)?;
        let component = berth_runtime_wasm::is_component(&bytes);
        let (layer, size) = self.store().put_blob(&bytes, None)?;
        let mut ldesc = descriptor(media::WASM_LAYER, &layer, size);
        if let Some(t) = title.file_name().and_then(|n| n.to_str()) {
            ldesc.set_annotations(Some([("org.opencontainers.image.title".to_string(), t.to_string())].into()));
        }
        let config = json!({
            "created": crate::container::now_rfc3339(),
            "author": author.unwrap_or(""),
            "architecture": "wasm",
            "os": if component { "wasip2" } else { "wasip1" },
            "layerDigests": [layer.to_string()],
            "component": if component { json!({}) } else { Value::Null },
        });
        let cdesc = self.store().put_json(media::WASM_CONFIG_V0, &config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "artifactType": if component { "application/vnd.wasm.component.v1+wasm" } else { "application/vnd.wasm.module.v1+wasm" },
            "config": cdesc,
            "layers": [ldesc],
        });
        let mdesc = self.store().put_json(media::OCI_MANIFEST, &manifest)?;
        let digest = desc_digest(&mdesc)?;
        self.name_image(&r.to_string(), &mdesc)?;
        Ok(digest)
    }
}

/// A binary module or component as is; anything else is taken as WebAssembly text (`.wat`) and
/// converted as `wasm-tools parse` would, so an example or test guest can be packaged from source.
fn wasm_binary(file: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if berth_runtime_wasm::is_wasm(&bytes) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Other(format!(
            "{}: not a WebAssembly module or component (no \\0asm header) nor WebAssembly text (not UTF-8)",
            file.display()
        ))
    })?;
    wat::parse_str(text).map_err(|e| {
        Error::Other(format!(
            "{}: not a WebAssembly module or component (no \\0asm header) nor valid WebAssembly text: {e}",
            file.display()
        ))
    })
}

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
pub fn skips_rootfs_at_create(image: &Image, img_cfg: &Value, opts: &crate::container::CreateOptions) -> bool {
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
pub fn copies_rootfs(image: &Image, img_cfg: &Value, opts: &crate::container::CreateOptions) -> bool {
    let size: u64 = image.manifest.layers().iter().map(|l| l.size()).sum();
    size <= COPY_ROOTFS_MAX && skips_rootfs_at_create(image, img_cfg, opts)
}

/// Which runtime runs a container of `image` whose process is `args` (resolved against `env`'s
/// PATH in `rootfs`: a mounted rootfs or the layer view).
pub fn decide(
    image: &Image,
    args: &[String],
    env: &[String],
    rootfs: &dyn crate::container::layerview::RootView,
) -> Result<&'static str> {
    if image.is_wasm() {
        return Ok(RUNTIME_WASM);
    }
    let Some(arg0) = args.first() else { return Ok(RUNTIME_LINUX) };
    let arg0 = arg0.split('#').next().unwrap_or_default();
    let candidates: Vec<String> = if arg0.contains('/') {
        vec![arg0.to_string()]
    } else {
        let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(crate::container::spec::DEFAULT_PATH);
        path.split(':').map(|d| format!("{d}/{arg0}")).collect()
    };
    for c in candidates {
        let Some(mut f) = rootfs.open(&c) else { continue };
        let mut head = [0u8; 4];
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
        return Ok(if n == 4 && berth_runtime_wasm::is_wasm(&head) { RUNTIME_WASM } else { RUNTIME_LINUX });
    }
    Ok(RUNTIME_LINUX)
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
    use sha2::Digest as _;
    let arg0 = c.process.args.first()?.split('#').next().unwrap_or_default();
    let candidates: Vec<String> = if arg0.starts_with('/') {
        vec![arg0.to_string()]
    } else if arg0.contains('/') {
        vec![format!("{}/{arg0}", c.process.cwd)]
    } else {
        let path =
            c.process.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(crate::container::spec::DEFAULT_PATH);
        path.split(':').map(|d| format!("{d}/{arg0}")).collect()
    };
    let wasm_layers = engine.wasm_cache_dir().join("layers");
    for cand in candidates {
        let parts: Vec<&str> = cand.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.is_empty() || parts.contains(&"..") {
            return None;
        }
        let rel: PathBuf = parts.iter().collect();
        for layer in c.layers.iter().rev() {
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

/// The wasm runtime's state directory (`<root>/runtime/wasm`).
pub(crate) fn runtime_root(c: &Container) -> PathBuf {
    crate::container::runtime::state_root(c).join("runtime").join("wasm")
}

/// Creates a wasm container through `berth_runtime_wasm::Wasm` (its guest process forked from this
/// single-threaded shim with `io` as its stdio, as a native container's init is: the PID 1 of a
/// namespace of its own, dying with the shim); returns the guest process's pid.
pub fn runtime_create(c: &Container, io: Io) -> Result<i32> {
    use berth_runtime::Runtime;
    let rroot = runtime_root(c);
    std::fs::create_dir_all(&rroot).map_err(|e| Error::io(&rroot, e))?;
    let _ = std::fs::remove_file(c.dir.join(berth_runtime_wasm::OOM_MARKER));
    let rt = berth_runtime_wasm::Wasm::new(rroot);
    let _ = rt.delete(&c.id, true); // a stale record of an earlier run
    crate::container::runtime::create_here(io, |opts| rt.create(&c.id, &c.dir, opts))
}

/// Lets a created wasm container's guest run.
pub fn runtime_start(c: &Container) -> Result<()> {
    use berth_runtime::Runtime;
    berth_runtime_wasm::Wasm::new(runtime_root(c)).start(&c.id).map_err(crate::container::runtime::start_failed)
}

/// Removes the wasm runtime's record of the container, killing the guest if it still runs.
pub fn runtime_delete(c: &Container) -> Result<()> {
    use berth_runtime::Runtime;
    let _ = berth_runtime_wasm::Wasm::new(runtime_root(c)).delete(&c.id, true);
    Ok(())
}

/// Whether the guest ran out of its memory limit (the runtime's marker in the bundle).
pub fn oom_killed(c: &Container) -> bool {
    c.dir.join(berth_runtime_wasm::OOM_MARKER).exists()
}
