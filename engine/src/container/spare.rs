//! Spare container directories: the record of a finished `--rm` inline run, kept to be reused.
//!
//! On a filesystem whose inode allocator is slow — ext4 without a journal scans past every
//! inode deleted in the last minute, so a loop of short containers makes each new file cost
//! more (0.6 ms each here) — a short wasm start spends most of its filesystem time creating the
//! container directory, its record and its log, and deleting them at the end. A spare keeps
//! those three inodes: a `--rm` inline run that ends with exactly its record and log renames its
//! directory to `<root>/spare/<id>/` (record as `record`, log as `log`), and the next `run`
//! claims one with a rename into `containers/` instead of a `mkdir`, truncates the log and
//! rewrites the record in place before renaming it to `config.v2.json`. A claimed directory
//! has no `config.v2.json` until then, so no other command sees a container in it; a spare
//! left half-made by a crash is cleaned when claimed. At most [`MAX`] are kept.

use crate::error::Result;
use berth_oci::IoContext;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many spares are kept (more would only hold disk space).
const MAX: usize = 4;
/// The record's name in a spare, and in a claimed directory until it is rewritten.
const RECORD: &str = "record";
const LOG: &str = "log";

fn spare_dir(root: &Path) -> PathBuf {
    root.join("spare")
}

/// Claims a spare as a new container's directory `dir`, with an empty log at `log`. False
/// when there is none (the caller makes a new directory).
pub(crate) fn claim(root: &Path, dir: &Path, log: &Path) -> bool {
    let Ok(spares) = fs::read_dir(spare_dir(root)) else { return false };
    for e in spares.flatten() {
        if fs::rename(e.path(), dir).is_err() {
            continue; // another run claimed it first
        }
        if tidy(dir, log).is_ok() {
            return true;
        }
        let _ = fs::remove_dir_all(dir);
    }
    false
}

/// Leaves only `record` and an empty log (renamed to `log`) in a claimed directory.
fn tidy(dir: &Path, log: &Path) -> std::io::Result<()> {
    let mut has_log = false;
    for e in fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        match name.to_str() {
            Some(RECORD) if is_file => {}
            Some(LOG) if is_file => has_log = true,
            _ if e.file_type().is_ok_and(|t| t.is_dir()) => fs::remove_dir_all(e.path())?,
            _ => fs::remove_file(e.path())?,
        }
    }
    if has_log {
        fs::rename(dir.join(LOG), log)?;
        OpenOptions::new().write(true).open(log)?.set_len(0)?;
    } else {
        super::private_file(log)?;
    }
    Ok(())
}

/// Moves the directory of a finished container out of `containers/` into a spare if it holds
/// exactly its record and its log; false when it does not (or enough spares are kept), and the
/// caller removes it.
pub(crate) fn keep(root: &Path, dir: &Path, id: &str, log: &Path) -> bool {
    let spares = spare_dir(root);
    if fs::read_dir(&spares).map(|r| r.count()).unwrap_or(0) >= MAX {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else { return false };
    let mut n = 0;
    for e in entries.flatten() {
        n += 1;
        let name = e.file_name();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if !is_file || !(name == "config.v2.json" || Some(name.as_os_str()) == log.file_name()) {
            return false;
        }
    }
    if n != 2 || fs::create_dir_all(&spares).is_err() {
        return false;
    }
    let spare = spares.join(id);
    if fs::rename(dir, &spare).is_err() {
        return false;
    }
    // Named so the spare's next owner finds them whatever this container was called.
    let renamed = fs::rename(spare.join("config.v2.json"), spare.join(RECORD))
        .and_then(|()| fs::rename(spare.join(log.file_name().unwrap_or_default()), spare.join(LOG)));
    if renamed.is_err() {
        let _ = fs::remove_dir_all(&spare);
    }
    true
}

/// Writes a container's record (`config.v2.json`): in place over a claimed spare's `record`
/// when there is one (no new inode), else atomically through a temporary file.
pub(crate) fn write_record(dir: &Path, bytes: &[u8]) -> Result<()> {
    let spare = dir.join(RECORD);
    let dest = dir.join("config.v2.json");
    match OpenOptions::new().write(true).open(&spare) {
        Ok(mut f) => {
            f.write_all(bytes).at(&spare)?;
            f.set_len(bytes.len() as u64).at(&spare)?;
            Ok(fs::rename(&spare, &dest).at(&dest)?)
        }
        Err(_) => super::write_atomic(&dest, bytes),
    }
}
