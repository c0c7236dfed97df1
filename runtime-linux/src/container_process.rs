//! The process a container runs (config.json's `process`, or `berth runtime exec`'s): its
//! identity, privileges and limits, and finding its executable.
//!
//! [`ProcessPlan`] is built from the OCI `Process` in the runtime's own process, before anything
//! is forked, so a bad capability name or seccomp profile fails `create` with a clear message.
//! [`apply_identity`] runs inside the container and follows runc's order: rlimits; seccomp when
//! `noNewPrivileges` is off (installing a filter then needs CAP_SYS_ADMIN, so it must happen
//! before capabilities are dropped); the bounding set; keep-caps across setgroups/setresgid/
//! setresuid; the final capability sets; umask and working directory. The executable is looked
//! up in the container's PATH like Go's `exec.LookPath` (which is what runc and Docker report
//! from), so the messages and the 126/127 exit codes match Docker's.

use crate::error::{Error, Result};
use crate::seccomp;
use crate::syscall::{CapabilitySets, Syscall};
use caps::CapsHashSet;
use oci_spec::runtime::{Capabilities, LinuxSeccomp, PosixRlimitType, Process};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Everything needed to turn the init (or an exec'd process) into the container's process.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: u32,
    pub no_new_privileges: bool,
    /// Bounding set and final sets; `None` leaves the capabilities alone (runc does the same).
    pub capabilities: Option<(CapsHashSet, CapabilitySets)>,
    /// (resource, soft, hard)
    pub rlimits: Vec<(u32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    /// (rows, columns)
    pub console_size: Option<(u16, u16)>,
    pub seccomp: Vec<seccomp::Filter>,
}

/// Converts an OCI capability list to the `caps` crate's set.
pub fn caps_set(list: Option<&Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in list.into_iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = caps::Capability::from_str(&name).map_err(|_| Error::Spec(format!("unknown capability {name}")))?;
        out.insert(cap);
    }
    Ok(out)
}

// The resource type is u32 on glibc and int on musl.
#[allow(clippy::unnecessary_cast)]
fn rlimit_resource(t: PosixRlimitType) -> u32 {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as u32
}

impl ProcessPlan {
    /// Builds the plan from an OCI process and the container's seccomp profile.
    pub fn new(p: &Process, seccomp_profile: Option<&LinuxSeccomp>) -> Result<ProcessPlan> {
        let args = p.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::Spec("process.args must name the command to run".into()));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::Spec(format!("process.cwd {:?} must be an absolute path", p.cwd())));
        }
        let capabilities = match p.capabilities() {
            None => None,
            Some(c) => Some((
                caps_set(c.bounding().as_ref())?,
                CapabilitySets {
                    effective: caps_set(c.effective().as_ref())?,
                    permitted: caps_set(c.permitted().as_ref())?,
                    inheritable: caps_set(c.inheritable().as_ref())?,
                    ambient: caps_set(c.ambient().as_ref())?,
                },
            )),
        };
        let rlimits = p.rlimits().iter().flatten().map(|r| (rlimit_resource(r.typ()), r.soft(), r.hard())).collect();
        let seccomp = match seccomp_profile {
            Some(s) => seccomp::compile(s)?,
            None => Vec::new(),
        };
        let user = p.user();
        Ok(ProcessPlan {
            args,
            env: p.env().clone().unwrap_or_default(),
            cwd: p.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022),
            no_new_privileges: p.no_new_privileges().unwrap_or(false),
            capabilities,
            rlimits,
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
            console_size: p.console_size().map(|b| (b.height() as u16, b.width() as u16)),
            seccomp,
        })
    }

    /// The value of `name` in the process environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// Sets HOME from the container's /etc/passwd when the environment lacks it (runc does).
    pub fn default_home(&mut self, passwd: Option<&str>) {
        if self.env_var("HOME").is_some() {
            return;
        }
        let home = passwd
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(self.uid)).then(|| f[5].to_string())
                })
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into());
        self.env.push(format!("HOME={home}"));
    }
}

/// Sets the rlimits. An unprivileged runtime (no CAP_SYS_RESOURCE) cannot raise a hard limit:
/// such a request is clamped to the current hard limit instead of failing the container.
pub fn apply_rlimits(sys: &dyn Syscall, plan: &ProcessPlan) -> Result<()> {
    for &(res, soft, hard) in &plan.rlimits {
        match sys.setrlimit(res, soft, hard) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::EPERM) => {
                let (_, cur_hard) = sys.getrlimit(res)?;
                if hard <= cur_hard {
                    return Err(e);
                }
                sys.setrlimit(res, soft.min(cur_hard), cur_hard)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Drops privileges and becomes the configured user (see the module doc for the order).
/// Seccomp is installed here only when no_new_privs is off; otherwise [`apply_late_seccomp`]
/// does it just before exec.
pub fn apply_identity(sys: &dyn Syscall, plan: &ProcessPlan) -> Result<()> {
    apply_rlimits(sys, plan)?;
    if !plan.no_new_privileges {
        for f in &plan.seccomp {
            sys.seccomp(&f.program, f.flags)?;
        }
    }
    if let Some((bounding, _)) = &plan.capabilities {
        sys.apply_bounding(bounding)?;
    }
    // Try the working directory as root first: it may not be searchable by the user (runc
    // retries after the switch for the opposite case).
    let cwd_early = sys.chdir(&plan.cwd);
    sys.set_keep_caps(true)?;
    sys.setgroups(&plan.additional_gids)?;
    sys.setresgid(plan.gid)?;
    sys.setresuid(plan.uid)?;
    sys.set_keep_caps(false)?;
    if let Some((_, sets)) = &plan.capabilities {
        sys.apply_capabilities(sets)?;
    }
    sys.umask(plan.umask);
    if cwd_early.is_err() {
        sys.chdir(&plan.cwd).map_err(|e| {
            Error::Init(format!("cannot change to the working directory {:?} set in config.json: {e}", plan.cwd))
        })?;
    }
    Ok(())
}

/// Sets no_new_privs and installs the seccomp filters when `noNewPrivileges` is on: as late as
/// possible, so the filter sees as few of the runtime's own syscalls as possible.
pub fn apply_late_seccomp(sys: &dyn Syscall, plan: &ProcessPlan) -> Result<()> {
    if plan.no_new_privileges {
        sys.set_no_new_privs()?;
        for f in &plan.seccomp {
            sys.seccomp(&f.program, f.flags)?;
        }
    }
    Ok(())
}

fn exec_error(code: u8, arg0: &str, what: &str) -> Error {
    Error::Exec { code, message: format!("exec: {arg0:?}: {what}") }
}

fn check_executable(p: &Path) -> std::result::Result<(), (u8, String)> {
    match std::fs::metadata(p) {
        Err(e) => Err((127, format!("stat {}: {}", p.display(), errno_text(&e)))),
        Ok(m) if m.is_dir() => Err((126, "is a directory".into())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err((126, "permission denied".into())),
        Ok(_) => Ok(()),
    }
}

/// Go's lower-case error texts ("no such file or directory"), which Docker users grep for.
pub fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let s = nix::errno::Errno::from_raw(n).desc().to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}

/// Finds the executable for `arg0` like `exec.LookPath`: names with a slash are used as they
/// are, others are searched in `path` (the container's PATH; an empty entry means ".").
pub fn lookup_executable(arg0: &str, path: Option<&str>) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return check_executable(&p).map(|()| p).map_err(|(code, what)| exec_error(code, arg0, &what));
    }
    for dir in path.unwrap_or("").split(':') {
        if path.is_none() {
            break;
        }
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(exec_error(127, arg0, "executable file not found in $PATH"))
}

/// The error for a failed execve, with Docker's exit code (127 when something is missing, such
/// as a script's interpreter; 126 when it exists but cannot run).
pub fn execve_error(arg0: &str, errno: nix::errno::Errno) -> Error {
    let code = if errno == nix::errno::Errno::ENOENT { 127 } else { 126 };
    exec_error(code, arg0, &errno_text(&std::io::Error::from_raw_os_error(errno as i32)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::RecordingSyscall;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    fn plan(json: &str) -> ProcessPlan {
        ProcessPlan::new(&process(json), None).unwrap()
    }

    const DOCKER_CAPS: &str = r#"["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW",
        "CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]"#;

    #[test]
    fn identity_steps_follow_runc_order() {
        let p = plan(&format!(
            r#"{{"user":{{"uid":1000,"gid":1000,"additionalGids":[10,20],"umask":63}},"args":["sh"],"cwd":"/work",
                "capabilities":{{"bounding":{DOCKER_CAPS},"effective":{DOCKER_CAPS},"permitted":{DOCKER_CAPS}}},
                "rlimits":[{{"type":"RLIMIT_NOFILE","hard":1024,"soft":512}}]}}"#
        ));
        let sys = RecordingSyscall::new();
        apply_identity(&sys, &p).unwrap();
        let calls = sys.calls();
        let order: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
        assert_eq!(
            order,
            [
                "setrlimit",
                "bounding",
                "chdir",
                "keep_caps",
                "setgroups",
                "setresgid",
                "setresuid",
                "keep_caps",
                "caps",
                "umask"
            ]
        );
        assert_eq!(calls[0], format!("setrlimit {} 512 1024", libc::RLIMIT_NOFILE));
        assert!(calls[1].contains("CAP_AUDIT_WRITE,CAP_CHOWN,CAP_DAC_OVERRIDE"), "{}", calls[1]);
        assert_eq!(calls[4], "setgroups [10, 20]");
        assert!(calls[8].contains("inheritable= ambient="), "{}", calls[8]);
        assert_eq!(calls[9], "umask 77");
    }

    #[test]
    fn seccomp_before_caps_without_nnp_and_last_with_nnp() {
        let profile = crate::seccomp::testing::docker_like();
        let proc_json = r#"{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","noNewPrivileges":false,
            "capabilities":{"bounding":["CAP_KILL"]}}"#;
        let p = ProcessPlan::new(&process(proc_json), Some(&profile)).unwrap();
        let sys = RecordingSyscall::new();
        apply_identity(&sys, &p).unwrap();
        apply_late_seccomp(&sys, &p).unwrap();
        assert!(sys.position("seccomp").unwrap() < sys.position("bounding").unwrap());
        assert!(sys.position("no_new_privs").is_none());

        let p = ProcessPlan::new(&process(&proc_json.replace("false", "true")), Some(&profile)).unwrap();
        let sys = RecordingSyscall::new();
        apply_identity(&sys, &p).unwrap();
        assert!(sys.position("seccomp").is_none());
        apply_late_seccomp(&sys, &p).unwrap();
        let calls = sys.calls();
        assert_eq!(calls[calls.len() - 4], "no_new_privs");
        assert_eq!(sys.matching("seccomp").len(), 3);
    }

    #[test]
    fn rlimit_above_hard_limit_is_clamped() {
        let p = plan(
            r#"{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}]}"#,
        );
        let sys = RecordingSyscall::new();
        sys.fail_on(&format!("setrlimit {} 1048576 1048576", libc::RLIMIT_NOFILE), nix::errno::Errno::EPERM);
        apply_rlimits(&sys, &p).unwrap();
        // The double reports a hard limit of 4096.
        assert_eq!(sys.calls().last().unwrap(), &format!("setrlimit {} 4096 4096", libc::RLIMIT_NOFILE));
    }

    #[test]
    fn home_comes_from_passwd_unless_set() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        let mut p = plan(r#"{"user":{"uid":65534,"gid":65534},"args":["sh"],"cwd":"/","env":["PATH=/bin"]}"#);
        p.default_home(Some(passwd));
        assert_eq!(p.env_var("HOME"), Some("/nonexistent"));
        let mut p = plan(r#"{"user":{"uid":42,"gid":0},"args":["sh"],"cwd":"/"}"#);
        p.default_home(Some(passwd));
        assert_eq!(p.env_var("HOME"), Some("/"));
        let mut p = plan(r#"{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","env":["HOME=/x"]}"#);
        p.default_home(Some(passwd));
        assert_eq!(p.env, ["HOME=/x"]);
    }

    #[test]
    fn lookup_matches_docker_messages() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "x").unwrap();
        let path = format!("/nonexistent:{}", bin.display());
        assert_eq!(lookup_executable("tool", Some(&path)).unwrap(), bin.join("tool"));
        let e = lookup_executable("nope", Some(&path)).unwrap_err();
        assert_eq!((e.exit_code(), e.to_string()), (127, r#"exec: "nope": executable file not found in $PATH"#.into()));
        // A non-executable file on PATH is skipped, as Go does.
        assert_eq!(lookup_executable("data", Some(&path)).unwrap_err().exit_code(), 127);
        let data = bin.join("data").display().to_string();
        let e = lookup_executable(&data, None).unwrap_err();
        assert_eq!((e.exit_code(), e.to_string()), (126, format!("exec: {data:?}: permission denied")));
        let e = lookup_executable(bin.to_str().unwrap(), None).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        assert!(e.to_string().ends_with("is a directory"));
        let e = lookup_executable("/no/such", None).unwrap_err();
        assert_eq!(e.to_string(), r#"exec: "/no/such": stat /no/such: no such file or directory"#);
        assert_eq!(lookup_executable("tool", None).unwrap_err().exit_code(), 127);
    }

    #[test]
    fn bad_capability_or_args_fail_early() {
        let e = ProcessPlan::new(&process(r#"{"user":{"uid":0,"gid":0},"args":[],"cwd":"/"}"#), None).unwrap_err();
        assert!(e.to_string().contains("process.args"));
        let e =
            ProcessPlan::new(&process(r#"{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"rel"}"#), None).unwrap_err();
        assert!(e.to_string().contains("absolute"));
    }
}
