//! Terminal control: window sizes and raw mode for `-it` sessions.

use std::os::fd::{AsFd, AsRawFd};

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
}
