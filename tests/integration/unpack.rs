//! The layer unpack cache: hostile layers refused with nothing written anywhere, whiteouts in
//! overlayfs form (checked with a real overlay mount as root), metadata kept, concurrent
//! unpackers sharing one directory, and the copying snapshotter.

use berth_engine::media::Compression;
use berth_engine::store::unpack::{apply_layer_dirs_copy, extract, ExtractOptions, Whiteouts};
use berth_engine::{layer, Engine};
use berth_tests::{busybox_tar, is_root, require_root, Berth};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One raw tar entry: name and link name are written verbatim (the tar crate's safe
/// setters would refuse the hostile ones).
struct E<'a> {
    name: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: &'a str,
    mode: u32,
}

fn e<'a>(name: &'a str, kind: tar::EntryType, data: &'a [u8], link: &'a str) -> E<'a> {
    E { name, kind, data, link, mode: if kind == tar::EntryType::Directory { 0o755 } else { 0o644 } }
}

fn raw_tar(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(x.kind);
        h.set_size(x.data.len() as u64);
        h.set_mode(x.mode);
        h.set_mtime(1_600_000_000);
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..x.name.len()].copy_from_slice(x.name.as_bytes());
            g.linkname[..x.link.len()].copy_from_slice(x.link.as_bytes());
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(x.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

use tar::EntryType as T;

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let b = Berth::new();
    let engine = Engine::open(b.root()).unwrap();
    let store = engine.store();
    // A sentinel beside the state root: the escapes below aim at it.
    let outside = b.root().parent().unwrap().join(format!("berth-unpack-sentinel-{}", std::process::id()));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dotdot", raw_tar(&[e("../etc/x", T::Regular, b"pwned", "")]), "climbs out of the layer"),
        ("deep-dotdot", raw_tar(&[e("a/../../../../x", T::Regular, b"pwned", "")]), "climbs out of the layer"),
        (
            "symlink-root",
            raw_tar(&[e("a", T::Symlink, b"", "/"), e("a/etc/x", T::Regular, b"pwned", "")]),
            "points out of the layer",
        ),
        (
            "symlink-up",
            raw_tar(&[e("a", T::Symlink, b"", "../../../.."), e("a/x", T::Regular, b"pwned", "")]),
            "points out of the layer",
        ),
        ("hardlink-up", raw_tar(&[e("x", T::Link, b"", "../../x")]), "hardlink target ../../x"),
        ("hardlink-abs", raw_tar(&[e("x", T::Link, b"", "/etc/passwd")]), "not in the layer"),
    ];
    for (what, tar, why) in &cases {
        let (blob, _) = store.put_blob(tar, None).unwrap();
        let err = store.unpack_layer(&blob, None).expect_err(what).to_string();
        assert!(err.contains(why), "{what}: {err}");
        assert!(err.contains("unsafe archive entry"), "{what}: {err}");
        assert_eq!(count(&store.layers_dir().join("sha256")), 0, "{what}: nothing in layers/");
        assert_eq!(count(&store.layers_dir().join("locks")), 0, "{what}: no lock left");
        assert_eq!(count(store.tmp_dir()), 0, "{what}: temp dir removed");
    }
    assert!(!outside.exists());
    assert!(!b.root().join("etc").exists() && !b.root().join("x").exists() && !b.root().join("layers/x").exists());
    assert!(!Path::new("/etc/x").exists());

    // The CLI refuses the lexical escapes at import time already, naming the entry.
    let dir = tempfile::tempdir().unwrap();
    for (what, tar, _) in cases.iter().filter(|(w, _, _)| w.contains("dotdot") || *w == "hardlink-up") {
        let p = dir.path().join(format!("{what}.tar"));
        std::fs::write(&p, tar).unwrap();
        let before = b.blob_count();
        let err = b.fails(&["import", p.to_str().unwrap(), "evil"]);
        assert!(err.contains("unsafe archive entry") && err.contains("imported tarball"), "{what}: {err}");
        assert_eq!(b.blob_count(), before, "{what}: no blob stored");
    }
    // The symlink escape is only visible when followed: import stores it, unpack refuses it.
    let p = dir.path().join("symlink.tar");
    std::fs::write(&p, &cases[2].1).unwrap();
    b.ok(&["import", p.to_str().unwrap(), "evil"]);
    let img = engine.resolve_image("evil").unwrap();
    let err = engine.image_layers(&img).unwrap_err().to_string();
    assert!(err.contains("a/etc/x") && err.contains("points out of the layer"), "{err}");
    assert_eq!(count(&store.layers_dir().join("sha256")), 0);
}

#[test]
fn malformed_and_mismatching_layers_are_refused() {
    let b = Berth::new();
    let engine = Engine::open(b.root()).unwrap();
    let store = engine.store();
    let good = std::fs::read(busybox_tar()).unwrap();
    let l = layer::layer_from_tar(store, &good[..], Compression::Gzip, "test").unwrap();
    // Truncated gzip stream.
    let gz = std::fs::read(store.blob_path(&l.digest)).unwrap();
    let (cut, _) = store.put_blob(&gz[..gz.len() / 2], None).unwrap();
    let err = store.unpack_layer(&cut, None).unwrap_err().to_string();
    assert!(err.contains("malformed layer"), "{err}");
    // Wrong diff-id: the config does not describe this content.
    let wrong: berth_engine::Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    let err = store.unpack_layer(&l.digest, Some(&wrong)).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_eq!(count(&store.layers_dir().join("sha256")), 0);
    assert_eq!(count(store.tmp_dir()), 0);
    // And the right one unpacks.
    let u = store.unpack_layer(&l.digest, Some(&l.diff_id)).unwrap();
    assert_eq!(u.diff_id, l.diff_id);
    assert!(u.path.join("bin/busybox").is_file());
}

#[test]
fn concurrent_unpackers_share_one_directory() {
    let b = Berth::new();
    let engine = Engine::open(b.root()).unwrap();
    let store = engine.store().clone();
    let good = std::fs::read(busybox_tar()).unwrap();
    let l = layer::layer_from_tar(&store, &good[..], Compression::Zstd, "test").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let store = berth_engine::store::Store::open(b.root()).unwrap();
            let (blob, diff) = (l.digest.clone(), l.diff_id.clone());
            std::thread::spawn(move || store.unpack_layer(&blob, if i % 2 == 0 { Some(&diff) } else { None }).unwrap())
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert_eq!(count(&store.layers_dir().join("sha256")), 1);
    assert_eq!(count(store.tmp_dir()), 0);
    assert!(results[0].path.join("bin/busybox").is_file());
}

#[test]
fn metadata_is_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(T::Regular);
    h.set_size(4);
    h.set_mode(0o4755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_500_000_000);
    b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])]).unwrap();
    b.append_data(&mut h, "usr/bin/suid", &b"\x7fELF"[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(T::Link);
    h.set_size(0);
    h.set_mode(0o755);
    b.append_link(&mut h, "usr/bin/again", "usr/bin/suid").unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(T::Symlink);
    h.set_size(0);
    h.set_mtime(1_400_000_000);
    b.append_link(&mut h, "usr/bin/link", "/usr/bin/suid").unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(T::Directory);
    h.set_size(0);
    h.set_mode(0o1777);
    h.set_mtime(1_300_000_000);
    b.append_data(&mut h, "tmp/", &b""[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let root = dir.path().join("l");
    std::fs::create_dir(&root).unwrap();
    extract(&tar[..], &root, "test layer", ExtractOptions::default()).unwrap();
    let m = std::fs::metadata(root.join("usr/bin/suid")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755);
    assert_eq!(m.mtime(), 1_500_000_000);
    if is_root() {
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    }
    assert_eq!(std::fs::metadata(root.join("usr/bin/again")).unwrap().ino(), m.ino());
    assert_eq!(std::fs::read_link(root.join("usr/bin/link")).unwrap(), Path::new("/usr/bin/suid"));
    assert_eq!(std::fs::symlink_metadata(root.join("usr/bin/link")).unwrap().mtime(), 1_400_000_000);
    let t = std::fs::metadata(root.join("tmp")).unwrap();
    assert_eq!((t.mode() & 0o7777, t.mtime()), (0o1777, 1_300_000_000));
    assert_eq!(xattr(&root.join("usr/bin/suid"), "user.berth").as_deref(), Some(&b"yes"[..]));
}

use std::process::Command;

/// The extended attribute `name` of `p` itself (a symlink's own, not its target's).
fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(p, name).ok().flatten()
}

#[test]
fn device_nodes_need_root() {
    let tar = raw_tar(&[{
        let mut x = e("dev/null", T::Char, b"", "");
        x.mode = 0o666;
        x
    }]);
    // tar's GNU header stores device numbers separately; 1:3 is /dev/null.
    let mut tar = tar;
    {
        let h = tar::Header::from_byte_slice(&tar[..512]).clone();
        let mut h = h;
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        tar[..512].copy_from_slice(h.as_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let unpriv = dir.path().join("u");
    std::fs::create_dir(&unpriv).unwrap();
    let err = extract(&tar[..], &unpriv, "test layer", ExtractOptions { privileged: false }).unwrap_err().to_string();
    assert!(err.contains("dev/null") && err.contains("character device") && err.contains("needs root"), "{err}");
    if is_root() {
        let r = dir.path().join("r");
        std::fs::create_dir(&r).unwrap();
        extract(&tar[..], &r, "test layer", ExtractOptions { privileged: true }).unwrap();
        let m = std::fs::symlink_metadata(r.join("dev/null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), libc::makedev(1, 3));
    }
}

/// Unmounts (by path) when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Two layers unpacked into `b`'s store, their directories returned: the lower one has `d/old`,
/// `gone` and `keep`; the upper one makes `d` opaque (adding `d/new`), whites `gone` out and
/// replaces `keep`.
fn whiteout_layers(b: &Berth) -> (PathBuf, PathBuf) {
    let engine = Engine::open(b.root()).unwrap();
    let store = engine.store();
    let lower = raw_tar(&[
        e("d/", T::Directory, b"", ""),
        e("d/old", T::Regular, b"old", ""),
        e("gone", T::Regular, b"gone", ""),
        e("keep", T::Regular, b"lower", ""),
    ]);
    let upper = raw_tar(&[
        e("d/", T::Directory, b"", ""),
        e("d/.wh..wh..opq", T::Regular, b"", ""),
        e("d/new", T::Regular, b"new", ""),
        e(".wh.gone", T::Regular, b"", ""),
        e("keep", T::Regular, b"upper", ""),
    ]);
    let l1 = layer::layer_from_tar(store, &lower[..], Compression::Gzip, "lower").unwrap();
    let l2 = layer::layer_from_tar(store, &upper[..], Compression::Gzip, "upper").unwrap();
    let u1 = store.unpack_layer(&l1.digest, Some(&l1.diff_id)).unwrap();
    let u2 = store.unpack_layer(&l2.digest, Some(&l2.diff_id)).unwrap();
    (u1.path, u2.path)
}

#[test]
fn whiteouts_become_overlay_form_and_copy_snapshots_apply_them() {
    let b = Berth::new();
    let (u1, u2) = whiteout_layers(&b);
    assert!(!u2.join(".wh.gone").exists() && !u2.join("d/.wh..wh..opq").exists());
    let wh = Whiteouts::of_layer_dir(&u2).unwrap();
    assert_eq!(wh, Whiteouts { whiteouts: vec!["gone".into()], opaque: vec!["d".into()] });

    let dest = b.root().join("copy-rootfs");
    apply_layer_dirs_copy(&[u1.clone(), u2.clone()], &dest).unwrap();
    assert!(!dest.join("gone").exists() && !dest.join("d/old").exists());
    assert_eq!(std::fs::read(dest.join("d/new")).unwrap(), b"new");
    assert_eq!(std::fs::read(dest.join("keep")).unwrap(), b"upper");
}

/// The whiteouts of [`whiteout_layers`] in overlayfs's own form (a 0/0 character device, the
/// opaque xattr, both of which need root), and a real overlay mount of the two directories.
#[test]
#[ignore = "needs root"]
fn whiteouts_in_overlay_form_hide_lower_entries_in_a_real_overlay() {
    require_root();
    let b = Berth::new();
    let (u1, u2) = whiteout_layers(&b);
    let m = std::fs::symlink_metadata(u2.join("gone")).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == 0, "whiteout is a 0/0 char device");
    assert_eq!(xattr(&u2.join("d"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    // The real thing: the layer dirs as overlay lowerdirs.
    let merged = b.root().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("lowerdir={}:{}", u2.display(), u1.display()))
        .arg(&merged)
        .status()
        .unwrap();
    assert!(st.success(), "overlay mount");
    let _m = Mounted(merged.clone());
    assert!(!merged.join("gone").exists());
    assert!(!merged.join("d/old").exists());
    assert_eq!(std::fs::read(merged.join("d/new")).unwrap(), b"new");
    assert_eq!(std::fs::read(merged.join("keep")).unwrap(), b"upper");
}
