//! The real [`Syscall`]: thin wrappers over nix and libc that turn errno into [`Error::Sys`]
//! naming the call and its arguments.

use super::{CapabilitySets, DeviceKind, FileKind, InRoot, Make, Syscall};
use crate::error::{Error, Result};
use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::statvfs::FsFlags;
use std::os::fd::{AsFd, RawFd};
use std::path::Path;

/// The production [`Syscall`] implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Sys { what: what.to_string(), source: std::io::Error::other(e.to_string()) }
}

impl Syscall for LinuxSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            Error::sys(
                format!(
                    "mount {} on {} (type {}, flags {:#x}, data {:?})",
                    source.map(|s| s.display().to_string()).unwrap_or_else(|| "none".into()),
                    target.display(),
                    fstype.unwrap_or("none"),
                    flags.bits(),
                    data.unwrap_or("")
                ),
                e,
            )
        })
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<()> {
        nix::mount::umount2(target, flags).map_err(|e| Error::sys(format!("umount {}", target.display()), e))
    }

    fn in_root(&self, root: &Path, path: &Path, make: Make) -> Result<InRoot> {
        use berth_sys::inroot::Root;
        let r = Root::open(root).map_err(|e| Error::io(root, e))?;
        let fd: std::result::Result<std::os::fd::OwnedFd, _> = match make {
            Make::Nothing => r.resolve(path).map(Into::into),
            Make::Dir => r.mkdir_all(path, 0o755).map(Into::into),
            Make::File => r.create_file(path, 0o644).map(Into::into),
        };
        let fd = fd.map_err(|e| Error::Sys { what: "resolving in the container's root".into(), source: e.into() })?;
        Ok(InRoot::held(fd))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
            .map_err(|e| Error::sys(format!("pivot_root {} {}", new_root.display(), put_old.display()), e))
    }

    fn chroot(&self, path: &Path) -> Result<()> {
        nix::unistd::chroot(path).map_err(|e| Error::sys(format!("chroot {}", path.display()), e))
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        nix::unistd::chdir(path).map_err(|e| Error::sys(format!("chdir {}", path.display()), e))
    }

    fn unshare(&self, flags: CloneFlags) -> Result<()> {
        nix::sched::unshare(flags).map_err(|e| Error::sys(format!("unshare {:#x}", flags.bits()), e))
    }

    fn setns(&self, fd: RawFd, nstype: CloneFlags) -> Result<()> {
        berth_sys::confine::setns(fd, nstype).map_err(|e| Error::sys(format!("setns {:#x}", nstype.bits()), e))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        nix::unistd::sethostname(name).map_err(|e| Error::sys(format!("sethostname {name:?}"), e))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        berth_sys::confine::setdomainname(name).map_err(|e| Error::sys(format!("setdomainname {name:?}"), e))
    }

    fn mknod(&self, path: &Path, kind: DeviceKind, mode: u32, major: u64, minor: u64) -> Result<()> {
        let kind_flag = match kind {
            DeviceKind::Char => SFlag::S_IFCHR,
            DeviceKind::Block => SFlag::S_IFBLK,
            DeviceKind::Fifo => SFlag::S_IFIFO,
        };
        let dev = nix::sys::stat::makedev(major, minor);
        nix::sys::stat::mknod(path, kind_flag, Mode::from_bits_truncate(mode), dev)
            .map_err(|e| Error::sys(format!("mknod {} ({major}:{minor})", path.display()), e))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
            .map_err(|e| Error::sys(format!("chown {} {uid}:{gid}", path.display()), e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| Error::sys(format!("symlink {} -> {}", link.display(), target.display()), io_errno(&e)))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(mode).create(path).map_err(|e| Error::io(path, e))
    }

    fn create_file(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent, 0o755)?;
        }
        match std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path) {
            Ok(_) => Ok(()),
            // Something is already there (a directory, a device): the mount decides what it means.
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        let md = std::fs::metadata(path).ok()?;
        Some(if md.is_dir() {
            FileKind::Dir
        } else if md.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        })
    }

    fn mount_flags(&self, path: &Path) -> Result<MsFlags> {
        let st = nix::sys::statvfs::statvfs(path).map_err(|e| Error::sys(format!("statvfs {}", path.display()), e))?;
        let f = st.flags();
        let mut flags = MsFlags::empty();
        for (fs, ms) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_SYNCHRONOUS, MsFlags::MS_SYNCHRONOUS),
            (FsFlags::ST_MANDLOCK, MsFlags::MS_MANDLOCK),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                flags |= ms;
            }
        }
        Ok(flags)
    }

    fn write_file(&self, path: &Path, data: &str) -> Result<()> {
        // One write(2) call: cgroup and proc files take a value per write.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        f.write_all(data.as_bytes()).map_err(|e| Error::io(path, e))
    }

    fn read_file(&self, path: &Path) -> Result<String> {
        std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
    }

    fn mkdir(&self, path: &Path) -> Result<()> {
        std::fs::create_dir(path).map_err(|e| Error::io(path, e))
    }

    fn rmdir(&self, path: &Path) -> Result<()> {
        std::fs::remove_dir(path).map_err(|e| Error::io(path, e))
    }

    fn apply_bounding(&self, keep: &CapsHashSet) -> Result<()> {
        for cap in caps::all() {
            if keep.contains(&cap) {
                continue;
            }
            match caps::drop(None, CapSet::Bounding, cap) {
                Ok(()) => {}
                // Capabilities newer than this kernel are not in its bounding set to begin with.
                Err(_) if !caps::runtime::thread_all_supported().contains(&cap) => {}
                Err(e) => return Err(caps_err(&format!("drop {cap} from the bounding set"), e)),
            }
        }
        Ok(())
    }

    fn apply_capabilities(&self, sets: &CapabilitySets) -> Result<()> {
        // Inheritable first (it may only hold permitted capabilities), then effective before
        // permitted shrinks below it, then ambient, which needs both permitted and inheritable.
        caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(|e| caps_err("set inheritable caps", e))?;
        caps::set(None, CapSet::Effective, &sets.effective).map_err(|e| caps_err("set effective caps", e))?;
        caps::set(None, CapSet::Permitted, &sets.permitted).map_err(|e| caps_err("set permitted caps", e))?;
        // A capability can only be ambient if it is also permitted and inheritable; like runc,
        // berth raises what it can and skips the rest (runc's own `runc spec` asks for ambient
        // capabilities without inheritable ones).
        for cap in &sets.ambient {
            let _ = caps::raise(None, CapSet::Ambient, *cap);
        }
        Ok(())
    }

    fn set_keep_caps(&self, keep: bool) -> Result<()> {
        nix::sys::prctl::set_keepcaps(keep).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))
    }

    // The identity calls change the calling thread only (see berth_sys::confine): every caller
    // is single-threaded but the inline wasm guest's thread, whose identity must not become the
    // CLI's other threads'; threads started afterwards inherit it.
    fn setgroups(&self, gids: &[u32]) -> Result<()> {
        berth_sys::confine::thread_setgroups(gids).map_err(|e| Error::sys(format!("setgroups {gids:?}"), e))
    }

    fn setresgid(&self, gid: u32) -> Result<()> {
        berth_sys::confine::thread_setresgid(gid).map_err(|e| Error::sys(format!("setresgid {gid}"), e))
    }

    fn setresuid(&self, uid: u32) -> Result<()> {
        berth_sys::confine::thread_setresuid(uid).map_err(|e| Error::sys(format!("setresuid {uid}"), e))
    }

    fn set_no_new_privs(&self) -> Result<()> {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))
    }

    fn getrlimit(&self, resource: u32) -> Result<(u64, u64)> {
        berth_sys::confine::getrlimit(resource).map_err(|e| Error::sys(format!("getrlimit {resource}"), e))
    }

    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> Result<()> {
        berth_sys::confine::setrlimit(resource, soft, hard)
            .map_err(|e| Error::sys(format!("setrlimit {resource} {soft}/{hard}"), e))
    }

    fn seccomp(&self, program: &[seccompiler::sock_filter], flags: u32) -> Result<()> {
        let program: Vec<libc::sock_filter> =
            program.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        berth_sys::confine::install_seccomp_filter(&program, flags)
            .map_err(|e| Error::sys("seccomp(SECCOMP_SET_MODE_FILTER)", e))
    }

    fn attach_device_filter(&self, cgroup_dir: &Path, program: &[crate::device_filter::Insn]) -> Result<()> {
        let bytes: Vec<u8> = program.iter().flat_map(|i| i.encode()).collect();
        let prog = berth_sys::confine::load_device_program(&bytes).map_err(|(errno, log)| Error::Sys {
            what: format!("load the device filter for {}", cgroup_dir.display()),
            source: std::io::Error::other(format!("{}: {}", errno.desc(), log.trim())),
        })?;
        let dir = std::fs::File::open(cgroup_dir).map_err(|e| Error::io(cgroup_dir, e))?;
        // The attachment keeps the program alive; our descriptor can go.
        berth_sys::confine::attach_device_program(dir.as_fd(), prog.as_fd())
            .map_err(|e| Error::sys(format!("attach the device filter to {}", cgroup_dir.display()), e))
    }

    fn umask(&self, mask: u32) {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }

    fn setsid(&self) -> Result<()> {
        nix::unistd::setsid().map(drop).map_err(|e| Error::sys("setsid", e))
    }
}
