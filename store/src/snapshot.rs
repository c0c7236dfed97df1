//! Snapshotters: a root filesystem made of the store's unpacked layers plus a writable layer of
//! its own, behind one [`Snapshotter`] trait with two implementations, an overlay mount
//! ([`Overlay`]) or a private copy where overlayfs is not available ([`Copy`]). Containers and
//! build steps get theirs through [`by_name`], from the name their record keeps.
//!
//! Each layer is unpacked once into the store (`layers/sha256/<diff-id>`, overlay-style
//! whiteouts) and shared read-only by every container; the container's changes go to
//! `<dir>/upper` (with `work` beside it), and the merged view is mounted at `<dir>/rootfs`, the
//! bundle's root. The mount exists only while something needs it
//! (create resolving users and seeding volumes, the shim while the container runs), so a
//! stopped container leaves no mount behind. Without overlay (or with
//! `BERTH_SNAPSHOTTER=copy`), the layers are applied into `rootfs` once, whiteouts honoured.

use crate::{Error, Result};
use berth_oci::IoContext;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Whether containers get overlay snapshots (else copies).
pub fn overlay_supported() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if std::env::var("BERTH_SNAPSHOTTER").as_deref() == Ok("copy") {
            return false;
        }
        fs::read_to_string("/proc/filesystems").map(|s| s.lines().any(|l| l.ends_with("\toverlay"))).unwrap_or(false)
    })
}

/// Whether `p` is a mount point (its device differs from its parent's, or it is listed).
pub fn is_mountpoint(p: &Path) -> bool {
    let (Ok(m), Some(parent)) = (fs::symlink_metadata(p), p.parent()) else { return false };
    let Ok(pm) = fs::metadata(parent) else { return false };
    if m.dev() != pm.dev() {
        return true;
    }
    // Same device: a bind mount of the same filesystem would look the same; ask mountinfo.
    let want = p.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(&want)))
        .unwrap_or(false)
}

/// Makes and lets go of the root filesystem `<dir>/rootfs` over a stack of unpacked layers.
pub trait Snapshotter: Sync {
    /// Makes `<dir>/rootfs` ready over `layers` (bottom to top), its own changes in `dir`;
    /// idempotent. `volatile`: the writable layer never outlives its owner (`--rm`), so the
    /// snapshotter may skip what only makes it survive a crash.
    fn prepare(&self, layers: &[PathBuf], dir: &Path, volatile: bool) -> Result<()>;
    /// Lets the root filesystem go while nothing needs it (its content stays in `dir`).
    fn release(&self, dir: &Path) -> Result<()>;
}

/// The overlay snapshotter: the layers as lower directories, `<dir>/upper` on top.
pub struct Overlay;

/// The copying snapshotter: the layers applied into `<dir>/rootfs` once, whiteouts honoured.
pub struct Copy;

/// The snapshotter a record names (`copy`; anything else is the overlay).
pub fn by_name(name: &str) -> &'static dyn Snapshotter {
    match name {
        "copy" => &Copy,
        _ => &Overlay,
    }
}

impl Snapshotter for Copy {
    fn prepare(&self, layers: &[PathBuf], dir: &Path, _volatile: bool) -> Result<()> {
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).at(&rootfs)?;
        let marker = dir.join(".rootfs-ready");
        if !marker.exists() {
            for l in layers {
                apply_layer_copy(l, &rootfs)?;
            }
            fs::write(&marker, b"").at(&marker)?;
        }
        Ok(())
    }

    /// The copy stays: it *is* the filesystem.
    fn release(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}

impl Snapshotter for Overlay {
    fn prepare(&self, layers: &[PathBuf], dir: &Path, volatile: bool) -> Result<()> {
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).at(&rootfs)?;
        if is_mountpoint(&rootfs) {
            return Ok(());
        }
        let upper = dir.join("upper");
        let work = dir.join("work");
        for d in [&upper, &work] {
            fs::create_dir_all(d).at(d)?;
        }
        let mut lowers = distinct_lowers(layers);
        if lowers.is_empty() {
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).at(&empty)?;
            lowers.push(empty);
        }
        if volatile {
            // A --rm container's layer never outlives it: a volatile overlay skips overlayfs's
            // syncs, above all the one at unmount, which flushes the whole host filesystem (tens
            // to hundreds of ms on a busy host). A clean unmount leaves the volatile marker
            // behind, which would refuse the next mount; only a host crash gives it a meaning.
            let _ = fs::remove_dir_all(work.join("work/incompat/volatile"));
            if mount_overlay(&lowers, &upper, &work, &rootfs, ",volatile").is_ok() {
                return Ok(());
            }
        }
        mount_overlay(&lowers, &upper, &work, &rootfs, "")
    }

    fn release(&self, dir: &Path) -> Result<()> {
        unmount(&dir.join("rootfs"))
    }
}

/// The lowerdir list, top first, for layers listed bottom first. Unpacked layers are keyed by
/// diff id, so an image with the same layer twice (`COPY f /f` twice, two empty RUN layers)
/// names one directory twice, which overlayfs refuses (ELOOP). Only the topmost copy is kept:
/// every entry of the lower one, whiteouts and opaque markers included, is also in the upper
/// one, so the lower copy is never seen and the merged tree is the same.
fn distinct_lowers(layers: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    layers.iter().rev().filter(|p| seen.insert(p.as_path())).cloned().collect()
}

/// Mounts the merged view of `layers` (bottom first) read-only at `target`: no upper
/// directory, nothing to copy. `empty` (an empty directory) pads a single layer, since
/// overlayfs wants two lower directories when it has no upper one.
pub fn mount_readonly(layers: &[PathBuf], target: &Path, empty: &Path) -> Result<()> {
    let mut lowers = distinct_lowers(layers);
    while lowers.len() < 2 {
        fs::create_dir_all(empty).at(empty)?;
        lowers.push(empty.to_path_buf());
    }
    fs::create_dir_all(target).at(target)?;
    mount_lowers(&lowers, None, target, ",ro")
}

fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path, extra: &str) -> Result<()> {
    mount_lowers(lowers, Some((upper, work)), target, extra)
}

fn mount_lowers(lowers: &[PathBuf], rw: Option<(&Path, &Path)>, target: &Path, extra: &str) -> Result<()> {
    let join = |v: &[String]| v.join(":");
    let abs: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let rest = match rw {
        Some((upper, work)) => format!(",upperdir={},workdir={}{extra}", upper.display(), work.display()),
        None => extra.to_string(),
    };
    let data = format!("lowerdir={}{rest}", join(&abs));
    // The mount data must fit in a page; with many layers, name them relative to their
    // shared parent (overlayfs resolves lowerdir against the caller's cwd).
    let parent = lowers.first().and_then(|p| p.parent()).map(Path::to_path_buf);
    let shared = parent.as_ref().filter(|pp| lowers.iter().all(|l| l.parent() == Some(pp.as_path())));
    let r = if let Some(pp) = shared.filter(|_| data.len() > 3800) {
        let rel: Vec<String> =
            lowers.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
        let data = format!("lowerdir={}{rest}", join(&rel));
        let cwd = std::env::current_dir().ok();
        std::env::set_current_dir(pp).at(pp)?;
        let r = do_mount(&data, target);
        if let Some(cwd) = cwd {
            let _ = std::env::set_current_dir(cwd);
        }
        r
    } else {
        do_mount(&data, target)
    };
    r.map_err(|e| Error::Other(format!("mounting the container's overlay at {}: {e}", target.display())))
}

fn do_mount(data: &str, target: &Path) -> nix::Result<()> {
    nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(data))
}

/// Unmounts `p` (and anything stacked on it); not mounted is fine.
pub fn unmount(p: &Path) -> Result<()> {
    for _ in 0..16 {
        if !p.exists() || !is_mountpoint(p) {
            return Ok(());
        }
        match nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(Error::Other(format!("unmounting {}: {e}", p.display()))),
        }
    }
    Ok(())
}

/// Applies an unpacked (overlay-style) layer onto `dest` by copying: a whiteout (a 0/0
/// character device) deletes, an opaque directory (`trusted.overlay.opaque=y`) replaces.
pub fn apply_layer_copy(layer: &Path, dest: &Path) -> Result<()> {
    for e in walkdir::WalkDir::new(layer).min_depth(1) {
        let e = e.map_err(|e| Error::Other(format!("reading layer {}: {e}", layer.display())))?;
        let rel = e.path().strip_prefix(layer).expect("walkdir yields children");
        let target = dest.join(rel);
        let md = e.path().symlink_metadata().at(e.path())?;
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() && md.rdev() == 0 {
            remove_any(&target)?;
            continue;
        }
        if ft.is_dir() {
            let opaque = xattr_is_opaque(e.path());
            match target.symlink_metadata() {
                Ok(t) if t.is_dir() => {
                    if opaque {
                        for child in fs::read_dir(&target).at(&target)?.flatten() {
                            remove_any(&child.path())?;
                        }
                    }
                }
                Ok(_) => {
                    remove_any(&target)?;
                    fs::create_dir(&target).at(&target)?;
                }
                Err(_) => fs::create_dir(&target).at(&target)?,
            }
            copy_meta(&md, &target)?;
            continue;
        }
        if target.symlink_metadata().is_ok() {
            remove_any(&target)?;
        }
        if ft.is_symlink() {
            let t = fs::read_link(e.path()).at(e.path())?;
            std::os::unix::fs::symlink(&t, &target).at(&target)?;
            let _ = std::os::unix::fs::lchown(&target, Some(md.uid()), Some(md.gid()));
        } else if ft.is_file() {
            fs::copy(e.path(), &target).at(&target)?;
            copy_meta(&md, &target)?;
        } else {
            let kind = if ft.is_block_device() {
                nix::sys::stat::SFlag::S_IFBLK
            } else if ft.is_char_device() {
                nix::sys::stat::SFlag::S_IFCHR
            } else if ft.is_fifo() {
                nix::sys::stat::SFlag::S_IFIFO
            } else {
                continue; // sockets are not layer content
            };
            nix::sys::stat::mknod(
                &target,
                kind,
                nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777),
                md.rdev() as nix::libc::dev_t,
            )
            .map_err(|e| Error::Other(format!("mknod {}: {e}", target.display())))?;
            copy_meta(&md, &target)?;
        }
    }
    Ok(())
}

fn xattr_is_opaque(p: &Path) -> bool {
    crate::unpack::list_xattrs(p).iter().any(|(k, v)| k == "trusted.overlay.opaque" && v == b"y")
}

fn copy_meta(md: &fs::Metadata, target: &Path) -> Result<()> {
    let _ = std::os::unix::fs::lchown(target, Some(md.uid()), Some(md.gid()));
    fs::set_permissions(target, fs::Permissions::from_mode(md.mode() & 0o7777)).at(target)?;
    Ok(())
}

fn remove_any(p: &Path) -> Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => Ok(fs::remove_dir_all(p).at(p)?),
        Ok(_) => Ok(fs::remove_file(p).at(p)?),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_apply_honours_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (d.path().join("l1"), d.path().join("l2"), d.path().join("out"));
        fs::create_dir_all(l1.join("a/b")).unwrap();
        fs::write(l1.join("a/b/f"), "1").unwrap();
        fs::write(l1.join("gone"), "x").unwrap();
        fs::create_dir_all(&l2).unwrap();
        fs::create_dir_all(&out).unwrap();
        nix::sys::stat::mknod(&l2.join("gone"), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0).ok();
        fs::create_dir_all(l2.join("a")).unwrap();
        fs::write(l2.join("a/new"), "2").unwrap();
        apply_layer_copy(&l1, &out).unwrap();
        apply_layer_copy(&l2, &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("a/b/f")).unwrap(), "1");
        assert_eq!(fs::read_to_string(out.join("a/new")).unwrap(), "2");
        if nix::unistd::geteuid().is_root() {
            assert!(!out.join("gone").exists());
        }
    }
}

#[cfg(test)]
mod lowers_tests {
    use super::distinct_lowers;
    use std::path::PathBuf;

    #[test]
    fn a_repeated_layer_keeps_its_topmost_place() {
        let l = |s: &str| PathBuf::from(s);
        let got = distinct_lowers(&[l("/a"), l("/b"), l("/a"), l("/c")]);
        assert_eq!(got, vec![l("/c"), l("/a"), l("/b")]);
    }
}
