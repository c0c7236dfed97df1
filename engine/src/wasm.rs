//! WebAssembly images: the layers a wasm image gives its containers, and `berth wasm package`
//! (a `.wasm` file to the CNCF artifact layout). Which runtime runs a container, and what a
//! wasm container's bundle carries, is the container code's (`container::wasm`).
//!
//! Layers of a wasm media type are raw binaries, not tars: each
//! is materialised once as a one-file directory under `<root>/wasm-cache/layers/<hex>/`, which
//! then serves as a lower layer of the container's rootfs like any unpacked tar layer, so every
//! image form reaches the runtime as the same OCI bundle. An image with such layers and no
//! entrypoint runs its first wasm layer. The bundle of a wasm container carries crun's
//! `run.oci.handler: wasm` annotation and the compiled-code cache directory
//! (`<root>/wasm-cache/compiled`, see `berth_runtime_wasm::cache`).

use crate::{media, Digest, Engine, Error, Reference, Result};
use berth_store::image::Image;
use berth_store::{desc_digest, descriptor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where a wasm layer is materialised and what its file is called in the rootfs.
pub(crate) fn layer_file_name(desc: &oci_spec::image::Descriptor, index: usize) -> String {
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
            "created": berth_oci::time::now_rfc3339(),
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
