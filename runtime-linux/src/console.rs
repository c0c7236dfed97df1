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
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Sends `fd` over the unix socket `socket`, with `name` as the message payload.
pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let iov = [IoSlice::new(name.as_bytes())];
    let fds = [fd];
    sendmsg::<UnixAddr>(socket, &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(|e| Error::sys("send the console fd over the console socket", e))?;
    Ok(())
}

/// Receives one fd sent by [`send_fd`]; returns it with the payload (the pty slave's path).
pub fn recv_fd(socket: RawFd) -> Result<(OwnedFd, String)> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::sys("receive from the console socket", e))?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(|e| Error::sys("console socket message", e))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            fd = fds.first().copied();
        }
    }
    let n = msg.bytes;
    let fd = fd.ok_or_else(|| Error::Init("the console socket message carried no file descriptor".into()))?;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    // SAFETY: the kernel just installed `fd` in this process for us; nothing else owns it.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, name))
}

/// Sets a terminal's size.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(rc).map(drop).map_err(|e| Error::sys("set the terminal size", e))
}

/// Inside the container (after pivot_root): allocates the pty, sends the master over `socket`,
/// makes the slave the controlling terminal and stdio, and binds it on /dev/console.
pub fn setup(sys: &dyn Syscall, socket: RawFd, size: Option<(u16, u16)>, console_mount: bool) -> Result<()> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let slave_path = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    if let Some((rows, cols)) = size {
        set_size(master.as_raw_fd(), rows, cols)?;
    }
    let slave =
        nix::fcntl::open(Path::new(&slave_path), OFlag::O_RDWR | OFlag::O_NOCTTY, nix::sys::stat::Mode::empty())
            .map_err(|e| Error::sys(format!("open {slave_path}"), e))?;
    // SAFETY: `open` returned a new descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if console_mount {
        let console = Path::new("/dev/console");
        sys.create_file(console)?;
        sys.mount(Some(Path::new(&slave_path)), console, None, MsFlags::MS_BIND, None)?;
    }
    send_fd(socket, master.as_raw_fd(), &slave_path)?;
    drop(master);
    sys.setsid()?;
    // SAFETY: TIOCSCTTY takes an integer argument; `slave` is open.
    let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(rc).map_err(|e| Error::sys("make the pty the controlling terminal", e))?;
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
        let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ fills the winsize the pointer refers to.
        if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
            let _ = set_size(master.as_raw_fd(), ws.ws_row, ws.ws_col);
        }
    }
    let mut m = std::fs::File::from(master);
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let result = loop {
        let mut fds = [
            libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: two valid pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            break Err(Error::sys("poll the terminal", nix::errno::Errno::last()));
        }
        if fds[0].revents != 0 {
            match m.read(&mut buf) {
                // EIO: every slave descriptor is closed, the container is done with the terminal.
                Ok(0) | Err(_) => break Ok(()),
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                }
            }
        }
        if fds[1].revents != 0 {
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
