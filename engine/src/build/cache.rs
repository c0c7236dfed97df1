//! The build cache: persistent under `<root>/build-cache/`, keyed as BuildKit keys steps.
//!
//! A step's key hashes its parent's key, the instruction with its arguments expanded, the
//! build ARGs in scope and, for COPY/ADD, the content hash of the sources (see
//! [`super::context::hash_entry`]). Keys chain, so a change anywhere invalidates every later
//! step and nothing earlier. An entry records the layer the step produced (none for an empty
//! diff); the layer blob itself lives in the content store, and an entry whose blob was
//! garbage-collected is a miss. `RUN --mount=type=cache` directories live beside it, in
//! `mounts/`, and persist between builds.

use crate::{Digest, Result};
use berth_oci::IoContext;
use berth_store::layer::LayerBlob;
use berth_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// The layer a cached step produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedLayer {
    pub blob: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
    pub diff_size: u64,
}

impl From<&LayerBlob> for CachedLayer {
    fn from(l: &LayerBlob) -> Self {
        CachedLayer {
            blob: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
            diff_id: l.diff_id.clone(),
            diff_size: l.diff_size,
        }
    }
}

/// One cache entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub layer: Option<CachedLayer>,
    /// When the step first ran (its history time, kept so a cached rebuild is identical).
    pub created: String,
}

/// The cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// Chains a key: `parent` and the parts that identify the step.
pub fn key(parent: &Digest, parts: &[&str]) -> Digest {
    let mut h = Sha256::new();
    h.update(parent.as_str().as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    Digest::from_hasher(h)
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        let dir = root.join("build-cache");
        std::fs::create_dir_all(dir.join("keys")).at(&dir)?;
        Ok(Cache { dir })
    }

    fn path(&self, k: &Digest) -> PathBuf {
        self.dir.join("keys").join(k.hex())
    }

    /// The entry for `k`, if its layer is still in the store.
    pub fn get(&self, store: &Store, k: &Digest) -> Option<Entry> {
        let b = std::fs::read(self.path(k)).ok()?;
        let e: Entry = serde_json::from_slice(&b).ok()?;
        match &e.layer {
            Some(l) if !store.has_blob(&l.blob) => None,
            _ => Some(e),
        }
    }

    /// Records an entry (atomically: a reader sees the old entry or the new, never half).
    pub fn put(&self, k: &Digest, e: &Entry) -> Result<()> {
        let p = self.path(k);
        // Stages built in parallel may record the same key at once: each writes its own file.
        let tmp = p.with_extension(format!("tmp{}-{:016x}", std::process::id(), rand::random::<u64>()));
        let bytes = serde_json::to_vec(e).map_err(|e| crate::Error::Other(e.to_string()))?;
        std::fs::write(&tmp, bytes).at(&tmp)?;
        Ok(std::fs::rename(&tmp, &p).at(&p)?)
    }

    /// The persistent directory of a `RUN --mount=type=cache` mount.
    pub fn mount_dir(&self, id: &str) -> Result<PathBuf> {
        let d = self.dir.join("mounts").join(Digest::of(id.as_bytes()).hex());
        std::fs::create_dir_all(&d).at(&d)?;
        Ok(d)
    }
}
