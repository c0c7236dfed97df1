//! Creating layer blobs: a tar stream (or a directory, for `berth build`) in, a compressed blob
//! in the store out, with both digests a manifest and a config need.
//!
//! The tar bytes are hashed as they pass (the diff-id, which goes into the config's
//! `rootfs.diff_ids`), compressed, and hashed again as they land in the store (the blob digest,
//! which goes into the manifest). Everything streams: nothing is buffered whole, and a failed
//! layer leaves no blob behind (see [`crate::content::Ingest`]). Compression is deterministic
//! (fixed gzip header, fixed levels, gzip blocks independent of the thread count: see
//! [`crate::pgzip`]), so the same tar always gives the same blob digest.
//!
//! A build step's result takes another road ([`commit_dir`]): its directory becomes the
//! unpacked layer as it is and no blob is written. The image refers to it as an uncompressed
//! tar whose digest is the diff-id; the store makes that tar from the directory only when
//! something reads the blob (`save`), and `push` sends the gzip form ([`compressed_layer`],
//! [`push_manifest`]) as Docker does with the layers of its graph driver.

use crate::content::{descriptor, Ingest, Store};
use crate::unpack;
use crate::{Digest, Error, Result};
use berth_oci::digest::HashingWriter;
use berth_oci::media::Compression;
use berth_oci::IoContext;
use oci_spec::image::Descriptor;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// gzip level for new layers: level 1 compresses busybox within ~10% of level 6 at several
/// times the speed, and layers are written far more often than they are downloaded here.
pub const GZIP_LEVEL: u32 = 1;
/// zstd level for new layers (zstd's default; fast and smaller than gzip -6).
pub const ZSTD_LEVEL: i32 = 3;

/// A layer written to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest and size of the (compressed) blob.
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Digest and size of the uncompressed tar.
    pub diff_id: Digest,
    pub diff_size: u64,
}

impl LayerBlob {
    /// The manifest descriptor of this layer.
    pub fn descriptor(&self) -> Descriptor {
        descriptor(&self.media_type, &self.digest, self.size)
    }
}

enum Encoder {
    Plain(Ingest),
    Gzip(crate::pgzip::ParGzWriter<Ingest>),
    Zstd(zstd::stream::write::Encoder<'static, Ingest>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

/// A sink for a layer's tar bytes: hashes, compresses and stores them.
pub struct LayerWriter {
    inner: HashingWriter<Encoder>,
    compression: Compression,
    store: Store,
}

impl LayerWriter {
    pub fn new(store: &Store, compression: Compression) -> Result<LayerWriter> {
        let ingest = store.ingest(None)?;
        let enc = match compression {
            Compression::None => Encoder::Plain(ingest),
            Compression::Gzip => Encoder::Gzip(
                crate::pgzip::ParGzWriter::new(ingest, GZIP_LEVEL).map_err(|e| Error::Other(format!("gzip: {e}")))?,
            ),
            Compression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(ingest, ZSTD_LEVEL)
                    .map_err(|e| Error::Other(format!("zstd: {e}")))?;
                // Multithreaded zstd would make the output depend on the machine; keep one.
                let _ = z.include_checksum(true);
                Encoder::Zstd(z)
            }
        };
        Ok(LayerWriter { inner: HashingWriter::new(enc), compression, store: store.clone() })
    }

    /// Finishes compression and commits the blob.
    pub fn finish(self) -> Result<LayerBlob> {
        let (enc, diff_id, diff_size) = self.inner.finish();
        let ingest = match enc {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.finish().map_err(|e| Error::Other(format!("gzip: {e}")))?,
            Encoder::Zstd(w) => w.finish().map_err(|e| Error::Other(format!("zstd: {e}")))?,
        };
        let (digest, size) = ingest.commit()?;
        // Unpacking later can then skip straight to the cached directory.
        let _ = self.store.record_diff_id(&digest, &diff_id, diff_size);
        Ok(LayerBlob { digest, size, media_type: self.compression.oci_layer_type().to_string(), diff_id, diff_size })
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies everything read into a writer (the tar parser reads, the layer writer stores).
struct Tee<R, W> {
    r: R,
    w: W,
    eof: bool,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        if n == 0 {
            self.eof = true;
        }
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Stores a tar stream (plain, gzip or zstd: sniffed) as a layer, re-compressed as asked.
///
/// The stream is parsed as it passes, so a truncated or malformed tarball, or one whose
/// entries would escape the root, is refused here rather than when a container starts.
pub fn layer_from_tar(store: &Store, input: impl Read, compression: Compression, what: &str) -> Result<LayerBlob> {
    let reader = unpack::decompress(input).map_err(|e| Error::malformed(what, e))?;
    let writer = LayerWriter::new(store, compression)?;
    let mut archive = tar::Archive::new(Tee { r: reader, w: writer, eof: false });
    let mut entries_seen = 0usize;
    {
        let entries = archive.entries().map_err(|e| Error::malformed(what, e))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| Error::malformed(what, format!("truncated or corrupt tar stream: {e}")))?;
            entries_seen += 1;
            let raw = entry.path().map_err(|e| Error::malformed(what, e))?.into_owned();
            unpack::normalize_entry_path(&raw)
                .map_err(|why| Error::UnsafeEntry { entry: format!("{} in {what}", raw.display()), reason: why })?;
            if entry.header().entry_type() == tar::EntryType::Link {
                if let Ok(Some(l)) = entry.link_name() {
                    unpack::normalize_entry_path(&l).map_err(|why| Error::UnsafeEntry {
                        entry: format!("{} in {what}", raw.display()),
                        reason: format!("hardlink target {}: {why}", l.display()),
                    })?;
                }
            }
            let expected = entry.size();
            let got = io::copy(&mut entry, &mut io::sink()).map_err(|e| Error::malformed(what, e))?;
            if got < expected && entry.header().entry_type() != tar::EntryType::GNUSparse {
                return Err(Error::malformed(
                    what,
                    format!("truncated: {} has {got} of {expected} bytes", raw.display()),
                ));
            }
        }
    }
    let mut tee = archive.into_inner();
    if tee.eof {
        let why =
            if entries_seen == 0 { "not a tar archive (or empty)" } else { "unexpected end of archive (truncated?)" };
        return Err(Error::malformed(what, why));
    }
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::malformed(what, e))?;
    tee.w.finish()
}

/// Stores a directory tree as a layer (`berth build`'s upper directory, or a rootfs).
///
/// Overlayfs whiteouts (0/0 character devices) become OCI `.wh.` entries and opaque
/// directories a `.wh..wh..opq` entry, so an overlay upper dir can be committed directly.
pub fn layer_from_dir(store: &Store, dir: &Path, compression: Compression) -> Result<LayerBlob> {
    let writer = LayerWriter::new(store, compression)?;
    let writer = write_dir_tar(dir, writer)?;
    writer.finish()
}

/// Writes a directory tree as a deterministic tar (names sorted, numeric owners, mtimes kept,
/// hardlinks as links, xattrs as PAX records) and returns the writer.
pub fn write_dir_tar<W: Write>(dir: &Path, out: W) -> Result<W> {
    write_dir_tar_noting(dir, out, &mut unpack::Whiteouts::default())
}

/// [`write_dir_tar`], noting the directory's overlayfs whiteouts and opaque directories.
fn write_dir_tar_noting<W: Write>(dir: &Path, out: W, wh: &mut unpack::Whiteouts) -> Result<W> {
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    add_dir_entries(&mut b, dir, Path::new(""), &mut links, wh)?;
    Ok(b.into_inner().at(dir)?)
}

/// Makes a build step's directory (a RUN's overlay upper directory, a COPY's staging
/// directory) a layer of the store without compressing or copying anything: the tar it stands
/// for is hashed as it would be written (its diff-id), and the directory is moved into the
/// unpacked-layer cache, where the next step uses it as a lower layer. The layer's blob is that
/// uncompressed tar (digest = diff-id), made from the directory only if something reads it.
/// `dir` is gone afterwards.
pub fn commit_dir(store: &Store, dir: &Path) -> Result<LayerBlob> {
    let mut wh = unpack::Whiteouts::default();
    let hashing = write_dir_tar_noting(dir, HashOnThread::new(), &mut wh)?;
    let (diff_id, size) = hashing.finish().at(dir)?;
    store.adopt_layer_dir(dir, &diff_id, size, &wh)?;
    Ok(LayerBlob {
        digest: diff_id.clone(),
        size,
        media_type: Compression::None.oci_layer_type().to_string(),
        diff_id,
        diff_size: size,
    })
}

/// A sink that hashes what is written on a thread of its own, so walking the directory (system
/// calls) and hashing the bytes (CPU) overlap: a big layer's commit costs the longer of the
/// two, not their sum.
struct HashOnThread {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    hasher: Option<std::thread::JoinHandle<(Digest, u64)>>,
}

impl HashOnThread {
    const CHUNK: usize = 1 << 20;

    fn new() -> HashOnThread {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let hasher = std::thread::spawn(move || {
            let mut h = HashingWriter::new(io::sink());
            for chunk in rx {
                let _ = h.write_all(&chunk);
            }
            let (_, d, n) = h.finish();
            (d, n)
        });
        HashOnThread { buf: Vec::with_capacity(Self::CHUNK), tx: Some(tx), hasher: Some(hasher) }
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::CHUNK));
        let tx = self.tx.as_ref().expect("not finished");
        tx.send(chunk).map_err(|_| io::Error::other("the hashing thread stopped"))
    }

    /// The digest and size of everything written.
    fn finish(mut self) -> io::Result<(Digest, u64)> {
        self.send()?;
        drop(self.tx.take());
        let h = self.hasher.take().expect("not finished");
        h.join().map_err(|_| io::Error::other("the hashing thread panicked"))
    }
}

impl Write for HashOnThread {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= Self::CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the uncompressed tar of a committed layer directory into the store as its blob (what
/// [`Store::open_blob`] does when a reader asks for one), checking that the directory still
/// gives the digest it was committed with.
pub(crate) fn materialize(store: &Store, diff_id: &Digest, size: u64) -> Result<()> {
    let ingest = store.ingest(Some((diff_id.clone(), Some(size))))?;
    let ingest = write_dir_tar(&store.layer_dir(diff_id), ingest)?;
    ingest.commit()?;
    Ok(())
}

/// The compressed form (gzip or zstd) of an uncompressed layer (a committed directory, or a
/// tar blob as `load` keeps Docker's archives), compressed the first time it is asked for (gzip
/// on all cores) and remembered (`layers/gzip|zstd/<diff-id hex>`) while its blob stays in the
/// store.
pub fn compressed_layer(store: &Store, diff_id: &Digest, compression: Compression) -> Result<LayerBlob> {
    let kind = if compression == Compression::Zstd { "zstd" } else { "gzip" };
    let memo = store.layers_path().join(kind).join(diff_id.hex());
    if let Some(d) = fs::read_to_string(&memo).ok().and_then(|s| s.trim().parse::<Digest>().ok()) {
        if let Some(size) = store.blob_file_size(&d) {
            let media_type = compression.oci_layer_type().to_string();
            let diff_size = store.blob_size(diff_id).unwrap_or(0);
            return Ok(LayerBlob { digest: d, size, media_type, diff_id: diff_id.clone(), diff_size });
        }
    }
    let l = if store.blob_file_size(diff_id).is_some() {
        let mut w = LayerWriter::new(store, compression)?;
        let mut f = store.open_blob(diff_id)?;
        io::copy(&mut f, &mut w).at(store.blob_path(diff_id))?;
        w.finish()?
    } else {
        write_dir_tar(&store.layer_dir(diff_id), LayerWriter::new(store, compression)?)?.finish()?
    };
    if &l.diff_id != diff_id {
        return Err(berth_oci::Error::DigestMismatch {
            expected: diff_id.to_string(),
            actual: format!("{} (the layer directory changed since it was committed)", l.diff_id),
        }
        .into());
    }
    if let Some(parent) = memo.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    fs::write(&memo, l.digest.to_string()).at(&memo)?;
    Ok(l)
}

/// The manifest to push for a stored image manifest: its uncompressed layers (a build's
/// committed directories, a loaded archive's tars) replaced by their gzip form, as Docker
/// compresses what it keeps uncompressed. `None` when it has none (it is pushed as stored).
/// The new manifest is stored as a blob.
pub fn push_manifest(store: &Store, manifest: &[u8]) -> Result<Option<(Digest, Vec<u8>)>> {
    compressed_manifest(store, manifest, Compression::Gzip)
}

/// [`push_manifest`] with the compression chosen (`build --output ...,compression=zstd`);
/// `Compression::None` leaves the manifest as it is.
pub fn compressed_manifest(
    store: &Store,
    manifest: &[u8],
    compression: Compression,
) -> Result<Option<(Digest, Vec<u8>)>> {
    if compression == Compression::None {
        return Ok(None);
    }
    let mut v: serde_json::Value = serde_json::from_slice(manifest).map_err(|e| Error::Other(e.to_string()))?;
    let Some(layers) = v.get_mut("layers").and_then(|l| l.as_array_mut()) else { return Ok(None) };
    let mut changed = false;
    for l in layers.iter_mut() {
        if l["mediaType"].as_str() != Some(Compression::None.oci_layer_type()) {
            continue;
        }
        let Some(d) = l["digest"].as_str().and_then(|d| d.parse::<Digest>().ok()) else { continue };
        let g = compressed_layer(store, &d, compression)?;
        l["mediaType"] = g.media_type.clone().into();
        l["digest"] = g.digest.to_string().into();
        l["size"] = g.size.into();
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(&v).map_err(|e| Error::Other(e.to_string()))?;
    let (d, _) = store.put_blob(&bytes, None)?;
    Ok(Some((d, bytes)))
}

fn base_header(m: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn append_xattrs<W: Write>(b: &mut tar::Builder<W>, p: &Path) -> io::Result<()> {
    let xattrs: Vec<(String, Vec<u8>)> = unpack::list_xattrs(p)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("trusted.overlay.") && !k.starts_with("user.overlay."))
        .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
        .collect();
    if xattrs.is_empty() {
        return Ok(());
    }
    b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

fn add_dir_entries<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    wh: &mut unpack::Whiteouts,
) -> Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> =
        fs::read_dir(&dir).at(&dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>().at(&dir)?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let p = root.join(&r);
        let m = fs::symlink_metadata(&p).at(&p)?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            wh.whiteouts.push(r.to_string_lossy().into_owned());
            let entry = rel.join(format!("{}{}", unpack::WHITEOUT_PREFIX, name.to_string_lossy()));
            // Whiteouts are 0600 in Docker's layers (moby's archive and BuildKit's differ alike).
            let mut h = base_header(&m, tar::EntryType::Regular);
            h.set_mode(0o600);
            b.append_data(&mut h, &entry, io::empty()).at(&p)?;
            continue;
        }
        if ft.is_dir() {
            append_xattrs(b, &p).at(&p)?;
            let mut h = base_header(&m, tar::EntryType::Directory);
            b.append_data(&mut h, &r, io::empty()).at(&p)?;
            let opaque = ["trusted.overlay.opaque", "user.overlay.opaque"]
                .iter()
                .any(|x| unpack::list_xattrs(&p).iter().any(|(k, v)| k == x && v.as_slice() == b"y"));
            if opaque {
                wh.opaque.push(r.to_string_lossy().into_owned());
                let mut h = base_header(&m, tar::EntryType::Regular);
                h.set_mode(0o600);
                b.append_data(&mut h, r.join(unpack::WHITEOUT_OPAQUE), io::empty()).at(&p)?;
            }
            add_dir_entries(b, root, &r, links, wh)?;
            continue;
        }
        if m.nlink() > 1 {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                let mut h = base_header(&m, tar::EntryType::Link);
                b.append_link(&mut h, &r, first).at(&p)?;
                continue;
            }
            links.insert((m.dev(), m.ino()), r.clone());
        }
        append_xattrs(b, &p).at(&p)?;
        if ft.is_file() {
            let mut h = base_header(&m, tar::EntryType::Regular);
            h.set_size(m.len());
            let f = fs::File::open(&p).at(&p)?;
            b.append_data(&mut h, &r, f).at(&p)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).at(&p)?;
            let mut h = base_header(&m, tar::EntryType::Symlink);
            b.append_link(&mut h, &r, &target).at(&p)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = base_header(&m, kind);
            if kind != tar::EntryType::Fifo {
                let _ = h.set_device_major(libc::major(m.rdev()));
                let _ = h.set_device_minor(libc::minor(m.rdev()));
            }
            b.append_data(&mut h, &r, io::empty()).at(&p)?;
        }
        // sockets are not layer content
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/hello", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn gzip_and_zstd_layers_share_the_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let t = sample_tar();
        let g = layer_from_tar(&s, &t[..], Compression::Gzip, "t").unwrap();
        let z = layer_from_tar(&s, &t[..], Compression::Zstd, "t").unwrap();
        let p = layer_from_tar(&s, &t[..], Compression::None, "t").unwrap();
        assert_eq!(g.diff_id, Digest::of(&t));
        assert_eq!(g.diff_id, z.diff_id);
        assert_eq!(p.digest, p.diff_id);
        assert_ne!(g.digest, z.digest);
        assert_eq!(g, layer_from_tar(&s, &t[..], Compression::Gzip, "t").unwrap(), "deterministic");
        // a gzip-compressed input is decompressed first
        let gz = fs::read(s.blob_path(&g.digest)).unwrap();
        assert_eq!(layer_from_tar(&s, &gz[..], Compression::Gzip, "t").unwrap().diff_id, g.diff_id);
        for l in [&g, &z, &p] {
            let u = s.unpack_layer(&l.digest, Some(&l.diff_id)).unwrap();
            assert_eq!(fs::read(u.path.join("etc/hello")).unwrap(), b"hello");
        }
    }

    #[test]
    fn refuses_truncated_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let mut t = sample_tar();
        t.truncate(600);
        assert!(layer_from_tar(&s, &t[..], Compression::Gzip, "t").unwrap_err().to_string().contains("truncated"));
        assert!(layer_from_tar(&s, &b"hello world"[..], Compression::Gzip, "t").is_err());
        assert_eq!(s.list_blobs().unwrap().len(), 0);
    }

    #[test]
    fn directory_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("root")).unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/f"), b"data").unwrap();
        fs::hard_link(src.join("a/b/f"), src.join("a/g")).unwrap();
        std::os::unix::fs::symlink("b/f", src.join("a/l")).unwrap();
        let l = layer_from_dir(&s, &src, Compression::Gzip).unwrap();
        let l2 = layer_from_dir(&s, &src, Compression::Gzip).unwrap();
        assert_eq!(l.digest, l2.digest);
        let u = s.unpack_layer(&l.digest, Some(&l.diff_id)).unwrap();
        assert_eq!(fs::read(u.path.join("a/g")).unwrap(), b"data");
        assert_eq!(fs::read_link(u.path.join("a/l")).unwrap(), Path::new("b/f"));
        assert_eq!(fs::metadata(u.path.join("a/g")).unwrap().ino(), fs::metadata(u.path.join("a/b/f")).unwrap().ino());
    }
}
