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
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{fstatfs, NSFS_MAGIC};
use std::fs::File;
use std::io;
use std::path::Path;

/// Creates a new network namespace pinned at `path` (which must not exist), with `lo` up
/// and IPv6 off for the interfaces added later (berth's networks are IPv4, and an interface
/// without IPv6 comes up without address autoconfiguration work). Returns the namespace
/// (for `IFLA_NET_NS_FD`) and a netlink socket bound inside it, to configure it without
/// joining it again.
pub fn create(path: &Path) -> io::Result<(File, Netlink)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The mount point: an empty file (nsfs files are bind-mounted over regular files).
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    let r = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<(File, Netlink)> {
            // unshare moves only this thread, which ends right after.
            unshare(CloneFlags::CLONE_NEWNET)?;
            let src = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
            mount(Some(src.as_str()), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
            // /proc/sys/net is the namespace of the thread that opens it: this one's.
            let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
            let mut nl = Netlink::open()?;
            nl.set_up(1)?;
            Ok((File::open(&src)?, nl))
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
    is_netns(&f)
}

fn is_netns(f: &File) -> bool {
    fstatfs(f).is_ok_and(|st| st.filesystem_type() == NSFS_MAGIC)
}

/// Opens a pinned namespace for `setns`/`IFLA_NET_NS_FD`.
pub fn open(path: &Path) -> io::Result<File> {
    let f = File::open(path)?;
    if !is_netns(&f) {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: not a network namespace", path.display())));
    }
    Ok(f)
}

/// Unpins and deletes a namespace file; missing is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    // Possibly stacked (a crash between two creates); unmount until it is a plain file.
    for _ in 0..8 {
        if umount2(path, MntFlags::MNT_DETACH).is_err() {
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
    std::thread::scope(|s| {
        s.spawn(move || {
            // Only this disposable thread moves.
            setns(ns, CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    })
}
