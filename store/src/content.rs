//! The content store: an OCI image layout on disk, written atomically, shared safely.
//!
//! `<root>/content` *is* an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`),
//! so `umoci`, `skopeo oci:` and any OCI tool can read berth's images directly. Blobs are
//! ingested into `<root>/tmp` (same filesystem), verified for size and digest, fsynced and
//! renamed into place: a reader never sees a partial blob, and an interrupted writer leaves
//! only a temporary file that the next open sweeps. Named images are `index.json` entries
//! annotated with their full reference. Cross-process safety comes from `flock`: operations
//! that add content take the store lock shared, garbage collection takes it exclusive, and
//! `index.json` read-modify-writes take their own exclusive lock.

use crate::{Digest, Error, Result};
use berth_oci::digest::HashingWriter;
use berth_oci::IoContext;
use fs4::fs_std::FileExt;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The annotation berth (like containerd) names images with in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name; also written for interop.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Handle on the store under a state root.
#[derive(Clone, Debug)]
pub struct Store {
    /// The state root the store lives in.
    root: PathBuf,
    pub(crate) content: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) layers: PathBuf,
    pub(crate) lock_path: PathBuf,
    pub(crate) index_lock_path: PathBuf,
    /// `<root>/containers`: image removal and garbage collection read the container records
    /// there as plain JSON (only their `Image` field), so they need nothing of the engine's
    /// container code but its file layout.
    containers: PathBuf,
}

/// A held lock; released on drop.
pub struct LockGuard(#[allow(dead_code)] File);

impl Store {
    /// Opens the store under `state_root`, creating the layout on first use and sweeping
    /// ingest leftovers of writers that died.
    pub fn open(state_root: &Path) -> Result<Store> {
        let s = Store {
            root: state_root.to_path_buf(),
            content: state_root.join("content"),
            tmp: state_root.join("tmp"),
            layers: state_root.join("layers"),
            lock_path: state_root.join("store.lock"),
            index_lock_path: state_root.join("index.lock"),
            containers: state_root.join("containers"),
        };
        for d in [s.content.join("blobs/sha256"), s.tmp.clone()] {
            fs::create_dir_all(&d).at(&d)?;
        }
        // Unpacked layers keep their files' modes (setuid binaries included): only root may
        // walk into them, as Docker's 0700 layer directories.
        let d = s.layers.join("sha256");
        create_private_dir_all(&d).at(&d)?;
        s.sweep_tmp();
        let layout = s.content.join("oci-layout");
        if !layout.exists() {
            s.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = s.content.join("index.json");
        if !index.exists() {
            let _g = s.lock_index()?;
            if !index.exists() {
                s.write_index(&empty_index())?;
            }
        }
        Ok(s)
    }

    /// Removes scratch files of writers that died (their names carry the writer's pid), so an
    /// interrupted pull, load or import leaves nothing behind once berth runs again.
    pub fn sweep_tmp(&self) {
        let Ok(entries) = fs::read_dir(&self.tmp) else { return };
        for e in entries.flatten() {
            let name = e.file_name();
            // `<what>-<pid>-<random>`, as tmp_path makes them.
            let Some(pid) = name.to_str().and_then(|n| n.rsplit('-').nth(1)).and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let p = e.path();
                let _ = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            }
        }
    }

    /// The state root this store lives in (registry credentials and settings sit beside it).
    pub fn state_root(&self) -> &Path {
        &self.root
    }

    /// The OCI image layout directory.
    pub fn layout_dir(&self) -> &Path {
        &self.content
    }

    /// Where unpacked layers live (`layers/sha256/<diff-id hex>`).
    pub fn layers_dir(&self) -> &Path {
        &self.layers
    }

    /// Where the engine keeps container records (read here for image removal and GC).
    pub fn containers_dir(&self) -> &Path {
        &self.containers
    }

    /// Scratch space on the store's filesystem, for atomic renames.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// A unique temporary path under the store's scratch space.
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        self.tmp.join(format!("{what}-{}-{:016x}", std::process::id(), rand::random::<u64>()))
    }

    /// Refuses to start writing `needed` bytes that the store's filesystem has no room for
    /// (what a registry declares, before a byte of it is written): a registry announcing a
    /// 10^12-byte blob is stopped at once instead of filling the disk.
    pub fn check_free_space(&self, needed: u64, what: &str) -> Result<()> {
        let st = nix::sys::statvfs::statvfs(&self.tmp).map_err(|e| Error::io(&self.tmp, e.into()))?;
        let free = (st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64);
        if needed > free {
            return Err(Error::Other(format!(
                "not enough disk space for {what}: it needs {needed} bytes, {} has {free} available",
                self.tmp.display()
            )));
        }
        Ok(())
    }

    /// Shared lock: held by anything that adds content (pull, import, load, build).
    pub fn lock_shared(&self) -> Result<LockGuard> {
        let f = self.lock_file(&self.lock_path)?;
        FileExt::lock_shared(&f).at(&self.lock_path)?;
        Ok(LockGuard(f))
    }

    /// Exclusive lock: held by garbage collection, which must not race content being added.
    pub fn lock_exclusive(&self) -> Result<LockGuard> {
        let f = self.lock_file(&self.lock_path)?;
        FileExt::lock_exclusive(&f).at(&self.lock_path)?;
        Ok(LockGuard(f))
    }

    fn lock_index(&self) -> Result<LockGuard> {
        let f = self.lock_file(&self.index_lock_path)?;
        FileExt::lock_exclusive(&f).at(&self.index_lock_path)?;
        Ok(LockGuard(f))
    }

    fn lock_file(&self, p: &Path) -> Result<File> {
        Ok(OpenOptions::new().create(true).truncate(false).read(true).write(true).open(p).at(p)?)
    }

    // ---- blobs -------------------------------------------------------------------------

    /// Path of a blob (whether or not it exists).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.content.join("blobs").join(d.algorithm()).join(d.hex())
    }

    /// Whether the store has the blob: as a file, or as a committed layer directory whose
    /// uncompressed tar it is (made on demand by [`Store::open_blob`]).
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file() || self.committed_size(d).is_some()
    }

    /// Size of a stored blob (file or committed layer), if present.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        self.blob_file_size(d).or_else(|| self.committed_size(d))
    }

    /// Size of a blob stored as a file, if it is one.
    pub fn blob_file_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d)).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    /// Makes sure a blob is a file at [`Store::blob_path`]: a committed layer's tar is written
    /// from its directory the first time something needs the bytes.
    pub fn ensure_blob_file(&self, d: &Digest) -> Result<()> {
        if self.blob_path(d).is_file() {
            return Ok(());
        }
        match self.committed_size(d) {
            Some(size) => crate::layer::materialize(self, d, size),
            None => Err(Error::BlobNotFound(d.to_string())),
        }
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        match File::open(self.blob_path(d)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.committed_size(d).is_some() => {
                self.ensure_blob_file(d)?;
                File::open(self.blob_path(d)).map_err(|e| Error::io(self.blob_path(d), e))
            }
            r => r.map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
                _ => Error::io(self.blob_path(d), e),
            }),
        }
    }

    /// Reads a whole (small) blob and re-checks its digest: manifests and configs are
    /// trusted only after verification, even from our own disk.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_blob(d)?.read_to_end(&mut buf).at(self.blob_path(d))?;
        d.verify(&buf)?;
        Ok(buf)
    }

    /// Starts writing a blob. `expected` (digest, size) is checked at commit when given.
    pub fn ingest(&self, expected: Option<(Digest, Option<u64>)>) -> Result<Ingest> {
        let path = self.tmp_path("ingest");
        let f = File::create(&path).at(&path)?;
        Ok(Ingest {
            store: self.clone(),
            writer: Some(HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, f))),
            path,
            expected,
        })
    }

    /// Stores bytes as a blob, checking them against `expected` if given.
    pub fn put_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let d = Digest::of(bytes);
        if let Some(e) = expected {
            if e != &d {
                return Err(berth_oci::Error::DigestMismatch { expected: e.to_string(), actual: d.to_string() }.into());
            }
        }
        if self.has_blob(&d) {
            return Ok((d, bytes.len() as u64));
        }
        let mut ing = self.ingest(Some((d.clone(), Some(bytes.len() as u64))))?;
        ing.write_all(bytes).at(&ing.path)?;
        ing.commit()
    }

    /// Stores a JSON document and returns its descriptor.
    pub fn put_json<T: serde::Serialize>(&self, media_type: &str, v: &T) -> Result<Descriptor> {
        let bytes = serde_json::to_vec(v).map_err(|e| Error::Other(e.to_string()))?;
        let (d, size) = self.put_blob(&bytes, None)?;
        Ok(descriptor(media_type, &d, size))
    }

    /// Every blob digest in the store.
    pub fn list_blobs(&self) -> Result<Vec<Digest>> {
        let dir = self.content.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes a blob (garbage collection only; callers hold the exclusive lock).
    pub fn remove_blob(&self, d: &Digest) -> Result<()> {
        let p = self.blob_path(d);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
            _ => Ok(()),
        }
    }

    // ---- index.json --------------------------------------------------------------------

    /// The layout's `index.json`.
    pub fn read_index(&self) -> Result<ImageIndex> {
        let p = self.content.join("index.json");
        let bytes = fs::read(&p).at(&p)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(format!("{}", p.display()), e))
    }

    fn write_index(&self, idx: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(idx).map_err(|e| Error::Other(e.to_string()))?;
        self.write_atomic(&self.content.join("index.json"), &bytes)
    }

    /// Named images: full reference -> the descriptor it points at.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .read_index()?
            .manifests()
            .iter()
            .filter_map(|d| {
                let a = d.annotations().as_ref()?;
                let name = a.get(CONTAINERD_NAME).or_else(|| a.get(REF_NAME))?;
                Some((name.clone(), d.clone()))
            })
            .collect())
    }

    /// The descriptor a full reference names, if any.
    pub fn get_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self.refs()?.into_iter().find(|(n, _)| n == name).map(|(_, d)| d))
    }

    /// Points `name` at `desc` (replacing what it named before). The blob must exist.
    pub fn set_ref(&self, name: &str, desc: &Descriptor) -> Result<()> {
        let d: Digest = desc.digest().to_string().parse()?;
        if !self.has_blob(&d) {
            return Err(Error::BlobNotFound(d.to_string()));
        }
        let _g = self.lock_index()?;
        let idx = self.read_index()?;
        let mut manifests: Vec<Descriptor> =
            idx.manifests().iter().filter(|m| ref_name(m).as_deref() != Some(name)).cloned().collect();
        let mut desc = desc.clone();
        let mut ann: HashMap<String, String> = desc.annotations().clone().unwrap_or_default();
        ann.insert(REF_NAME.into(), name.into());
        ann.insert(CONTAINERD_NAME.into(), name.into());
        desc.set_annotations(Some(ann));
        manifests.push(desc);
        self.write_index(&index_with(manifests))
    }

    /// Removes the name `name`; returns the descriptor it pointed at.
    pub fn remove_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        let _g = self.lock_index()?;
        let idx = self.read_index()?;
        let (gone, kept): (Vec<Descriptor>, Vec<Descriptor>) =
            idx.manifests().iter().cloned().partition(|m| ref_name(m).as_deref() == Some(name));
        if gone.is_empty() {
            return Ok(None);
        }
        self.write_index(&index_with(kept))?;
        Ok(gone.into_iter().next())
    }

    /// Read-modify-write of `index.json`'s descriptor list under the index lock (for edits
    /// `set_ref`/`remove_ref` do not cover: unnamed entries, several names at once).
    pub fn update_index<R>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> Result<R>) -> Result<R> {
        let _g = self.lock_index()?;
        let mut manifests = self.read_index()?.manifests().clone();
        let r = f(&mut manifests)?;
        self.write_index(&index_with(manifests))?;
        Ok(r)
    }

    /// Writes a small file atomically and durably (see [`berth_sys::fs::write_atomic`]).
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<()> {
        Ok(berth_sys::fs::write_atomic(dest, bytes, 0o644, berth_sys::fs::Durability::Synced, Some(&self.tmp))
            .at(dest)?)
    }
}

fn ref_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations().as_ref()?;
    a.get(CONTAINERD_NAME).or_else(|| a.get(REF_NAME)).cloned()
}

fn empty_index() -> ImageIndex {
    index_with(Vec::new())
}

fn index_with(manifests: Vec<Descriptor>) -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("index fields are all set")
}

/// Builds a descriptor from a media type string, digest and size.
/// Creates `dir` and its missing parents, each 0700 (existing ones keep their mode): the state
/// root's directories hold unpacked layers and container state, private to their owner.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

pub fn descriptor(media_type: &str, d: &Digest, size: u64) -> Descriptor {
    Descriptor::new(
        MediaType::from(media_type),
        size,
        oci_spec::image::Digest::try_from(d.as_str()).expect("berth digests are valid OCI digests"),
    )
}

/// The berth digest of a descriptor.
pub fn desc_digest(d: &Descriptor) -> Result<Digest> {
    Ok(d.digest().to_string().parse()?)
}

/// A blob being written. Dropped without [`Ingest::commit`], it leaves nothing behind.
pub struct Ingest {
    store: Store,
    writer: Option<HashingWriter<std::io::BufWriter<File>>>,
    path: PathBuf,
    expected: Option<(Digest, Option<u64>)>,
}

impl Ingest {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.as_ref().map(|w| w.written()).unwrap_or(0)
    }

    /// Verifies size and digest, fsyncs and renames into `blobs/`. Returns (digest, size).
    pub fn commit(self) -> Result<(Digest, u64)> {
        self.stage()?.commit()
    }

    /// Verifies size and digest but leaves the content in the scratch space, to be committed
    /// only if something turns out to reference it (dropped, it is removed).
    pub fn stage(mut self) -> Result<Staged> {
        let r = self.verify();
        if r.is_err() {
            let _ = fs::remove_file(&self.path);
        }
        r
    }

    fn verify(&mut self) -> Result<Staged> {
        let w = self.writer.take().expect("commit once");
        let (buf, digest, size) = w.finish();
        buf.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        if let Some((exp, exp_size)) = &self.expected {
            if let Some(s) = exp_size {
                if *s != size {
                    return Err(
                        berth_oci::Error::SizeMismatch { digest: exp.to_string(), expected: *s, actual: size }.into()
                    );
                }
            }
            if exp != &digest {
                return Err(
                    berth_oci::Error::DigestMismatch { expected: exp.to_string(), actual: digest.to_string() }.into()
                );
            }
        }
        Ok(Staged { store: self.store.clone(), path: Some(self.path.clone()), digest, size })
    }
}

/// Verified content waiting in the scratch space (see [`Ingest::stage`]); removed when dropped
/// uncommitted.
pub struct Staged {
    store: Store,
    path: Option<PathBuf>,
    digest: Digest,
    size: u64,
}

impl Staged {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the content is until committed.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("not committed")
    }

    /// Fsyncs and renames into `blobs/`. Returns (digest, size).
    pub fn commit(mut self) -> Result<(Digest, u64)> {
        let path = self.path.take().expect("commit once");
        let r = (|| {
            File::open(&path).and_then(|f| f.sync_all()).at(&path)?;
            let dest = self.store.blob_path(&self.digest);
            fs::rename(&path, &dest).at(&dest)?;
            berth_sys::fs::sync_dir(dest.parent().expect("blob has a parent"));
            Ok((self.digest.clone(), self.size))
        })();
        if r.is_err() {
            let _ = fs::remove_file(&path);
        }
        r
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = fs::remove_file(p);
        }
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verifies_and_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let good = Digest::of(b"abc");
        let mut w = s.ingest(Some((good.clone(), Some(3)))).unwrap();
        w.write_all(b"abd").unwrap();
        assert!(matches!(w.commit(), Err(Error::Oci(berth_oci::Error::DigestMismatch { .. }))));
        assert!(!s.has_blob(&good));
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0, "failed ingest leaves nothing");
        let (d, n) = s.put_blob(b"abc", Some(&good)).unwrap();
        assert_eq!((d, n), (good.clone(), 3));
        assert_eq!(s.read_blob(&good).unwrap(), b"abc");
    }

    #[test]
    fn refs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let desc = s.put_json(berth_oci::media::OCI_MANIFEST, &serde_json::json!({"schemaVersion": 2})).unwrap();
        s.set_ref("docker.io/library/x:latest", &desc).unwrap();
        s.set_ref("docker.io/library/x:latest", &desc).unwrap();
        assert_eq!(s.refs().unwrap().len(), 1);
        assert!(s.get_ref("docker.io/library/x:latest").unwrap().is_some());
        assert!(s.remove_ref("docker.io/library/x:latest").unwrap().is_some());
        assert!(s.refs().unwrap().is_empty());
    }
}
