//! `cp` between a container's filesystem and the host, with Docker's path rules.
//!
//! Paths inside the container are resolved as the container sees them: symlinks stay inside
//! its root, and a path under a bind mount or volume is read from (or written to) that mount's
//! source, as Docker's `cp` does. A stopped container's overlay is mounted for the copy and
//! unmounted after. Rules (Docker's): a file onto an existing directory lands inside it; a
//! directory onto a missing path becomes that path; `SRC/.` copies a directory's contents.
//! Files copied into the container are owned by root; out of it, by the caller.

use super::{snapshot, spec::secure_join, Container};
use crate::error::IoContext;
use crate::{Engine, Error, Result};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Maps a container path to where it is on the host now (rootfs or a mount's source).
fn host_path(c: &Container, path: &str) -> PathBuf {
    let p = if path.starts_with('/') { path.to_string() } else { format!("{}/{path}", c.process.cwd) };
    // The deepest mount containing the path wins.
    let mut best: Option<&super::MountPoint> = None;
    for m in &c.mounts {
        if m.kind == "tmpfs" {
            continue;
        }
        let d = m.destination.trim_end_matches('/');
        if (p == d || p.starts_with(&format!("{d}/"))) && best.is_none_or(|b| b.destination.len() < m.destination.len())
        {
            best = Some(m);
        }
    }
    match best {
        Some(m) => {
            let rest = p[m.destination.trim_end_matches('/').len()..].trim_start_matches('/');
            if rest.is_empty() {
                PathBuf::from(&m.source)
            } else {
                secure_join(Path::new(&m.source), rest)
            }
        }
        None => secure_join(&c.rootfs(), &p),
    }
}

/// Holds the container's rootfs mounted for the copy (if it was not already).
struct Mounted<'a>(&'a Container, bool);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if self.1 {
            let _ = snapshot::release(self.0);
        }
    }
}

fn mount_for_copy(c: &Container) -> Result<Mounted<'_>> {
    // A copied rootfs is made once, when first needed (a wasm guest that cannot name files
    // never needed one); it then stays.
    if c.snapshotter == "copy" {
        snapshot::prepare(c)?;
        return Ok(Mounted(c, false));
    }
    let was = snapshot::is_mountpoint(&c.rootfs());
    if !was {
        snapshot::prepare(c)?;
    }
    Ok(Mounted(c, !was))
}

impl Engine {
    /// Copies `src` in the container to `dest` on the host.
    pub fn copy_from_container(&self, c: &Container, src: &str, dest: &Path) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let contents_only = src.ends_with("/.");
        let from = host_path(c, src.trim_end_matches("/."));
        if from.symlink_metadata().is_err() {
            return Err(Error::NotFound(format!("Could not find the file {src} in container {}", c.name)));
        }
        copy_path(&from, dest, contents_only, None)
    }

    /// Copies `src` on the host to `dest` in the container.
    pub fn copy_to_container(&self, c: &Container, src: &Path, dest: &str) -> Result<()> {
        let _m = mount_for_copy(c)?;
        if src.symlink_metadata().is_err() {
            return Err(Error::NotFound(format!("stat {}: no such file or directory", src.display())));
        }
        let to = host_path(c, dest);
        if dest.ends_with('/') && !to.is_dir() {
            return Err(Error::NotFound(format!("Could not find the file {dest} in container {}", c.name)));
        }
        if let Some(parent) = to.parent() {
            if !parent.is_dir() {
                return Err(Error::NotFound(format!(
                    "Could not find the file {} in container {}",
                    Path::new(dest).parent().unwrap_or(Path::new("/")).display(),
                    c.name
                )));
            }
        }
        let contents_only = src.to_string_lossy().ends_with("/.");
        copy_path(src, &to, contents_only, Some((0, 0)))
    }

    /// A tar stream of `src` in the container (`cp CONTAINER:SRC -`).
    pub fn tar_from_container(&self, c: &Container, src: &str, out: impl std::io::Write) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let from = host_path(c, src);
        let name = Path::new(src).file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        let md = from
            .symlink_metadata()
            .map_err(|_| Error::NotFound(format!("Could not find the file {src} in container {}", c.name)))?;
        if md.is_dir() {
            b.append_dir_all(&name, &from).at(&from)?;
        } else {
            b.append_path_with_name(&from, &name).at(&from)?;
        }
        b.finish().at(&from)?;
        Ok(())
    }

    /// Extracts a tar stream into `dest` in the container (`cp - CONTAINER:DEST`).
    pub fn untar_to_container(&self, c: &Container, input: impl std::io::Read, dest: &str) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let to = host_path(c, dest);
        if !to.is_dir() {
            return Err(Error::NotFound(format!("Could not find the file {dest} in container {}", c.name)));
        }
        crate::store::unpack::extract(input, &to, dest, Default::default())?;
        Ok(())
    }
}

/// Docker's cp rules from one host path to another; `owner` forces ownership.
fn copy_path(from: &Path, to: &Path, contents_only: bool, owner: Option<(u32, u32)>) -> Result<()> {
    let md = from.symlink_metadata().at(from)?;
    if md.is_dir() {
        let target = if contents_only || !to.exists() {
            to.to_path_buf()
        } else if to.is_dir() {
            to.join(from.file_name().unwrap_or_default())
        } else {
            return Err(Error::Other(format!("cannot copy a directory to a file: {}", to.display())));
        };
        copy_tree(from, &target, owner)
    } else {
        let target = if to.is_dir() { to.join(from.file_name().unwrap_or_default()) } else { to.to_path_buf() };
        copy_one(from, &target, &md, owner)
    }
}

fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    for e in walkdir::WalkDir::new(from).follow_links(false) {
        let e = e.map_err(|e| Error::Other(format!("reading {}: {e}", from.display())))?;
        let rel = e.path().strip_prefix(from).expect("under from");
        let target = if rel.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rel) };
        let md = e.path().symlink_metadata().at(e.path())?;
        if md.is_dir() {
            if !target.is_dir() {
                fs::create_dir_all(&target).at(&target)?;
            }
            set_meta(&target, &md, owner)?;
        } else {
            copy_one(e.path(), &target, &md, owner)?;
        }
    }
    Ok(())
}

fn copy_one(from: &Path, to: &Path, md: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<()> {
    if to.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
        fs::remove_file(to).at(to)?;
    }
    if md.file_type().is_symlink() {
        let t = fs::read_link(from).at(from)?;
        std::os::unix::fs::symlink(&t, to).at(to)?;
        let (u, g) = owner.unwrap_or((md.uid(), md.gid()));
        let _ = std::os::unix::fs::lchown(to, Some(u), Some(g));
        return Ok(());
    }
    if !md.is_file() {
        return Ok(()); // devices, fifos, sockets are not copied
    }
    fs::copy(from, to).at(to)?;
    set_meta(to, md, owner)
}

fn set_meta(to: &Path, md: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<()> {
    let (u, g) = owner.unwrap_or((md.uid(), md.gid()));
    let _ = std::os::unix::fs::lchown(to, Some(u), Some(g));
    fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).at(to)
}
