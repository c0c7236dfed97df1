//! The container's file system view: config.json's mounts in order, the /dev device nodes and
//! symlinks, pivot_root, then Docker's masked and read-only paths and the read-only rootfs.
//!
//! Runs inside the container's new mount namespace, through [`Syscall`]. The order is runc's,
//! so that the mount table a process sees (and `/proc/self/mountinfo`) is the same under both:
//!
//! 1. make `/` a slave (or what `linux.rootfsPropagation` says) so nothing leaks to the host,
//!    and bind the rootfs onto itself so it is a mount point pivot_root accepts;
//! 2. each mount of `mounts` in order, destinations resolved (and created) with the rootfs as
//!    the root, then mounted onto the resolved descriptor (`/proc/self/fd/N`); `cgroup` mounts
//!    become a tmpfs with one bind (or, in a cgroup namespace, one fresh mount) per v1
//!    hierarchy, or a cgroup2 mount;
//! 3. unless /dev is a bind mount: device nodes (null, zero, full, random, urandom, tty and
//!    `linux.devices`) made with mknod (bind-mounted from the host where mknod is refused),
//!    `/dev/ptmx -> pts/ptmx`, and the `/dev/fd`, `/dev/std{in,out,err}` symlinks;
//! 4. `pivot_root(".", ".")` and a lazy unmount of the old root (MS_MOVE + chroot only when
//!    pivot_root is impossible, e.g. a rootfs on the initramfs);
//! 5. after the caller's hostname and sysctls: read-only paths (bind + read-only remount keeping
//!    the other flags), masked paths (/dev/null over files, a read-only tmpfs over
//!    directories; absent paths are skipped) and finally the read-only remount of `/`.

use crate::error::{Error, Result};
use crate::mounts::parse_options;
use crate::syscall::{DeviceKind, FileKind, InRoot, Make, Syscall};
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

/// How a `cgroup` mount in config.json is satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMounts {
    /// cgroup v1: a tmpfs with one entry per hierarchy.
    V1 {
        /// (directory name, mount data such as "memory" or "none,name=systemd", host directory
        /// of the container's cgroup in that hierarchy)
        hierarchies: Vec<(String, String, PathBuf)>,
        cgroupns: bool,
    },
    /// cgroup v2: the container's directory (or, in a cgroup namespace, a fresh mount).
    V2 { host_dir: PathBuf, cgroupns: bool },
    /// No cgroup file system is mounted on the host.
    None,
}

/// A device node to create in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path inside the container (`/dev/null`).
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The nodes every container gets (runc's default devices).
pub fn default_devices() -> Vec<DeviceNode> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("tty", 5, 0), ("random", 1, 8), ("urandom", 1, 9)]
        .into_iter()
        .map(|(name, major, minor)| DeviceNode {
            path: PathBuf::from("/dev").join(name),
            kind: DeviceKind::Char,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// Everything the rootfs setup needs, resolved from config.json by the runtime before forking.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    /// Absolute host path of the rootfs.
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// Propagation applied to `/` first (default: MS_SLAVE|MS_REC, like runc).
    pub propagation: MsFlags,
    /// Mounts with bind sources already made absolute (relative ones are bundle-relative).
    pub mounts: Vec<Mount>,
    /// Device nodes: the defaults plus `linux.devices` (a config entry replaces a default).
    pub devices: Vec<DeviceNode>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub cgroup_mounts: CgroupMounts,
    /// process.cwd, created in the rootfs if missing.
    pub cwd: PathBuf,
}

impl RootfsPlan {
    /// Whether berth populates /dev (it does unless /dev is bind-mounted from somewhere).
    pub fn setup_dev(&self) -> bool {
        !self.mounts.iter().any(|m| {
            m.destination() == Path::new("/dev")
                && (m.typ().as_deref() == Some("bind")
                    || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind"))
        })
    }
}

/// Steps 1-3: propagation, the rootfs bind, config mounts, /dev.
pub fn prepare(sys: &dyn Syscall, plan: &RootfsPlan) -> Result<()> {
    sys.mount(None, Path::new("/"), None, plan.propagation, None)?;
    if plan.propagation.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a new root whose parent mount is shared: make that one mount
        // private (the rest of the tree keeps the requested propagation).
        make_parent_private(sys, &plan.rootfs)?;
    }
    // Every path below is resolved after this bind, so what is mounted lands in this mount.
    sys.mount(Some(&plan.rootfs), &plan.rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    for m in &plan.mounts {
        mount_one(sys, plan, m)?;
    }
    if plan.setup_dev() {
        create_devices(sys, plan)?;
    }
    sys.in_root(&plan.rootfs, &plan.cwd, Make::Dir)?;
    Ok(())
}

fn make_parent_private(sys: &dyn Syscall, rootfs: &Path) -> Result<()> {
    let info = sys.read_file(Path::new("/proc/self/mountinfo"))?;
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mountpoint = crate::cgroups::parse_mountinfo(&info)
        .into_iter()
        .map(|m| PathBuf::from(m.mountpoint))
        .filter(|mp| parent.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"));
    sys.mount(None, &mountpoint, None, MsFlags::MS_PRIVATE, None)
}

/// The mount now at `dest` (a container path), resolved again: a descriptor taken before a
/// mount names the directory under it, and remounts and propagation changes need the mount.
fn mounted(sys: &dyn Syscall, plan: &RootfsPlan, dest: &Path) -> Result<InRoot> {
    sys.in_root(&plan.rootfs, dest, Make::Nothing)
}

fn mount_one(sys: &dyn Syscall, plan: &RootfsPlan, m: &Mount) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(Error::Spec(format!("mount destination {dest:?} must be absolute")));
    }
    if typ == "cgroup" {
        return mount_cgroup(sys, plan, dest, &opts.flags);
    }
    if opts.is_bind() || typ == "bind" {
        let src = m.source().as_deref().ok_or_else(|| Error::Spec(format!("bind mount on {dest:?} has no source")))?;
        let make = match sys.file_kind(src) {
            None => {
                return Err(Error::Spec(format!(
                    "bind mount source {} for {} does not exist",
                    src.display(),
                    dest.display()
                )))
            }
            Some(FileKind::Dir) => Make::Dir,
            Some(_) => Make::File,
        };
        let target = sys.in_root(&plan.rootfs, dest, make)?;
        sys.mount(Some(src), &target.path, None, MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC), None)?;
        let remount = opts.remount_flags();
        if !remount.is_empty() {
            let target = mounted(sys, plan, dest)?;
            sys.mount(Some(src), &target.path, None, remount | MsFlags::MS_BIND | MsFlags::MS_REMOUNT, None)?;
        }
    } else {
        let target = sys.in_root(&plan.rootfs, dest, Make::Dir)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        sys.mount(Some(&source), &target.path, Some(typ), opts.flags, data)?;
    }
    if !opts.propagation.is_empty() {
        let target = mounted(sys, plan, dest)?;
        for p in &opts.propagation {
            sys.mount(None, &target.path, None, *p, None)?;
        }
    }
    Ok(())
}

fn mount_cgroup(sys: &dyn Syscall, plan: &RootfsPlan, dest: &Path, flags: &MsFlags) -> Result<()> {
    let target = sys.in_root(&plan.rootfs, dest, Make::Dir)?;
    match &plan.cgroup_mounts {
        CgroupMounts::None => Ok(()),
        CgroupMounts::V2 { host_dir, cgroupns } => {
            if *cgroupns {
                sys.mount(Some(Path::new("cgroup2")), &target.path, Some("cgroup2"), *flags, None)
            } else {
                sys.mount(Some(host_dir), &target.path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
                let target = mounted(sys, plan, dest)?;
                sys.mount(Some(host_dir), &target.path, None, *flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT, None)
            }
        }
        CgroupMounts::V1 { hierarchies, cgroupns } => {
            // The tmpfs stays writable, as runc leaves it; the hierarchies carry the read-only flag.
            let tmpfs_flags = *flags & !MsFlags::MS_RDONLY;
            sys.mount(Some(Path::new("tmpfs")), &target.path, Some("tmpfs"), tmpfs_flags, Some("mode=755"))?;
            let top = mounted(sys, plan, dest)?;
            for (name, data, host_dir) in hierarchies {
                let sub = sys.in_root(&plan.rootfs, &dest.join(name), Make::Dir)?;
                if *cgroupns {
                    sys.mount(Some(Path::new("cgroup")), &sub.path, Some("cgroup"), *flags, Some(data))?;
                } else {
                    sys.mount(Some(host_dir), &sub.path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
                    let sub = mounted(sys, plan, &dest.join(name))?;
                    sys.mount(Some(host_dir), &sub.path, None, *flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT, None)?;
                }
                if name.contains(',') {
                    // Co-mounted controllers (cpu,cpuacct) get a symlink per controller.
                    for part in name.split(',') {
                        match sys.symlink(Path::new(name), &top.path.join(part)) {
                            Err(e) if e.errno() != Some(libc::EEXIST) => return Err(e),
                            _ => {}
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

fn create_devices(sys: &dyn Syscall, plan: &RootfsPlan) -> Result<()> {
    // Device modes are exact: no umask while creating them (the process's umask comes later).
    sys.umask(0);
    for d in &plan.devices {
        let (Some(parent), Some(name)) = (d.path.parent(), d.path.file_name()) else {
            return Err(Error::Spec(format!("device path {:?} names no file", d.path)));
        };
        // Created by name in its resolved parent: mknod never follows a symlink there.
        let dir = sys.in_root(&plan.rootfs, parent, Make::Dir)?;
        let dest = dir.path.join(name);
        match sys.mknod(&dest, d.kind, d.mode, d.major, d.minor) {
            Ok(()) => {
                if d.uid != 0 || d.gid != 0 {
                    sys.chown(&dest, d.uid, d.gid)?;
                }
            }
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            // mknod is refused (no CAP_MKNOD, a user namespace): bind the host's node instead.
            Err(e) if e.errno() == Some(libc::EPERM) => {
                let target = sys.in_root(&plan.rootfs, &d.path, Make::File)?;
                sys.mount(Some(&d.path), &target.path, None, MsFlags::MS_BIND, None)?;
            }
            Err(e) => return Err(e),
        }
    }
    let dev = sys.in_root(&plan.rootfs, Path::new("/dev"), Make::Dir)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if sys.file_kind(Path::new("/proc/kcore")).is_some() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match sys.symlink(Path::new(target), &dev.path.join(name)) {
            Err(e) if e.errno() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
    }
    let ptmx = dev.path.join("ptmx");
    sys.remove_file(&ptmx)?;
    sys.symlink(Path::new("pts/ptmx"), &ptmx)?;
    sys.umask(0o022);
    Ok(())
}

/// Step 4: makes the rootfs `/` and drops the host's tree.
pub fn pivot(sys: &dyn Syscall, rootfs: &Path) -> Result<()> {
    sys.chdir(rootfs)?;
    match sys.pivot_root(Path::new("."), Path::new(".")) {
        Ok(()) => {
            // The old root is now stacked under `.`: make sure its unmount does not propagate to
            // the host, then detach it.
            sys.mount(None, Path::new("."), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)?;
            sys.umount(Path::new("."), MntFlags::MNT_DETACH)?;
        }
        Err(e) if e.errno() == Some(libc::EINVAL) => {
            sys.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
            sys.chroot(Path::new("."))?;
        }
        Err(e) => return Err(e),
    }
    sys.chdir(Path::new("/"))
}

/// Step 5: read-only paths, masked paths, read-only rootfs (paths are the container's).
pub fn finalize(sys: &dyn Syscall, plan: &RootfsPlan) -> Result<()> {
    for p in &plan.readonly_paths {
        let path = Path::new(p);
        if sys.file_kind(path).is_none() {
            continue;
        }
        sys.mount(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
        let flags = sys.mount_flags(path)?;
        sys.mount(Some(path), path, None, flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None)?;
    }
    for p in &plan.masked_paths {
        let path = Path::new(p);
        match sys.file_kind(path) {
            None => {}
            Some(FileKind::Dir) => {
                sys.mount(Some(Path::new("tmpfs")), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?;
            }
            Some(_) => sys.mount(Some(Path::new("/dev/null")), path, None, MsFlags::MS_BIND, None)?,
        }
    }
    if plan.readonly {
        let flags = sys.mount_flags(Path::new("/"))?;
        sys.mount(
            None,
            Path::new("/"),
            None,
            flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::RecordingSyscall;

    fn runc_spec_mounts() -> Vec<Mount> {
        serde_json::from_str(
            r#"[
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/host/hosts", "options": ["rbind", "rprivate", "ro"]}
            ]"#,
        )
        .unwrap()
    }

    fn plan() -> RootfsPlan {
        RootfsPlan {
            rootfs: "/b/rootfs".into(),
            readonly: true,
            propagation: MsFlags::MS_SLAVE | MsFlags::MS_REC,
            mounts: runc_spec_mounts(),
            devices: default_devices(),
            masked_paths: vec!["/proc/kcore".into(), "/proc/acpi".into(), "/proc/absent".into()],
            readonly_paths: vec!["/proc/sys".into(), "/proc/absent".into()],
            cgroup_mounts: CgroupMounts::V1 {
                hierarchies: vec![
                    ("cpu,cpuacct".into(), "cpu,cpuacct".into(), "/sys/fs/cgroup/cpu,cpuacct/berth/c".into()),
                    ("memory".into(), "memory".into(), "/sys/fs/cgroup/memory/berth/c".into()),
                ],
                cgroupns: false,
            },
            cwd: "/work".into(),
        }
    }

    #[test]
    fn mounts_follow_config_order_with_runc_flags() {
        let sys = RecordingSyscall::new();
        sys.add_file("/host/hosts", "127.0.0.1 localhost\n");
        prepare(&sys, &plan()).unwrap();
        let mounts = sys.matching("mount");
        let expected = [
            "mount none -> / type=none flags=REC|SLAVE data=",
            "mount /b/rootfs -> /b/rootfs type=none flags=BIND|REC data=",
            "mount proc -> /b/rootfs/proc type=proc flags=0 data=",
            "mount tmpfs -> /b/rootfs/dev type=tmpfs flags=NOSUID|STRICTATIME data=mode=755,size=65536k",
            "mount devpts -> /b/rootfs/dev/pts type=devpts flags=NOSUID|NOEXEC data=newinstance,ptmxmode=0666,mode=0620,gid=5",
            "mount shm -> /b/rootfs/dev/shm type=tmpfs flags=NOSUID|NODEV|NOEXEC data=mode=1777,size=65536k",
            "mount mqueue -> /b/rootfs/dev/mqueue type=mqueue flags=NOSUID|NODEV|NOEXEC data=",
            "mount sysfs -> /b/rootfs/sys type=sysfs flags=RDONLY|NOSUID|NODEV|NOEXEC data=",
            "mount tmpfs -> /b/rootfs/sys/fs/cgroup type=tmpfs flags=NOSUID|NODEV|NOEXEC|RELATIME data=mode=755",
            "mount /sys/fs/cgroup/cpu,cpuacct/berth/c -> /b/rootfs/sys/fs/cgroup/cpu,cpuacct type=none flags=BIND|REC data=",
            "mount /sys/fs/cgroup/cpu,cpuacct/berth/c -> /b/rootfs/sys/fs/cgroup/cpu,cpuacct type=none flags=RDONLY|NOSUID|NODEV|NOEXEC|REMOUNT|BIND|RELATIME data=",
            "mount /sys/fs/cgroup/memory/berth/c -> /b/rootfs/sys/fs/cgroup/memory type=none flags=BIND|REC data=",
            "mount /sys/fs/cgroup/memory/berth/c -> /b/rootfs/sys/fs/cgroup/memory type=none flags=RDONLY|NOSUID|NODEV|NOEXEC|REMOUNT|BIND|RELATIME data=",
            "mount /host/hosts -> /b/rootfs/etc/hosts type=none flags=BIND|REC data=",
            "mount /host/hosts -> /b/rootfs/etc/hosts type=none flags=RDONLY|REMOUNT|BIND data=",
            "mount none -> /b/rootfs/etc/hosts type=none flags=REC|PRIVATE data=",
        ];
        assert_eq!(mounts, expected);
        let calls = sys.calls();
        assert!(calls.contains(&"symlink /b/rootfs/sys/fs/cgroup/cpu -> cpu,cpuacct".to_string()));
        assert!(calls.contains(&"create_file /b/rootfs/etc/hosts".to_string()));
        assert!(calls.contains(&"mkdir_all /b/rootfs/work 755".to_string()));
    }

    #[test]
    fn dev_nodes_and_links_after_mounts() {
        let sys = RecordingSyscall::new();
        sys.add_file("/host/hosts", "");
        prepare(&sys, &plan()).unwrap();
        let calls = sys.calls();
        let last_mount = calls.iter().rposition(|c| c.starts_with("mount")).unwrap();
        let first_mknod = sys.position("mknod").unwrap();
        assert!(first_mknod > last_mount);
        assert_eq!(sys.matching("mknod").len(), 6);
        assert!(calls.contains(&"mknod /b/rootfs/dev/null Char 666 1:3".to_string()));
        assert!(sys.position("umask 0").unwrap() < first_mknod);
        for l in [
            "symlink /b/rootfs/dev/fd -> /proc/self/fd",
            "symlink /b/rootfs/dev/stderr -> /proc/self/fd/2",
            "symlink /b/rootfs/dev/ptmx -> pts/ptmx",
        ] {
            assert!(calls.contains(&l.to_string()), "missing {l}");
        }
        assert!(
            sys.position("remove /b/rootfs/dev/ptmx").unwrap() < sys.position("symlink /b/rootfs/dev/ptmx").unwrap()
        );
        // no /proc/kcore on the (fake) host: no /dev/core
        assert!(!calls.iter().any(|c| c.contains("dev/core")));
    }

    #[test]
    fn mknod_refused_falls_back_to_bind() {
        let sys = RecordingSyscall::new();
        sys.add_file("/host/hosts", "");
        sys.fail_on("mknod /b/rootfs/dev/tty", nix::errno::Errno::EPERM);
        prepare(&sys, &plan()).unwrap();
        assert!(sys.calls().contains(&"mount /dev/tty -> /b/rootfs/dev/tty type=none flags=BIND data=".to_string()));
    }

    #[test]
    fn bound_dev_is_not_populated() {
        let sys = RecordingSyscall::new();
        let mut p = plan();
        p.mounts = serde_json::from_str(
            r#"[{"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}]"#,
        )
        .unwrap();
        sys.add_dir("/dev");
        prepare(&sys, &p).unwrap();
        assert!(sys.position("mknod").is_none());
    }

    #[test]
    fn missing_bind_source_names_it() {
        let sys = RecordingSyscall::new();
        let e = prepare(&sys, &plan()).unwrap_err().to_string();
        assert!(e.contains("/host/hosts") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn pivot_then_detach_old_root() {
        let sys = RecordingSyscall::new();
        pivot(&sys, Path::new("/b/rootfs")).unwrap();
        assert_eq!(
            sys.calls(),
            [
                "chdir /b/rootfs",
                "pivot_root . .",
                "mount none -> . type=none flags=REC|SLAVE data=",
                "umount . flags=0x2",
                "chdir /"
            ]
        );
        let sys = RecordingSyscall::new();
        sys.fail_on("pivot_root", nix::errno::Errno::EINVAL);
        pivot(&sys, Path::new("/b/rootfs")).unwrap();
        assert_eq!(sys.calls()[2], "mount /b/rootfs -> / type=none flags=MOVE data=");
        assert_eq!(sys.calls()[3], "chroot .");
    }

    #[test]
    fn masked_and_readonly_paths_then_readonly_root() {
        let sys = RecordingSyscall::new();
        sys.add_file("/proc/kcore", "");
        sys.add_dir("/proc/acpi");
        sys.add_dir("/proc/sys");
        sys.set_mount_flags("/proc/sys", MsFlags::MS_RELATIME);
        sys.set_mount_flags("/", MsFlags::MS_RELATIME | MsFlags::MS_NOSUID);
        finalize(&sys, &plan()).unwrap();
        assert_eq!(
            sys.calls(),
            [
                "mount /proc/sys -> /proc/sys type=none flags=BIND|REC data=",
                "mount /proc/sys -> /proc/sys type=none flags=RDONLY|REMOUNT|BIND|RELATIME data=",
                "mount /dev/null -> /proc/kcore type=none flags=BIND data=",
                "mount tmpfs -> /proc/acpi type=tmpfs flags=RDONLY data=",
                "mount none -> / type=none flags=RDONLY|NOSUID|REMOUNT|BIND|RELATIME data=",
            ]
        );
    }

    #[test]
    fn shared_propagation_makes_the_rootfs_parent_private() {
        let sys = RecordingSyscall::new();
        sys.add_file(
            "/proc/self/mountinfo",
            "22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw\n40 22 0:40 / /b rw shared:5 - tmpfs tmpfs rw\n",
        );
        let mut p = plan();
        p.mounts.clear();
        p.propagation = MsFlags::MS_SHARED | MsFlags::MS_REC;
        prepare(&sys, &p).unwrap();
        let mounts = sys.matching("mount");
        assert_eq!(mounts[0], "mount none -> / type=none flags=REC|SHARED data=");
        assert_eq!(mounts[1], "mount none -> /b type=none flags=PRIVATE data=");
    }

    #[test]
    fn cgroup_namespace_mounts_fresh_hierarchies() {
        let sys = RecordingSyscall::new();
        let mut p = plan();
        p.mounts.retain(|m| m.typ().as_deref() == Some("cgroup"));
        p.cgroup_mounts = CgroupMounts::V1 {
            hierarchies: vec![("systemd".into(), "none,name=systemd".into(), "/unused".into())],
            cgroupns: true,
        };
        prepare(&sys, &p).unwrap();
        assert!(sys.calls().contains(
            &"mount cgroup -> /b/rootfs/sys/fs/cgroup/systemd type=cgroup flags=RDONLY|NOSUID|NODEV|NOEXEC|RELATIME data=none,name=systemd"
                .to_string()
        ));
        let sys = RecordingSyscall::new();
        p.cgroup_mounts = CgroupMounts::V2 { host_dir: "/sys/fs/cgroup/berth/c".into(), cgroupns: true };
        prepare(&sys, &p).unwrap();
        assert!(sys.calls().contains(
            &"mount cgroup2 -> /b/rootfs/sys/fs/cgroup type=cgroup2 flags=RDONLY|NOSUID|NODEV|NOEXEC|RELATIME data="
                .to_string()
        ));
    }
}
