//! `pull`: fetch an image from a registry into the store, moving only what the store lacks.
//!
//! Order is what makes an interrupted pull harmless: the manifest (or the index, then the
//! manifest chosen for the platform) is fetched and verified in memory, the config and the
//! layers stream into the store's ingest and are committed only when their digest and size
//! check out, and the name is written to `index.json` last, after the manifest blob itself.
//! A pull killed at any point therefore leaves at most verified orphan blobs (which the next
//! pull reuses as "Already exists") and an ingest temp file (removed by the next pull, since
//! its writer's PID is gone); never a name pointing at missing content. Layers download
//! concurrently, a few at a time, and the store lock is held shared throughout so garbage
//! collection cannot delete what the pull is about to reference.

use crate::progress::Progress;
use crate::sources::BlobSources;
use crate::{media, Digest, Error, Reference, Result};
use crate::{RegistryClient, Repo};
use berth_oci::platform::Platform;
use berth_store::image::Image;
use berth_store::{desc_digest, Store};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::future::Future;
use std::sync::Arc;

/// How many blobs move at once.
pub const CONCURRENT_TRANSFERS: usize = 4;

/// Options of [`Engine::pull`].
#[derive(Clone, Default)]
pub struct PullOptions {
    /// Platform to pick from a manifest list; the host's when `None`. When given for a
    /// single-platform image, the image's config must match it.
    pub platform: Option<Platform>,
    /// Registries to speak plain HTTP to, besides loopback ones and `<root>/config.json`'s.
    pub insecure_registries: Vec<String>,
    /// A client to reuse (its connections and tokens); a new one when `None`.
    pub client: Option<RegistryClient>,
}

/// A registry client for the state root `store` lives in: `insecure` plus `<root>/config.json`'s
/// `insecure-registries` (see [`crate::client`]).
pub fn registry_client(store: &Store, insecure: &[String]) -> Result<RegistryClient> {
    RegistryClient::for_root(store.state_root(), insecure)
}

/// Pulls `reference` into the store and names it; returns the image.
pub async fn pull(store: &Store, reference: &Reference, opts: &PullOptions, progress: &Progress) -> Result<Image> {
    let store = store.clone();
    let _lock = store.lock_shared()?;
    store.sweep_tmp();
    let client = match &opts.client {
        Some(c) => c.clone(),
        None => registry_client(&store, &opts.insecure_registries)?,
    };
    let repo = Repo::of(reference);
    let name = reference.to_string();
    progress.line(&format!("{}: Pulling from {}", reference.manifest_ref(), reference.repository()));

    let top = client.get_manifest(&repo, &reference.manifest_ref()).await?;
    let (manifest, platform_desc) = if media::is_index(&top.media_type) {
        let index: ImageIndex = serde_json::from_slice(&top.bytes)
            .map_err(|e| Error::malformed(format!("index {} of {reference}", top.digest), e))?;
        let want = opts.platform.clone().unwrap_or_else(Platform::host);
        let chosen = select_platform(&index, &want, reference)?;
        let digest = desc_digest(&chosen)?;
        let m = client.get_manifest(&repo, digest.as_str()).await?;
        if !media::is_manifest(&m.media_type) {
            return Err(Error::Unsupported(format!(
                "{reference}: the {want} entry of its index is a {}, not an image manifest",
                m.media_type
            )));
        }
        if m.bytes.len() as u64 != chosen.size() {
            return Err(berth_oci::Error::SizeMismatch {
                digest: digest.to_string(),
                expected: chosen.size(),
                actual: m.bytes.len() as u64,
            }
            .into());
        }
        (m, chosen.platform().clone())
    } else {
        (top.clone(), None)
    };
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| Error::malformed(format!("manifest {} of {reference}", manifest.digest), e))?;
    let sources = BlobSources::new(store.state_root());
    let mut downloaded = false;

    // The config first: it is small, and with --platform on a single-platform image it
    // decides whether the layers are worth fetching at all.
    let config_digest = desc_digest(parsed.config())?;
    media::check_config_size(parsed.config().size(), &format!("config {config_digest} of {reference}"))?;
    // What the registry declares must fit on the disk before a byte of it is written.
    let missing = std::iter::once(parsed.config())
        .chain(parsed.layers())
        .filter(|d| desc_digest(d).is_ok_and(|d| !store.has_blob(&d)))
        .fold(0u64, |n, d| n.saturating_add(d.size()));
    store.check_free_space(missing, &format!("{reference} (its missing blobs)"))?;
    if !store.has_blob(&config_digest) {
        client.fetch_blob(&repo, &config_digest, parsed.config().size(), &store, &|_| {}).await?;
        downloaded = true;
    }
    if let (Some(want), None) = (&opts.platform, &platform_desc) {
        check_config_platform(&store, &config_digest, want, reference)?;
    }

    let mut jobs = Vec::new();
    let mut seen: Vec<Digest> = Vec::new();
    for layer in parsed.layers() {
        let d = desc_digest(layer)?;
        if seen.contains(&d) {
            continue;
        }
        seen.push(d.clone());
        if store.has_blob(&d) {
            progress.line(&format!("{}: Already exists", d.short()));
            continue;
        }
        downloaded = true;
        let size = layer.size();
        let item = Arc::new(progress.item(d.short(), "Pulling fs layer", size));
        let (client, repo, store) = (client.clone(), repo.clone(), store.clone());
        jobs.push(async move {
            let it = item.clone();
            client.fetch_blob(&repo, &d, size, &store, &move |n| it.inc(n)).await?;
            item.done("Pull complete");
            Ok(())
        });
    }
    run_bounded(jobs, CONCURRENT_TRANSFERS).await?;

    if !store.has_blob(&manifest.digest) {
        store.put_blob(&manifest.bytes, Some(&manifest.digest))?;
        downloaded = true;
    }
    for d in std::iter::once(&config_digest).chain(seen.iter()) {
        sources.add(d, &repo.domain, &repo.repository);
    }
    let mut desc = berth_store::descriptor(&manifest.media_type, &manifest.digest, manifest.bytes.len() as u64);
    if let Some(p) = platform_desc {
        desc.set_platform(Some(p));
    }
    let previous = store.get_ref(&name)?.and_then(|d| desc_digest(&d).ok());
    store.set_ref(&name, &desc)?;

    progress.line(&format!("Digest: {}", top.digest));
    if downloaded || previous.as_ref() != Some(&manifest.digest) {
        progress.line(&format!("Status: Downloaded newer image for {}", familiar_ref(reference)));
    } else {
        progress.line(&format!("Status: Image is up to date for {}", familiar_ref(reference)));
    }
    Ok(Image::load(&store, &desc, vec![name])?)
}

/// Picks the best entry of an index for `want`, or says which platforms there are.
fn select_platform(index: &ImageIndex, want: &Platform, reference: &Reference) -> Result<Descriptor> {
    let mut best: Option<(u8, &Descriptor)> = None;
    let mut available = Vec::new();
    for m in index.manifests() {
        // buildx attestations ride along as unknown/unknown entries: not images to run.
        if m.annotations().as_ref().and_then(|a| a.get("vnd.docker.reference.type")).is_some() {
            continue;
        }
        let Some(p) = m.platform() else {
            available.push("(no platform)".to_string());
            continue;
        };
        let p = Platform::from_oci(p);
        available.push(p.to_string());
        if let Some(s) = want.score(&p) {
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, m));
            }
        }
    }
    match best {
        Some((_, d)) => Ok(d.clone()),
        None => Err(Error::Other(format!(
            "no matching manifest for {want} in the manifest list entries of {reference} (available: {})",
            if available.is_empty() { "none".to_string() } else { available.join(", ") }
        ))),
    }
}

fn check_config_platform(store: &Store, config: &Digest, want: &Platform, reference: &Reference) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(&store.read_blob(config)?)
        .map_err(|e| Error::malformed(format!("config {config} of {reference}"), e))?;
    let (Some(os), Some(arch)) = (v.get("os").and_then(|s| s.as_str()), v.get("architecture").and_then(|s| s.as_str()))
    else {
        return Ok(());
    };
    let actual = Platform::new(os, arch, v.get("variant").and_then(|s| s.as_str()));
    if want.matches(&actual) {
        return Ok(());
    }
    Err(Error::Other(format!(
        "image with reference {reference} was found but does not match the specified platform: wanted {want}, actual: {actual}"
    )))
}

/// Runs transfers at most `limit` at a time on the runtime's threads; the first failure
/// cancels the rest (their ingests clean up after themselves when dropped).
pub(crate) async fn run_bounded<F>(jobs: Vec<F>, limit: usize) -> Result<()>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore is never closed");
            job.await
        });
    }
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| Error::Other(format!("transfer task failed: {e}"))).and_then(|r| r);
        if let Err(e) = r {
            set.abort_all();
            while set.join_next().await.is_some() {}
            return Err(e);
        }
    }
    Ok(())
}

/// Docker's short form of a reference: `busybox:latest`, `127.0.0.1:5000/x:1`.
pub fn familiar_ref(r: &Reference) -> String {
    let mut s = r.familiar_name();
    if let Some(t) = r.tag() {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = r.digest() {
        s.push('@');
        s.push_str(d.as_str());
    }
    s
}
