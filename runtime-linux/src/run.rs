//! The `run` verb: create + start + wait + delete in one process, on a fast path: the init
//! execs as soon as it is set up (no fifo, no second invocation), the runtime forwards the
//! signals it receives to it, reaps it, reads the OOM verdict and cleans up. A terminal with no
//! console socket is relayed to the runtime's own stdin/stdout (raw mode while it lasts). With `keep` the
//! stopped container stays (state.json then has `exitStatus` and `oomKilled`) until `delete`.

use crate::error::{Error, Result};
use crate::process;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::ExitStatus;
use berth_runtime::RunOptions;
use std::os::fd::AsRawFd;
use std::path::Path;

impl<S: Syscall> Linux<S> {
    pub(crate) fn run_impl(&self, id: &str, bundle: &Path, opts: &RunOptions) -> Result<Option<ExitStatus>> {
        let (mut c, console) = self.spawn(id, bundle, &opts.create, false, !opts.detach)?;
        if opts.detach {
            return Ok(None);
        }
        process::forward_signals_to(c.state.pid);
        if let Some(sock) = console {
            // A terminal and nobody to hand it to: relay it to our own stdio, as `runc run` does.
            let (master, _) = berth_sys::term::recv_fd(sock.as_raw_fd())
                .map_err(|e| Error::Sys { what: "receive from the console socket".into(), source: e })?;
            crate::console::relay(master)?;
        }
        let status = process::wait_child(c.state.pid)?;
        c.check_oom(&self.sys);
        if opts.keep {
            c.state.exit_status = Some(status.code() as i32);
            c.save()?;
        } else {
            self.remove(&c)?;
        }
        Ok(Some(status))
    }
}
