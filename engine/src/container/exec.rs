//! `exec`: one more process in a running container, configured like its main process.
//!
//! The process gets the container's environment (plus `-e`), user (or `-u`, resolved through
//! the container's own `/etc/passwd` and `/etc/group`), working directory (or `-w`),
//! capabilities, no_new_privs and seccomp profile, as Docker's exec does; the runtime enters
//! the container's namespaces and cgroup. It is spawned from the calling (single-threaded)
//! CLI process but never gets the CLI's own stdio (a background process in the container would
//! read the user's terminal): pipes, or with `-t` a pseudo-terminal from the runtime, which the
//! CLI relays.

use super::{spec, Container};
use crate::{Engine, Error, Result};
use serde_json::json;

/// What `berth exec` asks for.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub detach: bool,
    /// Bytes that detach from a terminal session (`-it`), leaving the process running.
    pub detach_keys: Vec<u8>,
}

impl Engine {
    /// Runs a process in a running container; its exit code, or `None` when it runs on
    /// detached (`-d`, or the user typed the detach keys).
    pub fn exec_in(&self, c: &mut Container, o: &ExecOptions) -> Result<Option<i32>> {
        c.reload_state()?;
        if !c.state.running {
            return Err(Error::Conflict(format!("container {} is not running", c.id)));
        }
        let process = self.exec_process(c, o)?;
        super::runtime::exec(c, &process, o.detach, &o.detach_keys)
    }

    /// The OCI process `exec` runs (a health probe too): the container's own, with `o` over it.
    pub(crate) fn exec_process(&self, c: &Container, o: &ExecOptions) -> Result<serde_json::Value> {
        if o.cmd.is_empty() {
            return Err(Error::Other("exec: no command given".into()));
        }
        let mut env = c.process.env.clone();
        for e in &o.env {
            if e.contains('=') {
                spec::env_set(&mut env, e.clone());
            } else if let Ok(v) = std::env::var(e) {
                spec::env_set(&mut env, format!("{e}={v}"));
            }
        }
        if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let (uid, gid, gids) = match &o.user {
            Some(u) if !u.is_empty() => {
                let mut probe = c.clone();
                probe.config.user = u.clone();
                probe.process.env.retain(|e| !e.starts_with("HOME="));
                // Docker's exec fails with 126 when the user is not there.
                spec::resolve_user(&mut probe, &c.rootfs())
                    .map_err(|e| Error::StartFailed { code: 126, message: e.to_string() })?;
                if let Some(h) = probe.process.env.iter().find(|e| e.starts_with("HOME=")) {
                    spec::env_set(&mut env, h.clone());
                }
                (probe.process.uid, probe.process.gid, probe.process.additional_gids)
            }
            _ => (c.process.uid, c.process.gid, c.process.additional_gids.clone()),
        };
        let (caps, no_new_privileges) = super::security::process_privileges(&c.host_config);
        let mut process = json!({
            "terminal": o.tty,
            "user": { "uid": uid, "gid": gid },
            "args": o.cmd,
            "env": env,
            "cwd": o.workdir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| c.process.cwd.clone()),
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "noNewPrivileges": no_new_privileges,
        });
        if !gids.is_empty() {
            process["user"]["additionalGids"] = json!(gids);
        }
        if o.tty {
            if let Some((rows, cols)) = super::attach::terminal_size() {
                process["consoleSize"] = json!({ "height": rows, "width": cols });
            }
        }
        Ok(process)
    }
}
