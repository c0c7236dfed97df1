//! Container logs in Docker's json-file format: one JSON object per line of output.
//!
//! `{"log":"hello\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}` — the same
//! format Docker writes to `<id>-json.log`, so log tooling that reads Docker's files reads
//! berth's. The shim writes ([`LogWriter`]); `berth logs` reads ([`read`]). Lines longer than
//! 16 KiB are split as Docker splits them.

use crate::Result;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Splits a stream into Docker log entries and appends them to the log file.
pub struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> std::io::Result<LogWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        // What a container prints is its owner's only (0600), as its record.
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(LogWriter { file, partial: [Vec::new(), Vec::new()] })
    }

    /// Adds output of `stream` (1 stdout, 2 stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = if stream == 2 { 1 } else { 0 };
        self.partial[i].extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            let buf = &mut self.partial[i];
            let cut = match buf.iter().position(|b| *b == b'\n') {
                Some(p) => p + 1,
                None if buf.len() >= MAX_LINE => MAX_LINE,
                None => break,
            };
            let line: Vec<u8> = buf.drain(..cut).collect();
            encode(&mut out, stream, &line);
        }
        if !out.is_empty() {
            let _ = self.file.write_all(&out);
        }
    }

    /// Writes what is left of unterminated lines (at exit).
    pub fn flush(&mut self) {
        let mut out = Vec::new();
        for (i, stream) in [(0usize, 1u8), (1, 2)] {
            if !self.partial[i].is_empty() {
                let line = std::mem::take(&mut self.partial[i]);
                encode(&mut out, stream, &line);
            }
        }
        if !out.is_empty() {
            let _ = self.file.write_all(&out);
        }
    }
}

fn encode(out: &mut Vec<u8>, stream: u8, line: &[u8]) {
    let e = Entry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream: if stream == 2 { "stderr" } else { "stdout" }.into(),
        time: super::now_rfc3339(),
    };
    if serde_json::to_writer(&mut *out, &e).is_ok() {
        out.push(b'\n');
    }
}

/// What `berth logs` asks for.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// Only entries at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

fn emit(e: &Entry, o: &ReadOptions, out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let t = chrono::DateTime::parse_from_rfc3339(&e.time).ok().map(|t| t.with_timezone(&chrono::Utc));
    if let (Some(s), Some(t)) = (o.since, t) {
        if t < s {
            return true;
        }
    }
    if let (Some(u), Some(t)) = (o.until, t) {
        if t > u {
            return false;
        }
    }
    let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
    if o.timestamps {
        let _ = write!(w, "{} ", e.time);
    }
    let _ = w.write_all(e.log.as_bytes());
    true
}

/// Prints the log; returns the offset read up to (for following).
pub fn read(path: &Path, o: &ReadOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<u64> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut r = BufReader::new(f);
    let mut entries: Vec<Entry> = Vec::new();
    let mut offset = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(|e| crate::Error::io(path, e))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        offset += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            entries.push(e);
        }
    }
    let skip = match o.tail {
        Some(t) => entries.len().saturating_sub(t),
        None => 0,
    };
    for e in &entries[skip..] {
        if !emit(e, o, out, err) {
            break;
        }
    }
    let _ = out.flush();
    let _ = err.flush();
    Ok(offset)
}

/// Prints entries appended after `offset` until `done()` says the writer is gone.
pub fn follow(path: &Path, mut offset: u64, o: &ReadOptions, done: &mut dyn FnMut() -> bool) -> Result<()> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut line = String::new();
    loop {
        let finished = done();
        if let Ok(mut f) = File::open(path) {
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                let mut r = BufReader::new(f);
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(n) if n > 0 && line.ends_with('\n') => {
                            offset += n as u64;
                            if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                                if !emit(&e, o, &mut out, &mut err) {
                                    return Ok(());
                                }
                            }
                        }
                        _ => break,
                    }
                }
                let _ = out.flush();
            }
        } else {
            return Ok(());
        }
        if finished {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(1, b"hel");
        w.write(1, b"lo\nwor");
        w.write(2, b"oops\n");
        w.write(1, b"ld");
        w.flush();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        read(&p, &ReadOptions::default(), &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "hello\nworld");
        assert_eq!(String::from_utf8(err).unwrap(), "oops\n");
        let mut out = Vec::new();
        read(&p, &ReadOptions { tail: Some(1), ..Default::default() }, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "world");
        let first = std::fs::read_to_string(&p).unwrap().lines().next().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["log"], "hello\n");
    }
}
