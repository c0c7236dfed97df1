//! How berth re-runs its own binary: the one way to find it, and the one place the command
//! lines of those runs are written (the CLI's `main` dispatches them back).
//!
//! There is no daemon, so the processes that must outlive or stand apart from the command that
//! starts them are the berth binary run again in a role. The contract, argv after the program
//! name (always `berth`):
//!
//! | role | argv | started by |
//! | --- | --- | --- |
//! | [`Role::Shim`] | `shim ROOT ID` | `start`/`run`: a container's supervisor (crate `berth-shim`) |
//! | [`Role::RuntimeRun`] | `runtime --root STATE run --bundle BUNDLE ID` | `build`: one RUN step's container |
//! | [`Role::DnsServe`] | `--root ROOT network dns-serve` | networking: a state root's DNS server |
//! | [`Role::HealthProbe`] | `health-probe ROOT ID` | a container's shim: one health check, exec'd into it |
//!
//! The supervisor and the build step are only ever started by the berth binary itself, so they
//! run this very binary (`/proc/self/exe`, right even if the file was replaced since, whatever
//! it is called), the supervisor from a sealed view of it (see [`crate::sealed`]): the container
//! it forks can never reach the host's binary writable through `/proc/<pid>/exe`. The DNS
//! server may be started from a library caller too (a test executable), so it runs
//! [`berth_exe`]: `$BERTH_EXE` when set, this binary when it is berth, else the `berth` built
//! beside the caller.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A role the berth binary is re-run in, with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// A container's supervisor: `shim ROOT ID`.
    Shim { root: &'a Path, id: &'a str },
    /// berth's OCI runtime running one bundle to its end: `runtime --root STATE run --bundle
    /// BUNDLE ID`.
    RuntimeRun { state: &'a Path, bundle: &'a Path, id: &'a str },
    /// The embedded DNS server of a state root: `--root ROOT network dns-serve`.
    DnsServe { root: &'a Path },
    /// One health check of a container, run by its shim: `health-probe ROOT ID`.
    HealthProbe { root: &'a Path, id: &'a str },
    /// Holds the terminal of an `exec -it` session the user detached from, so its process
    /// keeps it: `shim --hold-terminal` (a socket on descriptor 3 that the pty master comes
    /// over, or nothing).
    HoldTerminal,
}

impl Role<'_> {
    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let s = |x: &str| OsString::from(x);
        match *self {
            Role::Shim { root, id } => vec![s("shim"), root.into(), s(id)],
            Role::RuntimeRun { state, bundle, id } => {
                vec![s("runtime"), s("--root"), state.into(), s("run"), s("--bundle"), bundle.into(), s(id)]
            }
            Role::DnsServe { root } => vec![s("--root"), root.into(), s("network"), s("dns-serve")],
            Role::HealthProbe { root, id } => vec![s("health-probe"), root.into(), s(id)],
            Role::HoldTerminal => vec![s("shim"), s("--hold-terminal")],
        }
    }

    /// Whether the role's process forks a container's first process (and so must run from a
    /// sealed view of the binary). `runtime` seals itself when it starts (the CLI's `main`).
    fn sealed(&self) -> bool {
        matches!(self, Role::Shim { .. } | Role::HealthProbe { .. })
    }

    /// Whether only the berth binary itself starts this role (so it is this very binary).
    fn runs_self(&self) -> bool {
        matches!(self, Role::Shim { .. } | Role::RuntimeRun { .. } | Role::HealthProbe { .. } | Role::HoldTerminal)
    }
}

/// The berth binary to re-run (see the module's documentation).
pub fn berth_exe() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_EXE") {
        return Ok(p.into());
    }
    // A sealed view's path means nothing outside its own mount: /proc/self/exe always works.
    let exe = std::env::current_exe()?;
    if crate::sealed::running_sealed() || exe.file_name().is_some_and(|n| n == "berth") {
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for cand in [dir.join("berth"), dir.join("../berth")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Ok(exe)
}

/// A command that runs the berth binary in `role`, and the sealed view it runs from (keep it
/// until the command is spawned: the path is a descriptor of this process).
pub struct Reexec {
    pub command: Command,
    pub sealed: Option<OwnedFd>,
}

/// The command running `role` (arguments set, program name `berth`; stdio and spawning are the
/// caller's).
pub fn command(role: Role<'_>) -> io::Result<Reexec> {
    let exe = if role.runs_self() { PathBuf::from("/proc/self/exe") } else { berth_exe()? };
    let sealed =
        if role.sealed() && !crate::sealed::running_sealed() { Some(crate::sealed::sealed_self()?) } else { None };
    let path = sealed.as_ref().map_or(exe, crate::sealed::exec_path);
    let mut command = Command::new(path);
    std::os::unix::process::CommandExt::arg0(&mut command, "berth");
    command.args(role.args());
    Ok(Reexec { command, sealed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argv_contract() {
        let root = Path::new("/var/lib/berth");
        let args = |r: Role| r.args().into_iter().map(|a| a.into_string().unwrap()).collect::<Vec<_>>().join(" ");
        assert_eq!(args(Role::Shim { root, id: "abc" }), "shim /var/lib/berth abc");
        assert_eq!(
            args(Role::RuntimeRun { state: Path::new("/s"), bundle: Path::new("/b"), id: "x" }),
            "runtime --root /s run --bundle /b x"
        );
        assert_eq!(args(Role::DnsServe { root }), "--root /var/lib/berth network dns-serve");
        assert_eq!(args(Role::HealthProbe { root, id: "abc" }), "health-probe /var/lib/berth abc");
    }

    #[test]
    fn a_test_executable_finds_the_berth_beside_it_or_itself() {
        // From this test binary (not named berth): BERTH_EXE unset gives a berth next to it,
        // or the test binary itself; never an error.
        if std::env::var_os("BERTH_EXE").is_none() {
            let p = berth_exe().unwrap();
            assert!(p.is_file(), "{}", p.display());
        }
    }
}
