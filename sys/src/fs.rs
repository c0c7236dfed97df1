//! Durable file replacement: the one way berth rewrites a file that readers may open at any
//! moment (the store's `index.json`, registry links and manifests, container records).
//!
//! The bytes go to a temporary file on the destination's filesystem (so the `rename` is
//! atomic): in the caller's scratch directory when it has one (the store's and the registry's
//! `tmp/`, swept of what a killed writer left, so no stray file ever shows in a directory that
//! is listed, such as a registry's tags or an OCI layout), else beside the destination. Its
//! name, `.<name>-<pid>-<nonce>`, says whose it is, as the store's sweep expects. It is
//! renamed over the destination: a reader sees the old file or the new one, never half, and a
//! failed write leaves no temporary behind.
//!
//! [`Durability::Synced`] also fsyncs the file before the rename and the directory after it,
//! so the new content survives a power cut: the store's `index.json`, the registry's links.
//! [`Durability::Ordered`] skips both fsyncs, for records rewritten at every lifecycle step
//! (container state): an fsync costs ~14 ms on this project's VMs, twenty times the write,
//! and would multiply a container's start time; ext4 (`auto_da_alloc`) still flushes a file
//! replaced by rename before the rename commits, so a crash leaves the old record or the new
//! one, never an empty file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How hard [`write_atomic`] works to make the new content survive a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory: on disk when the call returns.
    Synced,
    /// Atomic for readers, in order on ext4, no fsync: on disk within the kernel's writeback.
    Ordered,
}

/// Replaces `dest` with `bytes` atomically; a new file gets `mode` (before the umask), so a
/// private record is never readable by others even for a moment. `scratch`, when given, is a
/// directory on `dest`'s filesystem that holds the temporary file.
pub fn write_atomic(
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    durability: Durability,
    scratch: Option<&Path>,
) -> io::Result<()> {
    let synced = durability == Durability::Synced;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp =
        scratch.unwrap_or(dir).join(format!(".{}-{}-{:08x}", name.to_string_lossy(), std::process::id(), rand_u32()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        if synced {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, dest)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if synced {
        sync_dir(dir);
    }
    Ok(())
}

/// Fsyncs a directory, so renames and creations in it are on disk. Best effort: a
/// filesystem that cannot sync directories loses nothing it promised.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// A cheap per-call nonce for temporary names (two writers of one file in one process, or a
/// stale temporary left by a killed writer with the same pid, never collide).
fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    t ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_whole_files_with_their_mode_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("record.json");
        write_atomic(&p, b"one", 0o600, Durability::Synced, None).unwrap();
        write_atomic(&p, b"two", 0o600, Durability::Ordered, None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("record.json")]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"old", 0o644, Durability::Synced, None).unwrap();
        // The destination is a directory now: the rename fails after the temporary is written.
        let q = d.path().join("dir");
        std::fs::create_dir(&q).unwrap();
        std::fs::write(q.join("x"), b"").unwrap();
        assert!(write_atomic(&q, b"new", 0o644, Durability::Synced, None).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_scratch_directory_keeps_the_destination_directory_clean() {
        let d = tempfile::tempdir().unwrap();
        let (tags, tmp) = (d.path().join("tags"), d.path().join("tmp"));
        std::fs::create_dir_all(&tags).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        write_atomic(&tags.join("latest"), b"sha256:x", 0o644, Durability::Synced, Some(&tmp)).unwrap();
        assert_eq!(std::fs::read(tags.join("latest")).unwrap(), b"sha256:x");
        assert_eq!(std::fs::read_dir(&tags).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
