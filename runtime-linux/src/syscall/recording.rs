//! The test double: records every call as a line of text and fakes a tiny file system.
//!
//! Lines look like `mount proc -> /r/proc type=proc flags=NOSUID|NODEV|NOEXEC data=` so tests
//! can assert on order (`position`) and content (`contains`) without a root-owned kernel.

use super::{CapabilitySets, DeviceKind, FileKind, InRoot, Make, Syscall};
use crate::error::{Error, Result};
use caps::CapsHashSet;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// A [`Syscall`] that records instead of acting.
#[derive(Debug, Default)]
pub struct RecordingSyscall {
    calls: RefCell<Vec<String>>,
    files: RefCell<BTreeMap<PathBuf, String>>,
    dirs: RefCell<BTreeSet<PathBuf>>,
    failures: RefCell<Vec<(String, Errno)>>,
    mount_flags: RefCell<BTreeMap<PathBuf, MsFlags>>,
}

fn flags_str(flags: MsFlags) -> String {
    if flags.is_empty() {
        return "0".into();
    }
    let names: Vec<String> = flags.iter_names().map(|(n, _)| n.trim_start_matches("MS_").to_string()).collect();
    names.join("|")
}

fn sorted_caps(set: &CapsHashSet) -> String {
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v.join(",")
}

impl RecordingSyscall {
    pub fn new() -> RecordingSyscall {
        RecordingSyscall::default()
    }

    /// The calls made so far, one line each.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// Index of the first call starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        self.calls.borrow().iter().position(|c| c.starts_with(prefix))
    }

    /// Calls starting with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        self.calls.borrow().iter().filter(|c| c.starts_with(prefix)).cloned().collect()
    }

    /// Makes `path` a file holding `content` (for reads and `file_kind`).
    pub fn add_file(&self, path: impl Into<PathBuf>, content: &str) {
        self.files.borrow_mut().insert(path.into(), content.to_string());
    }

    /// Makes `path` an existing directory.
    pub fn add_dir(&self, path: impl Into<PathBuf>) {
        self.dirs.borrow_mut().insert(path.into());
    }

    /// The content last written to (or added at) `path`.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<String> {
        self.files.borrow().get(path.as_ref()).cloned()
    }

    /// Makes every later call whose line starts with `prefix` fail with `errno`.
    pub fn fail_on(&self, prefix: &str, errno: Errno) {
        self.failures.borrow_mut().push((prefix.to_string(), errno));
    }

    /// What `mount_flags` answers for `path`.
    pub fn set_mount_flags(&self, path: impl Into<PathBuf>, flags: MsFlags) {
        self.mount_flags.borrow_mut().insert(path.into(), flags);
    }

    fn record(&self, line: String) -> Result<()> {
        let failure = self.failures.borrow().iter().find(|(p, _)| line.starts_with(p.as_str())).map(|(_, e)| *e);
        self.calls.borrow_mut().push(line.clone());
        match failure {
            Some(errno) => Err(Error::sys(line, errno)),
            None => Ok(()),
        }
    }
}

impl Syscall for RecordingSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        self.record(format!(
            "mount {} -> {} type={} flags={} data={}",
            source.map(|s| s.display().to_string()).unwrap_or_else(|| "none".into()),
            target.display(),
            fstype.unwrap_or("none"),
            flags_str(flags),
            data.unwrap_or("")
        ))
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<()> {
        self.record(format!("umount {} flags={:#x}", target.display(), flags.bits()))
    }

    fn in_root(&self, root: &Path, path: &Path, make: Make) -> Result<InRoot> {
        // Lexically inside the root: the real resolution is the kernel's (tested in berth-sys).
        let mut p = root.to_path_buf();
        for c in path.components() {
            match c {
                std::path::Component::Normal(n) => p.push(n),
                std::path::Component::ParentDir if p != root => {
                    p.pop();
                }
                _ => {}
            }
        }
        match make {
            Make::Nothing => {}
            Make::Dir => self.mkdir_all(&p, 0o755)?,
            Make::File => self.create_file(&p)?,
        }
        Ok(InRoot::plain(p))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        self.record(format!("pivot_root {} {}", new_root.display(), put_old.display()))
    }

    fn chroot(&self, path: &Path) -> Result<()> {
        self.record(format!("chroot {}", path.display()))
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        self.record(format!("chdir {}", path.display()))
    }

    fn unshare(&self, flags: CloneFlags) -> Result<()> {
        let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
        self.record(format!("unshare {}", names.join("|")))
    }

    fn setns(&self, fd: RawFd, nstype: CloneFlags) -> Result<()> {
        let names: Vec<&str> = nstype.iter_names().map(|(n, _)| n).collect();
        self.record(format!("setns fd={fd} {}", names.join("|")))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        self.record(format!("sethostname {name}"))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        self.record(format!("setdomainname {name}"))
    }

    fn mknod(&self, path: &Path, kind: DeviceKind, mode: u32, major: u64, minor: u64) -> Result<()> {
        self.record(format!("mknod {} {kind:?} {mode:o} {major}:{minor}", path.display()))?;
        self.files.borrow_mut().insert(path.to_path_buf(), String::new());
        Ok(())
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        self.record(format!("chown {} {uid}:{gid}", path.display()))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.record(format!("symlink {} -> {}", link.display(), target.display()))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.files.borrow_mut().remove(path);
        self.record(format!("remove {}", path.display()))
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<()> {
        self.record(format!("mkdir_all {} {mode:o}", path.display()))?;
        let mut dirs = self.dirs.borrow_mut();
        for a in path.ancestors() {
            dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    fn create_file(&self, path: &Path) -> Result<()> {
        self.record(format!("create_file {}", path.display()))?;
        self.files.borrow_mut().entry(path.to_path_buf()).or_default();
        Ok(())
    }

    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        if self.dirs.borrow().contains(path) {
            Some(FileKind::Dir)
        } else if self.files.borrow().contains_key(path) {
            Some(FileKind::File)
        } else {
            None
        }
    }

    fn mount_flags(&self, path: &Path) -> Result<MsFlags> {
        Ok(self.mount_flags.borrow().get(path).copied().unwrap_or(MsFlags::empty()))
    }

    fn write_file(&self, path: &Path, data: &str) -> Result<()> {
        self.record(format!("write {} {}", path.display(), data))?;
        self.files.borrow_mut().insert(path.to_path_buf(), data.to_string());
        Ok(())
    }

    fn read_file(&self, path: &Path) -> Result<String> {
        self.files
            .borrow()
            .get(path)
            .cloned()
            .ok_or_else(|| Error::io(path, std::io::Error::from_raw_os_error(libc::ENOENT)))
    }

    fn mkdir(&self, path: &Path) -> Result<()> {
        if self.dirs.borrow().contains(path) {
            return Err(Error::io(path, std::io::Error::from_raw_os_error(libc::EEXIST)));
        }
        self.record(format!("mkdir {}", path.display()))?;
        self.dirs.borrow_mut().insert(path.to_path_buf());
        Ok(())
    }

    fn rmdir(&self, path: &Path) -> Result<()> {
        self.record(format!("rmdir {}", path.display()))?;
        self.dirs.borrow_mut().remove(path);
        Ok(())
    }

    fn apply_bounding(&self, keep: &CapsHashSet) -> Result<()> {
        self.record(format!("bounding {}", sorted_caps(keep)))
    }

    fn apply_capabilities(&self, sets: &CapabilitySets) -> Result<()> {
        self.record(format!(
            "caps effective={} permitted={} inheritable={} ambient={}",
            sorted_caps(&sets.effective),
            sorted_caps(&sets.permitted),
            sorted_caps(&sets.inheritable),
            sorted_caps(&sets.ambient)
        ))
    }

    fn set_keep_caps(&self, keep: bool) -> Result<()> {
        self.record(format!("keep_caps {keep}"))
    }

    fn setgroups(&self, gids: &[u32]) -> Result<()> {
        self.record(format!("setgroups {gids:?}"))
    }

    fn setresgid(&self, gid: u32) -> Result<()> {
        self.record(format!("setresgid {gid}"))
    }

    fn setresuid(&self, uid: u32) -> Result<()> {
        self.record(format!("setresuid {uid}"))
    }

    fn set_no_new_privs(&self) -> Result<()> {
        self.record("no_new_privs".into())
    }

    fn getrlimit(&self, resource: u32) -> Result<(u64, u64)> {
        let _ = resource;
        Ok((1024, 4096))
    }

    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> Result<()> {
        self.record(format!("setrlimit {resource} {soft} {hard}"))
    }

    fn seccomp(&self, program: &[seccompiler::sock_filter], flags: u32) -> Result<()> {
        self.record(format!("seccomp len={} flags={flags}", program.len()))
    }

    fn attach_device_filter(&self, cgroup_dir: &Path, program: &[crate::device_filter::Insn]) -> Result<()> {
        self.record(format!("device_filter {} len={}", cgroup_dir.display(), program.len()))
    }

    fn umask(&self, mask: u32) {
        let _ = self.record(format!("umask {mask:o}"));
    }

    fn setsid(&self) -> Result<()> {
        self.record("setsid".into())
    }
}
