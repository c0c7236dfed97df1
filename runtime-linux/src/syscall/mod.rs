//! Every system call that changes the container's view of the world, behind one trait.
//!
//! The container's setup (mount order, masked and read-only paths, device nodes, capability sets,
//! cgroup files) is decided by plain Rust code that calls [`Syscall`]. In production that is
//! [`LinuxSyscall`], thin wrappers over nix/libc; in unit tests it is [`RecordingSyscall`],
//! which records each call as one line of text and answers queries from a small in-memory file
//! table, so the logic is tested without root and without touching the host.
//!
//! Process plumbing (fork, exec, wait, pipes) is not here: it cannot be faked usefully and lives
//! in [`crate::process`].

mod linux;
mod recording;

pub use linux::LinuxSyscall;
pub use recording::RecordingSyscall;

use crate::error::Result;
use caps::CapsHashSet;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// What a path is, as `stat` (following symlinks) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File,
    Other,
}

/// The kind of device node to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

/// What [`Syscall::in_root`] creates when the path is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    /// Nothing: the path must exist.
    Nothing,
    /// A directory (and its parents), 0755.
    Dir,
    /// An empty file (and its parent directories), 0644.
    File,
}

/// A path resolved inside a root: `path` reaches exactly the resolved inode while this lives
/// (`/proc/self/fd/N` of the descriptor it holds), so a mount onto it cannot be redirected.
#[derive(Debug)]
pub struct InRoot {
    pub path: PathBuf,
    _held: Option<OwnedFd>,
}

impl InRoot {
    /// A resolved descriptor and the path that names it.
    pub fn held(fd: OwnedFd) -> InRoot {
        InRoot { path: berth_sys::inroot::fd_path(&fd), _held: Some(fd) }
    }

    /// A plain path (the recording implementation's answer: nothing to hold).
    pub fn plain(path: PathBuf) -> InRoot {
        InRoot { path, _held: None }
    }
}

/// The capability sets a process ends with (the bounding set is applied separately, earlier,
/// because dropping from it needs CAP_SETPCAP, which the final sets may not have).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

/// The system calls the runtime's setup logic uses.
pub trait Syscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> Result<()>;
    /// Resolves `path` inside `root` with `root` as `/` (symlinks never leave it; a chain past
    /// the kernel's limit is ELOOP) and creates it per `make` when absent.
    fn in_root(&self, root: &Path, path: &Path, make: Make) -> Result<InRoot>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()>;
    fn chroot(&self, path: &Path) -> Result<()>;
    fn chdir(&self, path: &Path) -> Result<()>;
    fn unshare(&self, flags: CloneFlags) -> Result<()>;
    fn setns(&self, fd: RawFd, nstype: CloneFlags) -> Result<()>;
    fn sethostname(&self, name: &str) -> Result<()>;
    fn setdomainname(&self, name: &str) -> Result<()>;
    fn mknod(&self, path: &Path, kind: DeviceKind, mode: u32, major: u64, minor: u64) -> Result<()>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    /// Removes a file if it exists.
    fn remove_file(&self, path: &Path) -> Result<()>;
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<()>;
    /// Creates an empty file (and its parent directories) if nothing is there yet.
    fn create_file(&self, path: &Path) -> Result<()>;
    /// What is at `path` (following symlinks), or `None` when nothing is.
    fn file_kind(&self, path: &Path) -> Option<FileKind>;
    /// The mount flags (MS_RDONLY, MS_NOSUID...) of the file system holding `path`.
    fn mount_flags(&self, path: &Path) -> Result<MsFlags>;
    fn write_file(&self, path: &Path, data: &str) -> Result<()>;
    fn read_file(&self, path: &Path) -> Result<String>;
    fn mkdir(&self, path: &Path) -> Result<()>;
    fn rmdir(&self, path: &Path) -> Result<()>;
    /// Drops every capability not in `keep` from the bounding set.
    fn apply_bounding(&self, keep: &CapsHashSet) -> Result<()>;
    /// Sets the inheritable, effective, permitted and ambient sets, in an order the kernel accepts.
    fn apply_capabilities(&self, sets: &CapabilitySets) -> Result<()>;
    fn set_keep_caps(&self, keep: bool) -> Result<()>;
    fn setgroups(&self, gids: &[u32]) -> Result<()>;
    fn setresgid(&self, gid: u32) -> Result<()>;
    fn setresuid(&self, uid: u32) -> Result<()>;
    fn set_no_new_privs(&self) -> Result<()>;
    fn getrlimit(&self, resource: u32) -> Result<(u64, u64)>;
    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> Result<()>;
    /// Installs one seccomp BPF filter (without setting no_new_privs: that is the caller's call).
    fn seccomp(&self, program: &[seccompiler::sock_filter], flags: u32) -> Result<()>;
    /// Attaches an eBPF device filter (see [`crate::device_filter`]) to a cgroup v2 directory.
    fn attach_device_filter(&self, cgroup_dir: &Path, program: &[crate::device_filter::Insn]) -> Result<()>;
    fn umask(&self, mask: u32);
    fn setsid(&self) -> Result<()>;
}
