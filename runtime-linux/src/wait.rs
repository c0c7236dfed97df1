//! The `wait` verb: wait for the container's init to exit. Its exit status is only knowable by
//! its parent (or the subreaper it was reparented to): then it is returned and recorded in
//! state.json, along with the OOM verdict; otherwise the call just waits (with a pidfd) and
//! returns what was recorded, if anything.

use crate::error::Result;
use crate::process;
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::ExitStatus;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

impl<S: Syscall> Linux<S> {
    pub(crate) fn wait_impl(&self, id: &str) -> Result<Option<ExitStatus>> {
        let mut c = Container::load(&self.root, id)?;
        let recorded = || c.state.exit_status.map(decode);
        if c.state.pid <= 0 {
            return Ok(recorded());
        }
        let status = loop {
            match waitpid(Pid::from_raw(c.state.pid), None) {
                Ok(WaitStatus::Exited(_, code)) => break ExitStatus::Code(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => break ExitStatus::Signal(sig as i32),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    // Not our child: wait for it to go away and report what is known.
                    if c.alive() {
                        process::wait_any(c.state.pid)?;
                    }
                    let mut c = Container::load(&self.root, id)?;
                    c.check_oom(&self.sys);
                    return Ok(c.state.exit_status.map(decode));
                }
            }
        };
        c.state.exit_status = Some(status.code() as i32);
        c.check_oom(&self.sys);
        c.save()?;
        Ok(Some(status))
    }
}

/// The inverse of [`ExitStatus::code`].
fn decode(code: i32) -> ExitStatus {
    if code > 128 {
        ExitStatus::Signal(code - 128)
    } else {
        ExitStatus::Code(code)
    }
}
