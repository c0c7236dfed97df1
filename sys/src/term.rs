//! Terminals: window sizes for `-it` sessions, the controlling terminal of a container's
//! process, and passing a pty master over a unix socket (runc's console-socket protocol).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// The (rows, cols) of the terminal on `fd`; `None` when it is not a terminal or has no size.
pub fn window_size(fd: impl AsFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which points to ours; the
    // borrowed fd is open for the call.
    let r = unsafe { tiocgwinsz(fd.as_fd().as_raw_fd(), &mut ws) };
    (r.is_ok() && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sets the window size of the terminal on `fd` (a pty master: its slave side sees SIGWINCH).
pub fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, valid for the call; the
    // borrowed fd is open for the call.
    unsafe { tiocswinsz(fd.as_fd().as_raw_fd(), &ws) }.map(drop).map_err(std::io::Error::from)
}

/// Makes the terminal on `fd` the controlling terminal of this process, which must be a
/// session leader without one (a fresh `setsid`).
pub fn set_controlling_terminal(fd: impl AsFd) -> std::io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal it from another session);
    // the borrowed fd is open for the call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(rc).map(drop).map_err(std::io::Error::from)
}

/// Sends `fd` over the unix socket `socket`, with `name` as the message payload (runc's
/// `--console-socket` protocol: one SCM_RIGHTS message carrying a pty master, with the
/// slave's path as payload).
pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [fd];
    sendmsg::<UnixAddr>(socket, &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)?;
    Ok(())
}

/// Receives one descriptor sent by [`send_fd`]; returns it with the payload (the pty slave's
/// path).
pub fn recv_fd(socket: RawFd) -> std::io::Result<(OwnedFd, String)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            fd = fds.first().copied();
        }
    }
    let n = msg.bytes;
    let fd = fd.ok_or_else(|| std::io::Error::other("the console socket message carried no file descriptor"))?;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    // SAFETY: the kernel just installed `fd` in this process for us; nothing else owns it.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_on_a_pty() {
        let pty = nix::pty::openpty(None, None).unwrap();
        set_window_size(&pty.master, 33, 101).unwrap();
        assert_eq!(window_size(&pty.slave), Some((33, 101)));
        let null = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(window_size(&null), None);
    }

    #[test]
    fn a_descriptor_crosses_a_socket_with_its_name() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        send_fd(a.as_raw_fd(), pty.master.as_raw_fd(), "/dev/pts/7").unwrap();
        let (master, name) = recv_fd(b.as_raw_fd()).unwrap();
        assert_eq!(name, "/dev/pts/7");
        set_window_size(&master, 12, 34).unwrap();
        assert_eq!(window_size(&pty.slave), Some((12, 34)), "the received fd is the same pty");
        drop(a);
        assert!(recv_fd(b.as_raw_fd()).is_err(), "a message without a descriptor");
    }
}
