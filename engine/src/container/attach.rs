//! The stream between a CLI and a container's shim: start result, output, input, exit code.
//!
//! The CLI creates a socketpair and hands one end to the shim it spawns (fd 3), so nothing
//! the container prints can be lost between start and attach, and no listening socket exists.
//! Frames are `[kind u8][len u32 BE][payload]`. The shim sends `STARTED` (or `ERROR` with
//! Docker's exit code) once, then `STDOUT`/`STDERR`, then `EXIT` after the last output. The
//! CLI sends `STDIN`, `STDIN_EOF` and `RESIZE`. Closing the CLI's end detaches: the container
//! keeps running, owned by its shim.

use crate::{Error, Result};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const ERROR: u8 = 4;
pub const STARTED: u8 = 5;
pub const STDIN_EOF: u8 = 6;
pub const RESIZE: u8 = 7;

/// Largest frame accepted (a sanity bound, not a protocol limit anyone reaches).
const MAX_FRAME: usize = 1 << 20;

pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + data.len());
    buf.push(kind);
    buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((h[0], data)))
}

/// How a start went.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    Running {
        pid: i32,
    },
    /// Docker's exit code (125 berth, 126 cannot execute, 127 not found) and the reason.
    Failed {
        code: u8,
        message: String,
    },
}

/// Docker's mapping of a start error to the CLI's exit code (one implementation, the runtimes').
pub use berth_runtime::exec_error_code as start_error_code;

/// The CLI's end of the stream (or nothing, when not attached).
pub struct Session {
    sock: Option<UnixStream>,
    /// Which of the container's output streams reach ours (`run -a`): (stdout, stderr).
    streams: (bool, bool),
}

impl Session {
    pub fn new(sock: UnixStream) -> Session {
        Session { sock: Some(sock), streams: (true, true) }
    }

    pub fn none() -> Session {
        Session { sock: None, streams: (true, true) }
    }

    pub fn is_attached(&self) -> bool {
        self.sock.is_some()
    }

    /// Waits for the shim's verdict on the start.
    pub fn wait_started(&mut self) -> Result<Started> {
        let Some(s) = self.sock.as_mut() else { return Ok(Started::Running { pid: 0 }) };
        loop {
            match read_frame(s) {
                Ok(Some((STARTED, d))) => {
                    let pid = d.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
                    return Ok(Started::Running { pid });
                }
                Ok(Some((ERROR, d))) => {
                    let code = d.first().copied().unwrap_or(125);
                    let message = String::from_utf8_lossy(d.get(1..).unwrap_or_default()).into_owned();
                    return Ok(Started::Failed { code, message });
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => {
                    return Ok(Started::Failed {
                        code: 125,
                        message: "the container's shim exited before starting it".into(),
                    })
                }
            }
        }
    }

    /// Relays only the output streams named (`run -a`); the others are only logged.
    pub fn with_streams(mut self, stdout: bool, stderr: bool) -> Session {
        self.streams = (stdout, stderr);
        self
    }

    /// Closes the stream: the container runs on without us.
    pub fn detach(&mut self) {
        self.sock = None;
    }

    /// Copies output to our stdout/stderr (and, with `stdin`, our stdin to the container)
    /// until the container exits; returns its exit code. With `tty`, the caller has put the
    /// terminal in raw mode and window-size changes are forwarded.
    pub fn forward(mut self, stdin: bool, tty: bool) -> Result<i32> {
        let Some(mut s) = self.sock.take() else { return Ok(0) };
        if stdin {
            let mut w = s.try_clone().map_err(|e| Error::Other(format!("attach: {e}")))?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                let mut input = io::stdin().lock();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) => {
                            let _ = write_frame(&mut w, STDIN_EOF, &[]);
                            break;
                        }
                        Ok(n) => {
                            if write_frame(&mut w, STDIN, &buf[..n]).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            let _ = write_frame(&mut w, STDIN_EOF, &[]);
                            break;
                        }
                    }
                }
            });
        }
        if tty {
            if let Ok(mut w) = s.try_clone() {
                std::thread::spawn(move || {
                    let mut last = (0u16, 0u16);
                    loop {
                        if let Some(sz) = terminal_size() {
                            if sz != last {
                                last = sz;
                                let mut d = sz.0.to_be_bytes().to_vec();
                                d.extend_from_slice(&sz.1.to_be_bytes());
                                if write_frame(&mut w, RESIZE, &d).is_err() {
                                    break;
                                }
                            }
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                });
            }
        }
        let mut out = io::stdout();
        let mut err = io::stderr();
        loop {
            match read_frame(&mut s) {
                Ok(Some((STDOUT, d))) if self.streams.0 => {
                    let _ = out.write_all(&d);
                    let _ = out.flush();
                }
                Ok(Some((STDERR, d))) if self.streams.1 => {
                    let _ = err.write_all(&d);
                }
                Ok(Some((EXIT, d))) => {
                    let code = d.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
                    return Ok(code);
                }
                Ok(Some((ERROR, d))) => {
                    let code = d.first().copied().unwrap_or(125);
                    let message = String::from_utf8_lossy(d.get(1..).unwrap_or_default()).into_owned();
                    return Err(Error::StartFailed { code, message });
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Err(Error::Other("lost the connection to the container's shim".into())),
            }
        }
    }
}

/// The controlling terminal's (rows, cols), if stdin is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    berth_sys::term::window_size(io::stdin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, &3i32.to_be_bytes()).unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((EXIT, 3i32.to_be_bytes().to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn docker_start_error_codes() {
        assert_eq!(start_error_code("exec: \"nope\": executable file not found in $PATH"), 127);
        assert_eq!(start_error_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(start_error_code("unable to find user x"), 125);
    }
}
