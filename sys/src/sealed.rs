//! A view of the running berth binary that no process can write to (the CVE-2019-5736 class).
//!
//! Every process berth forks toward a container (the shim, hence each container's init; the
//! runtime's `exec` child) runs the berth binary until it execs the container's program, and
//! a process in the container that reaches `/proc/<pid>/exe` of one of them (or whose program
//! is `/proc/self/exe`) holds that binary. So those processes run from a sealed view instead,
//! as runc (>= 1.1.12) does: preferably the binary opened inside a private, detached, read-only
//! overlayfs mount of its directory, made with the new mount API (`fsopen`/`fsmount`; no mount
//! is visible anywhere, nothing is copied, the pages are the page cache's), falling back to a
//! copy in a memfd sealed against every change. Writing through either fails (EROFS, EPERM),
//! whatever path or descriptor leads to it.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 2;
const MOUNT_ATTR_NODEV: libc::c_uint = 4;

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(rc)?;
    // SAFETY: the syscall just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Opens `/proc/self/exe` for reading (the file itself, even if its path was replaced).
fn open_self() -> io::Result<std::fs::File> {
    std::fs::File::open("/proc/self/exe")
}

/// Whether this process already runs from a view of its binary that cannot be written: a
/// read-only mount (our overlay, or a binary installed on a read-only file system) or a memfd
/// sealed against writes.
pub fn running_sealed() -> bool {
    let Ok(f) = open_self() else { return false };
    if nix::sys::statvfs::fstatvfs(&f).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)) {
        return true;
    }
    // SAFETY: F_GET_SEALS on a descriptor we own takes no pointer.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_WRITE != 0
}

/// A read-only, close-on-exec descriptor of the running binary in a sealed view (see the
/// module's documentation): overlayfs first, a sealed memfd copy where that fails.
pub fn sealed_self() -> io::Result<OwnedFd> {
    overlay_view().or_else(|_| memfd_copy())
}

fn overlay_view() -> io::Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if !exe.is_absolute() || exe.to_string_lossy().ends_with(" (deleted)") {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    // Without an upper directory overlayfs wants two lower ones, not overlapping: the second
    // is an empty detached tmpfs, named through our descriptor of it.
    let empty = detached_mount(c"tmpfs", &[])?;
    // Overlayfs lets a colon or comma in a layer path be escaped.
    let mut lower: Vec<u8> = dir.as_os_str().as_bytes().iter().fold(Vec::new(), |mut v, &b| {
        if matches!(b, b':' | b',' | b'\\') {
            v.push(b'\\');
        }
        v.push(b);
        v
    });
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = CString::new(lower).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mnt = detached_mount(c"overlay", &[(c"lowerdir", &lower)])?;
    drop(empty);
    let name = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: openat reads one NUL-terminated string; returns a new descriptor or -1. The
    // detached mount lives as long as a descriptor or a mapping of a file in it does.
    owned(unsafe {
        libc::openat(mnt.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            as libc::c_long
    })
}

/// A new, detached, read-only (nosuid, nodev) mount of file system `fstype` with string
/// options `opts`: a descriptor of its root, visible in no mount table.
fn detached_mount(fstype: &std::ffi::CStr, opts: &[(&std::ffi::CStr, &std::ffi::CStr)]) -> io::Result<OwnedFd> {
    // SAFETY: fsopen reads one NUL-terminated string; returns a new descriptor or -1.
    let fs = owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (key, value) in opts {
        // SAFETY: fsconfig reads two NUL-terminated strings that outlive the call.
        check(unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0)
        })?;
    }
    // SAFETY: null key and value, as FSCONFIG_CMD_CREATE wants.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })?;
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: no pointers; returns a new descriptor of a detached mount, or -1.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

fn memfd_copy() -> io::Result<OwnedFd> {
    let mut src = open_self()?;
    // SAFETY: memfd_create reads one static C string; returns a new descriptor or -1.
    let fd = owned(unsafe {
        libc::memfd_create(c"berth".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) as libc::c_long
    })?;
    let mut dst = std::fs::File::from(fd);
    io::copy(&mut src, &mut dst)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS with an integer argument on a memfd we own.
    check(unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } as libc::c_long)?;
    // Read-only from here on (a writable descriptor would keep F_SEAL_WRITE from being the
    // last word on an older kernel's shared mappings).
    std::fs::File::open(format!("/proc/self/fd/{}", dst.as_raw_fd())).map(OwnedFd::from)
}

/// Re-executes this process from [`sealed_self`] with the same arguments and environment,
/// unless it already runs sealed ([`running_sealed`]). Returns only on failure. Call it
/// first thing in `main`, before any thread or descriptor exists that must survive.
pub fn reexec_sealed() -> io::Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let fd = sealed_self()?;
    let to_c = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let args: Vec<CString> = std::env::args_os().map(|a| to_c(&a)).collect::<io::Result<_>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(&kv)
        })
        .collect::<io::Result<_>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that outlive
    // the call; with AT_EMPTY_PATH the empty path names the descriptor itself. On success the
    // call does not return (the descriptor is close-on-exec, fine for an ELF binary).
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}

/// The path through which a child can exec `fd` (kept open, even close-on-exec, until the
/// child's `execve`, which resolves the path before closing it).
pub fn exec_path(fd: &OwnedFd) -> std::path::PathBuf {
    Path::new("/proc/self/fd").join(fd.as_raw_fd().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Either view runs and refuses writes (as root too: that is the point).
    #[test]
    fn views_are_read_only() {
        for (what, fd) in [("overlay", overlay_view()), ("memfd", memfd_copy())] {
            let fd = match fd {
                Ok(fd) => fd,
                Err(e) => {
                    eprintln!("{what}: unavailable here (not root?): {e}");
                    continue;
                }
            };
            let path = exec_path(&fd);
            let w = std::fs::OpenOptions::new().write(true).open(&path);
            let written = w.and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
            assert!(written.is_err(), "{what}: written to");
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes, std::fs::read("/proc/self/exe").unwrap(), "{what}: same bytes");
        }
    }
}
