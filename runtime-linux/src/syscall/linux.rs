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
use std::os::fd::{BorrowedFd, RawFd};
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
        // SAFETY: the caller owns `fd` and keeps it open for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        nix::sched::setns(fd, nstype).map_err(|e| Error::sys(format!("setns {:#x}", nstype.bits()), e))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        nix::unistd::sethostname(name).map_err(|e| Error::sys(format!("sethostname {name:?}"), e))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys(format!("setdomainname {name:?}"), e))
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
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong, 0, 0, 0) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))
    }

    // The identity calls are the kernel's, which change the calling thread only: libc's
    // wrappers (nix's) would change every thread of the process, signalling each. Every caller
    // is single-threaded but the inline wasm guest's thread, whose identity must not become the
    // CLI's other threads' (see `wasm::inline`); threads started afterwards inherit it.
    fn setgroups(&self, gids: &[u32]) -> Result<()> {
        let list: Vec<libc::gid_t> = gids.to_vec();
        // SAFETY: `list` outlives the call and holds `list.len()` gids.
        let rc = unsafe { libc::syscall(libc::SYS_setgroups, list.len() as libc::size_t, list.as_ptr()) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys(format!("setgroups {gids:?}"), e))
    }

    fn setresgid(&self, gid: u32) -> Result<()> {
        // SAFETY: integer arguments only.
        let rc = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys(format!("setresgid {gid}"), e))
    }

    fn setresuid(&self, uid: u32) -> Result<()> {
        // SAFETY: integer arguments only.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys(format!("setresuid {uid}"), e))
    }

    fn set_no_new_privs(&self) -> Result<()> {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))
    }

    fn getrlimit(&self, resource: u32) -> Result<(u64, u64)> {
        let mut old = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `old` is a valid out-pointer; a null new limit only reads.
        let rc = unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut old) };
        Errno::result(rc).map_err(|e| Error::sys(format!("getrlimit {resource}"), e))?;
        Ok((old.rlim_cur, old.rlim_max))
    }

    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> Result<()> {
        let new = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
        // SAFETY: `new` is a valid in-pointer; a null old limit is allowed.
        let rc = unsafe { libc::prlimit64(0, resource as _, &new, std::ptr::null_mut()) };
        Errno::result(rc).map(drop).map_err(|e| Error::sys(format!("setrlimit {resource} {soft}/{hard}"), e))
    }

    fn seccomp(&self, program: &[seccompiler::sock_filter], flags: u32) -> Result<()> {
        #[repr(C)]
        struct SockFprog {
            len: libc::c_ushort,
            filter: *const seccompiler::sock_filter,
        }
        let prog = SockFprog { len: program.len() as libc::c_ushort, filter: program.as_ptr() };
        // SAFETY: the kernel copies the program in during the call; `prog` and `program` outlive it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                flags as libc::c_ulong,
                &prog as *const SockFprog,
            )
        };
        Errno::result(rc).map(drop).map_err(|e| Error::sys("seccomp(SECCOMP_SET_MODE_FILTER)", e))
    }

    fn attach_device_filter(&self, cgroup_dir: &Path, program: &[crate::device_filter::Insn]) -> Result<()> {
        const BPF_PROG_LOAD: libc::c_long = 5;
        const BPF_PROG_ATTACH: libc::c_long = 8;
        const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
        const BPF_CGROUP_DEVICE: u32 = 6;
        const BPF_F_ALLOW_MULTI: u32 = 2;
        #[repr(C)]
        #[derive(Default)]
        struct ProgLoad {
            prog_type: u32,
            insn_cnt: u32,
            insns: u64,
            license: u64,
            log_level: u32,
            log_size: u32,
            log_buf: u64,
            kern_version: u32,
            prog_flags: u32,
            prog_name: [u8; 16],
            prog_ifindex: u32,
            expected_attach_type: u32,
        }
        #[repr(C)]
        struct ProgAttach {
            target_fd: u32,
            attach_bpf_fd: u32,
            attach_type: u32,
            attach_flags: u32,
            replace_bpf_fd: u32,
        }
        let bytes: Vec<u8> = program.iter().flat_map(|i| i.encode()).collect();
        let license = b"Apache\0";
        let mut log = vec![0u8; 0];
        let load = |log: &mut Vec<u8>| {
            let mut attr = ProgLoad {
                prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
                insn_cnt: program.len() as u32,
                insns: bytes.as_ptr() as u64,
                license: license.as_ptr() as u64,
                ..Default::default()
            };
            attr.prog_name[..5].copy_from_slice(b"berth");
            if !log.is_empty() {
                attr.log_level = 1;
                attr.log_size = log.len() as u32;
                attr.log_buf = log.as_mut_ptr() as u64;
            }
            // SAFETY: `attr` and the buffers it points to outlive the call; the kernel copies
            // the program in and writes at most log_size bytes of log.
            unsafe {
                libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoad, std::mem::size_of::<ProgLoad>())
            }
        };
        let fd = load(&mut log);
        if fd < 0 {
            let errno = Errno::last();
            log = vec![0u8; 65536];
            let _ = load(&mut log);
            let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
            return Err(Error::Sys {
                what: format!("load the device filter for {}", cgroup_dir.display()),
                source: std::io::Error::other(format!("{}: {}", errno.desc(), text.trim())),
            });
        }
        // SAFETY: the kernel just returned this descriptor to us.
        let prog = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as RawFd) };
        let dir = std::fs::File::open(cgroup_dir).map_err(|e| Error::io(cgroup_dir, e))?;
        let attr = ProgAttach {
            target_fd: std::os::fd::AsRawFd::as_raw_fd(&dir) as u32,
            attach_bpf_fd: std::os::fd::AsRawFd::as_raw_fd(&prog) as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: BPF_F_ALLOW_MULTI,
            replace_bpf_fd: 0,
        };
        // SAFETY: `attr` outlives the call; both descriptors are open.
        let rc = unsafe {
            libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr as *const ProgAttach, std::mem::size_of::<ProgAttach>())
        };
        // The attachment keeps the program alive; our descriptor can go.
        Errno::result(rc)
            .map(drop)
            .map_err(|e| Error::sys(format!("attach the device filter to {}", cgroup_dir.display()), e))
    }

    fn umask(&self, mask: u32) {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }

    fn setsid(&self) -> Result<()> {
        nix::unistd::setsid().map(drop).map_err(|e| Error::sys("setsid", e))
    }
}
