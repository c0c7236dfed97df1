//! On-disk storage of the embedded registry: content-addressed blobs shared by every
//! repository, plus small per-repository link files saying what each repository holds.
//!
//! Layout under the storage directory:
//!
//! ```text
//! blobs/sha256/<hex>                                  blob bytes (layers, configs, manifests)
//! repositories/<name>/_layers/sha256/<hex>            link: blob <hex> belongs to <name> (holds the digest)
//! repositories/<name>/_manifests/revisions/sha256/<hex>  link: manifest <hex> is in <name>
//!                                                     (JSON {"mediaType":..,"size":..})
//! repositories/<name>/_manifests/tags/<tag>           the digest the tag points at
//! repositories/<name>/_referrers/sha256/<subject-hex>/<hex>  descriptor (JSON) of manifest <hex>
//!                                                     whose `subject` is <subject-hex>
//! uploads/<uuid>/repo                                 the repository an upload session belongs to
//! uploads/<uuid>/data                                 the bytes received so far
//! tmp/                                                scratch for atomic small-file writes
//! ```
//!
//! Repository names match the OCI name grammar, whose components never start with `_` or
//! `.`, so the `_layers`/`_manifests`/`_referrers` entries cannot collide with a nested
//! repository and no name can escape the directory. Every write is a temp file (or the
//! upload's data file), fsynced and renamed into place, so concurrent requests and crashes
//! never expose partial files. Blob bytes are removed only when no repository links them
//! any more; that check and every link creation are ordered by an in-process lock.

use crate::{Digest, Error, Result};
use berth_oci::IoContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Upload sessions untouched for this long are removed when the registry starts.
const STALE_UPLOAD: Duration = Duration::from_secs(7 * 24 * 3600);
/// Scratch files older than this are leftovers of a dead writer.
const STALE_TMP: Duration = Duration::from_secs(600);

/// What a repository records about one of its manifests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestRecord {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
}

/// Handle on a registry storage directory. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    root: PathBuf,
    /// Held shared while linking content, exclusive while deciding a blob is orphaned.
    gc: Arc<RwLock<()>>,
}

impl Storage {
    /// Opens (creating) the storage at `root` and sweeps leftovers of dead writers.
    pub fn open(root: &Path) -> Result<Storage> {
        let s = Storage { root: root.to_path_buf(), gc: Arc::new(RwLock::new(())) };
        for d in [root.join("blobs/sha256"), root.join("repositories"), root.join("uploads"), root.join("tmp")] {
            fs::create_dir_all(&d).at(&d)?;
        }
        s.sweep();
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn sweep(&self) {
        let now = SystemTime::now();
        let older = |p: &Path, age: Duration| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > age)
                .unwrap_or(false)
        };
        if let Ok(rd) = fs::read_dir(self.root.join("tmp")) {
            for e in rd.flatten() {
                if older(&e.path(), STALE_TMP) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.root.join("uploads")) {
            for e in rd.flatten() {
                let p = e.path();
                let data = p.join("data");
                let newest = if data.exists() { data } else { p.join("repo") };
                if older(&newest, STALE_UPLOAD) || !p.join("repo").exists() {
                    let _ = fs::remove_dir_all(&p);
                }
            }
        }
    }

    // ---- paths -------------------------------------------------------------------------

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm()).join(d.hex())
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name).join("_layers").join(d.algorithm()).join(d.hex())
    }

    fn revision_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name).join("_manifests/revisions").join(d.algorithm()).join(d.hex())
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags").join(tag)
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name).join("_referrers").join(subject.algorithm()).join(subject.hex())
    }

    pub fn upload_dir(&self, uuid: &str) -> PathBuf {
        self.root.join("uploads").join(uuid)
    }

    pub fn upload_data(&self, uuid: &str) -> PathBuf {
        self.upload_dir(uuid).join("data")
    }

    /// Writes a small file atomically and durably (see [`berth_sys::fs::write_atomic`]),
    /// creating parent dirs.
    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<()> {
        let parent = dest.parent().expect("storage paths have parents");
        fs::create_dir_all(parent).at(parent)?;
        Ok(berth_sys::fs::write_atomic(
            dest,
            bytes,
            0o644,
            berth_sys::fs::Durability::Synced,
            Some(&self.root.join("tmp")),
        )
        .at(dest)?)
    }

    // ---- repositories ------------------------------------------------------------------

    /// Whether anything was ever pushed to `name`.
    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_manifests").is_dir() || d.join("_layers").is_dir()
    }

    /// Every repository, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out);
        out.sort();
        out
    }

    // ---- blobs -------------------------------------------------------------------------

    /// Size of a blob's bytes, wherever it is linked.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d)).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    /// Size of a blob if repository `name` holds it (as a layer/config or a manifest).
    pub fn repo_blob_size(&self, name: &str, d: &Digest) -> Option<u64> {
        if self.layer_link(name, d).is_file() || self.revision_link(name, d).is_file() {
            self.blob_size(d)
        } else {
            None
        }
    }

    /// Whether `name` holds `d` as an uploaded blob (not only as a manifest).
    pub fn has_layer(&self, name: &str, d: &Digest) -> bool {
        self.layer_link(name, d).is_file() && self.blob_size(d).is_some()
    }

    /// Links an existing blob into `name` (cross-repository mount). False if the bytes are gone.
    pub fn link_layer(&self, name: &str, d: &Digest) -> Result<bool> {
        let _g = self.gc.read().unwrap_or_else(|e| e.into_inner());
        if self.blob_size(d).is_none() {
            return Ok(false);
        }
        self.write_link(name, d)?;
        Ok(true)
    }

    fn write_link(&self, name: &str, d: &Digest) -> Result<()> {
        let link = self.layer_link(name, d);
        if !link.is_file() {
            self.write_atomic(&link, d.as_str().as_bytes())?;
        }
        Ok(())
    }

    /// Removes blob `d` from `name`; false if it was not there.
    pub fn unlink_layer(&self, name: &str, d: &Digest) -> Result<bool> {
        let link = self.layer_link(name, d);
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&link, e)),
        }
        self.collect(d);
        Ok(true)
    }

    /// Deletes the bytes of `d` if no repository links them any more.
    fn collect(&self, d: &Digest) {
        let _g = self.gc.write().unwrap_or_else(|e| e.into_inner());
        let still_used =
            self.catalog().iter().any(|r| self.layer_link(r, d).exists() || self.revision_link(r, d).exists());
        if !still_used {
            tracing::debug!(digest = %d, "registry: removing unreferenced blob");
            let _ = fs::remove_file(self.blob_path(d));
        }
    }

    // ---- uploads -----------------------------------------------------------------------

    /// Opens a new upload session for `name`; returns its id.
    pub fn new_upload(&self, name: &str) -> Result<String> {
        let r: u128 = rand::random();
        let h = format!("{r:032x}");
        let uuid = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
        let dir = self.upload_dir(&uuid);
        fs::create_dir_all(&dir).at(&dir)?;
        fs::write(dir.join("repo"), name).at(dir.join("repo"))?;
        File::create(dir.join("data")).at(dir.join("data"))?;
        Ok(uuid)
    }

    /// The repository an upload belongs to, and the bytes received so far.
    pub fn upload_info(&self, uuid: &str) -> Option<(String, u64)> {
        if !valid_uuid(uuid) {
            return None;
        }
        let dir = self.upload_dir(uuid);
        let repo = fs::read_to_string(dir.join("repo")).ok()?;
        let size = fs::metadata(dir.join("data")).ok()?.len();
        Some((repo, size))
    }

    /// Hashes what an upload received so far (for sessions that outlived a restart).
    pub fn hash_upload(&self, uuid: &str) -> Result<Sha256> {
        let p = self.upload_data(uuid);
        let mut f = File::open(&p).at(&p)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).at(&p)?;
            if n == 0 {
                return Ok(h);
            }
            h.update(&buf[..n]);
        }
    }

    /// Moves a finished (already verified) upload into `blobs/` and links it into `name`.
    pub fn commit_upload(&self, uuid: &str, name: &str, d: &Digest) -> Result<()> {
        let data = self.upload_data(uuid);
        {
            let f = File::open(&data).at(&data)?;
            f.sync_all().at(&data)?;
        }
        let _g = self.gc.read().unwrap_or_else(|e| e.into_inner());
        let dest = self.blob_path(d);
        if !dest.is_file() {
            fs::rename(&data, &dest).at(&dest)?;
            berth_sys::fs::sync_dir(dest.parent().expect("blob has a parent"));
        }
        self.write_link(name, d)?;
        drop(_g);
        self.cancel_upload(uuid);
        Ok(())
    }

    /// Forgets an upload session and its bytes.
    pub fn cancel_upload(&self, uuid: &str) {
        if valid_uuid(uuid) {
            let _ = fs::remove_dir_all(self.upload_dir(uuid));
        }
    }

    // ---- manifests ---------------------------------------------------------------------

    /// What `name` records about manifest `d`, if it holds it.
    pub fn manifest(&self, name: &str, d: &Digest) -> Option<ManifestRecord> {
        let bytes = fs::read(self.revision_link(name, d)).ok()?;
        let rec: ManifestRecord = serde_json::from_slice(&bytes).ok()?;
        self.blob_size(d).map(|_| rec)
    }

    /// Reads manifest bytes (verified against their digest).
    pub fn read_manifest(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let bytes = fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
            _ => Error::io(&p, e),
        })?;
        d.verify(&bytes)?;
        Ok(bytes)
    }

    /// Stores a manifest in `name`, tags it, and records it as a referrer of its subject.
    pub fn put_manifest(
        &self,
        name: &str,
        bytes: &[u8],
        d: &Digest,
        media_type: &str,
        tag: Option<&str>,
        referrer: Option<(&Digest, &serde_json::Value)>,
    ) -> Result<()> {
        let _g = self.gc.read().unwrap_or_else(|e| e.into_inner());
        let dest = self.blob_path(d);
        if !dest.is_file() {
            self.write_atomic(&dest, bytes)?;
        }
        let rec = ManifestRecord { media_type: media_type.to_string(), size: bytes.len() as u64 };
        let rec = serde_json::to_vec(&rec).map_err(|e| Error::Other(e.to_string()))?;
        self.write_atomic(&self.revision_link(name, d), &rec)?;
        if let Some((subject, desc)) = referrer {
            let desc = serde_json::to_vec(desc).map_err(|e| Error::Other(e.to_string()))?;
            self.write_atomic(&self.referrers_dir(name, subject).join(d.hex()), &desc)?;
        }
        if let Some(tag) = tag {
            self.write_atomic(&self.tag_path(name, tag), d.as_str().as_bytes())?;
        }
        Ok(())
    }

    /// The manifest a tag points at.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> Option<Digest> {
        fs::read_to_string(self.tag_path(name, tag)).ok()?.trim().parse().ok()
    }

    /// Tags of `name`, sorted; `None` when the repository does not exist.
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        if !self.repo_exists(name) {
            return None;
        }
        let mut tags: Vec<String> = fs::read_dir(self.repo_dir(name).join("_manifests/tags"))
            .map(|rd| rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        tags.sort();
        Some(tags)
    }

    /// Removes a tag (not the manifest); false if there was no such tag.
    pub fn delete_tag(&self, name: &str, tag: &str) -> Result<bool> {
        let p = self.tag_path(name, tag);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Removes manifest `d` from `name` with every tag pointing at it; false if absent.
    /// `subject` is the manifest's subject, whose referrers list it leaves.
    pub fn delete_manifest(&self, name: &str, d: &Digest, subject: Option<&Digest>) -> Result<bool> {
        let link = self.revision_link(name, d);
        if !link.is_file() {
            return Ok(false);
        }
        for tag in self.tags(name).unwrap_or_default() {
            if self.resolve_tag(name, &tag).as_ref() == Some(d) {
                self.delete_tag(name, &tag)?;
            }
        }
        if let Some(s) = subject {
            let _ = fs::remove_file(self.referrers_dir(name, s).join(d.hex()));
        }
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&link, e)),
        }
        self.collect(d);
        Ok(true)
    }

    /// Descriptors of the manifests in `name` whose subject is `subject`, sorted by digest.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<serde_json::Value> {
        let dir = self.referrers_dir(name, subject);
        let mut entries: Vec<(String, serde_json::Value)> = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let hex = e.file_name().into_string().ok()?;
                        let d: Digest = format!("sha256:{hex}").parse().ok()?;
                        // A referrer whose manifest was deleted by another path is skipped.
                        self.manifest(name, &d)?;
                        let v = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                        Some((hex, v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.into_iter().map(|(_, v)| v).collect()
    }
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(n) = e.file_name().into_string() else { continue };
        if n.starts_with('_') || !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let name = if prefix.is_empty() { n.clone() } else { format!("{prefix}/{n}") };
        let p = e.path();
        if p.join("_manifests").is_dir() || p.join("_layers").is_dir() {
            out.push(name.clone());
        }
        walk_repos(&p, &name, out);
    }
}

/// Upload ids are the 8-4-4-4-12 hex form berth hands out; anything else is never a path.
pub fn valid_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_shared_and_collected_when_unlinked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let uuid = s.new_upload("a/b").unwrap();
        assert!(valid_uuid(&uuid));
        fs::write(s.upload_data(&uuid), b"hello").unwrap();
        let d = Digest::of(b"hello");
        assert_eq!(s.upload_info(&uuid), Some(("a/b".to_string(), 5)));
        s.commit_upload(&uuid, "a/b", &d).unwrap();
        assert!(!s.upload_dir(&uuid).exists());
        assert_eq!(s.repo_blob_size("a/b", &d), Some(5));
        assert_eq!(s.repo_blob_size("c", &d), None);
        assert!(s.link_layer("c", &d).unwrap());
        assert_eq!(s.catalog(), vec!["a/b".to_string(), "c".to_string()]);
        assert!(s.unlink_layer("a/b", &d).unwrap());
        assert!(s.blob_size(&d).is_some(), "still linked from c");
        assert!(s.unlink_layer("c", &d).unwrap());
        assert!(s.blob_size(&d).is_none(), "unreferenced bytes are removed");
        assert!(!s.unlink_layer("c", &d).unwrap());
    }

    #[test]
    fn manifests_tags_and_referrers() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let m = br#"{"schemaVersion":2}"#;
        let d = Digest::of(m);
        let subject = Digest::of(b"subject");
        let desc = serde_json::json!({"digest": d.as_str()});
        s.put_manifest("r", m, &d, "application/x", Some("v1"), Some((&subject, &desc))).unwrap();
        assert_eq!(s.resolve_tag("r", "v1"), Some(d.clone()));
        assert_eq!(s.manifest("r", &d).unwrap().media_type, "application/x");
        assert_eq!(s.referrers("r", &subject), vec![desc]);
        assert!(s.delete_manifest("r", &d, Some(&subject)).unwrap());
        assert_eq!(s.tags("r"), Some(vec![]));
        assert!(s.referrers("r", &subject).is_empty());
        assert!(s.blob_size(&d).is_none());
        assert_eq!(s.tags("nope"), None);
    }
}
