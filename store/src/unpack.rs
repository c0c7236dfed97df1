//! Unpacking layers into the diff-id keyed cache, safely, once.
//!
//! Every tar layer an image uses is unpacked into `<root>/layers/sha256/<diff-id hex>` so the
//! runtime can stack the directories as overlay lowerdirs (or copy them, see
//! [`apply_layer_dirs_copy`]). A layer is streamed straight from its blob through the
//! decompressor (sniffed from magic bytes, not trusted from the media type) into the tar reader,
//! and its diff-id is hashed on the way, so the content is checked against the image config
//! without a second pass. Unpacking happens in a private temporary directory that is renamed
//! into place only when the whole layer was written and verified: concurrent unpackers of the
//! same layer serialise on a per-layer `flock`, and a refused layer leaves nothing in `layers/`.
//!
//! Layers come from strangers, so extraction never trusts a path: `..` may not climb out of the
//! layer, absolute names are made relative (as Docker does), symlinks already in the tree are
//! only followed while resolving a parent when their target stays inside the layer, hardlinks
//! must point at something earlier in the same layer, and device nodes are created only by
//! root. OCI whiteouts are converted to overlayfs' form (`.wh.NAME` becomes a 0/0 character
//! device, `.wh..wh..opq` the `trusted.overlay.opaque` xattr) when root, and are always also
//! recorded in a sidecar (`layers/whiteouts/<hex>.json`) so a copying snapshotter (and
//! unprivileged users, who cannot create either) can apply them.

use crate::Store;
use crate::{Digest, Error, Result};
use berth_oci::media::Compression;
use berth_oci::IoContext;
use fs4::fs_std::FileExt;
use nix::sys::stat;
use nix::sys::time::TimeSpec;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The OCI whiteout prefix and the opaque-directory marker.
pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The overlayfs xattr marking a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A layer unpacked into the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackedLayer {
    pub diff_id: Digest,
    pub path: PathBuf,
}

/// Whiteouts of one layer, as paths relative to the layer root.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Whiteouts {
    /// Paths the layer deletes from the layers below.
    #[serde(default)]
    pub whiteouts: Vec<String>,
    /// Directories whose lower contents the layer hides.
    #[serde(default)]
    pub opaque: Vec<String>,
}

impl Whiteouts {
    pub fn is_empty(&self) -> bool {
        self.whiteouts.is_empty() && self.opaque.is_empty()
    }

    /// The sidecar of a layer directory (`layers/sha256/<hex>` -> `layers/whiteouts/<hex>.json`).
    pub fn sidecar_of(layer_dir: &Path) -> Option<PathBuf> {
        let name = layer_dir.file_name()?.to_str()?;
        let layers = layer_dir.parent()?.parent()?;
        Some(layers.join("whiteouts").join(format!("{name}.json")))
    }

    /// Reads the sidecar of a layer directory (empty when it has none).
    pub fn of_layer_dir(layer_dir: &Path) -> Result<Whiteouts> {
        let Some(p) = Whiteouts::sidecar_of(layer_dir) else { return Ok(Whiteouts::default()) };
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::malformed(format!("{}", p.display()), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Whiteouts::default()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }
}

/// What the cache remembers about a blob it unpacked, so later lookups need no diff-id.
#[derive(serde::Serialize, serde::Deserialize)]
struct BlobRecord {
    diff_id: Digest,
    size: u64,
}

/// Whether this process may create device nodes, chown and set trusted xattrs.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Store {
    /// Where a layer with this diff-id is (or would be) unpacked.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.join("sha256").join(diff_id.hex())
    }

    /// The store's layer directory (`<root>/layers`).
    pub fn layers_path(&self) -> &Path {
        &self.layers
    }

    /// The tar size of a committed layer (a build step's directory adopted by
    /// [`Store::adopt_layer_dir`], whose blob is made from it on demand), if `diff_id` is one.
    pub fn committed_size(&self, diff_id: &Digest) -> Option<u64> {
        let size = fs::read_to_string(self.layers.join("committed").join(diff_id.hex())).ok()?.trim().parse().ok()?;
        self.layer_dir(diff_id).is_dir().then_some(size)
    }

    /// Moves a build step's directory into the cache as the unpacked layer `diff_id` (its tar,
    /// `size` bytes, as [`crate::layer::write_dir_tar`] writes it) and marks it committed: its
    /// blob is that tar, made from the directory when read. A layer already there (the same
    /// content built before) is kept and `dir` removed.
    pub fn adopt_layer_dir(&self, dir: &Path, diff_id: &Digest, size: u64, whiteouts: &Whiteouts) -> Result<()> {
        let _shared = self.lock_shared()?;
        let dest = self.layer_dir(diff_id);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        if !whiteouts.is_empty() {
            let wdir = self.layers.join("whiteouts");
            fs::create_dir_all(&wdir).at(&wdir)?;
            let bytes = serde_json::to_vec_pretty(whiteouts).expect("plain struct");
            self.write_atomic(&wdir.join(format!("{}.json", diff_id.hex())), &bytes)?;
        }
        match fs::rename(dir, &dest) {
            Ok(()) => {}
            Err(_) if dest.is_dir() => remove_tree(dir)?,
            Err(e) => return Err(Error::io(&dest, e)),
        }
        let cdir = self.layers.join("committed");
        fs::create_dir_all(&cdir).at(&cdir)?;
        if self.committed_size(diff_id).is_none() {
            self.write_atomic(&cdir.join(diff_id.hex()), size.to_string().as_bytes())?;
        }
        self.record_diff_id(diff_id, diff_id, size)
    }

    /// The diff-id and uncompressed size recorded for a blob by an earlier unpack, if any.
    pub fn known_diff_id(&self, blob: &Digest) -> Option<(Digest, u64)> {
        let b = fs::read(self.blob_record_path(blob)).ok()?;
        let r: BlobRecord = serde_json::from_slice(&b).ok()?;
        Some((r.diff_id, r.size))
    }

    /// Records a blob's diff-id and uncompressed size (layer creation knows both for free).
    pub fn record_diff_id(&self, blob: &Digest, diff_id: &Digest, size: u64) -> Result<()> {
        let dir = self.layers.join("blobs");
        fs::create_dir_all(&dir).at(&dir)?;
        let bytes = serde_json::to_vec(&BlobRecord { diff_id: diff_id.clone(), size }).expect("plain struct");
        self.write_atomic(&self.blob_record_path(blob), &bytes)
    }

    fn blob_record_path(&self, blob: &Digest) -> PathBuf {
        self.layers.join("blobs").join(format!("{}.json", blob.hex()))
    }

    /// Unpacks a layer blob into the cache (once) and returns its directory.
    ///
    /// `expected_diff_id` (from the image config's `rootfs.diff_ids`) is checked against the
    /// uncompressed content; a mismatch refuses the layer. When the layer is already unpacked
    /// this returns at once.
    pub fn unpack_layer(&self, blob: &Digest, expected_diff_id: Option<&Digest>) -> Result<UnpackedLayer> {
        // Garbage collection takes the store lock exclusively: it must not delete a layer
        // directory (or the blob) while it is being created.
        let _shared = self.lock_shared()?;
        if let Some(done) = self.cached_layer(blob, expected_diff_id) {
            return Ok(done);
        }
        let locks = self.layers.join("locks");
        fs::create_dir_all(&locks).at(&locks)?;
        let lock_path = locks.join(format!("{}.lock", blob.hex()));
        let lock =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock_path).at(&lock_path)?;
        FileExt::lock_exclusive(&lock).at(&lock_path)?;
        // Someone may have finished it while we waited.
        if let Some(done) = self.cached_layer(blob, expected_diff_id) {
            return Ok(done);
        }
        let tmp = self.tmp_path("unpack");
        fs::create_dir(&tmp).at(&tmp)?;
        let result = self.unpack_into(blob, expected_diff_id, &tmp);
        match result {
            Ok((diff_id, size, whiteouts)) => {
                let dest = self.layer_dir(&diff_id);
                if !whiteouts.is_empty() {
                    let dir = self.layers.join("whiteouts");
                    fs::create_dir_all(&dir).at(&dir)?;
                    let bytes = serde_json::to_vec_pretty(&whiteouts).expect("plain struct");
                    self.write_atomic(&dir.join(format!("{}.json", diff_id.hex())), &bytes)?;
                }
                match fs::rename(&tmp, &dest) {
                    Ok(()) => {}
                    // Another blob with the same content (gzip and zstd of one tar) won.
                    Err(_) if dest.is_dir() => remove_tree(&tmp)?,
                    Err(e) => {
                        let _ = remove_tree(&tmp);
                        return Err(Error::io(&dest, e));
                    }
                }
                self.record_diff_id(blob, &diff_id, size)?;
                Ok(UnpackedLayer { diff_id, path: dest })
            }
            Err(e) => {
                let _ = remove_tree(&tmp);
                // A refused layer leaves nothing under layers/, not even its lock (a waiter
                // holding the old file would at worst unpack in parallel; the rename decides).
                let _ = fs::remove_file(&lock_path);
                Err(e)
            }
        }
    }

    fn cached_layer(&self, blob: &Digest, expected: Option<&Digest>) -> Option<UnpackedLayer> {
        let diff_id = match expected {
            Some(d) => d.clone(),
            None => self.known_diff_id(blob)?.0,
        };
        let path = self.layer_dir(&diff_id);
        path.is_dir().then_some(UnpackedLayer { diff_id, path })
    }

    fn unpack_into(&self, blob: &Digest, expected: Option<&Digest>, dest: &Path) -> Result<(Digest, u64, Whiteouts)> {
        let file = self.open_blob(blob)?;
        let what = format!("layer {blob}");
        // Decompression and hashing run on their own thread, feeding the extractor through a
        // small bounded queue: the CPU-bound half overlaps the syscall-bound half.
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
        let producer = std::thread::spawn(move || -> Option<(Digest, u64)> {
            let reader = match decompress(io::BufReader::with_capacity(1 << 20, file)) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return None;
                }
            };
            let mut hashing = berth_oci::digest::HashingReader::new(reader);
            loop {
                let mut buf = vec![0u8; 1 << 18];
                match read_full(&mut hashing, &mut buf) {
                    Ok(0) => return Some(hashing.finish()),
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return None; // the extractor gave up
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return None;
                    }
                }
            }
        });
        let extracted = extract(ChannelReader { rx, cur: Vec::new(), pos: 0 }, dest, &what, ExtractOptions::default());
        let digest = producer.join().map_err(|_| Error::Other(format!("{what}: decompressor thread panicked")))?;
        let whiteouts = extracted?;
        let (diff_id, size) = digest.ok_or_else(|| Error::malformed(&what, "decompression failed"))?;
        if let Some(exp) = expected {
            if exp != &diff_id {
                return Err(berth_oci::Error::DigestMismatch {
                    expected: exp.to_string(),
                    actual: format!("{diff_id} (uncompressed content of {blob})"),
                }
                .into());
            }
        }
        Ok((diff_id, size, whiteouts))
    }

    /// Diff-ids of every unpacked layer directory.
    pub fn unpacked_layers(&self) -> Result<Vec<Digest>> {
        let dir = self.layers.join("sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes an unpacked layer and its sidecar; returns the bytes freed. Garbage collection
    /// only: callers hold the exclusive store lock.
    pub fn remove_unpacked_layer(&self, diff_id: &Digest) -> Result<u64> {
        let dir = self.layer_dir(diff_id);
        let size = tree_size(&dir);
        remove_tree(&dir)?;
        let _ = fs::remove_file(self.layers.join("whiteouts").join(format!("{}.json", diff_id.hex())));
        let _ = fs::remove_file(self.layers.join("committed").join(diff_id.hex()));
        let _ = fs::remove_file(self.layers.join("gzip").join(diff_id.hex()));
        Ok(size)
    }

    /// Forgets blob records and lock files of blobs no longer stored (garbage collection).
    pub fn sweep_layer_records(&self) -> Result<()> {
        for (sub, suffix) in [("blobs", ".json"), ("locks", ".lock")] {
            let dir = self.layers.join(sub);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(hex) = name.strip_suffix(suffix) else { continue };
                let keep = format!("sha256:{hex}").parse::<Digest>().map(|d| self.has_blob(&d)).unwrap_or(false);
                if !keep {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

/// Fills `buf` as far as the stream allows (fewer bytes only at its end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The consuming end of the decompressor thread's queue.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Wraps a (possibly compressed) stream in the right decompressor, sniffing magic bytes.
pub fn decompress<'a, R: Read + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = head[..n].to_vec();
    // bzip2 and xz are not layer media types but Docker's `DecompressStream` reads them (for
    // `ADD` of a local archive, and layers that happen to be so compressed): multi-stream
    // decoders, as `bzip2 -c a b` and `pxz` write several streams one after the other.
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let joined = io::Cursor::new(head).chain(r);
        return Ok(Box::new(liblzma::read::XzDecoder::new_multi_decoder(io::BufReader::with_capacity(
            1 << 18,
            joined,
        ))));
    }
    if head.starts_with(b"BZh") {
        let joined = io::Cursor::new(head).chain(r);
        return Ok(Box::new(bzip2::read::MultiBzDecoder::new(io::BufReader::with_capacity(1 << 18, joined))));
    }
    let compression = Compression::sniff(&head);
    let joined = io::Cursor::new(head).chain(r);
    Ok(match compression {
        Compression::None => Box::new(joined),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 18, joined))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(joined)?),
    })
}

/// How [`extract`] treats what only root may create.
#[derive(Clone, Copy, Debug)]
pub struct ExtractOptions {
    /// Create device nodes, chown, set trusted xattrs and overlay whiteouts (default: when root).
    pub privileged: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { privileged: is_root() }
    }
}

/// Extracts a tar stream into `dest` (an empty directory nobody else writes to), refusing
/// anything that would land outside it. Returns the layer's whiteouts. The whole stream is
/// consumed (so a hashing reader around it sees every byte, trailer included).
pub fn extract<R: Read>(reader: R, dest: &Path, what: &str, opts: ExtractOptions) -> Result<Whiteouts> {
    let mut archive = tar::Archive::new(reader);
    let mut x = Extractor {
        root: dest.to_path_buf(),
        what: what.to_string(),
        privileged: opts.privileged,
        known_dirs: HashSet::new(),
        dirs: HashMap::new(),
        whiteouts: Whiteouts::default(),
        buf: vec![0u8; 1 << 18],
    };
    {
        let entries = archive.entries().map_err(|e| Error::malformed(what, e))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| Error::malformed(what, format!("truncated or corrupt tar stream: {e}")))?;
            x.entry(&mut entry)?;
        }
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| Error::malformed(what, e))?;
    x.finish_dirs()?;
    Ok(x.whiteouts)
}

/// Deferred directory metadata: applied deepest-first after all children are written, so
/// read-only directories and mtimes survive extraction.
struct DirMeta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Extractor {
    root: PathBuf,
    what: String,
    privileged: bool,
    /// Relative paths known to be real directories (not symlinks) created by this extraction.
    known_dirs: HashSet<PathBuf>,
    dirs: HashMap<PathBuf, DirMeta>,
    whiteouts: Whiteouts,
    buf: Vec<u8>,
}

/// Normalises an entry name: leading `/` and `.` dropped, `..` resolved lexically and refused
/// when it climbs out of the root.
pub fn normalize_entry_path(raw: &Path) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("path climbs out of the layer root with '..'".into());
                }
            }
        }
    }
    Ok(out)
}

// Metadata calls that must not follow symlinks, through safe APIs: std's lchown, nix's
// utimensat and mknod, and the xattr crate (whose get/set/list are the l*xattr calls).

fn lchown(p: &Path, uid: u64, gid: u64) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid as u32), Some(gid as u32))
}

/// Sets a path's atime and mtime to `mtime` (seconds), not following a symlink.
pub fn set_mtime_nofollow(p: &Path, mtime: i64) -> io::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    stat::utimensat(None, p, &t, &t, stat::UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    xattr::set(p, name, value)
}

fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(p, name).ok().flatten()
}

/// Every xattr of a path (not following symlinks); unreadable ones are skipped.
pub fn list_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(p) else { return Vec::new() };
    names
        .filter_map(|n| {
            let value = xattr::get(p, &n).ok().flatten()?;
            Some((n.to_str()?.to_string(), value))
        })
        .collect()
}

/// Creates a device node or fifo: `kind` is the file-type bits (S_IFCHR, S_IFBLK, S_IFIFO).
pub fn mknod(p: &Path, kind: libc::mode_t, perm: u32, major: u64, minor: u64) -> io::Result<()> {
    stat::mknod(
        p,
        stat::SFlag::from_bits_truncate(kind),
        stat::Mode::from_bits_truncate(perm & 0o7777),
        stat::makedev(major, minor),
    )
    .map_err(io::Error::from)
}

/// Removes a file, symlink or whole tree (making directories writable first, so trees with
/// read-only directories unpacked by an unprivileged user can be removed).
pub fn remove_tree(p: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(p, e)),
    };
    if !meta.is_dir() {
        return Ok(fs::remove_file(p).or_else(ignore_not_found).at(p)?);
    }
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            for e in walkdir::WalkDir::new(p).into_iter().flatten() {
                if e.file_type().is_dir() {
                    let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o700));
                }
            }
            Ok(fs::remove_dir_all(p).or_else(ignore_not_found).at(p)?)
        }
    }
}

fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Bytes used by a tree (apparent sizes of its files).
pub fn tree_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

impl Extractor {
    fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> Error {
        Error::UnsafeEntry { entry: format!("{} in {}", entry.display(), self.what), reason: reason.into() }
    }

    fn io_err(&self, entry: &Path, e: io::Error) -> Error {
        Error::io(self.root.join(entry), e)
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<()> {
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        }
        let raw = e.path().map_err(|err| Error::malformed(&self.what, format!("bad entry name: {err}")))?.into_owned();
        let rel = normalize_entry_path(&raw).map_err(|why| self.unsafe_entry(&raw, why))?;
        let name = rel.file_name().map(|n| n.to_os_string());
        let hdr = e.header().clone();
        let mode = hdr.mode().unwrap_or(0o644) & 0o7777;
        let uid = hdr.uid().unwrap_or(0);
        let gid = hdr.gid().unwrap_or(0);
        let mtime = hdr.mtime().unwrap_or(0) as i64;
        let xattrs = pax_xattrs(e);

        // OCI whiteouts become overlayfs ones (and sidecar entries).
        if let Some(n) = name.as_ref().and_then(|n| n.to_str()) {
            if n == WHITEOUT_OPAQUE {
                let dir = rel.parent().unwrap_or(Path::new("")).to_path_buf();
                let real = self.resolve_dir(&dir, &raw, true)?;
                self.whiteouts.opaque.push(dir.to_string_lossy().into_owned());
                if self.privileged {
                    let p = self.root.join(&real);
                    lsetxattr(&p, OVERLAY_OPAQUE_XATTR, b"y").map_err(|err| self.io_err(&real, err))?;
                }
                return Ok(());
            }
            if n.starts_with(".wh..wh.") {
                return Ok(()); // aufs bookkeeping (hardlink dirs), meaningless here
            }
            if let Some(target) = n.strip_prefix(WHITEOUT_PREFIX) {
                if target.is_empty() || target == "." || target == ".." {
                    return Err(self.unsafe_entry(&raw, "invalid whiteout name"));
                }
                let parent = rel.parent().unwrap_or(Path::new(""));
                let real_parent = self.resolve_dir(parent, &raw, true)?;
                self.whiteouts.whiteouts.push(parent.join(target).to_string_lossy().into_owned());
                if self.privileged {
                    let p = self.root.join(&real_parent).join(target);
                    self.clear(&real_parent.join(target))?;
                    mknod(&p, libc::S_IFCHR, 0, 0, 0).map_err(|err| self.io_err(&rel, err))?;
                    let _ = lchown(&p, uid, gid);
                }
                return Ok(());
            }
        }

        let Some(name) = name else {
            // The layer root itself: only its metadata can be set.
            if kind.is_dir() {
                self.dirs.insert(PathBuf::new(), DirMeta { mode, uid, gid, mtime, xattrs });
                return Ok(());
            }
            return Err(self.unsafe_entry(&raw, "a non-directory entry names the layer root"));
        };
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")), &raw, true)?;
        let real = parent.join(&name);
        let path = self.root.join(&real);

        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        self.clear(&real)?;
                        fs::create_dir(&path).map_err(|err| self.io_err(&real, err))?;
                    }
                    Err(_) => fs::create_dir(&path).map_err(|err| self.io_err(&real, err))?,
                }
                self.known_dirs.insert(real.clone());
                self.dirs.insert(real, DirMeta { mode, uid, gid, mtime, xattrs });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.clear(&real)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(|err| self.io_err(&real, err))?;
                let expected = e.size();
                let mut written = 0u64;
                loop {
                    let n = match e.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => {
                            return Err(Error::malformed(&self.what, format!("reading {}: {err}", raw.display())))
                        }
                    };
                    f.write_all(&self.buf[..n]).map_err(|err| self.io_err(&real, err))?;
                    written += n as u64;
                }
                if written < expected && kind != tar::EntryType::GNUSparse {
                    return Err(Error::malformed(
                        &self.what,
                        format!("truncated: {} has {written} of {expected} bytes", raw.display()),
                    ));
                }
                if self.privileged {
                    nix_fchown(&f, uid, gid).map_err(|err| self.io_err(&real, err))?;
                }
                f.set_permissions(fs::Permissions::from_mode(mode)).map_err(|err| self.io_err(&real, err))?;
                self.set_xattrs(&path, &xattrs);
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64);
                f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
                    .map_err(|err| self.io_err(&real, err))?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| self.unsafe_entry(&raw, "symlink without a target"))?
                    .into_owned();
                self.clear(&real)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).map_err(|err| self.io_err(&real, err))?;
                if self.privileged {
                    lchown(&path, uid, gid).map_err(|err| self.io_err(&real, err))?;
                }
                self.set_xattrs(&path, &xattrs);
                let _ = set_mtime_nofollow(&path, mtime);
            }
            tar::EntryType::Link => {
                let raw_target = e
                    .link_name()
                    .map_err(|err| Error::malformed(&self.what, err))?
                    .ok_or_else(|| self.unsafe_entry(&raw, "hardlink without a target"))?
                    .into_owned();
                let target = normalize_entry_path(&raw_target).map_err(|why| {
                    self.unsafe_entry(&raw, format!("hardlink target {}: {why}", raw_target.display()))
                })?;
                let tname = target
                    .file_name()
                    .ok_or_else(|| self.unsafe_entry(&raw, "hardlink to the layer root"))?
                    .to_os_string();
                let tparent = self.resolve_dir(target.parent().unwrap_or(Path::new("")), &raw, false)?;
                let src = tparent.join(tname);
                let sm = fs::symlink_metadata(self.root.join(&src)).map_err(|_| {
                    self.unsafe_entry(&raw, format!("hardlink target {} is not in the layer", raw_target.display()))
                })?;
                if sm.is_dir() {
                    return Err(self.unsafe_entry(&raw, format!("hardlink to directory {}", raw_target.display())));
                }
                if src == real {
                    return Ok(());
                }
                self.clear(&real)?;
                fs::hard_link(self.root.join(&src), &path).map_err(|err| self.io_err(&real, err))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (kind_bits, word) = match kind {
                    tar::EntryType::Char => (libc::S_IFCHR, "character device"),
                    tar::EntryType::Block => (libc::S_IFBLK, "block device"),
                    _ => (libc::S_IFIFO, "fifo"),
                };
                let major = hdr.device_major().ok().flatten().unwrap_or(0);
                let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
                if kind_bits != libc::S_IFIFO && !self.privileged {
                    return Err(Error::Unsupported(format!(
                        "layer entry {} in {} is a {word} ({major}:{minor}); creating device nodes needs root",
                        raw.display(),
                        self.what
                    )));
                }
                self.clear(&real)?;
                mknod(&path, kind_bits, mode, major.into(), minor.into()).map_err(|err| self.io_err(&real, err))?;
                if self.privileged {
                    lchown(&path, uid, gid).map_err(|err| self.io_err(&real, err))?;
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|err| self.io_err(&real, err))?;
                self.set_xattrs(&path, &xattrs);
                let _ = set_mtime_nofollow(&path, mtime);
            }
            other => {
                tracing::debug!("{}: skipping {} (tar entry type {:?})", self.what, raw.display(), other);
            }
        }
        Ok(())
    }

    /// Resolves a directory path relative to the root to a real directory (no symlink in it),
    /// following symlinks met on the way only when their targets stay inside the root, and
    /// creating missing directories when `create`.
    fn resolve_dir(&mut self, dir: &Path, entry: &Path, create: bool) -> Result<PathBuf> {
        if dir.as_os_str().is_empty() || self.known_dirs.contains(dir) {
            return Ok(dir.to_path_buf());
        }
        let mut cur = PathBuf::new();
        let mut queue: std::collections::VecDeque<OsString> =
            dir.components().map(|c| c.as_os_str().to_os_string()).collect();
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                if !cur.pop() {
                    return Err(self.unsafe_entry(entry, "a symlink on its path points out of the layer"));
                }
                continue;
            }
            if c == "." || c.is_empty() {
                continue;
            }
            let next = cur.join(&c);
            if self.known_dirs.contains(&next) {
                cur = next;
                continue;
            }
            let p = self.root.join(&next);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    self.known_dirs.insert(next.clone());
                    cur = next;
                }
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(self.unsafe_entry(entry, "too many levels of symbolic links"));
                    }
                    let target = fs::read_link(&p).map_err(|err| self.io_err(&next, err))?;
                    if target.is_absolute() {
                        return Err(self.unsafe_entry(
                            entry,
                            format!(
                                "its parent {} is a symlink to {}, which points out of the layer",
                                next.display(),
                                target.display()
                            ),
                        ));
                    }
                    let mut q: std::collections::VecDeque<OsString> =
                        target.components().map(|c| c.as_os_str().to_os_string()).collect();
                    q.extend(queue.drain(..));
                    queue = q;
                }
                Ok(_) => {
                    return Err(self.unsafe_entry(entry, format!("its parent {} is not a directory", next.display())))
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&p).map_err(|err| self.io_err(&next, err))?;
                    self.known_dirs.insert(next.clone());
                    cur = next;
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    return Err(self.unsafe_entry(entry, format!("{} is not in the layer", next.display())))
                }
                Err(err) => return Err(self.io_err(&next, err)),
            }
        }
        Ok(cur)
    }

    /// Removes whatever is at `real` (a later entry replaces an earlier one, as tar does).
    fn clear(&mut self, real: &Path) -> Result<()> {
        let p = self.root.join(real);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                remove_tree(&p)?;
                self.known_dirs.retain(|d| !d.starts_with(real));
                self.dirs.retain(|d, _| !d.starts_with(real));
            }
            Ok(_) => fs::remove_file(&p).map_err(|err| self.io_err(real, err))?,
            Err(_) => {}
        }
        Ok(())
    }

    fn set_xattrs(&self, p: &Path, xattrs: &[(String, Vec<u8>)]) {
        for (k, v) in xattrs {
            if !self.privileged && (k.starts_with("trusted.") || k.starts_with("security.")) {
                continue;
            }
            if let Err(err) = lsetxattr(p, k, v) {
                tracing::debug!("{}: xattr {k} on {}: {err}", self.what, p.display());
            }
        }
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs: Vec<(PathBuf, DirMeta)> = self.dirs.drain().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, m) in dirs {
            let p = self.root.join(&rel);
            if !fs::symlink_metadata(&p).map(|md| md.is_dir()).unwrap_or(false) {
                continue;
            }
            if self.privileged {
                lchown(&p, m.uid, m.gid).map_err(|err| self.io_err(&rel, err))?;
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(m.mode)).map_err(|err| self.io_err(&rel, err))?;
            self.set_xattrs(&p, &m.xattrs);
            let _ = set_mtime_nofollow(&p, m.mtime);
        }
        Ok(())
    }
}

fn nix_fchown(f: &File, uid: u64, gid: u64) -> io::Result<()> {
    std::os::unix::fs::fchown(f, Some(uid as u32), Some(gid as u32))
}

fn pax_xattrs<R: Read>(e: &mut tar::Entry<R>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = e.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(k) = ext.key() {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    out
}

// ---- copying snapshotter --------------------------------------------------------------------

/// Copies unpacked layer directories into `dest` bottom to top, applying each layer's
/// whiteouts and opaque directories by deletion: the result is the image's root filesystem,
/// for when overlayfs is not available. Never follows a symlink already in `dest`.
pub fn apply_layer_dirs_copy(layers: &[PathBuf], dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).at(dest)?;
    let privileged = is_root();
    for layer in layers {
        let wh = Whiteouts::of_layer_dir(layer)?;
        for o in &wh.opaque {
            if let Some(d) = real_dir_in(dest, Path::new(o)) {
                clear_dir_contents(&d)?;
            }
        }
        for w in &wh.whiteouts {
            let rel = Path::new(w);
            if let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) {
                if let Some(d) = real_dir_in(dest, parent) {
                    remove_tree(&d.join(name))?;
                }
            }
        }
        let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
        copy_dir(layer, dest, privileged, &mut links)?;
    }
    Ok(())
}

/// `base/rel` when every component of it is a real directory (no symlinks), else None.
fn real_dir_in(base: &Path, rel: &Path) -> Option<PathBuf> {
    let mut cur = base.to_path_buf();
    for c in rel.components() {
        if let Component::Normal(n) = c {
            cur.push(n);
            if !fs::symlink_metadata(&cur).ok()?.is_dir() {
                return None;
            }
        }
    }
    Some(cur)
}

fn clear_dir_contents(d: &Path) -> Result<()> {
    for e in fs::read_dir(d).at(d)? {
        let e = e.at(d)?;
        remove_tree(&e.path())?;
    }
    Ok(())
}

fn copy_meta(src_meta: &fs::Metadata, src: &Path, dst: &Path, privileged: bool) -> Result<()> {
    let is_link = src_meta.file_type().is_symlink();
    if privileged {
        lchown(dst, src_meta.uid() as u64, src_meta.gid() as u64).at(dst)?;
    }
    if !is_link {
        fs::set_permissions(dst, fs::Permissions::from_mode(src_meta.mode() & 0o7777)).at(dst)?;
    }
    for (k, v) in list_xattrs(src) {
        if k.starts_with("trusted.overlay.")
            || (!privileged && (k.starts_with("trusted.") || k.starts_with("security.")))
        {
            continue;
        }
        let _ = lsetxattr(dst, &k, &v);
    }
    let _ = set_mtime_nofollow(dst, src_meta.mtime());
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path, privileged: bool, links: &mut HashMap<(u64, u64), PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src).at(src)?.collect::<io::Result<Vec<_>>>().at(src)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let s = e.path();
        let d = dst.join(e.file_name());
        let m = fs::symlink_metadata(&s).at(&s)?;
        let ft = m.file_type();
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() && m.rdev() == 0 {
            remove_tree(&d)?; // an overlay whiteout
            continue;
        }
        if ft.is_dir() {
            let existing = fs::symlink_metadata(&d).ok();
            let opaque = lgetxattr(&s, OVERLAY_OPAQUE_XATTR).as_deref() == Some(b"y");
            match existing {
                Some(x) if x.is_dir() => {
                    if opaque {
                        clear_dir_contents(&d)?;
                    }
                }
                Some(_) => {
                    remove_tree(&d)?;
                    fs::create_dir(&d).at(&d)?;
                }
                None => fs::create_dir(&d).at(&d)?,
            }
            copy_dir(&s, &d, privileged, links)?;
            copy_meta(&m, &s, &d, privileged)?;
            continue;
        }
        remove_tree(&d)?;
        if m.nlink() > 1 && !ft.is_dir() {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                fs::hard_link(first, &d).at(&d)?;
                continue;
            }
        }
        if ft.is_symlink() {
            let t = fs::read_link(&s).at(&s)?;
            std::os::unix::fs::symlink(&t, &d).at(&d)?;
        } else if ft.is_file() {
            let mut from = File::open(&s).at(&s)?;
            let mut to = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&d)
                .at(&d)?;
            io::copy(&mut from, &mut to).at(&d)?;
        } else {
            let kind = if ft.is_char_device() {
                libc::S_IFCHR
            } else if ft.is_block_device() {
                libc::S_IFBLK
            } else if ft.is_fifo() {
                libc::S_IFIFO
            } else {
                continue; // sockets are not layer content
            };
            let rdev = m.rdev();
            mknod(&d, kind, m.mode(), stat::major(rdev), stat::minor(rdev)).at(&d)?;
        }
        copy_meta(&m, &s, &d, privileged)?;
        if m.nlink() > 1 {
            links.insert((m.dev(), m.ino()), d);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h
    }

    /// Writes entries with raw names (the tar crate's safe setters refuse `..`).
    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data, link) in entries {
            // Directories traversable: the tests also run as a user the kernel checks modes for.
            let mode = if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 };
            let mut h = header(*kind, data.len() as u64, mode);
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                if let Some(l) = link {
                    gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
                }
            }
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            out.extend(std::iter::repeat_n(0u8, pad));
        }
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }

    fn run(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> (tempfile::TempDir, Result<Whiteouts>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let r = extract(io::Cursor::new(raw_tar(entries)), &root, "test layer", ExtractOptions::default());
        (dir, r)
    }

    use tar::EntryType as T;

    #[test]
    fn refuses_parent_escape() {
        let (dir, r) = run(&[("../etc/x", T::Regular, b"bad", None)]);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("../etc/x") && e.contains(".."), "{e}");
        assert!(!dir.path().join("etc/x").exists());
    }

    #[test]
    fn absolute_names_are_made_relative() {
        let (dir, r) = run(&[("/etc/hostname", T::Regular, b"x\n", None)]);
        r.unwrap();
        assert_eq!(fs::read(dir.path().join("root/etc/hostname")).unwrap(), b"x\n");
    }

    #[test]
    fn refuses_writing_through_symlink_out_of_root() {
        let (dir, r) = run(&[("a", T::Symlink, b"", Some("/")), ("a/etc/x", T::Regular, b"bad", None)]);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("a/etc/x") && e.contains("points out of the layer"), "{e}");
        let (dir2, r) = run(&[("a", T::Symlink, b"", Some("../..")), ("a/x", T::Regular, b"bad", None)]);
        assert!(r.is_err());
        assert!(!dir.path().join("etc/x").exists() && !dir2.path().join("x").exists());
    }

    #[test]
    fn follows_symlinks_that_stay_inside() {
        let (dir, r) = run(&[
            ("d/", T::Directory, b"", None),
            ("a", T::Symlink, b"", Some("d")),
            ("a/x", T::Regular, b"ok", None),
        ]);
        r.unwrap();
        assert_eq!(fs::read(dir.path().join("root/d/x")).unwrap(), b"ok");
    }

    #[test]
    fn symlink_entries_may_point_anywhere_but_are_not_followed_when_replaced() {
        let (dir, r) = run(&[("sh", T::Symlink, b"", Some("/etc/passwd")), ("sh", T::Regular, b"new", None)]);
        r.unwrap();
        // the regular file replaced the link; /etc/passwd untouched
        let m = fs::symlink_metadata(dir.path().join("root/sh")).unwrap();
        assert!(m.is_file());
        assert_ne!(fs::read("/etc/passwd").unwrap(), b"new");
    }

    #[test]
    fn refuses_hardlinks_out_of_layer() {
        let (_d, r) = run(&[("x", T::Link, b"", Some("../../x"))]);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("hardlink target"), "{e}");
        let (_d, r) = run(&[("x", T::Link, b"", Some("etc/passwd"))]);
        assert!(r.unwrap_err().to_string().contains("not in the layer"));
    }

    #[test]
    fn hardlinks_within_the_layer() {
        let (dir, r) = run(&[("a", T::Regular, b"data", None), ("b", T::Link, b"", Some("a"))]);
        r.unwrap();
        let a = fs::metadata(dir.path().join("root/a")).unwrap();
        let b = fs::metadata(dir.path().join("root/b")).unwrap();
        assert_eq!(a.ino(), b.ino());
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let mut t = raw_tar(&[("a", T::Regular, &[7u8; 4000], None)]);
        t.truncate(512 + 1000);
        let dir = tempfile::tempdir().unwrap();
        let e = extract(io::Cursor::new(t), dir.path(), "test layer", ExtractOptions::default()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn whiteouts_are_recorded() {
        let (dir, r) = run(&[
            ("d/", T::Directory, b"", None),
            ("d/.wh..wh..opq", T::Regular, b"", None),
            ("e/.wh.gone", T::Regular, b"", None),
        ]);
        let wh = r.unwrap();
        assert_eq!(wh.opaque, vec!["d".to_string()]);
        assert_eq!(wh.whiteouts, vec!["e/gone".to_string()]);
        assert!(!dir.path().join("root/d/.wh..wh..opq").exists());
        assert!(!dir.path().join("root/e/.wh.gone").exists());
    }

    #[test]
    fn modes_and_mtimes_are_kept() {
        let mut t = Vec::new();
        {
            let mut b = tar::Builder::new(&mut t);
            let mut h = header(T::Regular, 3, 0o4755);
            b.append_data(&mut h, "bin/su", &b"abc"[..]).unwrap();
            let mut h = header(T::Directory, 0, 0o555);
            b.append_data(&mut h, "ro", &b""[..]).unwrap();
            let mut h = header(T::Regular, 1, 0o644);
            b.append_data(&mut h, "ro/f", &b"z"[..]).unwrap();
            b.finish().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        extract(io::Cursor::new(t), dir.path(), "t", ExtractOptions::default()).unwrap();
        let m = fs::metadata(dir.path().join("bin/su")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755);
        assert_eq!(m.mtime(), 1_700_000_000);
        let m = fs::metadata(dir.path().join("ro")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o555);
        assert_eq!(m.mtime(), 1_700_000_000);
        remove_tree(dir.path()).unwrap();
    }

    #[test]
    fn copy_snapshotter_applies_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let l1 = store.layers_dir().join("sha256/1111");
        let l2 = store.layers_dir().join("sha256/2222");
        fs::create_dir_all(l1.join("d")).unwrap();
        fs::write(l1.join("d/old"), b"1").unwrap();
        fs::write(l1.join("gone"), b"1").unwrap();
        fs::write(l1.join("keep"), b"1").unwrap();
        fs::create_dir_all(l2.join("d")).unwrap();
        fs::write(l2.join("d/new"), b"2").unwrap();
        fs::write(l2.join("keep"), b"2").unwrap();
        let wh = Whiteouts { whiteouts: vec!["gone".into()], opaque: vec!["d".into()] };
        fs::create_dir_all(store.layers_dir().join("whiteouts")).unwrap();
        fs::write(store.layers_dir().join("whiteouts/2222.json"), serde_json::to_vec(&wh).unwrap()).unwrap();
        let dest = tmp.path().join("rootfs");
        apply_layer_dirs_copy(&[l1, l2], &dest).unwrap();
        assert!(!dest.join("gone").exists());
        assert!(!dest.join("d/old").exists());
        assert_eq!(fs::read(dest.join("d/new")).unwrap(), b"2");
        assert_eq!(fs::read(dest.join("keep")).unwrap(), b"2");
    }
}
