//! What a berth process killed half-way leaves behind, and how the next one sweeps it.
//!
//! SIGKILL gives no chance to clean up: a `build` killed during a RUN step leaves its step
//! container's overlay mounted under `build-run/<id>/`, an `rm` killed while deleting leaves a
//! `containers/.removing-<id>/`, and a `create`/`run` killed before its record was written
//! leaves a `containers/<id>/` no command lists or removes. Each of these is swept only when
//! it is provably abandoned: its owner holds a `flock` for as long as it works on it (the
//! directory itself for a build step and a removal, the container's log while a record is not
//! written yet), and a lock that can be taken means the owner is gone. The sweeps read one
//! small directory each: `build` sweeps `build-run/` when it starts, `rm` the removals, and
//! every command that lists containers (`ps`, `container prune`...) all three.

use super::{names, snapshot, Container};
use crate::Engine;
use fs4::fs_std::FileExt;
use std::fs::{self, File};
use std::path::Path;
use std::time::Duration;

/// Prefix of a container directory being deleted (renamed first, so no lookup sees half).
pub(crate) const REMOVING: &str = ".removing-";

/// A record-less directory younger than this is left alone whatever its lock says: a spare
/// directory is renamed into place a moment before its claimer locks its log.
const GRACE: Duration = Duration::from_secs(2);

/// Takes `p`'s lock if nobody holds it (the lock is then held until the returned file drops).
pub(crate) fn try_lock(p: &Path) -> Option<File> {
    let f = File::open(p).ok()?;
    matches!(FileExt::try_lock_exclusive(&f), Ok(true)).then_some(f)
}

/// Whether `p` changed (was renamed into place, written) within the grace period.
fn recent(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = fs::symlink_metadata(p) else { return true };
    let changed = std::time::UNIX_EPOCH + Duration::from_secs(m.ctime().max(0) as u64);
    changed.elapsed().map_or(true, |age| age < GRACE)
}

/// Unmounts a leftover rootfs and deletes the directory; false if the mount stays.
fn remove_dir(dir: &Path) -> bool {
    let rootfs = dir.join("rootfs");
    super::security::release_shm(dir);
    if snapshot::unmount(&rootfs).is_err() || snapshot::is_mountpoint(&rootfs) {
        return false;
    }
    fs::remove_dir_all(dir).is_ok()
}

impl Engine {
    /// Sweeps `containers/.removing-*` directories whose remover died; returns how many.
    pub fn sweep_removals(&self) -> usize {
        let Ok(rd) = fs::read_dir(self.containers_dir()) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(REMOVING) {
                continue;
            }
            n += usize::from(self.sweep_removal(&e.path()));
        }
        n
    }

    /// Deletes one `.removing-*` directory if its remover died.
    pub(crate) fn sweep_removal(&self, dir: &Path) -> bool {
        let Some(_held) = try_lock(dir) else { return false };
        remove_dir(dir)
    }

    /// Sweeps container directories that never got their record (their creator died
    /// before writing it): unmounts, tears down any network sandbox, frees the name, deletes.
    /// Returns how many. (Commands do this as they list containers, `list_containers`.)
    #[cfg(test)]
    fn sweep_unrecorded(&self) -> usize {
        let Ok(rd) = fs::read_dir(self.containers_dir()) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            n += usize::from(id.len() == 64 && self.sweep_unrecorded_dir(&id));
        }
        n
    }

    /// Deletes the directory of container `id` if it has no record and its creator died.
    pub(crate) fn sweep_unrecorded_dir(&self, id: &str) -> bool {
        let dir = self.containers_dir().join(id);
        if dir.join("config.v2.json").exists() || recent(&dir) {
            return false;
        }
        let log = Container { id: id.to_string(), dir: dir.clone(), ..Default::default() }.log_path();
        let _held = match try_lock(&log) {
            Some(f) => Some(f),
            None if !log.exists() => None,
            None => return false, // its creator is at work
        };
        if dir.join("config.v2.json").exists() {
            return false; // written while we looked
        }
        if self.sandbox(id).ok().flatten().is_some() {
            let _ = self.detach(id);
        }
        self.release_names_of(id);
        remove_dir(&dir)
    }

    /// Frees every name reserved for container `id`.
    fn release_names_of(&self, id: &str) {
        let Ok(rd) = fs::read_dir(self.names_dir()) else { return };
        for e in rd.flatten() {
            if fs::read_link(e.path()).is_ok_and(|t| names::link_id(&t.to_string_lossy()) == id) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_nobody_holds_is_swept() {
        let root = tempfile::tempdir().unwrap();
        let e = Engine::open(root.path()).unwrap();
        // A container being created: no record yet, its creator holds the log.
        let id = "a".repeat(64);
        let dir = e.containers_dir().join(&id);
        fs::create_dir_all(dir.join("upper")).unwrap();
        let log = dir.join(format!("{id}-json.log"));
        fs::write(&log, b"").unwrap();
        let creator = try_lock(&log).unwrap();
        // A removal under way: its remover holds the directory.
        let gone = e.containers_dir().join(format!("{REMOVING}{}", "b".repeat(64)));
        fs::create_dir_all(gone.join("upper/x")).unwrap();
        let remover = try_lock(&gone).unwrap();
        // A recorded container, however old and unlocked, is not for a sweep.
        let kept = e.containers_dir().join("c".repeat(64));
        fs::create_dir_all(&kept).unwrap();
        fs::write(kept.join("config.v2.json"), b"{}").unwrap();

        assert!(!e.sweep_unrecorded_dir(&id), "within the grace period");
        std::thread::sleep(GRACE + Duration::from_millis(100));
        assert_eq!((e.sweep_unrecorded(), e.sweep_removals()), (0, 0), "their owners are alive");
        assert!(dir.exists() && gone.exists());
        drop((creator, remover));
        assert_eq!((e.sweep_unrecorded(), e.sweep_removals()), (1, 1), "their owners died");
        assert!(!dir.exists() && !gone.exists());
        assert!(kept.join("config.v2.json").exists());
    }
}
