//! `push`: send a stored image (manifest or index, with its own media type) to a registry,
//! moving only what the registry lacks.
//!
//! Round trips are the cost of a push that has little to move, so the checks go from
//! coarse to fine: if the tag already names our manifest, nothing is sent at all; otherwise
//! each blob is `HEAD`ed (concurrently), a blob the registry lacks is mounted from another
//! repository of the same registry it is known to be in (see
//! [`crate::sources`]), and only then uploaded (one `POST` and one `PUT`, the body
//! streamed from the store's file, never re-hashed: the store verified it on the way in).
//! An index pushes its child manifests (by digest) before itself, as registries require.

use crate::client::Mount;
use crate::progress::Progress;
use crate::pull::{familiar_ref, run_bounded, CONCURRENT_TRANSFERS};
use crate::sources::BlobSources;
use crate::{media, Digest, Error, Reference, Result};
use crate::{RegistryClient, Repo};
use berth_store::{desc_digest, Store};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::sync::Arc;

/// Options of [`Engine::push`].
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Registries to speak plain HTTP to, besides loopback ones and `<root>/config.json`'s.
    pub insecure_registries: Vec<String>,
    /// A client to reuse (its connections and tokens); a new one when `None`.
    pub client: Option<RegistryClient>,
}

/// What one push needs at hand.
#[derive(Clone)]
struct Pusher {
    client: RegistryClient,
    store: Store,
    sources: BlobSources,
    repo: Repo,
    progress: Progress,
}

/// Pushes the image named `reference` to its registry; returns the digest of what the
/// tag now names there.
pub async fn push(store: &Store, reference: &Reference, opts: &PushOptions, progress: &Progress) -> Result<Digest> {
    let store = store.clone();
    let _lock = store.lock_shared()?;
    let name = reference.to_string();
    let desc = store.get_ref(&name)?.ok_or_else(|| {
        Error::ImageNotFound(format!("{} (an image does not exist locally with that tag)", familiar_ref(reference)))
    })?;
    progress.line(&format!("The push refers to repository [{}]", reference.name()));
    let client = match &opts.client {
        Some(c) => c.clone(),
        None => crate::pull::registry_client(&store, &opts.insecure_registries)?,
    };
    let p = Pusher {
        client,
        store: store.clone(),
        sources: BlobSources::new(store.state_root()),
        repo: Repo::of(reference),
        progress: progress.clone(),
    };
    let tag = reference.manifest_ref();
    let digest = desc_digest(&desc)?;
    let bytes = store.read_blob(&digest)?;
    let media_type = stored_media_type(&desc, &bytes);
    // Layers a build left uncompressed go out gzipped, under a manifest naming those blobs.
    let (digest, bytes) = match media::is_index(&media_type) {
        false => berth_store::layer::push_manifest(&store, &bytes)?.unwrap_or((digest, bytes)),
        true => (digest, bytes),
    };

    if p.client.head_manifest(&p.repo, &tag, true).await?.as_ref() == Some(&digest) {
        // The tag already names this very manifest, so the registry has all it refers to.
        p.report_present(&media_type, &bytes, reference)?;
    } else if media::is_index(&media_type) {
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::malformed(format!("index {digest} of {reference}"), e))?;
        for child in index.manifests() {
            p.push_child(child, reference).await?;
        }
        p.client.put_manifest(&p.repo, &tag, &media_type, &bytes).await?;
    } else {
        p.push_blobs(&bytes, &digest, reference).await?;
        p.client.put_manifest(&p.repo, &tag, &media_type, &bytes).await?;
    }
    Ok(digest)
}

impl Pusher {
    /// Pushes one manifest of an index (its blobs, then itself by digest).
    async fn push_child(&self, child: &Descriptor, reference: &Reference) -> Result<()> {
        let d = desc_digest(child)?;
        let bytes = match self.store.read_blob(&d) {
            Ok(b) => b,
            Err(berth_store::Error::BlobNotFound(_)) => {
                return Err(Error::BlobNotFound(format!(
                    "{d} (a manifest that the index of {reference} lists; it is not in the store, so the index cannot be pushed whole)"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let mt = stored_media_type(child, &bytes);
        if media::is_index(&mt) {
            return Err(Error::Unsupported(format!("{reference}: nested index {d} cannot be pushed")));
        }
        if self.client.head_manifest(&self.repo, d.as_str(), true).await?.is_some() {
            return self.report_present(&mt, &bytes, reference);
        }
        self.push_blobs(&bytes, &d, reference).await?;
        self.client.put_manifest(&self.repo, d.as_str(), &mt, &bytes).await?;
        Ok(())
    }

    /// Makes sure the registry's repository has every blob a manifest refers to.
    async fn push_blobs(&self, manifest_bytes: &[u8], digest: &Digest, reference: &Reference) -> Result<()> {
        let m: ImageManifest = serde_json::from_slice(manifest_bytes)
            .map_err(|e| Error::malformed(format!("manifest {digest} of {reference}"), e))?;
        let mut jobs = Vec::new();
        let mut seen: Vec<Digest> = Vec::new();
        let blobs = std::iter::once((m.config(), false)).chain(m.layers().iter().map(|l| (l, true)));
        for (desc, is_layer) in blobs {
            let d = desc_digest(desc)?;
            if seen.contains(&d) {
                continue;
            }
            seen.push(d.clone());
            let size = self.store.blob_size(&d).ok_or_else(|| {
                Error::BlobNotFound(format!(
                    "{d} ({} of {reference}, not in the store)",
                    if is_layer { "a layer" } else { "the config" }
                ))
            })?;
            let item = is_layer.then(|| Arc::new(self.progress.item(d.short(), "Preparing", size)));
            let me = self.clone();
            jobs.push(async move {
                let word = me.push_blob(&d, size, item.clone()).await?;
                if let Some(i) = &item {
                    i.done(&word);
                }
                me.sources.add(&d, &me.repo.domain, &me.repo.repository);
                Ok(())
            });
        }
        run_bounded(jobs, CONCURRENT_TRANSFERS).await
    }

    /// One blob: already there, mounted, or uploaded. Returns Docker's word for what happened.
    async fn push_blob(&self, d: &Digest, size: u64, item: Option<Arc<crate::progress::Item>>) -> Result<String> {
        if self.client.blob_exists(&self.repo, d, true).await? {
            return Ok("Layer already exists".into());
        }
        let session = match self.sources.mount_candidate(d, &self.repo.domain, &self.repo.repository) {
            Some(from) => match self.client.mount_blob(&self.repo, d, &from).await? {
                Mount::Mounted => return Ok(format!("Mounted from {from}")),
                Mount::Upload(url) => url,
            },
            None => self.client.start_upload(&self.repo, d).await?,
        };
        let on_bytes: Arc<dyn Fn(u64) + Send + Sync> = match item {
            Some(i) => Arc::new(move |n| i.inc(n)),
            None => Arc::new(|_| {}),
        };
        self.store.ensure_blob_file(d)?;
        self.client.put_blob(&self.repo, session, d, size, &self.store.blob_path(d), on_bytes).await?;
        Ok("Pushed".into())
    }

    /// Says, as Docker does, that every layer of a manifest the registry has already exists.
    fn report_present(&self, media_type: &str, bytes: &[u8], reference: &Reference) -> Result<()> {
        let mut layers: Vec<Digest> = Vec::new();
        if media::is_index(media_type) {
            let index: ImageIndex =
                serde_json::from_slice(bytes).map_err(|e| Error::malformed(format!("index of {reference}"), e))?;
            for child in index.manifests() {
                if let Ok(b) = self.store.read_blob(&desc_digest(child)?) {
                    layers.extend(manifest_layers(&b));
                }
            }
        } else {
            layers.extend(manifest_layers(bytes));
        }
        let mut seen = Vec::new();
        for d in layers {
            if !seen.contains(&d) {
                self.progress.line(&format!("{}: Layer already exists", d.short()));
                self.sources.add(&d, &self.repo.domain, &self.repo.repository);
                seen.push(d);
            }
        }
        Ok(())
    }
}

fn manifest_layers(bytes: &[u8]) -> Vec<Digest> {
    serde_json::from_slice::<ImageManifest>(bytes)
        .map(|m| m.layers().iter().filter_map(|l| desc_digest(l).ok()).collect())
        .unwrap_or_default()
}

/// The media type a stored manifest is pushed with: its descriptor's, else its own
/// `mediaType` field, else OCI's (by shape).
fn stored_media_type(desc: &Descriptor, bytes: &[u8]) -> String {
    let from_desc = desc.media_type().to_string();
    if media::is_index(&from_desc) || media::is_manifest(&from_desc) {
        return from_desc;
    }
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return mt.to_string();
    }
    if v.get("manifests").is_some() {
        media::OCI_INDEX.into()
    } else {
        media::OCI_MANIFEST.into()
    }
}
