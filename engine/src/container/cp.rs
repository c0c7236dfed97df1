//! `cp` between a container's filesystem and the host, with Docker's path rules.
//!
//! Paths inside the container are resolved with the container's root as the root
//! (`berth_sys::inroot`): symlinks, however long the chain, never leave it, and a path under a
//! bind mount or volume is resolved the same way inside that mount's source, as Docker's `cp`
//! does. From the resolved directory on, every entry is read or written through descriptors,
//! by name, never following a symlink the container planted: a copy into `site` where the
//! container has `site -> /etc` lands in the container's `/etc`, and an entry of the copied
//! tree replaces a symlink in its way instead of writing through it. A stopped container's
//! overlay is mounted for the copy and unmounted after. Rules (Docker's): a file onto an
//! existing directory lands inside it; a directory onto a missing path becomes that path;
//! `SRC/.` copies a directory's contents. Files copied into the container are owned by root.

use super::{snapshot, Container};
use crate::{Engine, Error, Result};
use berth_oci::IoContext;
use berth_sys::inroot::{Dir, Handle, Root};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The root a container path lives in (the rootfs, or the source of the deepest mount holding
/// it) and the path inside that root.
fn location(c: &Container, path: &str) -> (PathBuf, String) {
    let p = if path.starts_with('/') { path.to_string() } else { format!("{}/{path}", c.process.cwd) };
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
            let source = Path::new(&m.source);
            // A bound file (`/etc/hosts`): its directory on the host is the root.
            if !source.is_dir() {
                let parent = source.parent().unwrap_or(Path::new("/")).to_path_buf();
                let name = source.file_name().unwrap_or_default().to_string_lossy().into_owned();
                return (parent, name);
            }
            (source.to_path_buf(), format!("/{rest}"))
        }
        None => (c.rootfs(), p),
    }
}

fn not_found(c: &Container, path: &str) -> Error {
    Error::NotFound(format!("Could not find the file {path} in container {}", c.name))
}

/// `path` resolved in `root`; `None` when it does not exist. Any other failure (a symlink
/// chain past the kernel's limit) is an error, never a path left partly resolved.
fn lookup(root: &Root, path: &str) -> Result<Option<Handle>> {
    match root.resolve(path) {
        Ok(h) => Ok(Some(h)),
        Err(e) if e.is_not_found() || e.errno() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
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
        let src = src.trim_end_matches("/.");
        let (root_path, inner) = location(c, src);
        let root = Root::open(&root_path).at(&root_path)?;
        let h = lookup(&root, &inner)?.ok_or_else(|| not_found(c, src))?;
        let md = h.metadata().at(&inner)?;
        let name = Path::new(src).file_name().unwrap_or_default();
        if md.is_dir() {
            let target = if contents_only || !dest.exists() {
                dest.to_path_buf()
            } else if dest.is_dir() {
                dest.join(name)
            } else {
                return Err(Error::Other(format!("cannot copy a directory to a file: {}", dest.display())));
            };
            if !target.is_dir() {
                fs::create_dir_all(&target).at(&target)?;
            }
            copy_out_tree(&h.dir().at(&inner)?, &target)?;
            set_meta(&target, &md, None)
        } else {
            let target = if dest.is_dir() { dest.join(name) } else { dest.to_path_buf() };
            // The descriptor's /proc name reopens the very file resolved (never a symlink: the
            // resolution followed it inside the root).
            let from = h.proc_path();
            copy_out_one(&mut || fs::File::open(&from), None, &target, &md)
        }
    }

    /// Copies `src` on the host to `dest` in the container.
    pub fn copy_to_container(&self, c: &Container, src: &Path, dest: &str) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let md = src
            .symlink_metadata()
            .map_err(|_| Error::NotFound(format!("stat {}: no such file or directory", src.display())))?;
        let (root_path, inner) = location(c, dest);
        let root = Root::open(&root_path).at(&root_path)?;
        let existing = lookup(&root, &inner)?;
        let existing_dir = match &existing {
            Some(h) if h.metadata().at(&inner)?.is_dir() => Some(h.dir().at(&inner)?),
            _ => None,
        };
        if dest.ends_with('/') && existing_dir.is_none() {
            return Err(not_found(c, dest));
        }
        let owner = Some((0, 0));
        let contents_only = src.to_string_lossy().ends_with("/.");
        let name = src.file_name().unwrap_or_default();
        // The parent named by `dest` must exist (Docker does not create it).
        let parent = |c: &Container| -> Result<(Dir, std::ffi::OsString)> {
            root.parent(&inner, false).map_err(|e| {
                if e.is_not_found() || e.errno() == Some(libc::ENOTDIR) || e.errno() == Some(libc::EINVAL) {
                    not_found(c, &Path::new(dest).parent().unwrap_or(Path::new("/")).display().to_string())
                } else {
                    e.into()
                }
            })
        };
        if md.is_dir() {
            let target = match existing_dir {
                Some(d) if contents_only => d,
                // Into an existing directory: `dest/name`, itself resolved inside the root
                // (a symlink there to another directory of the container is followed).
                Some(d) => match lookup(&root, &format!("{inner}/{}", name.to_string_lossy()))? {
                    Some(h) if h.metadata().at(&inner)?.is_dir() => h.dir().at(&inner)?,
                    _ => d.mkdir(name, 0o700).at(name)?,
                },
                None if existing.is_some() => {
                    return Err(Error::Other(format!("cannot copy a directory to a file: {dest}")));
                }
                None => {
                    let (dir, n) = parent(c)?;
                    dir.mkdir(&n, 0o700).at(&n)?
                }
            };
            copy_in_tree(src, &target, owner)?;
            Ok(apply_dir_meta(&target, &md, owner).at(dest)?)
        } else {
            let (dir, n) = match existing_dir {
                Some(d) => (d, name.to_os_string()),
                None => parent(c)?,
            };
            copy_in_one(src, &dir, &n, &md, owner)
        }
    }

    /// A tar stream of `src` in the container (`cp CONTAINER:SRC -`).
    pub fn tar_from_container(&self, c: &Container, src: &str, out: impl std::io::Write) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let (root_path, inner) = location(c, src);
        let root = Root::open(&root_path).at(&root_path)?;
        let h = lookup(&root, &inner)?.ok_or_else(|| not_found(c, src))?;
        let md = h.metadata().at(&inner)?;
        let name = Path::new(src).file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let mut b = tar::Builder::new(out);
        if md.is_dir() {
            tar_tree(&mut b, &h.dir().at(&inner)?, &name, &md)?;
        } else {
            let mut f = fs::File::open(h.proc_path()).at(&inner)?;
            let mut hdr = tar::Header::new_gnu();
            hdr.set_metadata(&md);
            b.append_data(&mut hdr, &name, &mut f).at(&inner)?;
        }
        b.finish().at(&inner)?;
        Ok(())
    }

    /// Extracts a tar stream into `dest` in the container (`cp - CONTAINER:DEST`).
    pub fn untar_to_container(&self, c: &Container, input: impl std::io::Read, dest: &str) -> Result<()> {
        let _m = mount_for_copy(c)?;
        let (root_path, inner) = location(c, dest);
        let root = Root::open(&root_path).at(&root_path)?;
        let h = lookup(&root, &inner)?.ok_or_else(|| not_found(c, dest))?;
        if !h.metadata().at(&inner)?.is_dir() {
            return Err(not_found(c, dest));
        }
        // The extractor works under the resolved directory (its /proc name) and refuses entries
        // whose parents are symlinks leaving it.
        berth_store::unpack::extract(input, &h.proc_path(), dest, Default::default())?;
        Ok(())
    }
}

/// A container directory's entries, read by name through descriptors, into `to` on the host.
fn copy_out_tree(dir: &Dir, to: &Path) -> Result<()> {
    for name in dir.entries().at(to)? {
        let md = dir.child_metadata(&name).at(to.join(&name))?;
        let target = to.join(&name);
        if md.is_dir() {
            let sub = dir.open_dir(&name).at(&target)?;
            if target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(&target).at(&target)?;
            }
            if !target.is_dir() {
                fs::create_dir(&target).at(&target)?;
            }
            copy_out_tree(&sub, &target)?;
            set_meta(&target, &md, None)?;
        } else {
            copy_out_one(&mut || dir.open_file(&name), Some((dir, &name)), &target, &md)?;
        }
    }
    Ok(())
}

/// One non-directory out of the container: a file (opened by `open`), or a symlink (its
/// target read from `link`); devices, fifos and sockets are not copied.
fn copy_out_one(
    open: &mut dyn FnMut() -> io::Result<fs::File>,
    link: Option<(&Dir, &OsStr)>,
    to: &Path,
    md: &fs::Metadata,
) -> Result<()> {
    if to.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
        fs::remove_file(to).at(to)?;
    }
    if md.file_type().is_symlink() {
        let Some((dir, name)) = link else { return Ok(()) };
        let t = dir.read_link(name).at(to)?;
        std::os::unix::fs::symlink(&t, to).at(to)?;
        let _ = std::os::unix::fs::lchown(to, Some(md.uid()), Some(md.gid()));
        return Ok(());
    }
    if !md.is_file() {
        return Ok(());
    }
    let mut from = open().at(to)?;
    let mut out = fs::File::create(to).at(to)?;
    io::copy(&mut from, &mut out).at(to)?;
    set_meta(to, md, None)
}

/// A host directory's entries into a container directory, by name, never through a symlink.
fn copy_in_tree(from: &Path, to: &Dir, owner: Option<(u32, u32)>) -> Result<()> {
    let mut names: Vec<_> =
        fs::read_dir(from).at(from)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>().at(from)?;
    names.sort();
    for name in names {
        let p = from.join(&name);
        let md = p.symlink_metadata().at(&p)?;
        if md.is_dir() {
            let sub = to.mkdir(&name, 0o700).at(&p)?;
            copy_in_tree(&p, &sub, owner)?;
            apply_dir_meta(&sub, &md, owner).at(&p)?;
        } else {
            copy_in_one(&p, to, &name, &md, owner)?;
        }
    }
    Ok(())
}

fn copy_in_one(from: &Path, dir: &Dir, name: &OsStr, md: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<()> {
    let (u, g) = owner.unwrap_or((md.uid(), md.gid()));
    if md.file_type().is_symlink() {
        let t = fs::read_link(from).at(from)?;
        dir.symlink(name, &t).at(from)?;
        let _ = dir.lchown(name, u, g);
        return Ok(());
    }
    if !md.is_file() {
        return Ok(()); // devices, fifos, sockets are not copied
    }
    let mut src = fs::File::open(from).at(from)?;
    let mut out = dir.create_file(name, 0o600).at(from)?;
    io::copy(&mut src, &mut out).at(from)?;
    let _ = std::os::unix::fs::fchown(&out, Some(u), Some(g));
    Ok(out.set_permissions(fs::Permissions::from_mode(md.mode() & 0o7777)).at(from)?)
}

/// Owner and mode of a directory written in the container, through its descriptor.
fn apply_dir_meta(dir: &Dir, md: &fs::Metadata, owner: Option<(u32, u32)>) -> io::Result<()> {
    let (u, g) = owner.unwrap_or((md.uid(), md.gid()));
    let _ = dir.chown(u, g);
    dir.chmod(md.mode() & 0o7777)
}

/// A container directory as tar entries under `name`, read by name through descriptors.
fn tar_tree<W: io::Write>(b: &mut tar::Builder<W>, dir: &Dir, name: &Path, md: &fs::Metadata) -> Result<()> {
    let mut hdr = tar::Header::new_gnu();
    hdr.set_metadata(md);
    hdr.set_size(0);
    b.append_data(&mut hdr, name, io::empty()).at(name)?;
    for n in dir.entries().at(name)? {
        let path = name.join(&n);
        let md = dir.child_metadata(&n).at(&path)?;
        let ft = md.file_type();
        let mut hdr = tar::Header::new_gnu();
        hdr.set_metadata(&md);
        if ft.is_dir() {
            tar_tree(b, &dir.open_dir(&n).at(&path)?, &path, &md)?;
        } else if ft.is_symlink() {
            hdr.set_size(0);
            let t = dir.read_link(&n).at(&path)?;
            b.append_link(&mut hdr, &path, &t).at(&path)?;
        } else if ft.is_file() {
            b.append_data(&mut hdr, &path, dir.open_file(&n).at(&path)?).at(&path)?;
        }
    }
    Ok(())
}

/// Owner and mode of a file or directory written on the host.
fn set_meta(to: &Path, md: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<()> {
    let (u, g) = owner.unwrap_or((md.uid(), md.gid()));
    let _ = std::os::unix::fs::lchown(to, Some(u), Some(g));
    Ok(fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).at(to)?)
}
