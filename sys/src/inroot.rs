//! Paths inside a container's (or an image's) root file system, resolved with that root as `/`.
//!
//! A hostile image or container plants symlinks (`/v -> /`, `..` climbing out, chains longer
//! than any hand-written resolver's hop limit) that a path string joined onto the rootfs would
//! have the host kernel follow from the host's `/`. Every lookup here goes through libpathrs,
//! the resolver runc uses: `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel
//! has it (one system call per path), its descriptor-walking resolver elsewhere. Symlinks resolve
//! as the container would see them; a chain longer than the kernel's limit (40 links) is an
//! error (ELOOP), never a partly resolved path. What is resolved comes back as a descriptor and
//! callers act on that descriptor (its `/proc/self/fd/N` name as a mount target, `*at` calls
//! relative to a resolved directory), so no path string is resolved twice between check and use.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use pathrs::flags::OpenFlags;
use rustix::fs::{AtFlags, Mode, OFlags};

/// A path that could not be resolved (or created) inside a root.
#[derive(Debug, thiserror::Error)]
#[error("{path} inside {root}: {source}")]
pub struct Error {
    /// The root (a host path).
    pub root: PathBuf,
    /// The path inside the root.
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Error {
    /// The errno behind the failure (ELOOP for a symlink chain that is too long, ENOENT...).
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// Whether the path (or one of its parents) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

/// libpathrs's errors carry the errno when a system call failed; anything else (a detected
/// attack, an unsupported request) keeps its message.
fn to_io(e: pathrs::error::Error) -> io::Error {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => io::Error::from_raw_os_error(n),
        _ => io::Error::other(e.to_string()),
    }
}

/// The name under `/proc/self/fd` of a descriptor: a path that reaches exactly what the
/// descriptor holds (mount(2) targets, std's path-based calls on a resolved directory).
pub fn fd_path(fd: impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// A directory tree opened as the root that paths inside it resolve against.
#[derive(Debug)]
pub struct Root {
    inner: pathrs::Root,
    path: PathBuf,
}

/// A resolved path: an `O_PATH` descriptor (or a directory's) held from resolution to use.
#[derive(Debug)]
pub struct Handle(OwnedFd);

/// An open directory inside a root: children are created, opened and removed relative to it,
/// never following a symlink in their last component.
#[derive(Debug)]
pub struct Dir(OwnedFd);

impl Root {
    /// Opens `path` (a host path the caller trusts, such as a container's rootfs) as a root.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Root> {
        let path = path.as_ref();
        let inner = pathrs::Root::open(path)
            .map_err(|e| io::Error::new(to_io(e).kind(), format!("opening {} as a root", path.display())))?;
        Ok(Root { inner, path: path.to_path_buf() })
    }

    /// The host path this root was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, path: &Path, source: io::Error) -> Error {
        Error { root: self.path.clone(), path: path.to_path_buf(), source }
    }

    /// Resolves `path` (absolute or not, always from the root), following symlinks inside it.
    pub fn resolve(&self, path: impl AsRef<Path>) -> Result<Handle, Error> {
        let path = path.as_ref();
        self.inner.resolve(path).map(|h| Handle(h.into())).map_err(|e| self.err(path, to_io(e)))
    }

    /// Like [`Root::resolve`], except that a symlink in the last component is not followed.
    pub fn resolve_nofollow(&self, path: impl AsRef<Path>) -> Result<Handle, Error> {
        let path = path.as_ref();
        self.inner.resolve_nofollow(path).map(|h| Handle(h.into())).map_err(|e| self.err(path, to_io(e)))
    }

    /// Opens the file at `path` for reading (symlinks followed inside the root).
    pub fn open_file(&self, path: impl AsRef<Path>) -> Result<File, Error> {
        let path = path.as_ref();
        self.inner.open_subpath(path, OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC).map_err(|e| self.err(path, to_io(e)))
    }

    /// Opens the directory at `path` (symlinks followed inside the root).
    pub fn open_dir(&self, path: impl AsRef<Path>) -> Result<Dir, Error> {
        let path = path.as_ref();
        self.inner
            .open_subpath(path, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC)
            .map(|f| Dir(f.into()))
            .map_err(|e| self.err(path, to_io(e)))
    }

    /// The directory at `path`, created with its missing parents (`mode` for new ones) when
    /// absent. An existing path that is not a directory, or a dangling symlink on the way, is
    /// an error (as libpathrs's and runc's mkdir-all are).
    pub fn mkdir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<Dir, Error> {
        let path = path.as_ref();
        // Most destinations exist: one openat2.
        match self.open_dir(path) {
            Ok(d) => return Ok(d),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        // The parent (made the same way), then the last name made and opened by name in it,
        // never through a symlink: a few system calls per missing level, where libpathrs's
        // mkdir_all walks the path again and reopens every level through procfs.
        let Some((parent, name)) = split(path) else {
            return Err(self.err(path, io::Error::from_raw_os_error(libc::ENOENT)));
        };
        let dir = self.mkdir_all(parent, mode)?;
        match rustix::fs::mkdirat(&dir.0, name, Mode::from_raw_mode(mode & 0o7777)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(self.err(path, e.into())),
        }
        dir.open_dir(name).map_err(|e| self.err(path, e))
    }

    /// The directory holding `path`'s last component (created with its parents when `create`),
    /// and that component's name. `path` must end in a name (not `/`, `.` or `..`).
    pub fn parent(&self, path: impl AsRef<Path>, create: bool) -> Result<(Dir, OsString), Error> {
        let path = path.as_ref();
        let (parent, name) = split(path).ok_or_else(|| self.err(path, io::Error::from_raw_os_error(libc::EINVAL)))?;
        let dir = if create { self.mkdir_all(parent, 0o755)? } else { self.open_dir(parent)? };
        Ok((dir, name.to_os_string()))
    }

    /// `path` with every symlink resolved inside the root, as a path from the root (`/a/b`).
    /// For a root nobody changes meanwhile (a private copy): the answer is a string again.
    pub fn canonical(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let path = path.as_ref();
        let h = self.resolve(path)?;
        let real = std::fs::read_link(h.proc_path()).map_err(|e| self.err(path, e))?;
        let top = std::fs::read_link(fd_path(&self.inner)).map_err(|e| self.err(path, e))?;
        match real.strip_prefix(&top) {
            Ok(rest) => Ok(Path::new("/").join(rest)),
            Err(_) => Err(self.err(path, io::Error::from_raw_os_error(libc::EXDEV))),
        }
    }

    /// The thing at `path` as a mount target: resolved inside the root; when absent, created
    /// as an empty file (its parents as directories, 0755), never through a symlink.
    pub fn create_file(&self, path: impl AsRef<Path>, mode: u32) -> Result<Handle, Error> {
        let path = path.as_ref();
        match self.resolve(path) {
            Ok(h) => return Ok(h),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let (dir, name) = self.parent(path, true)?;
        let fd = rustix::fs::openat(
            &dir.0,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o7777),
        )
        .map_err(|e| self.err(path, e.into()))?;
        Ok(Handle(fd))
    }
}

/// `path` split into its parent and last name (lexically: the parent is resolved afterwards).
fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    match path.components().next_back()? {
        Component::Normal(name) => Some((path.parent().unwrap_or(Path::new("/")), name)),
        _ => None,
    }
}

impl Handle {
    /// `/proc/self/fd/N`: reaches exactly what was resolved while this handle lives.
    pub fn proc_path(&self) -> PathBuf {
        fd_path(&self.0)
    }

    /// The metadata of what was resolved (a symlink itself for [`Root::resolve_nofollow`]).
    pub fn metadata(&self) -> io::Result<Metadata> {
        // fstat on the descriptor itself: an lstat of its /proc name would describe the magic link.
        File::from(self.0.try_clone()?).metadata()
    }

    /// The resolved directory opened for `*at` calls (ENOTDIR when it is not one).
    pub fn dir(&self) -> io::Result<Dir> {
        let fd = rustix::fs::openat(&self.0, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Dir(fd))
    }
}

impl AsFd for Handle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<Handle> for OwnedFd {
    fn from(h: Handle) -> OwnedFd {
        h.0
    }
}

impl From<Dir> for OwnedFd {
    fn from(d: Dir) -> OwnedFd {
        d.0
    }
}

/// Refuses names that would leave the directory (`a/b`, `..`): children are one level down.
fn child(name: &OsStr) -> io::Result<&OsStr> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is not a file name")));
    }
    Ok(name)
}

impl Dir {
    /// Opens a host directory the caller trusts (the top of a tree walked by name from there).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Dir(rustix::fs::openat(rustix::fs::CWD, path.as_ref(), flags, Mode::empty())?))
    }

    /// `/proc/self/fd/N`: this directory, for std's path-based calls on its children.
    pub fn proc_path(&self) -> PathBuf {
        fd_path(&self.0)
    }

    /// This directory's metadata.
    pub fn metadata(&self) -> io::Result<Metadata> {
        std::fs::metadata(self.proc_path())
    }

    /// A child's metadata, not following a symlink.
    pub fn child_metadata(&self, name: &OsStr) -> io::Result<Metadata> {
        std::fs::symlink_metadata(self.proc_path().join(child(name)?))
    }

    /// The children's names (without `.` and `..`), sorted.
    pub fn entries(&self) -> io::Result<Vec<OsString>> {
        let mut out = Vec::new();
        for e in rustix::fs::Dir::read_from(&self.0)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                out.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Opens a child directory, refusing a symlink.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(Dir(rustix::fs::openat(&self.0, child(name)?, flags, Mode::empty())?))
    }

    /// Opens a child file for reading, refusing a symlink.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.0, child(name)?, flags, Mode::empty())?.into())
    }

    /// A child symlink's target.
    pub fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        let t = rustix::fs::readlinkat(&self.0, child(name)?, Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// Removes a child that is not a directory (nothing when absent).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.0, child(name)?, AtFlags::empty()) {
            Err(rustix::io::Errno::NOENT) => Ok(()),
            r => Ok(r?),
        }
    }

    /// Removes an empty child directory.
    pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.0, child(name)?, AtFlags::REMOVEDIR)?)
    }

    /// Removes whatever is at `name` unless it is a directory (which `EISDIR` refuses).
    fn clear(&self, name: &OsStr) -> io::Result<()> {
        match self.child_metadata(name) {
            Ok(m) if m.is_dir() => Err(io::Error::from_raw_os_error(libc::EISDIR)),
            Ok(_) => self.remove_file(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates (or replaces: an existing non-directory is removed first) the file `name` for
    /// writing; a symlink there is replaced, never followed.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        self.clear(name)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.0, child(name)?, flags, Mode::from_raw_mode(mode & 0o7777))?.into())
    }

    /// The child directory `name`, created (`mode`) when absent; an existing non-directory
    /// (a symlink included) is replaced by a new directory.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<Dir> {
        let name = child(name)?;
        match rustix::fs::mkdirat(&self.0, name, Mode::from_raw_mode(mode & 0o7777)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                if !self.child_metadata(name)?.is_dir() {
                    self.remove_file(name)?;
                    rustix::fs::mkdirat(&self.0, name, Mode::from_raw_mode(mode & 0o7777))?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.open_dir(name)
    }

    /// Creates the symlink `name -> target` (replacing an existing non-directory).
    pub fn symlink(&self, name: &OsStr, target: &Path) -> io::Result<()> {
        self.clear(name)?;
        Ok(rustix::fs::symlinkat(target, &self.0, child(name)?)?)
    }

    /// Changes a child's owner without following a symlink.
    pub fn lchown(&self, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let (u, g) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
        Ok(rustix::fs::chownat(&self.0, child(name)?, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Changes this directory's owner.
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (u, g) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
        Ok(rustix::fs::fchown(&self.0, Some(u), Some(g))?)
    }

    /// Changes this directory's permission bits.
    pub fn chmod(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::fchmod(&self.0, Mode::from_raw_mode(mode & 0o7777))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn chain(root: &Path, n: usize, last: &str) {
        // /c/l1 -> l2 -> ... -> l{n} -> last: n links (the first one is /c/l1).
        std::fs::create_dir_all(root.join("c")).unwrap();
        for i in 1..n {
            symlink(format!("l{}", i + 1), root.join(format!("c/l{i}"))).unwrap();
        }
        symlink(last, root.join(format!("c/l{n}"))).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::fs::write(root.join("etc"), "image file").unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("real/escape")).unwrap();
        let r = Root::open(root).unwrap();
        let same = |a: &Handle, b: &Path| {
            use std::os::unix::fs::MetadataExt;
            let (x, y) = (a.metadata().unwrap(), std::fs::symlink_metadata(b).unwrap());
            (x.dev(), x.ino()) == (y.dev(), y.ino())
        };
        assert!(same(&r.resolve("/abs/dir").unwrap(), &root.join("real/dir")));
        assert!(same(&r.resolve("/real/escape").unwrap(), &root.join("etc")));
        assert!(same(&r.resolve("/../../real").unwrap(), &root.join("real")));
        assert!(r.resolve("/not/there").unwrap_err().is_not_found());
        assert_eq!(std::io::read_to_string(r.open_file("/real/escape").unwrap()).unwrap(), "image file");
        assert_eq!(r.canonical("/abs/dir").unwrap(), Path::new("/real/dir"));
        assert_eq!(r.canonical("/real/escape").unwrap(), Path::new("/etc"));
    }

    #[test]
    fn chains_past_the_kernel_limit_are_errors() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        for (n, ok) in [(1, true), (40, true), (41, false), (255, false), (256, false)] {
            let d = tempfile::tempdir().unwrap();
            chain(d.path(), n, "/");
            std::fs::create_dir_all(d.path().join("tmp")).unwrap();
            let r = Root::open(d.path()).unwrap();
            // The chain's `/` is the root's: never the host's.
            let target = format!("/c/l1{}", outside.path().display());
            match r.resolve(&target) {
                Ok(_) => panic!("{n} links: {target} must not exist inside the root"),
                Err(e) if ok => assert!(e.is_not_found(), "{n} links: {e}"),
                Err(e) => assert_eq!(e.errno(), Some(libc::ELOOP), "{n} links: {e}"),
            }
            let made = r.mkdir_all(format!("/c/l1/tmp/x{n}"), 0o755);
            assert_eq!(made.is_ok(), ok, "{n} links");
            assert_eq!(d.path().join(format!("tmp/x{n}")).is_dir(), ok);
            assert!(!Path::new(&format!("/tmp/x{n}")).exists(), "{n} links reached the host");
        }
    }

    #[test]
    fn dir_children_never_follow_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        symlink(outside.path(), d.path().join("link")).unwrap();
        let r = Root::open(d.path()).unwrap();
        let dir = r.open_dir("/").unwrap();
        assert!(dir.open_file(OsStr::new("link")).is_err());
        assert!(dir.open_dir(OsStr::new("link")).is_err());
        assert!(dir.open_dir(OsStr::new("..")).is_err());
        // Writing over a planted symlink replaces it.
        drop(dir.create_file(OsStr::new("link"), 0o644).unwrap());
        assert!(d.path().join("link").is_file());
        symlink(outside.path(), d.path().join("link2")).unwrap();
        dir.mkdir(OsStr::new("link2"), 0o755).unwrap();
        assert!(d.path().join("link2").symlink_metadata().unwrap().is_dir());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(dir.entries().unwrap(), vec![OsString::from("link"), OsString::from("link2")]);
    }

    #[test]
    fn create_file_makes_parents_and_never_follows_a_dangling_link() {
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        let r = Root::open(d.path()).unwrap();
        r.create_file("/etc/hosts", 0o644).unwrap();
        assert!(d.path().join("etc/hosts").is_file());
        symlink(outside.path().join("planted"), d.path().join("etc/resolv.conf")).unwrap();
        assert!(r.create_file("/etc/resolv.conf", 0o644).is_err());
        assert!(!outside.path().join("planted").exists());
    }
}
