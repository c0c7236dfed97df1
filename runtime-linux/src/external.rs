//! runc and crun behind the [`Runtime`] trait: `--runtime runc|crun` runs the same bundle under
//! those programs through their standard command line (`create`, `start`, `kill`, `delete`,
//! `state`, `exec`), as containerd's shim does.
//!
//! The program inherits the caller's stdio, which becomes the container's (berth's shim puts the
//! container's pipes on 0, 1 and 2 around `create`, as it does for the built-in runtime).
//! `create` logs as json to `<bundle>/runtime.log`, the other verbs to `<root>/<id>.log`
//! (`exec` to a file of its own), and a failure
//! carries the program's last error line with Docker's exit code for it. crun refuses this
//! machine's hybrid cgroup layout (v1 controllers plus a cgroup2 `unified` mount): it is run in
//! a private mount namespace with that mount hidden.

use berth_runtime::{
    exec_error_code, CreateOptions, Error, ExecOptions, ExitStatus, Program, Result, Runtime, State, Status,
};
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An external OCI runtime program and its state directory (its `--root`).
pub struct External {
    program: Program,
    path: PathBuf,
    root: PathBuf,
}

impl External {
    /// runc or crun, found on the host; `root` is the program's own state directory.
    pub fn new(program: Program, root: impl Into<PathBuf>) -> Result<External> {
        let name = program.as_str();
        let path = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
            .ok_or_else(|| Error::Spec(format!("runtime {name:?} is not installed")))?;
        Ok(External { program, path, root: root.into() })
    }

    fn command(&self, log: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(&self.root);
        if let Some(log) = log {
            cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        }
        if self.program == Program::Crun {
            hide_unified_cgroup(&mut cmd);
        }
        cmd
    }

    /// Runs a quiet verb; a failure is the program's last logged error.
    fn quiet(&self, log: &Path, args: &[&str], what: &str) -> Result<()> {
        let _ = std::fs::remove_file(log);
        let mut cmd = self.command(Some(log));
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let st = cmd.status().map_err(|e| Error::io(&self.path, e))?;
        if st.success() {
            return Ok(());
        }
        let message = last_error(log).unwrap_or_else(|| format!("OCI runtime {what} failed ({st})"));
        Err(Error::Exec { code: exec_error_code(&message), message })
    }

    fn log_of(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.log"))
    }
}

impl Runtime for External {
    fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let pid_file = opts.pid_file.clone().unwrap_or_else(|| bundle.join("init.pid"));
        let log = bundle.join("runtime.log");
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&log);
        let mut cmd = self.command(Some(&log));
        cmd.arg("create").arg("--bundle").arg(bundle).arg("--pid-file").arg(&pid_file);
        if let Some(sock) = &opts.console_socket {
            cmd.arg("--console-socket").arg(sock);
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        }
        cmd.arg(id);
        let st = cmd.status().map_err(|e| Error::io(&self.path, e))?;
        if !st.success() {
            let message = last_error(&log).unwrap_or_else(|| format!("OCI runtime create failed ({st})"));
            let _ = self.delete(id, true);
            return Err(Error::Exec { code: exec_error_code(&message), message });
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Error::Init("the OCI runtime wrote no pid file".into()))?;
        Ok(State {
            oci_version: berth_runtime::OCI_VERSION.into(),
            id: id.into(),
            status: Status::Created,
            pid,
            bundle: bundle.to_path_buf(),
            annotations: Default::default(),
            rootfs: bundle.join("rootfs"),
            created: berth_runtime::rfc3339(std::time::SystemTime::now()),
            oom_killed: false,
            exit_status: None,
            pid_start_time: 0,
            cgroup: None,
        })
    }

    fn start(&self, id: &str) -> Result<()> {
        self.quiet(&self.log_of(id), &["start", id], "start")
    }

    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let sig = (signal as i32).to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.quiet(&self.log_of(id), &args, "kill")
    }

    fn wait(&self, _id: &str) -> Result<Option<ExitStatus>> {
        // The init is the child of whoever is the subreaper (berth's shim), not of this call.
        Ok(None)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut cmd = self.command(None);
        cmd.arg("delete");
        if force {
            cmd.arg("--force");
        }
        cmd.arg(id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let _ = cmd.status();
        let _ = std::fs::remove_file(self.log_of(id));
        Ok(())
    }

    fn state(&self, id: &str) -> Result<State> {
        let out = self
            .command(None)
            .arg("state")
            .arg(id)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| Error::io(&self.path, e))?;
        if !out.status.success() {
            return Err(Error::NotFound(id.to_string()));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Spec(format!("{} state {id}: {e}", self.program)))
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.quiet(&self.log_of(id), &["pause", id], "pause")
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.quiet(&self.log_of(id), &["resume", id], "resume")
    }

    /// `exec --process`, with the caller's stdio unless detached; the process's exit status.
    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<Option<ExitStatus>> {
        let nonce =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let spec = self.root.join(format!("exec-{id}-{nonce:x}.json"));
        let log = self.root.join(format!("exec-{id}-{nonce:x}.log"));
        // The process spec carries its environment: the owner's only.
        let bytes = serde_json::to_vec(process).map_err(|e| Error::Spec(e.to_string()))?;
        berth_sys::fs::write_atomic(&spec, &bytes, 0o600, berth_sys::fs::Durability::Ordered, None)
            .map_err(|e| Error::io(&spec, e))?;
        let mut cmd = self.command(Some(&log));
        cmd.arg("exec").arg("--process").arg(&spec);
        if let Some(p) = &opts.pid_file {
            cmd.arg("--pid-file").arg(p);
        }
        if let Some(s) = &opts.console_socket {
            cmd.arg("--console-socket").arg(s);
        }
        if opts.detach {
            cmd.arg("--detach");
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        }
        cmd.arg(id);
        let st = cmd.status();
        let _ = std::fs::remove_file(&spec);
        let err = last_error(&log);
        let _ = std::fs::remove_file(&log);
        let st = st.map_err(|e| Error::io(&self.path, e))?;
        if opts.detach {
            return match (st.success(), err) {
                (true, _) => Ok(None),
                (false, m) => {
                    let message = m.unwrap_or_else(|| format!("exec failed ({st})"));
                    Err(Error::Exec { code: exec_error_code(&message), message })
                }
            };
        }
        // The runtime's own failure to start the process (as opposed to the process's status).
        if let Some(message) = err.filter(|m| m.contains("exec failed") || m.contains("unable to start")) {
            return Err(Error::Exec { code: exec_error_code(&message), message });
        }
        use std::os::unix::process::ExitStatusExt;
        Ok(Some(match (st.code(), st.signal()) {
            (Some(c), _) => ExitStatus::Code(c),
            (None, s) => ExitStatus::Signal(s.unwrap_or(0)),
        }))
    }
}

/// crun refuses a hybrid cgroup layout (v1 controllers plus a cgroup2 `unified` mount); it runs
/// fine when the unified mount is hidden from it in a private mount namespace.
fn hide_unified_cgroup(cmd: &mut Command) {
    if !Path::new("/sys/fs/cgroup/unified").exists() || Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return;
    }
    berth_sys::process::hide_mount_on_spawn(cmd, c"/sys/fs/cgroup/unified");
}

/// The last error the program logged (its `--log-format json` file, or plain lines).
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut last = None;
    for l in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
            if v["level"] == "error" || v["level"] == "fatal" {
                if let Some(m) = v["msg"].as_str() {
                    last = Some(m.to_string());
                }
            }
        } else if !l.trim().is_empty() {
            last = Some(l.trim().to_string());
        }
    }
    last
}
