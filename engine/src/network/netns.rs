//! Named network namespaces: a fresh namespace pinned by a bind mount of its nsfs file, so
//! that it outlives the thread that made it and any runtime can join it by path (OCI
//! `linux.namespaces[].path`), as `ip netns add` does.
//!
//! The namespace is made on a short-lived thread (`unshare(CLONE_NEWNET)` affects only the
//! calling thread), which also brings loopback up before the namespace is handed out: a
//! container with `--network none` still has a working `lo`. Removing unmounts (lazily, so a
//! mount namespace that copied the pin cannot make it fail) and unlinks the file; the kernel
//! frees the namespace, and every veth end inside it, once nothing else holds it.

use super::netlink::Netlink;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Creates a new network namespace pinned at `path` (which must not exist), with `lo` up
/// and IPv6 off for the interfaces added later (berth's networks are IPv4, and an interface
/// without IPv6 comes up without address autoconfiguration work). Returns a netlink socket
/// bound inside the namespace, to configure it without joining it again.
pub fn create(path: &Path) -> io::Result<Netlink> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The mount point: an empty file (nsfs files are bind-mounted over regular files).
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    let target = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let r = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<Netlink> {
            // SAFETY: unshare affects only this thread, which ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) };
            let src = CString::new(format!("/proc/self/task/{tid}/ns/net")).unwrap();
            // SAFETY: bind-mounting this thread's nsfs file over our empty file.
            let r = unsafe {
                libc::mount(src.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null())
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            // /proc/sys/net is the namespace of the thread that opens it: this one's.
            let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
            let mut nl = Netlink::open()?;
            nl.set_up(1)?;
            Ok(nl)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    });
    if r.is_err() {
        let _ = remove(path);
    }
    r
}

/// Whether `path` is a pinned network namespace (an nsfs mount, not the empty file).
pub fn exists(path: &Path) -> bool {
    let Ok(f) = File::open(path) else { return false };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    use std::os::fd::AsRawFd;
    // SAFETY: fstatfs into a local struct on our own fd.
    if unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    const NSFS_MAGIC: i64 = 0x6e736673;
    st.f_type as i64 == NSFS_MAGIC
}

/// Opens a pinned namespace for `setns`/`IFLA_NET_NS_FD`.
pub fn open(path: &Path) -> io::Result<File> {
    if !exists(path) {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: not a network namespace", path.display())));
    }
    File::open(path)
}

/// Unpins and deletes a namespace file; missing is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return Ok(()) };
    // Possibly stacked (a crash between two creates); unmount until it is a plain file.
    for _ in 0..8 {
        // SAFETY: umount2 on a path we own.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            break;
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` on a thread that has joined the namespace at `path` (for sockets bound inside
/// it, or probes); the calling thread never moves.
pub fn run_in<T: Send>(ns: &File, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    use std::os::fd::AsRawFd;
    let raw = ns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on this disposable thread only.
            if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    })
}
