//! Terminals: `process.terminal: true` gives the container a pseudo-terminal whose master end
//! is handed to whoever listens on the console socket (runc's `--console-socket` protocol: one
//! SCM_RIGHTS message carrying the master fd, with the slave's path as payload).
//!
//! The pty is allocated inside the container, from its own devpts instance (`/dev/ptmx ->
//! pts/ptmx`), so the slave is `/dev/pts/0` there and also appears as `/dev/console`. The
//! receiving side (the engine's supervisor, later `berth run -it`) copies between the master and
//! the user's terminal and resizes it with TIOCSWINSZ.

use crate::error::{Error, Result};
use crate::syscall::Syscall;
use berth_sys::term::{send_fd, set_controlling_terminal, set_window_size, window_size};
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Inside the container (after pivot_root): allocates the pty, sends the master over `socket`,
/// makes the slave the controlling terminal and stdio, and binds it on /dev/console.
pub fn setup(sys: &dyn Syscall, socket: RawFd, size: Option<(u16, u16)>, console_mount: bool) -> Result<()> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let slave_path = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    if let Some((rows, cols)) = size {
        set_window_size(&master, rows, cols)
            .map_err(|e| Error::Sys { what: "set the terminal size".into(), source: e })?;
    }
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&slave_path)
        .map_err(|e| Error::Sys { what: format!("open {slave_path}"), source: e })?
        .into();
    if console_mount {
        let console = Path::new("/dev/console");
        sys.create_file(console)?;
        sys.mount(Some(Path::new(&slave_path)), console, None, MsFlags::MS_BIND, None)?;
    }
    send_fd(socket, master.as_raw_fd(), &slave_path)
        .map_err(|e| Error::Sys { what: "send the console fd over the console socket".into(), source: e })?;
    drop(master);
    sys.setsid()?;
    set_controlling_terminal(&slave)
        .map_err(|e| Error::Sys { what: "make the pty the controlling terminal".into(), source: e })?;
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(|e| Error::sys("dup2 the pty onto stdio", e))?;
    }
    Ok(())
}

/// Relays between the caller's stdin/stdout and a pty master until the container side closes;
/// stdin is put in raw mode (and restored) when it is a terminal, whose size the pty takes.
pub fn relay(master: OwnedFd) -> Result<()> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    use std::io::{Read, Write};
    // stdin is read with read(2), not through std's buffered Stdin, which poll(2) cannot see into.
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let saved = tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        if let Some((rows, cols)) = window_size(stdin.as_fd()) {
            let _ = set_window_size(&master, rows, cols);
        }
    }
    let mut m = std::fs::File::from(master);
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let result = loop {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = vec![PollFd::new(m.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => break Err(Error::sys("poll the terminal", e)),
            Ok(_) => {}
        }
        let ready = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
        let (master_ready, stdin_ready) = (ready(0), ready(1));
        drop(fds);
        if master_ready {
            match m.read(&mut buf) {
                // EIO: every slave descriptor is closed, the container is done with the terminal.
                Ok(0) | Err(_) => break Ok(()),
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                }
            }
        }
        if stdin_ready {
            match nix::unistd::read(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = m.write_all(&buf[..n]);
                }
            }
        }
    };
    if let Some(t) = &saved {
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, t);
    }
    result
}
