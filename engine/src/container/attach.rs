//! The stream between a CLI and a container's shim: start result, output, input, exit code.
//!
//! The CLI that starts a container creates a socketpair and hands one end to the shim it
//! spawns (fd 3), so nothing the container prints can be lost between start and attach. Later
//! clients (`berth attach`) connect to the socket the shim listens on in the container's
//! directory ([`SOCKET`], root-only like the directory), any number at once: the shim sends
//! every client all output and takes input from each. Frames are `[kind u8][len u32 BE][payload]`. The shim sends `STARTED` (or `ERROR` with
//! Docker's exit code) once, then `STDOUT`/`STDERR`, then `EXIT` after the last output. The
//! CLI sends `STDIN`, `STDIN_EOF` and `RESIZE`. Closing the CLI's end detaches: the container
//! keeps running, owned by its shim. Detach keys (Docker's Ctrl-P Ctrl-Q) are recognised here,
//! on the CLI's side of the stream, in what it reads from its terminal.

use crate::{Error, Result};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const ERROR: u8 = 4;
pub const STARTED: u8 = 5;
pub const STDIN_EOF: u8 = 6;
pub const RESIZE: u8 = 7;

/// The socket in a container's directory on which its shim accepts `berth attach` clients.
pub const SOCKET: &str = "attach.sock";

/// Docker's default detach keys, Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// `dir/attach.sock` by a path short enough for a socket address whatever the state root
/// (`sun_path` holds 108 bytes; a root deep in a temporary directory passes that): through
/// `/proc/self/fd` and a descriptor of the directory, which the caller keeps open.
fn socket_path(dir: &Path) -> io::Result<(File, PathBuf)> {
    let d = File::open(dir)?;
    let p = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd()));
    Ok((d, p))
}

/// The shim's listening socket for later clients, replacing a stale one, root-only.
pub fn listen(dir: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let (_d, p) = socket_path(dir)?;
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let l = UnixListener::bind(&p)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Connects to a running container's shim.
pub fn connect(dir: &Path) -> io::Result<UnixStream> {
    let (_d, p) = socket_path(dir)?;
    UnixStream::connect(p)
}

/// Parses Docker's detach-key syntax (`ctrl-p,ctrl-q`, `ctrl-a,a`: a comma-separated list of
/// single characters and `ctrl-<a-z, @, [, \, ], ^ or _>`) into the bytes that detach.
pub fn parse_detach_keys(keys: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in keys.split(',') {
        let b = key.as_bytes();
        if b.len() == 1 {
            out.push(b[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        match lower.strip_prefix("ctrl-").map(str::as_bytes) {
            Some([c @ b'a'..=b'z']) => out.push(c - b'a' + 1),
            Some([c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')]) => out.push(c ^ 0x40),
            _ => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(out)
}

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this code.
    Exited(i32),
    /// The user typed the detach keys: the container runs on.
    Detached,
}

/// What an attached CLI relays.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    /// Send our stdin to the container.
    pub stdin: bool,
    /// The container has a terminal: forward window-size changes (the caller made ours raw).
    pub tty: bool,
    /// Tell the container our stdin ended (Docker's `run -i`, whose stdin is the container's
    /// alone); a later `attach` leaves the container's stdin open when its own input ends.
    pub close_stdin: bool,
    /// Bytes that detach (only with a terminal, as in Docker).
    pub detach_keys: Vec<u8>,
    /// Nudge the container's terminal to redraw (Docker's attach resizes it to one more row
    /// and column, then back, so a shell redraws its prompt).
    pub redraw: bool,
}

/// Watches for the detach keys in what the user types; what is not (or turns out not to be)
/// the sequence is passed on.
pub(crate) struct Escape<'a> {
    keys: &'a [u8],
    held: usize,
}

impl<'a> Escape<'a> {
    pub(crate) fn new(keys: &'a [u8]) -> Escape<'a> {
        Escape { keys, held: 0 }
    }

    /// Appends to `out` what should reach the container; true when the whole sequence was typed.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            if b == self.keys[0] {
                self.held = 1;
                if self.keys.len() == 1 {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

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
    /// until the container exits or the user detaches.
    pub fn forward(mut self, f: &Forward) -> Result<Ended> {
        let Some(mut s) = self.sock.take() else { return Ok(Ended::Exited(0)) };
        let detached = Arc::new(AtomicBool::new(false));
        if f.stdin {
            let mut w = s.try_clone().map_err(|e| Error::Other(format!("attach: {e}")))?;
            let keys = if f.tty { f.detach_keys.clone() } else { Vec::new() };
            let (close, flag) = (f.close_stdin, detached.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                let mut esc = Escape::new(&keys);
                let mut pass = Vec::with_capacity(buf.len());
                let mut input = io::stdin().lock();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            pass.clear();
                            let detach = esc.feed(&buf[..n], &mut pass);
                            if !pass.is_empty() && write_frame(&mut w, STDIN, &pass).is_err() {
                                return;
                            }
                            if detach {
                                // Ends the relay below: our reads of the stream see its end.
                                flag.store(true, Ordering::SeqCst);
                                let _ = w.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                if close {
                    let _ = write_frame(&mut w, STDIN_EOF, &[]);
                }
            });
        }
        if f.tty {
            if let Ok(mut w) = s.try_clone() {
                let redraw = f.redraw;
                std::thread::spawn(move || {
                    let mut last = None;
                    let resize = |w: &mut UnixStream, (rows, cols): (u16, u16)| {
                        let mut d = rows.to_be_bytes().to_vec();
                        d.extend_from_slice(&cols.to_be_bytes());
                        write_frame(w, RESIZE, &d)
                    };
                    if let (true, Some((rows, cols))) = (redraw, terminal_size()) {
                        let _ = resize(&mut w, (rows.saturating_add(1), cols.saturating_add(1)));
                    }
                    loop {
                        if let Some(sz) = terminal_size() {
                            if Some(sz) != last {
                                last = Some(sz);
                                if resize(&mut w, sz).is_err() {
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
                    return Ok(Ended::Exited(code));
                }
                Ok(Some((ERROR, d))) => {
                    let code = d.first().copied().unwrap_or(125);
                    let message = String::from_utf8_lossy(d.get(1..).unwrap_or_default()).into_owned();
                    return Err(Error::StartFailed { code, message });
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) if detached.load(Ordering::SeqCst) => return Ok(Ended::Detached),
                Ok(None) | Err(_) => return Err(Error::Other("lost the connection to the container's shim".into())),
            }
        }
    }
}

impl crate::Engine {
    /// Attaches to a running container through its shim's socket (Docker's `attach`).
    pub fn attach_container(&self, c: &mut super::Container) -> Result<Session> {
        c.reload_state()?;
        if c.state.paused {
            return Err(Error::Conflict("You cannot attach to a paused container, unpause it first".into()));
        }
        if c.state.restarting {
            return Err(Error::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        if !c.state.running || !super::shim_alive(&c.dir) {
            return Err(Error::Conflict("You cannot attach to a stopped container, start it first".into()));
        }
        connect(&c.dir)
            .map(Session::new)
            .map_err(|e| Error::Other(format!("attaching to container {}: {e}", c.short_id())))
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
    fn detach_keys_parse_as_docker() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,a").unwrap(), vec![1, b'a']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-_,CTRL-X").unwrap(), vec![0, 27, 28, 31, 24]);
        assert_eq!(parse_detach_keys("bad").unwrap_err(), "Unknown character: 'bad'");
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ctrl-ab").is_err());
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn escape_holds_a_prefix_and_passes_a_mismatch() {
        let keys = [0x10, 0x11];
        let mut e = Escape { keys: &keys, held: 0 };
        let mut out = Vec::new();
        assert!(!e.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        out.clear();
        assert!(!e.feed(b"c", &mut out));
        assert_eq!(out, b"\x10c");
        out.clear();
        assert!(!e.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        out.clear();
        assert!(e.feed(b"\x11", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn docker_start_error_codes() {
        assert_eq!(start_error_code("exec: \"nope\": executable file not found in $PATH"), 127);
        assert_eq!(start_error_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(start_error_code("unable to find user x"), 125);
    }
}
