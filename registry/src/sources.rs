//! Where each blob came from: the repositories a blob was pulled from or pushed to.
//!
//! Pushing to a repository of a registry that already holds the blob in another repository
//! need not move the bytes: the distribution spec's cross-repository mount
//! (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`) links it server-side, but
//! only if the client names a `from` repository. So berth remembers, per blob, the
//! `domain/repository` names it was seen in, in `<root>/blob-sources/<hex>`: one name per
//! line, appended with `O_APPEND` (atomic for such short writes, so concurrent pulls need no
//! lock). The record is a hint only: a stale line costs one failed mount, never correctness,
//! and garbage collection may simply delete the file with its blob.

use crate::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The blob-source records under a state root.
#[derive(Clone, Debug)]
pub struct BlobSources {
    dir: PathBuf,
}

impl BlobSources {
    pub fn new(state_root: &Path) -> BlobSources {
        BlobSources { dir: state_root.join("blob-sources") }
    }

    fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    /// Every `domain/repository` the blob is known to be in, oldest first.
    pub fn get(&self, d: &Digest) -> Vec<String> {
        let Ok(s) = std::fs::read_to_string(self.path(d)) else { return Vec::new() };
        let mut out: Vec<String> = Vec::new();
        for l in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !out.iter().any(|o| o == l) {
                out.push(l.to_string());
            }
        }
        out
    }

    /// A repository of `domain` other than `repository` that holds the blob (newest first).
    pub fn mount_candidate(&self, d: &Digest, domain: &str, repository: &str) -> Option<String> {
        self.get(d).into_iter().rev().find_map(|s| {
            let (dom, repo) = s.split_once('/')?;
            (dom == domain && repo != repository).then(|| repo.to_string())
        })
    }

    /// Records that the blob is in `domain/repository` (best effort: it is only a hint).
    pub fn add(&self, d: &Digest, domain: &str, repository: &str) {
        let line = format!("{domain}/{repository}");
        if self.get(d).contains(&line) {
            return;
        }
        let _ = std::fs::create_dir_all(&self.dir);
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(d))
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = r {
            tracing::debug!("recording source of {d}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_picks() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobSources::new(dir.path());
        let d = Digest::of(b"x");
        assert!(s.get(&d).is_empty());
        s.add(&d, "127.0.0.1:5000", "a/b");
        s.add(&d, "127.0.0.1:5000", "a/b");
        s.add(&d, "other:1", "c");
        assert_eq!(s.get(&d), vec!["127.0.0.1:5000/a/b", "other:1/c"]);
        assert_eq!(s.mount_candidate(&d, "127.0.0.1:5000", "x").as_deref(), Some("a/b"));
        assert_eq!(s.mount_candidate(&d, "127.0.0.1:5000", "a/b"), None);
        assert_eq!(s.mount_candidate(&d, "elsewhere", "x"), None);
    }
}
