//! `berth import`: a rootfs tarball becomes a one-layer image, as `docker import` makes one.
//!
//! The tarball (plain, gzip or zstd) is streamed once: parsed to refuse malformed, truncated
//! or escaping archives, hashed for the diff-id, re-compressed and stored. The config gets the
//! host's (or `--platform`'s) os/architecture, the `--change` instructions, a history entry
//! `Imported from -` (Docker's wording: its CLI always streams the file) or the `-m` message,
//! and the manifest is an OCI one.

use crate::content::{descriptor, Store};
use crate::image::Image;
use crate::{layer, Error, Reference, Result};
use berth_oci::media::{self, Compression};
use berth_oci::platform::Platform;
use oci_spec::image::{ImageManifestBuilder, MediaType};
use serde_json::{json, Map, Value};
use std::io::Read;

/// What `berth import` was asked.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Name for the image; `None` leaves it dangling (`<none>:<none>`).
    pub reference: Option<String>,
    /// The image config's `config` object: what the `--change` instructions made of an empty
    /// one (the caller interprets them, with the builder's Dockerfile parser).
    pub container_config: Map<String, Value>,
    /// History comment (`-m`); default `Imported from -`.
    pub message: Option<String>,
    pub compression: Compression,
    /// `os/arch[/variant]`; default the host's.
    pub platform: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            reference: None,
            container_config: Map::new(),
            message: None,
            compression: Compression::Gzip,
            platform: None,
        }
    }
}

impl Store {
    /// Imports a rootfs tarball; returns the new image (named when a reference was given).
    pub fn import(&self, input: impl Read, opts: &ImportOptions) -> Result<Image> {
        // Everything that can be refused without reading the input is refused first.
        let reference = opts.reference.as_deref().map(Reference::parse).transpose()?;
        if let Some(r) = &reference {
            if r.digest().is_some() {
                return Err(berth_oci::Error::InvalidReference {
                    reference: r.to_string(),
                    reason: "an imported image cannot be named by digest".into(),
                }
                .into());
            }
        }
        let platform = match &opts.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };

        let store = self;
        let _shared = store.lock_shared()?;
        let layer = layer::layer_from_tar(store, input, opts.compression, "imported tarball")?;

        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = opts.message.clone().unwrap_or_else(|| "Imported from -".to_string());
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": created,
            "config": Value::Object(opts.container_config.clone()),
            "history": [{"created": created, "comment": comment}],
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        let config_desc = store.put_json(media::OCI_CONFIG, &config)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc)
            .layers(vec![layer.descriptor()])
            .build()
            .map_err(|e| Error::Other(format!("building manifest: {e}")))?;
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Other(e.to_string()))?;
        let (digest, size) = store.put_blob(&bytes, None)?;
        let desc = descriptor(media::OCI_MANIFEST, &digest, size);
        let names = match &reference {
            Some(r) => {
                self.name_image(&r.to_string(), &desc)?;
                vec![r.to_string()]
            }
            None => {
                self.add_dangling(&desc)?;
                vec![]
            }
        };
        Image::load(store, &desc, names)
    }
}
