//! Container logs: Docker's logging drivers `json-file`, `local` and `none`, with rotation.
//!
//! `{"log":"hello\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}` — the same
//! format Docker writes to `<id>-json.log`, so log tooling that reads Docker's files reads
//! berth's. The supervisor writes ([`LogWriter`]) and rotates as Docker's `max-size`/`max-file`
//! say: before an entry is appended to a file already at `max-size`, the file becomes
//! `<id>-json.log.1` (`.1.gz` with `compress`), older ones move up a number and the one past
//! `max-file` goes. `berth logs` reads ([`read`], [`follow`]) the rotated files oldest first,
//! then the live one, so `--tail`, `--since` and `-f` see one stream. Lines longer than
//! 16 KiB are split as Docker splits them. `local` keeps this format with `local`'s defaults
//! (20 MiB × 5 files, compressed): Docker's own `local` file format is internal to Docker.
//! `none` writes nothing, and reading it is refused as Docker refuses it.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAX_LINE: usize = 16 * 1024;

/// Docker's `HostConfig.LogConfig`: the logging driver and its options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    /// Docker's default driver, which every record written before drivers existed used.
    fn default() -> Self {
        LogConfig { kind: "json-file".into(), config: BTreeMap::new() }
    }
}

/// How a log is kept, as a driver's options say.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    /// Whether anything is written (false for `none`).
    pub keep: bool,
    /// Rotate once the live file reaches this many bytes (`None`: never).
    pub max_size: Option<u64>,
    /// Files kept, the live one included (1: the live file is truncated instead).
    pub max_file: u32,
    /// Rotated files are gzipped (`.N.gz`).
    pub compress: bool,
}

/// Logging drivers Docker has and berth does not implement (a plugin name is another error).
const OTHER_DOCKER_DRIVERS: &[&str] =
    &["syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];

impl LogConfig {
    /// `--log-driver` and `--log-opt K=V` (a bare `K` is `K=`, as Docker reads it); checked
    /// as [`LogConfig::rotation`] does.
    pub fn new(driver: &str, opts: &[String]) -> Result<LogConfig> {
        let kind = if driver.is_empty() { "json-file" } else { driver };
        let config = opts
            .iter()
            .map(|o| {
                let (k, v) = o.split_once('=').unwrap_or((o, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let c = LogConfig { kind: kind.to_string(), config };
        c.rotation()?;
        Ok(c)
    }

    /// The driver's behaviour, or Docker's error for its name or options.
    pub fn rotation(&self) -> Result<Rotation> {
        let opt = |k: &str| self.config.get(k).map(String::as_str);
        let init = |m: String| Error::Unsupported(format!("failed to initialize logging driver: {m}"));
        let atoi = |v: &str| v.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {v:?}: invalid syntax"));
        let parse_bool = |v: &str| match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
        };
        match self.kind.as_str() {
            "json-file" => {
                if let Some(k) =
                    self.config.keys().find(|k| !matches!(k.as_str(), "max-size" | "max-file" | "compress"))
                {
                    return Err(Error::Unsupported(match k.as_str() {
                        "labels" | "labels-regex" | "env" | "env-regex" | "tag" => {
                            format!("log opt '{k}' of the json-file log driver is not supported by berth")
                        }
                        _ => format!("unknown log opt '{k}' for json-file log driver"),
                    }));
                }
                let max_size = match opt("max-size") {
                    None => None,
                    Some(v) => match super::volume::parse_size_in(v, 1000) {
                        None => return Err(init(format!("invalid size: '{v}'"))),
                        Some(0) => return Err(init("max-size must be a positive number".into())),
                        Some(n) => Some(n as u64),
                    },
                };
                let max_file = match opt("max-file") {
                    None => 1,
                    Some(v) => match atoi(v).map_err(init)? {
                        n if n < 1 => return Err(init("max-file cannot be less than 1".into())),
                        n => n.min(u32::MAX as i64) as u32,
                    },
                };
                let compress = opt("compress").map(parse_bool).transpose().map_err(init)?.unwrap_or(false);
                if compress && (max_file < 2 || max_size.is_none()) {
                    return Err(init(
                        "compress cannot be true when max-file is less than 2 or max-size is not set".into(),
                    ));
                }
                Ok(Rotation { keep: true, max_size, max_file, compress })
            }
            "local" => {
                if let Some(k) =
                    self.config.keys().find(|k| !matches!(k.as_str(), "max-size" | "max-file" | "compress"))
                {
                    return Err(Error::Unsupported(format!("unknown log opt '{k}' for log driver local")));
                }
                let max_size = match opt("max-size") {
                    None => Some(20 << 20),
                    Some(v) => match super::volume::parse_size_in(v, 1024) {
                        None => return Err(init(format!("invalid value for max-size: {v}: invalid size: '{v}'"))),
                        Some(0) => None,
                        Some(n) => Some(n as u64),
                    },
                };
                let max_file = match opt("max-file") {
                    None => 5,
                    Some(v) => match atoi(v).map_err(|e| init(format!("invalid value for max-file: {v}: {e}")))? {
                        n if n < 0 => return Err(init("max file count cannot be less than 0".into())),
                        n => n.clamp(1, u32::MAX as i64) as u32,
                    },
                };
                let compress = match opt("compress") {
                    None => true,
                    Some(v) => parse_bool(v).map_err(|e| init(format!("error reading compress log option: {e}")))?,
                };
                if compress && max_file <= 1 {
                    return Err(init("compression cannot be enabled when max file count is 1".into()));
                }
                Ok(Rotation { keep: true, max_size, max_file, compress })
            }
            "none" if self.config.is_empty() => {
                Ok(Rotation { keep: false, max_size: None, max_file: 1, compress: false })
            }
            "none" => Err(Error::Unsupported("invalid logging opts for driver none".into())),
            k if OTHER_DOCKER_DRIVERS.contains(&k) => Err(Error::Unsupported(format!(
                "logging driver {k} is not supported by berth (json-file, local and none are)"
            ))),
            k => Err(Error::Unsupported(format!("error looking up logging plugin {k}: plugin \"{k}\" not found"))),
        }
    }

    /// The rotation, or (for a record whose options no longer parse) Docker's default.
    fn rotation_or_default(&self) -> Rotation {
        self.rotation().unwrap_or(Rotation { keep: true, max_size: None, max_file: 1, compress: false })
    }

    /// Whether `berth logs` can read what the driver kept (Docker reads json-file and local).
    pub fn readable(&self) -> Result<()> {
        match self.rotation_or_default().keep {
            true => Ok(()),
            false => Err(Error::Unsupported("configured logging driver does not support reading".into())),
        }
    }

    /// `inspect`'s `LogPath`: the file of a json-file log, empty for the others (as Docker).
    pub fn shown_path(&self, path: &Path) -> PathBuf {
        if self.kind == "json-file" {
            path.to_path_buf()
        } else {
            PathBuf::new()
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Splits a stream into Docker log entries and appends them to the log file, rotating it.
pub struct LogWriter {
    /// The live file (`None` with the `none` driver).
    file: Option<File>,
    path: PathBuf,
    /// Bytes in the live file.
    size: u64,
    rotation: Rotation,
    partial: [Vec<u8>; 2],
}

/// The name of rotated file `n` of the log at `path` (`<id>-json.log.N[.gz]`).
fn rotated_name(path: &Path, n: u32, gz: bool) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

/// The rotated files of the log at `path` that `max_file` keeps, oldest first (numbers are
/// contiguous from 1).
pub fn rotated_files(path: &Path, max_file: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for n in 1..max_file {
        match [rotated_name(path, n, false), rotated_name(path, n, true)].into_iter().find(|p| p.exists()) {
            Some(p) => out.push(p),
            None => break,
        }
    }
    out.reverse();
    out
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // What a container prints is its owner's only (0600), as its record.
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

impl LogWriter {
    /// Opens the log at `path` for appending, kept as `config` says.
    pub fn open(path: &Path, config: &LogConfig) -> std::io::Result<LogWriter> {
        let rotation = config.rotation_or_default();
        let file = if rotation.keep { Some(open_append(path)?) } else { None };
        let size = match &file {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        Ok(LogWriter { file, path: path.to_path_buf(), size, rotation, partial: [Vec::new(), Vec::new()] })
    }

    /// Adds output of `stream` (1 stdout, 2 stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        if self.file.is_none() {
            return;
        }
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
            self.add(&mut out, stream, &line);
        }
        self.append(&out);
    }

    /// Encodes one entry into `out`, the pending bytes, first rotating (with what is pending
    /// written) when the live file is full: Docker's check, before each entry.
    fn add(&mut self, out: &mut Vec<u8>, stream: u8, line: &[u8]) {
        if self.rotation.max_size.is_some_and(|max| self.size + out.len() as u64 >= max) {
            self.append(out);
            out.clear();
            if self.size > 0 {
                self.rotate();
            }
        }
        encode(out, stream, line);
    }

    fn append(&mut self, out: &[u8]) {
        if let (Some(f), false) = (self.file.as_mut(), out.is_empty()) {
            if f.write_all(out).is_ok() {
                self.size += out.len() as u64;
            }
        }
    }

    /// Moves the live file to `.1` (gzipped with `compress`), older ones up a number, drops
    /// the one past `max-file` and starts an empty live file.
    fn rotate(&mut self) {
        if self.file.is_none() {
            return;
        }
        let n = self.rotation.max_file;
        for gz in [false, true] {
            let _ = std::fs::remove_file(rotated_name(&self.path, n.max(2) - 1, gz));
        }
        for i in (1..n.saturating_sub(1)).rev() {
            for gz in [false, true] {
                let _ = std::fs::rename(rotated_name(&self.path, i, gz), rotated_name(&self.path, i + 1, gz));
            }
        }
        // With `max-file` 1 the old file still becomes `.1`, which no reader lists, as
        // Docker does: a follower that has it open reads it to its end before moving on.
        let first = rotated_name(&self.path, 1, false);
        if std::fs::rename(&self.path, &first).is_err() {
            return; // keep writing where we were
        }
        if self.rotation.compress {
            let _ = gzip(&first, &rotated_name(&self.path, 1, true));
        }
        match open_append(&self.path) {
            Ok(f) => {
                self.file = Some(f);
                self.size = 0;
            }
            // Keep the old (renamed) file rather than lose output.
            Err(e) => tracing::warn!("rotating {}: {e}", self.path.display()),
        }
    }

    /// Writes what is left of unterminated lines (at exit).
    pub fn flush(&mut self) {
        let mut out = Vec::new();
        for (i, stream) in [(0usize, 1u8), (1, 2)] {
            if !self.partial[i].is_empty() {
                let line = std::mem::take(&mut self.partial[i]);
                self.add(&mut out, stream, &line);
            }
        }
        self.append(&out);
    }
}

/// Compresses `src` into `dest` (through a temporary, so a reader never sees half), then
/// removes `src`; the supervisor does this inline: a rotated file is at most `max-size`.
fn gzip(src: &Path, dest: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = (|| {
        let out = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        std::io::copy(&mut File::open(src)?, &mut enc)?;
        enc.finish()?;
        std::fs::rename(&tmp, dest)?;
        std::fs::remove_file(src)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
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

/// Where [`read`] stopped in the live file, for [`follow`] to go on from.
pub struct Cursor {
    file: Option<File>,
    offset: u64,
}

/// Collects the complete lines' entries of `r`; returns the bytes they span.
fn read_entries(r: impl Read, path: &Path, entries: &mut Vec<Entry>) -> Result<u64> {
    let mut r = BufReader::new(r);
    let mut offset = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(|e| Error::io(path, e))?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(offset);
        }
        offset += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            entries.push(e);
        }
    }
}

/// Prints the log kept at `path` with `config` (rotated files first); returns where the live
/// file was read up to (for following).
pub fn read(
    path: &Path,
    config: &LogConfig,
    o: &ReadOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Cursor> {
    config.readable()?;
    let max_file = config.rotation_or_default().max_file;
    // The live file first: if it rotates while the older ones are read, this handle still
    // reads it to its end (it is then `.1`, read twice rather than missed).
    let live = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut entries: Vec<Entry> = Vec::new();
    for p in rotated_files(path, max_file) {
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(_) => continue, // removed by a rotation meanwhile
        };
        if p.extension().is_some_and(|x| x == "gz") {
            read_entries(flate2::read::GzDecoder::new(f), &p, &mut entries)?;
        } else {
            read_entries(f, &p, &mut entries)?;
        }
    }
    let offset = match &live {
        Some(f) => read_entries(f, path, &mut entries)?,
        None => 0,
    };
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
    Ok(Cursor { file: live, offset })
}

/// Prints the complete entries of `f` after `offset`; returns the new offset, or `None`
/// once `--until` is passed.
fn print_from(f: &mut File, mut offset: u64, o: &ReadOptions, out: &mut dyn Write, err: &mut dyn Write) -> Option<u64> {
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return Some(offset);
    }
    let mut r = BufReader::new(f);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                offset += n as u64;
                if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                    if !emit(&e, o, out, err) {
                        return None;
                    }
                }
            }
            _ => return Some(offset),
        }
    }
}

/// Whether `path` still names the file `f` has open (a rotation renames it away).
fn still_named(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The plain rotated files newer than `f` (found by its inode among `.1`, `.2`...), oldest
/// first, opened; none when `f` is not among them (compressed, removed, or just `.1`).
fn newer_rotated(f: &File, path: &Path) -> Vec<File> {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = f.metadata() else { return Vec::new() };
    let mut newer = Vec::new();
    for n in 1.. {
        let p = rotated_name(path, n, false);
        let Ok(m) = std::fs::metadata(&p) else { return Vec::new() };
        if (m.dev(), m.ino()) == (me.dev(), me.ino()) {
            newer.reverse();
            return newer;
        }
        match File::open(&p) {
            Ok(g) => newer.push(g),
            Err(_) => return Vec::new(),
        }
    }
    Vec::new()
}

/// Prints entries appended after `cursor` until `done()` says the writer is gone, following
/// the live file across rotations: the file it had open is read to its end, then the new one.
pub fn follow(path: &Path, cursor: Cursor, o: &ReadOptions, done: &mut dyn FnMut() -> bool) -> Result<()> {
    follow_into(path, cursor, o, &mut std::io::stdout(), &mut std::io::stderr(), done)
}

/// [`follow`] into given writers (`compose logs -f` prefixes each container's lines).
pub fn follow_into(
    path: &Path,
    cursor: Cursor,
    o: &ReadOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    done: &mut dyn FnMut() -> bool,
) -> Result<()> {
    let (mut out, mut err) = (out, err);
    let Cursor { mut file, mut offset } = cursor;
    loop {
        let finished = done();
        if file.is_none() {
            file = File::open(path).ok();
            offset = 0;
        }
        if let Some(f) = file.as_mut() {
            let Some(next) = print_from(f, offset, o, &mut out, &mut err) else { return Ok(()) };
            offset = next;
            if !still_named(f, path) {
                // Rotated: what the writer put in the old file before renaming it is there.
                let Some(_) = print_from(f, offset, o, &mut out, &mut err) else { return Ok(()) };
                // Rotated more than once since the last look: the files between (newer than
                // ours, not compressed yet) are read whole before the live one.
                for mut newer in newer_rotated(f, path) {
                    let Some(_) = print_from(&mut newer, 0, o, &mut out, &mut err) else { return Ok(()) };
                }
                file = None;
                let _ = out.flush();
                continue;
            }
            let _ = out.flush();
        } else if finished || !path.parent().is_some_and(Path::exists) {
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
        let mut w = LogWriter::open(&p, &LogConfig::default()).unwrap();
        w.write(1, b"hel");
        w.write(1, b"lo\nwor");
        w.write(2, b"oops\n");
        w.write(1, b"ld");
        w.flush();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        read(&p, &LogConfig::default(), &ReadOptions::default(), &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "hello\nworld");
        assert_eq!(String::from_utf8(err).unwrap(), "oops\n");
        let mut out = Vec::new();
        read(
            &p,
            &LogConfig::default(),
            &ReadOptions { tail: Some(1), ..Default::default() },
            &mut out,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "world");
        let first = std::fs::read_to_string(&p).unwrap().lines().next().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["log"], "hello\n");
    }

    fn cfg(driver: &str, opts: &[&str]) -> Result<LogConfig> {
        LogConfig::new(driver, &opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// Docker's messages (checked against dockerd 20.10) for the bad drivers and options.
    #[test]
    fn bad_drivers_and_options_get_dockers_errors() {
        let err = |d: &str, o: &[&str]| cfg(d, o).unwrap_err().to_string();
        let init = "failed to initialize logging driver: ";
        assert_eq!(err("bogus", &[]), r#"error looking up logging plugin bogus: plugin "bogus" not found"#);
        assert_eq!(err("json-file", &["max-size=abc"]), format!("{init}invalid size: 'abc'"));
        assert_eq!(err("json-file", &["max-size"]), format!("{init}invalid size: ''"));
        assert_eq!(err("json-file", &["max-size=-1"]), format!("{init}invalid size: '-1'"));
        assert_eq!(err("json-file", &["max-size=0"]), format!("{init}max-size must be a positive number"));
        assert_eq!(err("json-file", &["max-file=0"]), format!("{init}max-file cannot be less than 1"));
        assert_eq!(
            err("json-file", &["max-file=abc", "max-size=1k"]),
            format!(r#"{init}strconv.Atoi: parsing "abc": invalid syntax"#)
        );
        assert_eq!(err("json-file", &["bogus=1"]), "unknown log opt 'bogus' for json-file log driver");
        assert_eq!(
            err("json-file", &["compress=maybe"]),
            format!(r#"{init}strconv.ParseBool: parsing "maybe": invalid syntax"#)
        );
        assert_eq!(
            err("json-file", &["compress=true"]),
            format!("{init}compress cannot be true when max-file is less than 2 or max-size is not set")
        );
        assert_eq!(
            err("local", &["max-size=abc"]),
            format!("{init}invalid value for max-size: abc: invalid size: 'abc'")
        );
        assert_eq!(
            err("local", &["max-file=1"]),
            format!("{init}compression cannot be enabled when max file count is 1")
        );
        assert_eq!(err("local", &["max-file=-1"]), format!("{init}max file count cannot be less than 0"));
        assert_eq!(err("local", &["labels=x"]), "unknown log opt 'labels' for log driver local");
        assert_eq!(err("none", &["max-size=1k"]), "invalid logging opts for driver none");
        assert!(cfg("json-file", &["max-size=abc"]).unwrap_err().kind() == berth_oci::ErrorKind::InvalidArgument);
        // What Docker accepts: max-file alone (nothing to rotate), local's options, "" = json-file.
        let r = cfg("json-file", &["max-file=3"]).unwrap().rotation().unwrap();
        assert_eq!((r.max_size, r.max_file), (None, 3));
        let r = cfg("json-file", &["max-size=1k", "max-file=2", "compress=1"]).unwrap().rotation().unwrap();
        assert_eq!((r.max_size, r.max_file, r.compress), (Some(1000), 2, true));
        let r = cfg("local", &[]).unwrap().rotation().unwrap();
        assert_eq!((r.max_size, r.max_file, r.compress), (Some(20 << 20), 5, true));
        let r = cfg("local", &["max-file=1", "compress=false", "max-size=1k"]).unwrap().rotation().unwrap();
        assert_eq!((r.max_size, r.max_file, r.compress), (Some(1024), 1, false));
        assert_eq!(cfg("", &[]).unwrap(), LogConfig::default());
        assert!(!cfg("none", &[]).unwrap().rotation().unwrap().keep);
        assert_eq!(
            cfg("none", &[]).unwrap().readable().unwrap_err().to_string(),
            "configured logging driver does not support reading"
        );
    }

    /// Rotation as Docker's: `.1` newest, at most `max-file` files, gzipped with `compress`;
    /// reading goes across them oldest first, `--tail` counting from the end of the whole.
    #[test]
    fn rotates_and_reads_across_rotated_files() {
        for compress in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("x-json.log");
            let opts = ["max-size=1k".to_string(), "max-file=3".to_string(), format!("compress={compress}")];
            let c = LogConfig::new("json-file", &opts).unwrap();
            let mut w = LogWriter::open(&p, &c).unwrap();
            for i in 0..100 {
                w.write(1, format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n").as_bytes());
            }
            w.flush();
            let ext = if compress { ".gz" } else { "" };
            let names: Vec<String> =
                rotated_files(&p, 3).iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
            assert_eq!(names, [format!("x-json.log.2{ext}"), format!("x-json.log.1{ext}")]);
            assert!(!d.path().join("x-json.log.3").exists() && !d.path().join("x-json.log.3.gz").exists());
            // Each full file holds what reached 1000 bytes (9 entries of 117), as Docker's.
            let mut out = Vec::new();
            read(&p, &c, &ReadOptions::default(), &mut out, &mut Vec::new()).unwrap();
            let lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(String::from).collect();
            assert_eq!(lines.len(), 19, "{lines:?}");
            assert!(lines[0].starts_with("line-81-") && lines[18].starts_with("line-99-"));
            let mut out = Vec::new();
            read(&p, &c, &ReadOptions { tail: Some(12), ..Default::default() }, &mut out, &mut Vec::new()).unwrap();
            assert!(String::from_utf8(out).unwrap().starts_with("line-88-"));
        }
        // max-file 1: the live file only (the old one is `.1`, which no reader lists).
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("y-json.log");
        let c = LogConfig::new("json-file", &["max-size=1k".to_string()]).unwrap();
        let mut w = LogWriter::open(&p, &c).unwrap();
        for i in 0..20 {
            w.write(2, format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n").as_bytes());
        }
        let mut err = Vec::new();
        read(&p, &c, &ReadOptions::default(), &mut Vec::new(), &mut err).unwrap();
        assert_eq!(String::from_utf8(err).unwrap().lines().count(), 2);
        // none: nothing written.
        let p = d.path().join("z-json.log");
        let mut w = LogWriter::open(&p, &LogConfig::new("none", &[]).unwrap()).unwrap();
        w.write(1, b"hello\n");
        w.flush();
        assert!(!p.exists());
    }
}
