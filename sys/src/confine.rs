//! The calls that confine a container's process (or the thread a wasm guest runs on) and that
//! `nix` does not offer safely: joining a namespace by a descriptor number, the domain name,
//! the kernel's per-thread credential calls, resource limits by number, installing a seccomp
//! filter, and loading and attaching a cgroup v2 device filter (eBPF).
//!
//! Each returns the errno of a failed call (`nix::Result`) for the caller to name what failed.
//! The Linux runtime calls them through its `Syscall` trait, whose recording double stands in
//! for them in unit tests.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Moves the calling thread into the namespace open on descriptor number `fd` (a descriptor
/// a forked child inherited and holds open until it has joined).
pub fn setns(fd: RawFd, nstype: nix::sched::CloneFlags) -> nix::Result<()> {
    // SAFETY: setns(2) takes two integers; a descriptor number that is not open (or not a
    // namespace) fails with EBADF or EINVAL, it cannot touch memory.
    Errno::result(unsafe { libc::setns(fd, nstype.bits()) }).map(drop)
}

/// Sets the domain name of the calling process's UTS namespace.
pub fn setdomainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop)
}

// The identity calls are the kernel's, which change the calling thread only: libc's wrappers
// (nix's) would change every thread of the process, signalling each. Every caller is
// single-threaded but the inline wasm guest's thread, whose identity must not become the CLI's
// other threads'; threads started afterwards inherit it.

/// Sets the calling thread's supplementary groups.
pub fn thread_setgroups(gids: &[u32]) -> nix::Result<()> {
    let list: Vec<libc::gid_t> = gids.to_vec();
    // SAFETY: `list` outlives the call and holds `list.len()` gids.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, list.len() as libc::size_t, list.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// Sets the calling thread's real, effective and saved group id to `gid`.
pub fn thread_setresgid(gid: u32) -> nix::Result<()> {
    // SAFETY: integer arguments only.
    let rc = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    Errno::result(rc).map(drop)
}

/// Sets the calling thread's real, effective and saved user id to `uid`.
pub fn thread_setresuid(uid: u32) -> nix::Result<()> {
    // SAFETY: integer arguments only.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    Errno::result(rc).map(drop)
}

/// The (soft, hard) limit of resource number `resource` (an `RLIMIT_*`) of this process.
pub fn getrlimit(resource: u32) -> nix::Result<(u64, u64)> {
    let mut old = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `old` is a valid out-pointer; a null new limit only reads.
    let rc = unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut old) };
    Errno::result(rc)?;
    Ok((old.rlim_cur, old.rlim_max))
}

/// Sets the limit of resource number `resource` (an `RLIMIT_*`) of this process.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> nix::Result<()> {
    let new = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `new` is a valid in-pointer; a null old limit is allowed.
    let rc = unsafe { libc::prlimit64(0, resource as _, &new, std::ptr::null_mut()) };
    Errno::result(rc).map(drop)
}

/// Installs one seccomp BPF filter on the calling thread (with `SECCOMP_FILTER_FLAG_*`
/// `flags`), without setting no_new_privs: that is the caller's call.
pub fn install_seccomp_filter(program: &[libc::sock_filter], flags: u32) -> nix::Result<()> {
    let prog = libc::sock_fprog { len: program.len() as libc::c_ushort, filter: program.as_ptr().cast_mut() };
    // SAFETY: the kernel copies the program in during the call (it never writes through the
    // pointer); `prog` and `program` outlive it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(rc).map(drop)
}

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

/// Loads a cgroup device program (`insns`: encoded eBPF instructions, 8 bytes each) into the
/// kernel. On failure, the errno and the verifier's log (from a second, logging load).
pub fn load_device_program(insns: &[u8]) -> Result<OwnedFd, (Errno, String)> {
    let license = b"Apache\0";
    let load = |log: &mut Vec<u8>| {
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: (insns.len() / 8) as u32,
            insns: insns.as_ptr() as u64,
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
    let fd = load(&mut Vec::new());
    if fd < 0 {
        let errno = Errno::last();
        let mut log = vec![0u8; 65536];
        let _ = load(&mut log);
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
        return Err((errno, text));
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches a loaded device program to the cgroup v2 directory open on `cgroup` (alongside
/// any others). The attachment keeps the program alive: its descriptor may be closed after.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, program: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` outlives the call; both descriptors are borrowed, hence open.
    let rc = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr as *const ProgAttach, std::mem::size_of::<ProgAttach>())
    };
    Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_read_back_what_was_set() {
        let (soft, hard) = getrlimit(libc::RLIMIT_NOFILE).unwrap();
        assert!(soft <= hard);
        setrlimit(libc::RLIMIT_NOFILE, soft, hard).unwrap();
        assert_eq!(getrlimit(libc::RLIMIT_NOFILE).unwrap(), (soft, hard));
        assert_eq!(setrlimit(libc::RLIMIT_NOFILE, hard.saturating_add(1), hard), Err(Errno::EINVAL));
    }

    #[test]
    fn a_closed_descriptor_is_no_namespace() {
        assert_eq!(setns(1_000_000, nix::sched::CloneFlags::CLONE_NEWNET), Err(Errno::EBADF));
    }
}
