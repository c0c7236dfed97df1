//! Named and anonymous volumes, and turning `-v`/`--mount`/`--tmpfs`/image `Volumes` into a
//! container's mount points.
//!
//! A volume is `<root>/volumes/<name>/_data` (Docker's layout, `local` driver) with its
//! metadata in `<root>/volumes/<name>/volume.json`. As in Docker, a volume that is empty the
//! first time a container mounts it is seeded with what the image has at the mount path
//! (content, ownership and mode), so `-v data:/var/lib/app` starts from the image's files.
//! Anonymous volumes (image `VOLUME`s and `-v /path`) carry Docker's
//! `com.docker.volume.anonymous` label; `rm -v` and `--rm` remove them with the container.

use super::{Container, CreateOptions, MountPoint, MountSpec, TmpfsOptions};
use crate::{Engine, Error, Result};
use berth_oci::IoContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume as `volume inspect` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub mountpoint: PathBuf,
    pub name: String,
    pub options: BTreeMap<String, String>,
    pub scope: String,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Whether a volume name looks anonymous (64 hex digits, as Docker generates).
pub fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_name(n: &str) -> bool {
    super::names::valid(n) || (n.len() == 1 && n.as_bytes()[0].is_ascii_alphanumeric())
}

impl MountSpec {
    /// Parses `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...`.
    pub fn parse(s: &str) -> Result<MountSpec> {
        let mut m = MountSpec { kind: "volume".into(), ..Default::default() };
        let bad = |why: &str| Error::Other(format!("invalid argument \"{s}\" for \"--mount\" flag: {why}"));
        for field in s.split(',').filter(|f| !f.is_empty()) {
            let (k, v) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            match (k.as_str(), v) {
                ("type", Some(v)) => {
                    if !matches!(v, "bind" | "volume" | "tmpfs") {
                        return Err(bad(&format!("invalid mount type {v:?}")));
                    }
                    m.kind = v.into();
                }
                ("source" | "src", Some(v)) => m.source = v.into(),
                ("target" | "destination" | "dst", Some(v)) => m.target = v.into(),
                ("readonly" | "ro", None) => m.read_only = true,
                ("readonly" | "ro", Some(v)) => {
                    m.read_only = match v {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad(&format!("invalid value for {k}: {v}"))),
                    }
                }
                ("tmpfs-size", Some(v)) => {
                    let size = parse_size(v).ok_or_else(|| bad(&format!("invalid tmpfs-size {v:?}")))?;
                    m.tmpfs_options.get_or_insert_with(Default::default).size_bytes = size;
                }
                ("tmpfs-mode", Some(v)) => {
                    let mode = u32::from_str_radix(v, 8).map_err(|_| bad(&format!("invalid tmpfs-mode {v:?}")))?;
                    m.tmpfs_options.get_or_insert_with(Default::default).mode = mode;
                }
                ("bind-propagation" | "volume-nocopy" | "consistency" | "volume-driver", _) => {}
                _ => return Err(bad(&format!("unexpected key '{k}' in '{field}'"))),
            }
        }
        if m.target.is_empty() {
            return Err(bad("target is required"));
        }
        if m.kind == "tmpfs" && !m.source.is_empty() {
            return Err(bad("source is not supported for tmpfs mounts"));
        }
        if m.kind == "bind" && m.source.is_empty() {
            return Err(bad("source is required for bind mounts"));
        }
        Ok(m)
    }
}

/// Parses Docker's sizes: `64m`, `1g`, `512k`, `1024` (bytes), `1.5g`.
pub fn parse_size(s: &str) -> Option<i64> {
    parse_size_in(s, 1024)
}

/// Parses a size whose units are powers of `unit`: 1024 as Docker's `RAMInBytes` (memory,
/// tmpfs, the `local` log driver), 1000 as its `FromHumanSize` (the `json-file` log driver).
pub fn parse_size_in(s: &str, unit: i64) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], unit),
        'm' => (&s[..s.len() - 1], unit.pow(2)),
        'g' => (&s[..s.len() - 1], unit.pow(3)),
        't' => (&s[..s.len() - 1], unit.pow(4)),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mul as f64) as i64)
}

impl Engine {
    pub fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    /// Creates a volume (or returns the existing one of that name, as Docker does).
    pub fn create_volume(&self, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
        let (name, mut labels) = match name {
            Some(n) if !n.is_empty() => {
                if !valid_name(n) {
                    return Err(Error::Other(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                (n.to_string(), labels)
            }
            _ => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (hex::encode(rand::random::<[u8; 32]>()), l)
            }
        };
        let dir = self.volumes_dir().join(&name);
        if let Ok(v) = self.inspect_volume(&name) {
            return Ok(v);
        }
        let data = dir.join("_data");
        fs::create_dir_all(&data).at(&data)?;
        labels.retain(|_, _| true);
        let v = Volume {
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            driver: "local".into(),
            labels,
            mountpoint: data,
            name: name.clone(),
            options: BTreeMap::new(),
            scope: "local".into(),
        };
        super::write_json_atomic(&dir.join("volume.json"), &v)?;
        Ok(v)
    }

    pub fn inspect_volume(&self, name: &str) -> Result<Volume> {
        let p = self.volumes_dir().join(name).join("volume.json");
        if name.is_empty() || name.contains('/') {
            return Err(Error::NotFound(format!("get {name}: no such volume")));
        }
        let b = fs::read(&p).map_err(|_| Error::NotFound(format!("get {name}: no such volume")))?;
        serde_json::from_slice(&b).map_err(|e| Error::malformed(p.display().to_string(), e))
    }

    pub fn list_volumes(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(self.volumes_dir()) {
            for e in rd.flatten() {
                if let Ok(v) = self.inspect_volume(&e.file_name().to_string_lossy()) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of containers (any state) using a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list_containers()?
            .into_iter()
            .filter(|c| c.mounts.iter().any(|m| m.kind == "volume" && m.name == name))
            .map(|c| c.id)
            .collect())
    }

    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        self.inspect_volume(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() && !force {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        let dir = self.volumes_dir().join(name);
        Ok(fs::remove_dir_all(&dir).at(&dir)?)
    }

    /// Removes unused volumes (only anonymous ones unless `all`, as Docker 23+); returns the
    /// removed names and the bytes reclaimed.
    pub fn prune_volumes(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let used: std::collections::HashSet<String> = self
            .list_containers()?
            .into_iter()
            .flat_map(|c| c.mounts.into_iter().filter(|m| m.kind == "volume").map(|m| m.name))
            .collect();
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.list_volumes()? {
            if used.contains(&v.name) || (!all && !v.is_anonymous()) {
                continue;
            }
            bytes += dir_size(&v.mountpoint);
            self.remove_volume(&v.name, true)?;
            removed.push(v.name);
        }
        Ok((removed, bytes))
    }
}

/// Bytes used under a directory (the store's measure of a tree).
pub use berth_store::unpack::tree_size as dir_size;

fn check_dest(dst: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(Error::Other(format!(
            "invalid mount config: invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if Path::new(dst).components().count() <= 1 {
        return Err(Error::Other("invalid mount config: destination can't be '/'".into()));
    }
    Ok(())
}

/// Resolves every mount request of `opts` (and the image's `Volumes`) into `c.mounts`,
/// creating and seeding volumes. `rootfs` is the mounted image snapshot.
pub(crate) fn resolve_mounts(e: &Engine, c: &mut Container, opts: &CreateOptions, rootfs: &Path) -> Result<()> {
    let mut specs: Vec<MountSpec> = Vec::new();
    for b in &opts.binds {
        specs.push(parse_bind(b)?);
    }
    specs.extend(opts.mounts.iter().cloned());
    for (dst, o) in &c.host_config.tmpfs {
        let mut m = MountSpec { kind: "tmpfs".into(), target: dst.clone(), ..Default::default() };
        m.read_only = o.split(',').any(|x| x == "ro");
        specs.push(m);
    }
    let mut seen = std::collections::HashSet::new();
    for s in &specs {
        check_dest(&s.target)?;
        let dst = berth_oci::path::clean_absolute(&s.target);
        if !seen.insert(dst.clone()) {
            return Err(Error::Other(format!("Duplicate mount point: {dst}")));
        }
    }
    // `--volumes-from`: below the user's own mounts, above the image's VOLUMEs.
    for m in super::runopts::volumes_from(e, &opts.run.volumes_from)? {
        if seen.insert(m.destination.clone()) {
            c.mounts.push(m);
        }
    }
    // The image's VOLUMEs not covered by a user mount become anonymous volumes.
    if let Some(vols) = &c.config.volumes {
        for dst in vols.keys() {
            if !seen.contains(&berth_oci::path::clean_absolute(dst)) {
                specs.push(MountSpec { kind: "volume".into(), target: dst.clone(), ..Default::default() });
                seen.insert(berth_oci::path::clean_absolute(dst));
            }
        }
    }
    let mut created: Vec<String> = Vec::new();
    let r = (|| {
        for (i, s) in specs.into_iter().enumerate() {
            let dst = berth_oci::path::clean_absolute(&s.target);
            let mp = match s.kind.as_str() {
                "bind" => {
                    let src = Path::new(&s.source);
                    if !src.is_absolute() {
                        return Err(Error::Other(format!(
                            "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                            s.source
                        )));
                    }
                    // `-v` creates a missing host directory, as Docker does; `--mount` refuses.
                    if i < opts.binds.len() && fs::symlink_metadata(src).is_err() {
                        fs::create_dir_all(src).map_err(|err| {
                            Error::Other(format!("error while creating mount source path '{}': {err}", s.source))
                        })?;
                    }
                    if !src.exists() {
                        return Err(Error::Other(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            s.source
                        )));
                    }
                    MountPoint {
                        kind: "bind".into(),
                        source: s.source.clone(),
                        destination: dst,
                        mode: if s.read_only { "ro".into() } else { String::new() },
                        rw: !s.read_only,
                        propagation: "rprivate".into(),
                        ..Default::default()
                    }
                }
                "volume" => {
                    let existed = !s.source.is_empty() && e.inspect_volume(&s.source).is_ok();
                    let v = e.create_volume(
                        Some(&s.source).filter(|n| !n.is_empty()).map(|n| n.as_str()),
                        BTreeMap::new(),
                    )?;
                    if !existed {
                        created.push(v.name.clone());
                    }
                    seed_volume(&v.mountpoint, rootfs, &dst)?;
                    MountPoint {
                        kind: "volume".into(),
                        name: v.name.clone(),
                        source: v.mountpoint.display().to_string(),
                        destination: dst,
                        driver: "local".into(),
                        mode: if s.read_only { "ro".into() } else { "z".into() },
                        rw: !s.read_only,
                        propagation: String::new(),
                    }
                }
                _ => {
                    let mut mode: Vec<String> = Vec::new();
                    if let Some(o) = c.host_config.tmpfs.get(&s.target) {
                        mode.extend(
                            o.split(',').filter(|x| !x.is_empty() && *x != "ro" && *x != "rw").map(String::from),
                        );
                    }
                    if let Some(TmpfsOptions { size_bytes, mode: m }) = &s.tmpfs_options {
                        if *size_bytes > 0 {
                            mode.push(format!("size={size_bytes}"));
                        }
                        if *m > 0 {
                            mode.push(format!("mode={m:o}"));
                        }
                    }
                    MountPoint {
                        kind: "tmpfs".into(),
                        destination: dst,
                        mode: mode.join(","),
                        rw: !s.read_only,
                        ..Default::default()
                    }
                }
            };
            c.mounts.push(mp);
        }
        Ok(())
    })();
    if r.is_err() {
        for n in created {
            let _ = fs::remove_dir_all(e.volumes_dir().join(n));
        }
    }
    r
}

/// A `-v` whose host part is relative (`./data`, `../x`, `.`) made absolute against `cwd`, as
/// Docker's CLI does before sending it; anything else (a named volume `data:/x`, an absolute
/// path, a lone container path) unchanged.
pub fn absolute_bind(s: &str, cwd: &Path) -> String {
    match s.split_once(':') {
        Some((host, rest)) if host.starts_with('.') => {
            let abs = berth_oci::path::clean_absolute(&cwd.join(host).to_string_lossy());
            format!("{abs}:{rest}")
        }
        _ => s.to_string(),
    }
}

/// Parses `-v`: `HOST:CTR[:opts]` (bind, HOST absolute), `NAME:CTR[:opts]` (volume), `CTR`.
fn parse_bind(s: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::Other(format!("invalid volume specification: '{s}'"));
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(bad()),
    };
    if dst.is_empty() {
        return Err(bad());
    }
    let mut ro = false;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" | "z" | "Z" | "nocopy" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "consistent" | "cached" | "delegated" => {}
            _ => return Err(Error::Other(format!("invalid mode: {o}"))),
        }
    }
    let kind = if src.starts_with('/') || src.starts_with('.') { "bind" } else { "volume" };
    if kind == "volume" && !src.is_empty() && !valid_name(src) {
        return Err(Error::Other(format!(
            "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(MountSpec { kind: kind.into(), source: src.into(), target: dst.into(), read_only: ro, tmpfs_options: None })
}

/// Seeds an empty volume with the image's content at the mount path (Docker's copy-up).
/// Copies what the image has at `dst` into a new volume, `dst` resolved with the rootfs as
/// the root (a hostile image's symlinks never reach the host's tree; a chain past the kernel's
/// limit fails the run). Nothing to copy when the image has no directory there.
fn seed_volume(data: &Path, rootfs: &Path, dst: &str) -> Result<()> {
    let root = berth_sys::inroot::Root::open(rootfs).at(rootfs)?;
    let dir = match root.open_dir(dst) {
        Ok(d) => d,
        Err(e) if e.is_not_found() || e.errno() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if fs::read_dir(data).at(data)?.next().is_some() {
        return Ok(());
    }
    let md = dir.metadata().at(dst)?;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The copy walks below the resolved directory's descriptor, never re-resolving `dst`.
    super::snapshot::apply_layer_copy(&dir.proc_path(), data)?;
    let _ = std::os::unix::fs::lchown(data, Some(md.uid()), Some(md.gid()));
    fs::set_permissions(data, fs::Permissions::from_mode(md.mode() & 0o7777)).at(data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v_and_mount() {
        let b = parse_bind("/host:/ctr:ro").unwrap();
        assert_eq!(
            (b.kind.as_str(), b.source.as_str(), b.target.as_str(), b.read_only),
            ("bind", "/host", "/ctr", true)
        );
        let v = parse_bind("data:/var/lib").unwrap();
        assert_eq!(v.kind, "volume");
        let a = parse_bind("/anon").unwrap();
        assert_eq!((a.kind.as_str(), a.source.as_str()), ("volume", ""));
        assert!(parse_bind("a:b:c:d").is_err());
        assert!(parse_bind("/x:/y:bogus").is_err());
        let m = MountSpec::parse("type=tmpfs,target=/t,tmpfs-size=64m").unwrap();
        assert_eq!(m.tmpfs_options.unwrap().size_bytes, 64 << 20);
        assert!(MountSpec::parse("type=nfs,target=/t").is_err());
        assert!(MountSpec::parse("type=bind,target=/t").is_err());
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(berth_oci::path::clean_absolute("/a/./b/../c/"), "/a/c");
        let cwd = Path::new("/srv/app");
        assert_eq!(absolute_bind("./data:/x", cwd), "/srv/app/data:/x");
        assert_eq!(absolute_bind("../x:/y:ro", cwd), "/srv/x:/y:ro");
        assert_eq!(absolute_bind(".:/y", cwd), "/srv/app:/y");
        assert_eq!(absolute_bind("data:/x", cwd), "data:/x");
        assert_eq!(absolute_bind("/abs:/x", cwd), "/abs:/x");
        assert_eq!(absolute_bind("/anon", cwd), "/anon");
    }
}
