//! The `exec` verb: one more process in a running container (what `berth exec` will use).
//!
//! The runtime enters the init's PID namespace itself (affecting only its children) and forks;
//! the child joins the container's cgroup, enters its cgroup, IPC, UTS, network and mount
//! namespaces (mount last: it switches root and working directory to the container's), then
//! becomes the configured user with the configured capabilities, under the container's
//! seccomp profile, like the init did. Namespaces the runtime already shares are skipped.

use crate::container_process::{self, ProcessPlan};
use crate::error::{Error, IoContext, Result};
use crate::init::{self, Gate};
use crate::process::{self, Reply};
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::ExitStatus;
use berth_runtime::Status;
use berth_runtime::{load_spec, ExecOptions};
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn same_namespace(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
        _ => false,
    }
}

impl<S: Syscall> Linux<S> {
    pub(crate) fn exec_impl(&self, id: &str, process_spec: &Process, opts: &ExecOptions) -> Result<Option<ExitStatus>> {
        process::ensure_single_threaded()?;
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        if !matches!(c.state.status, Status::Running | Status::Created) {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: c.state.status.to_string(),
                reason: "cannot exec in a container that is not running".into(),
            });
        }
        let spec = load_spec(&c.state.bundle)?;
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        let mut plan = ProcessPlan::new(process_spec, seccomp)?;
        let pid = c.state.pid;

        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut join = Vec::new();
        for (name, flag) in [
            ("cgroup", CloneFlags::CLONE_NEWCGROUP),
            ("ipc", CloneFlags::CLONE_NEWIPC),
            ("uts", CloneFlags::CLONE_NEWUTS),
            ("net", CloneFlags::CLONE_NEWNET),
            ("pid", CloneFlags::CLONE_NEWPID),
            ("mnt", CloneFlags::CLONE_NEWNS),
        ] {
            let theirs = format!("/proc/{pid}/ns/{name}");
            if !Path::new(&theirs).exists()
                || same_namespace(Path::new(&theirs), Path::new(&format!("/proc/self/ns/{name}")))
            {
                continue;
            }
            let f = File::open(&theirs).at(&theirs)?;
            if flag == CloneFlags::CLONE_NEWPID {
                self.sys.setns(f.as_raw_fd(), flag)?;
            } else {
                join.push((flag, f.as_raw_fd()));
                fds.push(f.into());
            }
        }
        let console = match (&opts.console_socket, plan.terminal) {
            (Some(path), true) => Some(
                std::os::unix::net::UnixStream::connect(path)
                    .map_err(|e| Error::Init(format!("connect to the console socket {}: {e}", path.display())))?,
            ),
            (None, true) => {
                return Err(Error::Spec(
                    "process.terminal is true: a console socket (--console-socket) is required".into(),
                ))
            }
            _ => None,
        };
        let procs = c.state.cgroup.as_ref().map(|cg| cg.procs_files()).unwrap_or_default();
        // Set here, before the fork, so the child is never dumpable inside the container's
        // PID namespace, not even between fork and its first instruction.
        process::set_non_dumpable()?;
        let (reader, writer) = process::pipe()?;
        match process::fork()? {
            process::Forked::Child => {
                drop(reader);
                process::reset_signals();
                let sync = writer.as_raw_fd();
                let sys = &self.sys;
                // Already non-dumpable (inherited); nothing of the caller's (its other
                // descriptors, `9</host/dir`) goes along into the container.
                let mut keep = vec![sync];
                keep.extend(console.as_ref().map(|c| c.as_raw_fd()));
                keep.extend(join.iter().map(|(_, fd)| *fd));
                process::close_fds_except(3 + opts.preserve_fds, &keep);
                let setup = (|| {
                    init::enter(sys, &procs, &join, plan.oom_score_adj)?;
                    if plan.terminal {
                        let sock = console.as_ref().map(|c| c.as_raw_fd()).unwrap_or(-1);
                        crate::console::setup(sys, sock, plan.console_size, false)?;
                    }
                    let passwd = sys.read_file(Path::new("/etc/passwd")).ok();
                    plan.default_home(passwd.as_deref());
                    container_process::apply_identity(sys, &plan)?;
                    container_process::lookup_executable(&plan.args[0], plan.env_var("PATH"))
                })();
                let err = match setup {
                    Ok(exe) => init::finish(sys, &plan, &exe, sync, Gate::None, opts.preserve_fds),
                    Err(e) => e,
                };
                init::report_and_exit(sync, Gate::None, &err)
            }
            process::Forked::Parent(child) => {
                drop(writer);
                drop(console);
                drop(fds);
                if let Reply::Failed(code, message) = process::read_reply(reader)? {
                    let _ = process::wait_child(child);
                    return Err(if code == 126 || code == 127 {
                        Error::Exec { code, message }
                    } else {
                        Error::Init(message)
                    });
                }
                if let Some(pf) = &opts.pid_file {
                    std::fs::write(pf, child.to_string()).at(pf)?;
                }
                if opts.detach {
                    return Ok(None);
                }
                process::forward_signals_to(child);
                process::wait_child(child).map(Some)
            }
        }
    }
}
