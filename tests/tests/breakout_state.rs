//! Attacks on berth's state from outside the containers (issue 11, items 5, 10 and 11): a
//! local unprivileged user reading the state root, archives and registries that try to
//! exhaust memory or disk, and SIGKILL of the CLI at random points leaving things behind.
//! Each test asserts that the host is untouched.

use berth_tests::{busybox_root, is_root, Berth};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `args` as `nobody` (uid and gid 65534, no supplementary groups): a local
/// unprivileged user.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

/// A build context holding only `dockerfile`.
fn context(dockerfile: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("berth-state-ctx-").tempdir().unwrap();
    fs::write(d.path().join("Dockerfile"), dockerfile).unwrap();
    d
}

/// The unpacked copies of `rel` in the root's layers.
fn in_layers(root: &Path, rel: &str) -> Vec<PathBuf> {
    let dir = root.join("layers/sha256");
    fs::read_dir(&dir).unwrap().flatten().map(|e| e.path().join(rel)).filter(|p| p.exists()).collect()
}

/// A root berth creates itself (as it would /var/lib/berth), with busybox imported.
fn fresh_root() -> Option<Berth> {
    if !is_root() || !berth_tests::have("setpriv") {
        eprintln!("skipping: needs root and setpriv");
        return None;
    }
    let b = Berth::new();
    fs::remove_dir(b.root()).unwrap();
    b.import_busybox("busybox");
    Some(b)
}

#[test]
fn state_root_is_private_to_root() {
    let Some(b) = fresh_root() else { return };
    let root = b.root().to_str().unwrap().to_string();
    assert_eq!(mode(b.root()), 0o700, "a new state root is private");

    // An image with a setuid-root binary in a layer.
    let ctx = context("FROM busybox\nRUN cp /bin/busybox /bin/rootsh && chmod 4755 /bin/rootsh\n");
    b.ok(&["build", "-q", "-t", "suid", ctx.path().to_str().unwrap()]);
    let id = b.ok(&["run", "-d", "-e", "DB_PASSWORD=secret", "suid", "sh", "-c", "echo logged-secret; sleep 60"]);
    let id = id.trim();
    let dir = b.root().join("containers").join(id);
    let record = dir.join("config.v2.json");
    let log = dir.join(format!("{id}-json.log"));
    let t = std::time::Instant::now();
    while !fs::read_to_string(&log).unwrap_or_default().contains("logged-secret") {
        assert!(t.elapsed().as_secs() < 10, "the container logged nothing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(fs::read_to_string(&record).unwrap().contains("DB_PASSWORD=secret"));
    // Unpacked for the run.
    let rootsh = in_layers(b.root(), "bin/rootsh");
    assert_eq!(rootsh.len(), 1, "the layer holds the setuid binary");
    // The layer's content keeps its own modes (unpacking sets them from the tar headers).
    assert_eq!(mode(&rootsh[0]), 0o4755);

    // Modes as Docker keeps them: directories 0700, records and logs 0600.
    assert_eq!(mode(&b.root().join("layers")), 0o700);
    assert_eq!(mode(&b.root().join("containers")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&record), 0o600);
    assert_eq!(mode(&dir.join("state.json")), 0o600);
    assert_eq!(mode(&log), 0o600);

    // A local user can neither list nor read anything of it, nor run the layer's binary.
    let rootfs = dir.join("rootfs/etc/passwd");
    let layer_bin = rootsh[0].to_str().unwrap();
    for args in [
        vec!["ls", root.as_str()],
        vec!["cat", record.to_str().unwrap()],
        vec!["cat", log.to_str().unwrap()],
        vec!["cat", rootfs.to_str().unwrap()],
        vec!["ls", dir.to_str().unwrap()],
        vec![layer_bin, "id", "-u"],
    ] {
        let o = as_nobody(&args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!o.status.success(), "nobody ran {args:?}: {out}");
        assert!(!out.contains("secret") && out.trim() != "0", "{args:?} printed {out}");
    }
    b.ok(&["rm", "-f", id]);
}

#[test]
fn an_existing_open_root_is_tightened() {
    let Some(b) = fresh_root() else { return };
    fs::set_permissions(b.root(), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(as_nobody(&["ls", b.root().to_str().unwrap()]).status.success(), "the old root is open");
    b.ok(&["images"]);
    assert_eq!(mode(b.root()), 0o700, "the next command tightens the root");
    assert!(!as_nobody(&["ls", b.root().to_str().unwrap()]).status.success());
}

#[test]
fn containers_keep_their_umask_and_volumes_their_users() {
    let Some(b) = busybox_root() else { return };
    // The root's privacy does not leak into containers: Docker's umask, and a non-root user
    // writes the volume it owns.
    assert_eq!(b.ok(&["run", "--rm", "busybox", "sh", "-c", "umask"]).trim(), "0022");
    b.ok(&["run", "--rm", "-v", "data:/data", "busybox", "chown", "65534:65534", "/data"]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--user",
        "65534",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo written > /data/f && cat /data/f && ls -ln /data/f",
    ]);
    assert!(out.starts_with("written\n"), "{out}");
    assert!(out.contains(" 65534 "), "{out}");
    // A file the container made in its own layer keeps the container's umask too.
    let out = b.ok(&["run", "--rm", "busybox", "sh", "-c", "mkdir /d && touch /d/f && stat -c %a /d /d/f"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["755", "644"]);
}
