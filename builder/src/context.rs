//! The build context: a directory read in place (never copied or tarred), filtered by
//! `.dockerignore` (or `<Dockerfile>.dockerignore` beside the Dockerfile), with Docker's
//! pattern rules: paths cleaned and relative to the context root, `*`, `?`, `[...]` within a
//! path element, `**` across elements, a pattern that matches a directory excludes what is
//! under it, and `!` lines re-include (the last matching line wins).
//!
//! COPY and ADD sources resolve here (wildcards included); their content hash, which keys
//! the build cache, covers paths, file types, modes, owners, link targets and contents, but
//! not mtimes, so touching a file does not invalidate the cache while editing one does.

use crate::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// One `.dockerignore` line.
#[derive(Clone, Debug)]
struct Pattern {
    parts: Vec<String>,
    exception: bool,
}

/// The parsed `.dockerignore`.
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exception, p) = match l.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, l),
            };
            let cleaned = clean(p);
            if cleaned.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts: cleaned.split('/').map(String::from).collect(), exception });
        }
        Ignore { patterns }
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel` (a `/`-separated path relative to the context root) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let mut out = false;
        for p in &self.patterns {
            // The pattern matches the path or one of its parent directories.
            let hit = (1..=parts.len()).any(|n| match_parts(&p.parts, &parts[..n]));
            if hit {
                out = !p.exception;
            }
        }
        out
    }
}

/// Go's `filepath.Clean` on a `/` path, made relative (the workspace's one implementation).
pub use berth_oci::path::clean_relative as clean;

fn match_parts(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => (0..=path.len()).any(|k| match_parts(rest, &path[k..])),
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob(first.as_bytes(), p.as_bytes()) && match_parts(rest, prest),
            None => false,
        },
    }
}

/// Glob match within one path element: `*`, `?`, `[a-z]`, `[^x]`, `\x`.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| glob(&p[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(c) = s.first() else { return false };
            let mut i = 1;
            let neg = matches!(p.get(1), Some(b'^') | Some(b'!'));
            if neg {
                i += 1;
            }
            let mut ok = false;
            let start = i;
            while i < p.len() && (p[i] != b']' || i == start) {
                if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
                    ok |= p[i] <= *c && *c <= p[i + 2];
                    i += 3;
                } else {
                    ok |= p[i] == *c;
                    i += 1;
                }
            }
            if i >= p.len() {
                return false; // unterminated class matches nothing
            }
            ok != neg && glob(&p[i + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A build context directory and its ignore rules.
#[derive(Clone, Debug)]
pub struct Context {
    pub root: PathBuf,
    pub ignore: Ignore,
}

impl Context {
    /// Opens `dir`; `dockerfile` (when on disk) may have its own `<name>.dockerignore`.
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<Context> {
        let root = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
        if !root.is_dir() {
            return Err(Error::Invalid(format!(
                "unable to prepare context: path {:?} is not a directory",
                dir.display()
            )));
        }
        let mut text = None;
        if let Some(df) = dockerfile {
            let own = PathBuf::from(format!("{}.dockerignore", df.display()));
            if let Ok(t) = fs::read_to_string(&own) {
                text = Some(t);
            }
        }
        if text.is_none() {
            text = fs::read_to_string(root.join(".dockerignore")).ok();
        }
        Ok(Context { root, ignore: Ignore::parse(text.as_deref().unwrap_or("")) })
    }

    /// Resolves a COPY/ADD source (possibly a wildcard) to paths relative to the root.
    pub fn resolve(&self, src: &str) -> Result<Vec<String>> {
        resolve_in(&self.root, src, Some(&self.ignore))
    }
}

/// Resolves `src` inside `root` (a context or a stage's filesystem): cleaned, refused if it
/// climbs out, wildcards expanded; missing sources are an error naming them.
pub fn resolve_in(root: &Path, src: &str, ignore: Option<&Ignore>) -> Result<Vec<String>> {
    let climbs = {
        let mut depth = 0i32;
        let mut bad = false;
        for c in Path::new(src.trim_start_matches('/')).components() {
            match c {
                Component::ParentDir => {
                    depth -= 1;
                    bad |= depth < 0;
                }
                Component::Normal(_) => depth += 1,
                _ => {}
            }
        }
        bad
    };
    if climbs {
        return Err(Error::Invalid(format!("forbidden path outside the build context: {src}")));
    }
    let mut rel = clean(src);
    let excluded = |r: &str| ignore.is_some_and(|i| i.excluded(r));
    if !has_glob(&rel) {
        // The parent's symlinks resolve inside the root (a stage's `/data -> /etc` is the
        // stage's /etc, never the host's); the last component is copied as it is.
        if let Some((parent, name)) = rel.rsplit_once('/') {
            let r = berth_sys::inroot::Root::open(root).map_err(|e| Error::io(root, e))?;
            match r.canonical(parent) {
                Ok(p) => {
                    let p = p.to_string_lossy().trim_start_matches('/').to_string();
                    rel = if p.is_empty() { name.to_string() } else { format!("{p}/{name}") };
                }
                Err(e) if e.is_not_found() || e.errno() == Some(libc::ENOTDIR) => {
                    return Err(Error::NotFound(format!("failed to compute cache key: \"/{rel}\": not found")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let p = root.join(&rel);
        if (rel.is_empty() || fs::symlink_metadata(&p).is_ok()) && !excluded(&rel) {
            return Ok(vec![rel]);
        }
        return Err(Error::NotFound(format!("failed to compute cache key: \"/{rel}\": not found")));
    }
    let pat: Vec<String> = rel.split('/').map(String::from).collect();
    let mut out = Vec::new();
    glob_walk(root, "", &pat, &mut out)?;
    out.retain(|r| !excluded(r));
    out.sort();
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "failed to compute cache key: no source files were specified for {src:?}"
        )));
    }
    Ok(out)
}

fn glob_walk(root: &Path, rel: &str, pat: &[String], out: &mut Vec<String>) -> Result<()> {
    let Some((first, rest)) = pat.split_first() else {
        out.push(rel.to_string());
        return Ok(());
    };
    let dir = root.join(rel);
    let Ok(rd) = fs::read_dir(&dir) else { return Ok(()) };
    let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in names {
        if glob(first.as_bytes(), n.as_bytes()) {
            let r = if rel.is_empty() { n.clone() } else { format!("{rel}/{n}") };
            // Only real directories are descended: a symlink would be followed on the host.
            if rest.is_empty() || fs::symlink_metadata(root.join(&r)).is_ok_and(|m| m.is_dir()) {
                glob_walk(root, &r, rest, out)?;
            }
        }
    }
    Ok(())
}

/// Every path under `rel` (itself included) that the ignore rules keep, sorted, for hashing
/// and copying. Excluded directories are skipped whole unless an exception may re-include
/// something beneath them.
pub fn walk(root: &Path, rel: &str, ignore: Option<&Ignore>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    walk_into(root, rel, ignore, &mut out)?;
    Ok(out)
}

fn walk_into(root: &Path, rel: &str, ignore: Option<&Ignore>, out: &mut Vec<String>) -> Result<()> {
    let p = root.join(rel);
    let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
    let excluded = ignore.is_some_and(|i| i.excluded(rel));
    if !excluded {
        out.push(rel.to_string());
    }
    if m.is_dir() && (!excluded || ignore.is_some_and(|i| i.has_exceptions())) {
        let mut names: Vec<String> = fs::read_dir(&p)
            .map_err(|e| Error::io(&p, e))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(&p, e))?;
        names.sort();
        for n in names {
            let r = if rel.is_empty() { n } else { format!("{rel}/{n}") };
            walk_into(root, &r, ignore, out)?;
        }
    }
    Ok(())
}

/// Adds one file's identity to a hash: path, type, mode, owner, and contents or link target.
pub fn hash_entry(h: &mut Sha256, root: &Path, rel: &str, with_owner: bool) -> Result<()> {
    let p = root.join(rel);
    let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
    let ft = m.file_type();
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(format!("{:o}", m.mode()).as_bytes());
    if with_owner {
        h.update(format!(" {}:{}", m.uid(), m.gid()).as_bytes());
    }
    h.update([0]);
    if ft.is_file() {
        let mut f = fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n =
                f.read(&mut buf).map_err(|e| Error::Other(format!("error from sender: read {}: {e}", p.display())))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if ft.is_symlink() {
        h.update(fs::read_link(&p).map_err(|e| Error::io(&p, e))?.as_os_str().as_encoded_bytes());
    } else if ft.is_block_device() || ft.is_char_device() {
        h.update(m.rdev().to_le_bytes());
    }
    h.update([1]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let i = Ignore::parse("# c\n*.md\n!README.md\n**/*.log\nbuild/\n/tmp/*\n");
        assert!(i.excluded("a.md"));
        assert!(!i.excluded("README.md"));
        assert!(!i.excluded("docs/a.md"), "* does not cross directories");
        assert!(i.excluded("x/y/z.log"));
        assert!(i.excluded("z.log"));
        assert!(i.excluded("build/out/bin"), "a matching directory excludes its contents");
        assert!(i.excluded("tmp/x"));
        assert!(!i.excluded("src/main.rs"));
        assert!(glob(b"[a-c]?", b"bx") && !glob(b"[^a-c]x", b"bx"));
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        // /proc/self/mem reads fail at offset 0 (EIO) even for root: the path an unreadable
        // context file takes.
        let mut h = Sha256::new();
        let e = hash_entry(&mut h, Path::new("/proc/self"), "mem", true).unwrap_err().to_string();
        assert!(e.contains("/proc/self/mem"), "{e}");
    }

    #[test]
    fn sources_outside_or_missing() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.txt"), "a").unwrap();
        fs::write(d.path().join("b.txt"), "b").unwrap();
        assert!(resolve_in(d.path(), "../x", None).unwrap_err().to_string().contains("outside the build context"));
        assert!(resolve_in(d.path(), "nope", None).unwrap_err().to_string().contains("not found"));
        assert_eq!(resolve_in(d.path(), "*.txt", None).unwrap(), vec!["a.txt", "b.txt"]);
        assert_eq!(resolve_in(d.path(), "./a.txt", None).unwrap(), vec!["a.txt"]);
    }
}
