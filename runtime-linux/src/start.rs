//! The `start` verb: open the container's `exec.fifo`, which releases its init (blocked opening
//! the other end), read the byte it writes, and remove the fifo (its absence is what makes the
//! status `running`).

use crate::error::{Error, Result};
use crate::state::Container;
use crate::syscall::Syscall;
use crate::Linux;
use berth_runtime::Status;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

impl<S: Syscall> Linux<S> {
    pub(crate) fn start_impl(&self, id: &str) -> Result<()> {
        let mut c = Container::load(&self.root, id)?;
        c.refresh(&self.sys);
        if c.state.status != Status::Created {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: c.state.status.to_string(),
                reason: "only a created container can be started".into(),
            });
        }
        let path = c.fifo();
        release_init(&path, || c.alive(), &format!("container {id:?}"))
    }
}

/// Releases a created container's init by reading its end of `exec.fifo` (the init blocks
/// opening the other end until then), then removes the fifo. Shared by every runtime whose
/// `create` parks its process on the fifo. `alive` is polled so that an init which died
/// before it could open its end fails the start instead of hanging it.
pub fn release_init(path: &std::path::Path, alive: impl Fn() -> bool, what: &str) -> Result<()> {
    // Non-blocking, so a dead init (that will never open its end) cannot hang us.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    loop {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let rc = poll(&mut [PollFd::new(f.as_fd(), PollFlags::POLLIN)], PollTimeout::from(100u16)).unwrap_or(-1);
        if rc > 0 {
            let mut b = [0u8; 1];
            match f.read(&mut b) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if !alive() {
            let _ = std::fs::remove_file(path);
            return Err(Error::Init(format!("{what}: the init process exited before it was started")));
        }
    }
    std::fs::remove_file(path).map_err(|e| Error::io(path, e))
}
