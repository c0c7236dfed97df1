//! Images in the store: resolving what a user typed, reading manifests and configs, naming,
//! removing, and collecting garbage.
//!
//! An image is a manifest in the store; its id is its config's digest (as Docker's is), and
//! its names are the `index.json` entries that point at its manifest. A user may name an
//! image by reference (`busybox`), by full or short id, or by manifest digest. An `index.json`
//! entry without a name is a dangling image (`<none>:<none>`: an untagged import or load);
//! removing an image's last name drops its entry, and [`Store::prune_images`] then reclaims
//! every blob and unpacked layer nothing reachable from `index.json` (or a container) uses.

use crate::content::{desc_digest, Store, CONTAINERD_NAME, REF_NAME};
use crate::{media, Digest, Error, Reference, Result};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

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

    /// Docker's image size: the uncompressed layer sizes where the store knows them (every
    /// layer imported, loaded or unpacked), else the stored (compressed) size.
    pub fn content_size(&self, store: &Store) -> u64 {
        self.manifest
            .layers()
            .iter()
            .map(|l| desc_digest(l).ok().and_then(|d| store.known_diff_id(&d)).map(|(_, s)| s).unwrap_or(l.size()))
            .sum::<u64>()
            + self.manifest.config().size()
    }

    /// Whether the image itself says WebAssembly: the first two steps of berth's dispatch rule
    /// (docs/architecture.md), the one predicate every caller asks. Its platform (architecture
    /// `wasm`, or a WASI os: `wasi`, `wasip1`, `wasip2`), its config media type (the CNCF wasm
    /// artifact's) or any layer that is a raw wasm binary. The third step, the entrypoint's
    /// magic bytes, needs the rootfs and is the engine's.
    pub fn is_wasm(&self) -> bool {
        let field = |k: &str| self.config_json.get(k).and_then(|a| a.as_str()).unwrap_or_default();
        field("architecture") == "wasm"
            || matches!(field("os"), "wasi" | "wasip1" | "wasip2")
            || self.manifest.config().media_type().to_string() == media::WASM_CONFIG_V0
            || self.manifest.layers().iter().any(|l| media::is_wasm_layer(l.media_type().as_ref()))
    }

    /// The config's `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.config_json["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// When the image was created (the config's `created`).
    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let s = self.config_json.get("created")?.as_str()?;
        chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The names parsed (names that do not parse are skipped).
    pub fn references(&self) -> Vec<Reference> {
        self.names.iter().filter_map(|n| Reference::parse(n).ok()).collect()
    }

    /// Docker's `RepoTags`: `busybox:latest`, `localhost:5000/app:v1`.
    pub fn repo_tags(&self) -> Vec<String> {
        self.references().iter().filter_map(|r| r.tag().map(|t| format!("{}:{t}", r.familiar_name()))).collect()
    }

    /// Docker's `RepoDigests`: one `repo@<manifest digest>` per repository naming the image.
    pub fn repo_digests(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.references() {
            let d = format!("{}@{}", r.familiar_name(), r.digest().unwrap_or(&self.manifest_digest));
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// What `berth image inspect` prints: Docker's fields, plus berth's manifest digest and
    /// media type, the whole OCI image config (`OCIConfig`; Docker's `Config` stays the
    /// container config, as scripts using `{{.Config.Cmd}}` expect) and the layer descriptors.
    pub fn inspect_json(&self, store: &Store) -> Value {
        let c = &self.config_json;
        let str_of = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let comment = c["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|h| h.get("comment"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let mut v = json!({
            "Id": self.id.to_string(),
            "RepoTags": self.repo_tags(),
            "RepoDigests": self.repo_digests(),
            "Parent": "",
            "Comment": comment,
            "Created": str_of("created"),
            "DockerVersion": str_of("docker_version"),
            "Author": str_of("author"),
            "Config": c.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": str_of("architecture"),
            "Os": str_of("os"),
            "Size": self.content_size(store),
            "RootFS": {
                "Type": c["rootfs"].get("type").and_then(|t| t.as_str()).unwrap_or("layers"),
                "Layers": self.diff_ids().iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
            "Manifest": self.manifest_digest.to_string(),
            "ManifestMediaType": self.manifest_desc.media_type().to_string(),
            "OCIConfig": c,
            "Layers": serde_json::to_value(self.manifest.layers()).unwrap_or(Value::Null),
        });
        if let Some(variant) = c.get("variant").and_then(|x| x.as_str()) {
            v["Variant"] = json!(variant);
        }
        v
    }

    /// `berth history` rows, newest first: one per config history entry, sized from the
    /// layer each non-empty entry created (uncompressed when known, as Docker shows).
    pub fn history(&self, store: &Store) -> Vec<HistoryRow> {
        let layers: Vec<u64> = self
            .manifest
            .layers()
            .iter()
            .map(|l| desc_digest(l).ok().and_then(|d| store.known_diff_id(&d)).map(|(_, s)| s).unwrap_or(l.size()))
            .collect();
        let hist: Vec<Value> = self.config_json["history"].as_array().cloned().unwrap_or_default();
        let mut rows = Vec::new();
        if hist.is_empty() {
            for size in layers {
                rows.push(HistoryRow {
                    id: None,
                    created: None,
                    created_by: String::new(),
                    size,
                    comment: String::new(),
                    empty_layer: false,
                });
            }
        } else {
            let mut li = 0usize;
            for h in &hist {
                let empty = h.get("empty_layer").and_then(|e| e.as_bool()).unwrap_or(false);
                let size = if empty {
                    0
                } else {
                    let s = layers.get(li).copied().unwrap_or(0);
                    li += 1;
                    s
                };
                rows.push(HistoryRow {
                    id: None,
                    created: h
                        .get("created")
                        .and_then(|c| c.as_str())
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&chrono::Utc)),
                    created_by: h.get("created_by").and_then(|c| c.as_str()).unwrap_or("").to_string(),
                    size,
                    comment: h.get("comment").and_then(|c| c.as_str()).unwrap_or("").to_string(),
                    empty_layer: empty,
                });
            }
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = Some(self.id.clone());
        }
        rows
    }
}

/// One row of `berth history`.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    /// The image id on the top row; `None` (`<missing>`) below, as for any pulled image.
    pub id: Option<Digest>,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// What `rmi` and `image prune` did, in Docker's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveEvent {
    /// `Untagged: busybox:latest` (familiar form).
    Untagged(String),
    /// `Deleted: sha256:...` (an image id that no longer has any entry).
    Deleted(Digest),
}

/// What `image prune` reclaimed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub events: Vec<RemoveEvent>,
    pub blobs_removed: usize,
    pub layers_removed: usize,
    pub reclaimed: u64,
}

/// The name an `index.json` entry carries, if any.
pub fn entry_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations().as_ref()?;
    a.get(CONTAINERD_NAME).or_else(|| a.get(REF_NAME)).cloned()
}

/// Docker's short form of a full reference (`docker.io/library/busybox:latest` -> `busybox:latest`).
pub fn familiar(name: &str) -> String {
    match Reference::parse(name) {
        Ok(r) => {
            let mut s = r.familiar_name();
            if let Some(t) = r.tag() {
                s = format!("{s}:{t}");
            }
            if let Some(d) = r.digest() {
                s = format!("{s}@{d}");
            }
            s
        }
        Err(_) => name.to_string(),
    }
}

impl Store {
    /// Every image (named and dangling), grouped by manifest (one entry per distinct manifest).
    pub fn list_images(&self) -> Result<Vec<Image>> {
        let mut by_manifest: Vec<(Descriptor, Vec<String>)> = Vec::new();
        for desc in self.read_index()?.manifests() {
            if !media::is_manifest(desc.media_type().as_ref()) {
                continue;
            }
            let name = entry_name(desc);
            match by_manifest.iter_mut().find(|(d, _)| d.digest() == desc.digest()) {
                Some((_, names)) => names.extend(name),
                None => by_manifest.push((desc.clone(), name.into_iter().collect())),
            }
        }
        by_manifest.into_iter().map(|(d, names)| Image::load(self, &d, names)).collect()
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
            ids.sort();
            ids.dedup();
            match ids.len() {
                0 => {}
                // Prefer the entry that has names when one config has several manifests.
                1 => return Ok((*hits.iter().find(|i| !i.names.is_empty()).unwrap_or(&hits[0])).clone()),
                _ => return Err(Error::Conflict(format!("image id prefix {s:?} is ambiguous"))),
            }
        }
        let r = Reference::parse(s)?;
        // Named as Docker names it: `nosuch:latest`, the tag it looked for.
        let shown = match (r.digest(), r.tag()) {
            (Some(d), _) => format!("{}@{d}", r.familiar_name()),
            (None, t) => format!("{}:{}", r.familiar_name(), t.unwrap_or("latest")),
        };
        Err(Error::ImageNotFound(shown))
    }

    /// Names an image: `name` (a full reference) now points at `desc`, and a dangling entry
    /// for the same manifest is dropped. Returns the id of the image the name pointed at
    /// before, when that was another image.
    pub fn name_image(&self, name: &str, desc: &Descriptor) -> Result<Option<Digest>> {
        let previous = match self.get_ref(name)? {
            Some(old) if old.digest() != desc.digest() => Image::load(self, &old, vec![]).ok().map(|i| i.id),
            _ => None,
        };
        self.set_ref(name, desc)?;
        self.update_index(|m| {
            m.retain(|d| !(d.digest() == desc.digest() && entry_name(d).is_none()));
            Ok(())
        })?;
        Ok(previous)
    }

    /// Records an image with no name (a dangling `<none>` image), unless its manifest
    /// already has an entry.
    pub fn add_dangling(&self, desc: &Descriptor) -> Result<()> {
        let d = desc_digest(desc)?;
        if !self.has_blob(&d) {
            return Err(Error::BlobNotFound(d.to_string()));
        }
        self.update_index(|m| {
            if !m.iter().any(|x| x.digest() == desc.digest()) {
                let mut desc = desc.clone();
                desc.set_annotations(None);
                m.push(desc);
            }
            Ok(())
        })
    }

    /// `berth tag SOURCE TARGET`: returns the normalised target.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<Reference> {
        let img = self.resolve_image(source)?;
        let r = Reference::parse(target)?;
        if r.digest().is_some() {
            return Err(berth_oci::Error::InvalidReference {
                reference: target.to_string(),
                reason: "refusing to create a tag with a digest reference".into(),
            }
            .into());
        }
        let mut desc = img.manifest_desc.clone();
        desc.set_annotations(None);
        self.name_image(&r.to_string(), &desc)?;
        Ok(r)
    }

    /// `berth rmi`: by name, removes that name (and reports the image deleted when it was its
    /// last); by id, removes every entry of the image — refusing, unless `force`, when its
    /// names span several repositories or a container uses it (as Docker does). A forced
    /// removal of an image a container uses keeps it as a dangling `<none>` image, so the
    /// container's image stays whole until the container goes.
    pub fn remove_image(&self, s: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let img = self.resolve_image(s)?;
        let by_name = Reference::parse(s).ok().map(|r| r.to_string()).filter(|full| img.names.contains(full));
        let users = self.containers_using(&img.id)?;
        let mut events = Vec::new();
        if let Some(full) = by_name {
            let others =
                self.list_images()?.iter().filter(|i| i.id == img.id).map(|i| i.names.len()).sum::<usize>() > 1;
            if !others && !users.is_empty() && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference {:?} (must force) - container {} is using its referenced image {}",
                    s,
                    &users[0][..12.min(users[0].len())],
                    img.id.short()
                )));
            }
            let desc = self.remove_ref(&full)?;
            events.push(RemoveEvent::Untagged(familiar(&full)));
            if !self.image_id_in_index(&img.id)? {
                match (users.is_empty(), desc) {
                    (false, Some(d)) => self.add_dangling(&d)?,
                    _ => events.push(RemoveEvent::Deleted(img.id.clone())),
                }
            }
            return Ok(events);
        }
        // By id (or manifest digest): every entry whose manifest has this config.
        let all: Vec<Image> = self.list_images()?.into_iter().filter(|i| i.id == img.id).collect();
        let names: Vec<String> = all.iter().flat_map(|i| i.names.clone()).collect();
        let repos: HashSet<String> = names.iter().filter_map(|n| Reference::parse(n).ok()).map(|r| r.name()).collect();
        if !force && repos.len() > 1 {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                img.id.short()
            )));
        }
        if let Some(c) = users.first() {
            if !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    img.id.short(),
                    &c[..12.min(c.len())]
                )));
            }
        }
        let digests: HashSet<String> = all.iter().map(|i| i.manifest_digest.to_string()).collect();
        self.update_index(|m| {
            m.retain(|d| !digests.contains(&d.digest().to_string()));
            Ok(())
        })?;
        events.extend(names.iter().map(|n| RemoveEvent::Untagged(familiar(n))));
        if users.is_empty() {
            events.push(RemoveEvent::Deleted(img.id.clone()));
        } else {
            self.add_dangling(&img.manifest_desc)?;
        }
        Ok(events)
    }

    fn image_id_in_index(&self, id: &Digest) -> Result<bool> {
        Ok(self.list_images()?.iter().any(|i| &i.id == id))
    }

    /// Ids of containers (under `<root>/containers`) created from image `id`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self
            .container_records()
            .into_iter()
            .filter(|(_, v)| record_field(v, "Image").as_str() == Some(id.as_str()))
            .map(|(c, _)| c)
            .collect())
    }

    /// Container records, read as plain JSON so image garbage collection needs nothing from
    /// the container code but its file layout (`containers/<id>/config.v2.json`).
    fn container_records(&self) -> Vec<(String, Value)> {
        let dir = self.containers_dir();
        let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| {
                let b = std::fs::read(e.path().join("config.v2.json")).ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), serde_json::from_slice(&b).ok()?))
            })
            .collect()
    }

    /// Unpacks (if needed) every layer of an image and returns the directories bottom to
    /// top, for the runtime's overlay (lowerdirs, reversed) or copying snapshotter.
    pub fn image_layers(&self, img: &Image) -> Result<Vec<PathBuf>> {
        let diff_ids = img.diff_ids();
        let mut out = Vec::new();
        for (i, l) in img.manifest.layers().iter().enumerate() {
            let mt = l.media_type().to_string();
            let blob = desc_digest(l)?;
            if !media::is_tar_layer(&mt) {
                return Err(Error::Unsupported(format!(
                    "layer {blob} of image {} has media type {mt}, not a filesystem layer",
                    img.id.short()
                )));
            }
            out.push(self.unpack_layer(&blob, diff_ids.get(i))?.path);
        }
        Ok(out)
    }

    /// `berth image prune`: drops dangling images (with `all`, every image no container uses),
    /// then removes blobs nothing reachable from `index.json` references and unpacked layers
    /// no remaining image or container uses. Holds the store lock exclusively throughout.
    pub fn prune_images(&self, all: bool) -> Result<PruneReport> {
        let store = self;
        let _x = store.lock_exclusive()?;
        let mut report = PruneReport::default();
        let containers = self.container_records();
        let in_use: HashSet<String> =
            containers.iter().filter_map(|(_, v)| record_field(v, "Image").as_str().map(String::from)).collect();
        let images = self.list_images()?;
        let mut drop_manifests: HashSet<String> = HashSet::new();
        let mut dropped_ids: Vec<Digest> = Vec::new();
        for img in &images {
            let dangling = img.names.is_empty();
            if (dangling || all) && !in_use.contains(img.id.as_str()) {
                drop_manifests.insert(img.manifest_digest.to_string());
                report.events.extend(img.names.iter().map(|n| RemoveEvent::Untagged(familiar(n))));
                if !dropped_ids.contains(&img.id) {
                    dropped_ids.push(img.id.clone());
                }
            }
        }
        if !drop_manifests.is_empty() {
            store.update_index(|m| {
                m.retain(|d| !drop_manifests.contains(&d.digest().to_string()));
                Ok(())
            })?;
        }
        let remaining: HashSet<Digest> = self.list_images()?.into_iter().map(|i| i.id).collect();
        report.events.extend(dropped_ids.into_iter().filter(|id| !remaining.contains(id)).map(RemoveEvent::Deleted));

        let (reachable, diff_ids) = reachable_blobs(store)?;
        for b in store.list_blobs()? {
            if !reachable.contains(&b) {
                report.reclaimed += store.blob_size(&b).unwrap_or(0);
                store.remove_blob(&b)?;
                report.blobs_removed += 1;
            }
        }
        let mut keep_layers: HashSet<PathBuf> = diff_ids.iter().map(|d| store.layer_dir(d)).collect();
        for (_, v) in &containers {
            for l in record_field(v, "Layers").as_array().into_iter().flatten() {
                if let Some(p) = l.as_str() {
                    keep_layers.insert(PathBuf::from(p));
                }
            }
        }
        for d in store.unpacked_layers()? {
            if !keep_layers.contains(&store.layer_dir(&d)) {
                report.reclaimed += store.remove_unpacked_layer(&d)?;
                report.layers_removed += 1;
            }
        }
        store.sweep_layer_records()?;
        sweep_stale_tmp(store);
        Ok(report)
    }
}

/// A field of a container record (`Image`, as the container code writes it; lowercase too).
fn record_field<'a>(v: &'a Value, name: &str) -> &'a Value {
    match v.get(name) {
        Some(x) => x,
        None => &v[name.to_ascii_lowercase()],
    }
}

/// Blobs reachable from `index.json` (walking indexes, manifests, configs and layers), and
/// the diff-ids of the image configs among them.
fn reachable_blobs(store: &Store) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
    let mut seen = HashSet::new();
    let mut diff_ids = HashSet::new();
    let mut stack: Vec<Descriptor> = store.read_index()?.manifests().clone();
    while let Some(desc) = stack.pop() {
        let Ok(d) = desc_digest(&desc) else { continue };
        if !seen.insert(d.clone()) {
            continue;
        }
        let mt = desc.media_type().to_string();
        if media::is_index(&mt) {
            if let Ok(b) = store.read_blob(&d) {
                if let Ok(idx) = serde_json::from_slice::<ImageIndex>(&b) {
                    stack.extend(idx.manifests().iter().cloned());
                }
            }
        } else if media::is_manifest(&mt) || mt.ends_with("manifest.v1+json") {
            if let Ok(b) = store.read_blob(&d) {
                if let Ok(m) = serde_json::from_slice::<ImageManifest>(&b) {
                    stack.push(m.config().clone());
                    stack.extend(m.layers().iter().cloned());
                    if let Some(s) = m.subject() {
                        stack.push(s.clone());
                    }
                    if let Ok(cd) = desc_digest(m.config()) {
                        if let Ok(cb) = store.read_blob(&cd) {
                            if let Ok(v) = serde_json::from_slice::<Value>(&cb) {
                                for id in v["rootfs"]["diff_ids"].as_array().into_iter().flatten() {
                                    if let Some(Ok(dd)) = id.as_str().map(str::parse::<Digest>) {
                                        diff_ids.insert(dd);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((seen, diff_ids))
}

/// Removes scratch files of writers that died: anything in `tmp/` untouched for a day.
fn sweep_stale_tmp(store: &Store) {
    let Ok(rd) = std::fs::read_dir(store.tmp_dir()) else { return };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in rd.flatten() {
        let old =
            e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|a| a > day);
        if old {
            let _ = crate::unpack::remove_tree(&e.path());
        }
    }
}

/// Image configs berth writes: the `config` section set by `--change`, history, rootfs.
pub fn new_config(
    platform: (&str, &str, Option<&str>),
    created: &str,
    container_config: Value,
    diff_ids: &[Digest],
    history: Vec<Value>,
) -> Value {
    let mut c = BTreeMap::new();
    c.insert("architecture".to_string(), json!(platform.1));
    c.insert("os".to_string(), json!(platform.0));
    if let Some(v) = platform.2 {
        c.insert("variant".to_string(), json!(v));
    }
    c.insert("created".to_string(), json!(created));
    c.insert("config".to_string(), container_config);
    c.insert("history".to_string(), Value::Array(history));
    c.insert(
        "rootfs".to_string(),
        json!({"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
    );
    serde_json::to_value(c).expect("plain map")
}
