//! `berth load`: images in from a tar archive, whatever wrote it.
//!
//! Accepted: Docker's legacy `docker save` layout (`manifest.json`, `<id>.json`,
//! `<id>/layer.tar`, possibly symlinked), Docker 25+'s (the same `manifest.json` over an OCI
//! layout's `blobs/`), skopeo's `docker-archive:` and plain OCI layouts (`oci-archive:`, `berth
//! save --format oci`); the archive itself may be gzip or zstd compressed. The tar is read once,
//! as a stream (stdin works): every file streams to the store's scratch space, checked against its
//! name when it has one, one copy per distinct content; only small metadata files are held in
//! memory, within a fixed budget (an archive of thousands of files costs disk, never memory).
//! Content enters the store only when an image references it, manifests and configs only
//! within [`media::MAX_MANIFEST_SIZE`] and [`media::MAX_CONFIG_SIZE`]; what nothing references
//! is removed at the end. Names are set only after every image was checked end to end (blob
//! digests and sizes, layer diff-ids against the configs), so a malformed or truncated archive
//! names nothing; blobs it left are complete and verified, and go at the next `image prune`.

use super::save::DockerManifestItem;
use crate::content::{desc_digest, descriptor, Staged, Store, CONTAINERD_NAME, REF_NAME};
use crate::{Digest, Error, Reference, Result};
use berth_oci::media::{self, Compression};
use berth_oci::platform::Platform;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Files at most this big that are not named like blobs are kept in memory (metadata)...
const SMALL_FILE: u64 = 1 << 20;
/// ...as long as all of them together stay within this; the rest go to disk.
const SMALL_BUDGET: u64 = 16 << 20;

/// One image loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub id: Digest,
    /// Full references it was given (empty: loaded without a name).
    pub names: Vec<String>,
    /// Names that pointed at another image before, with that image's id.
    pub replaced: Vec<(String, Digest)>,
}

const WHAT: &str = "image archive";
const MAX_MANIFEST: u64 = media::MAX_MANIFEST_SIZE as u64;

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::malformed(WHAT, why)
}

/// What the tar held, by normalised path.
#[derive(Default)]
struct Contents {
    /// Files on disk: in the store, or staged.
    blobs: HashMap<String, (Digest, u64)>,
    /// Content not in the store (yet), by digest: committed when referenced.
    staged: RefCell<HashMap<Digest, Staged>>,
    small: HashMap<String, Vec<u8>>,
    small_total: u64,
    links: HashMap<String, String>,
}

fn blob_path_digest(p: &str) -> Option<Digest> {
    p.strip_prefix("blobs/sha256/").and_then(|h| format!("sha256:{h}").parse().ok())
}

struct EofWatch<R> {
    r: R,
    eof: bool,
}

impl<R: Read> Read for EofWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        Ok(n)
    }
}

impl Contents {
    fn read(store: &Store, input: impl Read) -> Result<Contents> {
        let reader = crate::unpack::decompress(input).map_err(malformed)?;
        let mut archive = tar::Archive::new(EofWatch { r: reader, eof: false });
        let mut c = Contents::default();
        let mut entries_seen = 0usize;
        {
            let entries = archive.entries().map_err(malformed)?;
            for e in entries {
                let mut e = e.map_err(|e| malformed(format!("truncated or corrupt tar stream: {e}")))?;
                entries_seen += 1;
                let path = berth_oci::path::clean_relative(&String::from_utf8_lossy(&e.path_bytes()));
                let kind = e.header().entry_type();
                match kind {
                    tar::EntryType::Symlink => {
                        let t = String::from_utf8_lossy(&e.link_name_bytes().unwrap_or_default()).into_owned();
                        let base = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        let target = if t.starts_with('/') {
                            berth_oci::path::clean_relative(&t)
                        } else {
                            berth_oci::path::clean_relative(&format!("{base}/{t}"))
                        };
                        c.links.insert(path, target);
                    }
                    tar::EntryType::Link => {
                        let t = String::from_utf8_lossy(&e.link_name_bytes().unwrap_or_default()).into_owned();
                        c.links.insert(path, berth_oci::path::clean_relative(&t));
                    }
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        let size = e.size();
                        if let Some(d) = blob_path_digest(&path) {
                            let known = c.staged.borrow().get(&d).map(Staged::size);
                            if known.or_else(|| store.blob_size(&d)) == Some(size) {
                                // Already stored; the archive's copy is still checked, so a
                                // corrupt archive is refused whatever the store holds.
                                let mut h = berth_oci::digest::HashingReader::new(&mut e);
                                let n = io::copy(&mut h, &mut io::sink()).map_err(malformed)?;
                                check_len(&path, n, size)?;
                                let (got, _) = h.finish();
                                if got != d {
                                    return Err(malformed(format!(
                                        "{path}: digest mismatch for {d}: content has digest {got}"
                                    )));
                                }
                            } else {
                                store.check_free_space(size, &path)?;
                                let mut ing = store.ingest(Some((d.clone(), Some(size))))?;
                                let n = copy_entry(&mut e, &mut ing, &path)?;
                                check_len(&path, n, size)?;
                                let st = ing.stage().map_err(|err| malformed(format!("{path}: {err}")))?;
                                c.staged.borrow_mut().insert(d.clone(), st);
                            }
                            c.blobs.insert(path, (d, size));
                        } else if size <= SMALL_FILE && c.small_total + size <= SMALL_BUDGET {
                            let mut buf = Vec::with_capacity(size as usize);
                            e.read_to_end(&mut buf).map_err(malformed)?;
                            check_len(&path, buf.len() as u64, size)?;
                            c.small_total += size;
                            c.small.insert(path, buf);
                        } else {
                            store.check_free_space(size, &path)?;
                            let mut ing = store.ingest(None)?;
                            let n = copy_entry(&mut e, &mut ing, &path)?;
                            check_len(&path, n, size)?;
                            let st = ing.stage()?;
                            let (d, n) = (st.digest().clone(), st.size());
                            // One copy per distinct content (a dropped duplicate is removed).
                            if !store.has_blob(&d) {
                                c.staged.borrow_mut().entry(d.clone()).or_insert(st);
                            }
                            c.blobs.insert(path, (d, n));
                        }
                    }
                    _ => {}
                }
            }
        }
        let watch = archive.into_inner();
        if watch.eof {
            let why =
                if entries_seen == 0 { "empty or not a tar archive" } else { "unexpected end of archive (truncated?)" };
            return Err(malformed(why));
        }
        Ok(c)
    }

    fn resolve<'a>(&'a self, path: &'a str) -> Result<String> {
        let mut p = berth_oci::path::clean_relative(path);
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => return Ok(p),
            }
        }
        Err(malformed(format!("{path}: too many levels of links")))
    }

    /// The blob a path holds, stored (staged and small files are stored on demand).
    fn blob(&self, store: &Store, path: &str) -> Result<(Digest, u64)> {
        let p = self.resolve(path)?;
        if let Some((d, n)) = self.blobs.get(&p) {
            let staged = self.staged.borrow_mut().remove(d);
            if let Some(st) = staged {
                st.commit()?;
            }
            return Ok((d.clone(), *n));
        }
        if let Some(bytes) = self.small.get(&p) {
            return store.put_blob(bytes, blob_path_digest(&p).as_ref());
        }
        if let Some(d) = blob_path_digest(&p) {
            if let Some(size) = store.blob_size(&d) {
                return Ok((d, size));
            }
        }
        Err(malformed(format!("the archive has no {path}")))
    }

    /// The content of a (metadata) file, at most `cap` bytes of it, without storing it.
    fn bytes(&self, store: &Store, path: &str, cap: u64) -> Result<Vec<u8>> {
        let p = self.resolve(path)?;
        if let Some(bytes) = self.small.get(&p) {
            check_cap(&p, bytes.len() as u64, cap)?;
            return Ok(bytes.clone());
        }
        let (d, n) = match self.blobs.get(&p) {
            Some(b) => b.clone(),
            None => {
                let d = blob_path_digest(&p).ok_or_else(|| malformed(format!("the archive has no {path}")))?;
                let n = store.blob_size(&d).ok_or_else(|| malformed(format!("the archive has no {path}")))?;
                (d, n)
            }
        };
        check_cap(&p, n, cap)?;
        if let Some(st) = self.staged.borrow().get(&d) {
            let b = std::fs::read(st.path()).map_err(|e| Error::io(st.path(), e))?;
            d.verify(&b)?;
            return Ok(b);
        }
        store.read_blob(&d)
    }

    /// The bytes of a manifest or index the archive holds (or the store has), checked
    /// against its descriptor and the manifest cap, without storing them.
    fn document(&self, store: &Store, desc: &Descriptor) -> Result<Vec<u8>> {
        let d = desc_digest(desc)?;
        check_cap(&format!("{} {d}", desc.media_type()), desc.size(), MAX_MANIFEST)?;
        let b = self.bytes(store, &format!("blobs/sha256/{}", d.hex()), MAX_MANIFEST)?;
        if b.len() as u64 != desc.size() {
            return Err(berth_oci::Error::SizeMismatch {
                digest: d.to_string(),
                expected: desc.size(),
                actual: b.len() as u64,
            }
            .into());
        }
        Ok(b)
    }

    /// A blob named by digest: in the archive's `blobs/` or already in the store.
    fn by_digest(&self, store: &Store, d: &Digest, size: Option<u64>) -> Result<()> {
        let (got, n) = self
            .blob(store, &format!("blobs/sha256/{}", d.hex()))
            .map_err(|_| malformed(format!("the archive is missing blob {d}")))?;
        if &got != d {
            return Err(berth_oci::Error::DigestMismatch { expected: d.to_string(), actual: got.to_string() }.into());
        }
        if let Some(s) = size {
            if s != n {
                return Err(berth_oci::Error::SizeMismatch { digest: d.to_string(), expected: s, actual: n }.into());
            }
        }
        Ok(())
    }
}

fn copy_entry<R: Read>(e: &mut R, w: &mut impl Write, path: &str) -> Result<u64> {
    io::copy(e, w).map_err(|err| malformed(format!("{path}: {err}")))
}

/// Manifests and configs are read whole: refused past their cap before a byte is read.
fn check_cap(path: &str, size: u64, cap: u64) -> Result<()> {
    if size > cap {
        return Err(malformed(format!("{path} is {size} bytes, more than the {cap} berth accepts for it")));
    }
    Ok(())
}

fn check_len(path: &str, got: u64, want: u64) -> Result<()> {
    if got != want {
        return Err(malformed(format!("truncated: {path} has {got} of {want} bytes")));
    }
    Ok(())
}

/// Checks a stored layer blob against the diff-id its config gives; returns its compression.
fn verify_layer(store: &Store, blob: &Digest, diff_id: &Digest) -> Result<Compression> {
    let mut head = [0u8; 6];
    let n = store.open_blob(blob)?.read(&mut head).map_err(|e| Error::io(store.blob_path(blob), e))?;
    let c = Compression::sniff(&head[..n]);
    if c == Compression::None {
        if blob != diff_id {
            return Err(berth_oci::Error::DigestMismatch {
                expected: diff_id.to_string(),
                actual: format!("{blob} (layer content)"),
            }
            .into());
        }
        return Ok(c);
    }
    super::checked_diff_size(store, blob, diff_id)?;
    Ok(c)
}

/// An image ready to be named.
struct Ready {
    desc: Descriptor,
    id: Digest,
    names: Vec<String>,
}

fn diff_ids_of(config: &serde_json::Value) -> Vec<Digest> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Checks a manifest (already stored) end to end: config, every layer, diff-ids.
fn verify_manifest(store: &Store, c: &Contents, m: &ImageManifest) -> Result<Digest> {
    let cfg = desc_digest(m.config())?;
    media::check_config_size(m.config().size(), &format!("config {cfg}"))?;
    c.by_digest(store, &cfg, Some(m.config().size()))?;
    let config: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&cfg)?).map_err(|e| Error::malformed(format!("config {cfg}"), e))?;
    let diff_ids = diff_ids_of(&config);
    let tar_layers: Vec<&Descriptor> =
        m.layers().iter().filter(|l| media::is_tar_layer(l.media_type().as_ref())).collect();
    for l in m.layers() {
        c.by_digest(store, &desc_digest(l)?, Some(l.size()))?;
    }
    if !tar_layers.is_empty() && tar_layers.len() != diff_ids.len() {
        return Err(Error::malformed(
            format!("image {cfg}"),
            format!("{} layers but {} diff-ids", tar_layers.len(), diff_ids.len()),
        ));
    }
    for (l, d) in tar_layers.iter().zip(&diff_ids) {
        verify_layer(store, &desc_digest(l)?, d)?;
    }
    Ok(cfg)
}

impl Store {
    /// Loads every image in a `docker save` / OCI archive. Names are set only when all of
    /// them checked out.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>> {
        let store = self;
        let _shared = store.lock_shared()?;
        let c = Contents::read(store, input)?;
        let ready = if c.small.contains_key("manifest.json") || c.blobs.contains_key("manifest.json") {
            self.load_docker(&c)?
        } else if c.small.contains_key("index.json") {
            self.load_oci(&c)?
        } else {
            return Err(malformed("no manifest.json or index.json: not a docker save or OCI archive"));
        };
        let mut out: Vec<Loaded> = Vec::new();
        for r in ready {
            let mut replaced = Vec::new();
            if r.names.is_empty() {
                self.add_dangling(&r.desc)?;
            }
            for n in &r.names {
                if let Some(old) = self.name_image(n, &r.desc)? {
                    if old != r.id {
                        replaced.push((n.clone(), old));
                    }
                }
            }
            match out.iter_mut().find(|l| l.id == r.id) {
                Some(l) => {
                    l.names.extend(r.names);
                    l.replaced.extend(replaced);
                }
                None => out.push(Loaded { id: r.id, names: r.names, replaced }),
            }
        }
        Ok(out)
    }

    fn load_docker(&self, c: &Contents) -> Result<Vec<Ready>> {
        let store = self;
        let items: Vec<DockerManifestItem> = serde_json::from_slice(&c.bytes(store, "manifest.json", MAX_MANIFEST)?)
            .map_err(|e| Error::malformed("manifest.json", e))?;
        // Docker 25+ archives carry OCI manifests too: reuse them when they match, so the
        // manifest digest survives a save/load round trip.
        let mut oci_manifests: Vec<(Descriptor, ImageManifest)> = Vec::new();
        if let Ok(b) = c.bytes(store, "index.json", MAX_MANIFEST) {
            if let Ok(idx) = serde_json::from_slice::<ImageIndex>(&b) {
                for d in idx.manifests() {
                    if !media::is_manifest(d.media_type().as_ref()) {
                        continue;
                    }
                    let Ok(dd) = desc_digest(d) else { continue };
                    let path = format!("blobs/sha256/{}", dd.hex());
                    let bytes = c.bytes(store, &path, MAX_MANIFEST);
                    if let Ok(m) = bytes.and_then(|b| serde_json::from_slice(&b).map_err(malformed)) {
                        oci_manifests.push((d.clone(), m));
                    }
                }
            }
        }
        let mut ready = Vec::new();
        for item in items {
            let config_bytes = c.bytes(store, &item.config, media::MAX_CONFIG_SIZE)?;
            let (id, config_size) = store.put_blob(&config_bytes, None)?;
            let config: serde_json::Value = serde_json::from_slice(&config_bytes)
                .map_err(|e| Error::malformed(format!("config {}", item.config), e))?;
            let diff_ids = diff_ids_of(&config);
            if diff_ids.len() != item.layers.len() {
                return Err(malformed(format!(
                    "{}: {} layers in manifest.json but {} diff-ids in the config",
                    item.config,
                    item.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (path, diff) in item.layers.iter().zip(&diff_ids) {
                let (d, size) = c.blob(store, path)?;
                let comp = verify_layer(store, &d, diff).map_err(|e| malformed(format!("layer {path}: {e}")))?;
                layers.push(descriptor(comp.oci_layer_type(), &d, size));
            }
            let reuse = oci_manifests.iter().find(|(_, m)| {
                desc_digest(m.config()).ok().as_ref() == Some(&id)
                    && m.layers().len() == layers.len()
                    && m.layers().iter().zip(&layers).all(|(a, b)| a.digest() == b.digest())
            });
            let desc = match reuse {
                Some((d, _)) => {
                    let dd = desc_digest(d)?;
                    c.by_digest(store, &dd, Some(d.size()))?;
                    descriptor(d.media_type().as_ref(), &dd, d.size())
                }
                None => {
                    let layer_json: Vec<serde_json::Value> = layers
                        .iter()
                        .map(|l| json!({"mediaType": l.media_type().to_string(), "digest": l.digest().to_string(), "size": l.size()}))
                        .collect();
                    let m = json!({
                        "schemaVersion": 2,
                        "mediaType": media::OCI_MANIFEST,
                        "config": {"mediaType": media::OCI_CONFIG, "digest": id.to_string(), "size": config_size},
                        "layers": layer_json,
                    });
                    store.put_json(media::OCI_MANIFEST, &m)?
                }
            };
            let mut names = Vec::new();
            for t in item.repo_tags.unwrap_or_default() {
                let r = Reference::parse(&t)?;
                names.push(r.to_string());
            }
            ready.push(Ready { desc, id, names });
        }
        Ok(ready)
    }

    fn load_oci(&self, c: &Contents) -> Result<Vec<Ready>> {
        let store = self;
        let idx: ImageIndex = serde_json::from_slice(&c.bytes(store, "index.json", MAX_MANIFEST)?)
            .map_err(|e| Error::malformed("index.json", e))?;
        let mut ready: Vec<Ready> = Vec::new();
        for d in idx.manifests() {
            let names = oci_names(d);
            let mut desc = d.clone();
            let mut mt = desc.media_type().to_string();
            let dd = desc_digest(&desc)?;
            // Indexes and manifests are read from the archive and stored only once the image
            // they lead to checked out: a refused image leaves nothing behind.
            let mut docs = vec![(dd.clone(), desc.size())];
            let mut bytes = c.document(store, &desc)?;
            if media::is_index(&mt) {
                let nested: ImageIndex =
                    serde_json::from_slice(&bytes).map_err(|e| Error::malformed(format!("index {dd}"), e))?;
                desc = pick_platform(&nested, &dd)?;
                mt = desc.media_type().to_string();
                bytes = c.document(store, &desc)?;
                docs.push((desc_digest(&desc)?, desc.size()));
            }
            if !media::is_manifest(&mt) {
                tracing::debug!("load: skipping {mt} entry {}", desc.digest());
                continue;
            }
            let md = desc_digest(&desc)?;
            let m: ImageManifest =
                serde_json::from_slice(&bytes).map_err(|e| Error::malformed(format!("manifest {md}"), e))?;
            let id = verify_manifest(store, c, &m)?;
            for (d, size) in &docs {
                c.by_digest(store, d, Some(*size))?;
            }
            let clean = descriptor(&mt, &md, desc.size());
            match ready.iter_mut().find(|r| r.desc.digest() == clean.digest()) {
                Some(r) => r.names.extend(names),
                None => ready.push(Ready { desc: clean, id, names }),
            }
        }
        if ready.is_empty() {
            return Err(malformed("index.json lists no image manifests"));
        }
        Ok(ready)
    }
}

/// The name an OCI layout entry gives: containerd's full-name annotation, else a
/// `ref.name` that is a reference (a bare `latest`-style tag names no repository).
fn oci_names(d: &Descriptor) -> Vec<String> {
    let Some(a) = d.annotations() else { return vec![] };
    if let Some(n) = a.get(CONTAINERD_NAME) {
        if let Ok(r) = Reference::parse(n) {
            return vec![r.to_string()];
        }
    }
    if let Some(n) = a.get(REF_NAME) {
        if n.contains(':') || n.contains('/') {
            if let Ok(r) = Reference::parse(n) {
                return vec![r.to_string()];
            }
        }
    }
    vec![]
}

fn pick_platform(idx: &ImageIndex, digest: &Digest) -> Result<Descriptor> {
    let host = Platform::host();
    let mut best: Option<(u8, &Descriptor)> = None;
    for m in idx.manifests() {
        if !media::is_manifest(m.media_type().as_ref()) {
            continue;
        }
        let Some(p) = m.platform() else { continue };
        if let Some(score) = host.score(&Platform::from_oci(p)) {
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, m));
            }
        }
    }
    match best {
        Some((_, d)) => Ok(d.clone()),
        None if idx.manifests().len() == 1 => Ok(idx.manifests()[0].clone()),
        None => Err(Error::Unsupported(format!("index {digest} in the archive has no image for {host}"))),
    }
}
