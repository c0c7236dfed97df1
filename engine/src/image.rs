//! Images in the store: resolving what a user typed, reading manifests and configs, naming.
//!
//! An image is a manifest in the store; its id is its config's digest (as Docker's is), and
//! its names are the `index.json` entries that point at its manifest. A user may name an
//! image by reference (`busybox`), by full or short id, or by manifest digest.

use crate::store::{desc_digest, Store};
use crate::{media, Digest, Engine, Error, Reference, Result};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

/// An image resolved from the store.
#[derive(Clone, Debug)]
pub struct Image {
    /// Full references naming this image (may be empty for a dangling image).
    pub names: Vec<String>,
    /// Descriptor of the manifest (as recorded in `index.json`).
    pub manifest_desc: Descriptor,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The image id: the config blob's digest.
    pub id: Digest,
    /// The config as raw JSON (wasm configs are not OCI image configs).
    pub config_json: serde_json::Value,
}

impl Image {
    /// Reads the image whose manifest is `desc` from the store.
    pub fn load(store: &Store, desc: &Descriptor, names: Vec<String>) -> Result<Image> {
        let manifest_digest = desc_digest(desc)?;
        let bytes = store.read_blob(&manifest_digest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::malformed(format!("manifest {manifest_digest}"), e))?;
        let id = desc_digest(manifest.config())?;
        let cbytes = store.read_blob(&id)?;
        let config_json = serde_json::from_slice(&cbytes).map_err(|e| Error::malformed(format!("config {id}"), e))?;
        Ok(Image { names, manifest_desc: desc.clone(), manifest_digest, manifest, id, config_json })
    }

    /// The config parsed as an OCI image config, if it is one.
    pub fn config(&self) -> Result<ImageConfiguration> {
        serde_json::from_value(self.config_json.clone()).map_err(|e| Error::malformed(format!("config {}", self.id), e))
    }

    /// Sum of layer sizes plus config (compressed, as stored).
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum::<u64>() + self.manifest.config().size()
    }

    /// Whether this image's config media type or platform says WebAssembly.
    pub fn is_wasm(&self) -> bool {
        self.manifest.config().media_type().to_string() == media::WASM_CONFIG_V0
            || self.config_json.get("architecture").and_then(|a| a.as_str()) == Some("wasm")
    }
}

impl Engine {
    /// Every named image, grouped by manifest (one entry per distinct manifest).
    pub fn list_images(&self) -> Result<Vec<Image>> {
        let mut by_manifest: Vec<(Descriptor, Vec<String>)> = Vec::new();
        for (name, desc) in self.store().refs()? {
            if !media::is_manifest(&desc.media_type().to_string()) {
                continue;
            }
            match by_manifest.iter_mut().find(|(d, _)| d.digest() == desc.digest()) {
                Some((_, names)) => names.push(name),
                None => by_manifest.push((desc, vec![name])),
            }
        }
        by_manifest.into_iter().map(|(d, names)| Image::load(self.store(), &d, names)).collect()
    }

    /// Resolves what a user typed: a reference, an image id (full or a unique prefix of at
    /// least one hex character), or a manifest digest.
    pub fn resolve_image(&self, s: &str) -> Result<Image> {
        let images = self.list_images()?;
        if let Ok(r) = Reference::parse(s) {
            let full = r.to_string();
            if let Some(img) = images.iter().find(|i| i.names.contains(&full)) {
                return Ok(img.clone());
            }
            if let Some(d) = r.digest() {
                let pinned =
                    images.iter().find(|i| &i.manifest_digest == d && i.names.iter().any(|n| n.starts_with(&r.name())));
                if let Some(img) = pinned {
                    return Ok(img.clone());
                }
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Image> =
                images.iter().filter(|i| i.id.hex().starts_with(hex) || i.manifest_digest.hex() == hex).collect();
            let mut ids: Vec<&Digest> = hits.iter().map(|i| &i.id).collect();
            ids.dedup();
            match ids.len() {
                0 => {}
                1 => return Ok(hits[0].clone()),
                _ => return Err(Error::Conflict(format!("image id prefix {s:?} is ambiguous"))),
            }
        }
        Reference::parse(s)?;
        Err(Error::ImageNotFound(s.to_string()))
    }
}
