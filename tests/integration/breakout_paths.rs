//! Hostile images against every entry point that resolves a path inside a container's root
//! (issue 11, items 1 and 2): volume seeding at `run`, `-v` targets (the runtime's mount
//! destinations), `-w`, `cp` both ways, and `build`'s WORKDIR, `COPY --from` sources and COPY
//! destinations.
//!
//! Each image is built with `berth build` from the busybox fixture and carries symlink chains
//! of 1, 40, 41, 255 and 256 links (`/c<n>/l1 -> l2 -> ... -> l<n> -> <host dir>`) pointing at
//! a directory of the host that holds a unique marker. Resolved with the container's root as
//! the root, a chain leads to `<rootfs>/<host dir>` (which the image does not have) or, past
//! the kernel's 40 links, fails with ELOOP; it never reaches the host's directory. Every test
//! asserts that the marker's content never shows and that nothing was created in, or changed
//! on, the host's directory. Runs as root against real containers.

use berth_tests::{busybox_root, Berth};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The chain lengths every entry point is tried with.
const CHAINS: [usize; 5] = [1, 40, 41, 255, 256];

/// Whether a chain of `n` links resolves inside the root (the kernel's limit is 40).
fn resolves(n: usize) -> bool {
    n <= 40
}

/// A host directory that chains point at, holding `secret` (and `d/secret`) with a content
/// unique to the test.
struct Marker {
    dir: tempfile::TempDir,
    secret: String,
}

impl Marker {
    fn new() -> Marker {
        let dir = tempfile::Builder::new().prefix("berth-marker-").tempdir_in("/tmp").unwrap();
        let secret = format!("host-secret-{}-{}", std::process::id(), dir.path().display());
        fs::write(dir.path().join("secret"), &secret).unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/secret"), &secret).unwrap();
        Marker { dir, secret }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The host directory holds its secrets and nothing else, unchanged.
    fn untouched(&self, what: &str) {
        let names = |p: &Path| -> BTreeSet<String> {
            fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        };
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(names(self.path()), want(&["d", "secret"]), "{what}: something was created on the host");
        assert_eq!(names(&self.path().join("d")), want(&["secret"]), "{what}: something was created on the host");
        for f in ["secret", "d/secret"] {
            assert_eq!(fs::read_to_string(self.path().join(f)).unwrap(), self.secret, "{what}: host file changed");
        }
    }

    fn not_in(&self, out: &str, what: &str) {
        assert!(!out.contains(&self.secret), "{what}: the host's file was read: {out}");
    }
}

fn setup() -> (Berth, Marker) {
    let b = busybox_root();
    let m = Marker::new();
    build(&b, "chains", &format!("FROM busybox\nRUN {}\n", chains_script(m.path())), &[]);
    (b, m)
}

/// Shell that makes `/c<n>/l1` a chain of `n` links ending at `target`, for every n of
/// [`CHAINS`], `/var/www/site -> /etc` and `/var/www/m -> target`. The image has an empty directory at `target`
/// too, so a chain resolved inside the root leads somewhere (the host's directory has the
/// secret: that tells which one was reached).
fn chains_script(target: &Path) -> String {
    let ns: Vec<String> = CHAINS.iter().map(|n| n.to_string()).collect();
    format!(
        "mkdir -p {0} && for n in {1}; do mkdir -p /c$n && cd /c$n && i=1 && while [ $i -lt $n ]; do ln -s l$((i+1)) l$i; \
         i=$((i+1)); done && ln -s {0} l$n; done && mkdir -p /var/www && ln -s /etc /var/www/site && ln -s {0} /var/www/m",
        target.display(),
        ns.join(" ")
    )
}

/// Builds `dockerfile` (with `files` in the context) as `tag`; returns (stderr, success).
fn try_build(b: &Berth, tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> (String, bool) {
    let ctx = tempfile::Builder::new().prefix("berth-breakout-ctx-").tempdir().unwrap();
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, body) in files {
        fs::write(ctx.path().join(name), body).unwrap();
    }
    let o = b.run(&["build", "--progress", "plain", "-t", tag, ctx.path().to_str().unwrap()]);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (text, o.status.success())
}

fn build(b: &Berth, tag: &str, dockerfile: &str, files: &[(&str, &str)]) {
    let (out, ok) = try_build(b, tag, dockerfile, files);
    assert!(ok, "build of {tag} failed:\n{out}");
}

/// Runs berth; returns (stdout + stderr, success).
fn run(b: &Berth, args: &[&str]) -> (String, bool) {
    let o = b.run(args);
    (format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)), o.status.success())
}

fn eloop(out: &str) -> bool {
    out.contains("Too many levels of symbolic links")
}

/// Item 1: `VOLUME` over a chain. Seeding copies the image's content at the volume's path into
/// the new volume; through a chain past the resolver's limit it copied the host's directory.
#[test]
#[ignore = "needs root"]
fn volume_seeding_through_chains_stays_in_the_root() {
    let (b, m) = setup();
    for n in CHAINS {
        let tag = format!("vol{n}");
        build(&b, &tag, &format!("FROM chains\nVOLUME /c{n}/l1/d\n"), &[]);
        // The volume is mounted where the chain resolves in the root: the image's copy of the
        // host's directory path (the container itself cannot follow more than 40 links).
        let script = format!("cat {0}/d/secret; cat /c{n}/l1/d/secret", m.path().display());
        let (out, ok) = run(&b, &["run", "--rm", &tag, "sh", "-c", &script]);
        m.not_in(&out, &format!("VOLUME through {n} links"));
        m.untouched(&format!("VOLUME through {n} links"));
        if !resolves(n) {
            assert!(!ok && eloop(&out), "VOLUME through {n} links must fail with ELOOP: {out}");
        }
    }
    // The reproduction: 40 links and one more to `/`, under `/v`, `VOLUME /v/etc`.
    build(
        &b,
        "repro",
        "FROM busybox\nRUN mkdir /c && cd /c && i=1 && while [ $i -le 40 ]; do ln -s l$((i+1)) l$i; i=$((i+1)); \
         done && ln -s / l41 && ln -s c/l1 /v\nVOLUME /v/etc\n",
        &[],
    );
    let shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    let (out, ok) = run(&b, &["run", "--rm", "repro", "cat", "/etc/shadow"]);
    assert!(!ok && eloop(&out), "{out}");
    if let Some(line) = shadow.lines().find(|l| l.len() > 20) {
        assert!(!out.contains(line), "the host's /etc/shadow was read: {out}");
    }
}

/// Item 1: `-v` targets through chains (the runtime's mount destinations): directories and
/// files are created inside the root, or the run fails; never at the host's path.
#[test]
#[ignore = "needs root"]
fn bind_targets_through_chains_stay_in_the_root() {
    let (b, m) = setup();
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("bound"), "bound").unwrap();
    let file = src.path().join("bound");
    // Longest first: the runtime's own resolver used to give up at 255 links.
    for n in CHAINS.into_iter().rev() {
        let dir_bind = format!("{}:/c{n}/l1/sub", src.path().display());
        let file_bind = format!("{}:/c{n}/l1/file", file.display());
        for bind in [&dir_bind, &file_bind] {
            let (out, ok) = run(&b, &["run", "--rm", "-v", bind, "chains", "sh", "-c", "cat /c*/l1/secret"]);
            m.not_in(&out, &format!("-v {bind}"));
            m.untouched(&format!("-v {bind}"));
            if resolves(n) {
                assert!(ok || out.contains("No such file"), "-v {bind}: {out}");
            } else {
                assert!(!ok && eloop(&out), "-v {bind} must fail with ELOOP: {out}");
            }
        }
    }
    // An anonymous volume at the same place: created (and seeded) inside the root too.
    for n in CHAINS {
        let (out, ok) = run(&b, &["run", "--rm", "-v", &format!("/c{n}/l1/anon"), "chains", "true"]);
        m.untouched(&format!("-v /c{n}/l1/anon"));
        assert_eq!(ok, resolves(n), "-v /c{n}/l1/anon: {out}");
    }
}

/// Item 1: `-w` through chains: the working directory is made inside the root.
#[test]
#[ignore = "needs root"]
fn workdir_through_chains_stays_in_the_root() {
    let (b, m) = setup();
    for n in CHAINS {
        let wd = format!("/c{n}/l1/wd");
        let (out, ok) = run(&b, &["run", "--rm", "-w", &wd, "chains", "sh", "-c", "pwd; cat secret; true"]);
        m.not_in(&out, &format!("-w {wd}"));
        m.untouched(&format!("-w {wd}"));
        if resolves(n) {
            assert!(ok, "-w {wd}: {out}");
            assert!(out.contains(&format!("{}/wd", m.path().display())), "-w {wd}: {out}");
        } else {
            assert!(!ok && eloop(&out), "-w {wd} must fail with ELOOP: {out}");
        }
    }
}

/// `exec -w` through chains: the exec process changes directory inside the container, where
/// the chain resolves against the container's root (or is too long).
#[test]
#[ignore = "needs root"]
fn exec_workdir_through_chains_stays_in_the_root() {
    let (b, m) = setup();
    b.ok(&["run", "-d", "--name", "ex", "chains", "sleep", "60"]);
    for n in CHAINS {
        let wd = format!("/c{n}/l1");
        let (out, ok) = run(&b, &["exec", "-w", &wd, "ex", "sh", "-c", "pwd; cat secret; true"]);
        m.not_in(&out, &format!("exec -w {wd}"));
        m.untouched(&format!("exec -w {wd}"));
        if resolves(n) {
            assert!(ok && out.contains(&m.path().display().to_string()), "exec -w {wd}: {out}");
        } else {
            assert!(!ok, "exec -w {wd} through {n} links must fail: {out}");
        }
    }
    b.ok(&["rm", "-f", "ex"]);
}

/// Item 2: `cp` out of and into a container through chains: the host's file is never read
/// and nothing is written at the host's path.
#[test]
#[ignore = "needs root"]
fn cp_through_chains_stays_in_the_root() {
    let (b, m) = setup();
    b.ok(&["create", "--name", "cpc", "chains"]);
    let out_dir = tempfile::tempdir().unwrap();
    let payload = out_dir.path().join("payload");
    fs::write(&payload, "payload").unwrap();
    let tree = out_dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("inner"), "inner").unwrap();
    // A tar stream for `cp - CONTAINER:DEST`: a file and a directory.
    let mut t = tar::Builder::new(Vec::new());
    t.append_path_with_name(&payload, "streamed").unwrap();
    t.append_dir_all("streamed-dir", &tree).unwrap();
    let stream = t.into_inner().unwrap();
    for n in CHAINS {
        let got = out_dir.path().join(format!("got{n}"));
        let (out, ok) = run(&b, &["cp", &format!("cpc:/c{n}/l1/secret"), got.to_str().unwrap()]);
        let copied = fs::read_to_string(&got).unwrap_or_default();
        assert!(!copied.contains(&m.secret), "cp out through {n} links read the host's file");
        assert!(!ok, "cp out through {n} links: {out}");
        if !resolves(n) {
            assert!(eloop(&out), "cp out through {n} links: {out}");
        }
        // The directory itself, and as a tar stream.
        let (out, _) = run(&b, &["cp", &format!("cpc:/c{n}/l1/."), got.to_str().unwrap()]);
        m.not_in(&out, &format!("cp out of /c{n}/l1/."));
        assert!(!got.join("secret").exists(), "cp out through {n} links copied the host's directory");
        let (out, _) = run(&b, &["cp", &format!("cpc:/c{n}/l1"), "-"]);
        m.not_in(&out, &format!("cp out of /c{n}/l1 -"));

        for (src, dest) in [
            (&payload, format!("cpc:/c{n}/l1/f")),
            (&payload, format!("cpc:/c{n}/l1/")),
            (&tree, format!("cpc:/c{n}/l1/")),
            (&tree, format!("cpc:/c{n}/l1")),
        ] {
            let (out, ok) = run(&b, &["cp", src.to_str().unwrap(), &dest]);
            m.untouched(&format!("cp {} {dest}", src.display()));
            if !resolves(n) {
                assert!(!ok && eloop(&out), "cp into {dest}: {out}");
            }
        }
        let dest = format!("cpc:/c{n}/l1/");
        let mut child = b
            .cmd()
            .args(["cp", "-", &dest])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &stream).unwrap();
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stderr);
        m.untouched(&format!("cp - {dest}"));
        if resolves(n) {
            assert!(o.status.success(), "cp - {dest}: {out}");
        } else {
            assert!(!o.status.success() && eloop(&out), "cp - {dest}: {out}");
        }
    }
}

/// Item 2: `/var/www/site -> /etc` in the container, `berth cp site c:/var/www/`: the files
/// land in the container's /etc; the host's /etc gets no file and keeps its mode.
#[test]
#[ignore = "needs root"]
fn cp_into_a_planted_symlink_writes_the_containers_etc() {
    let (b, _m) = setup();
    b.ok(&["create", "--name", "cpc", "chains"]);
    let name = format!("berth-cp-probe-{}", std::process::id());
    let host = tempfile::tempdir().unwrap();
    let site = host.path().join("site");
    fs::create_dir(&site).unwrap();
    fs::write(site.join(&name), "probe").unwrap();
    fs::set_permissions(&site, fs::Permissions::from_mode(0o750)).unwrap();
    let etc_mode = fs::metadata("/etc").unwrap().permissions().mode();
    b.ok(&["cp", site.to_str().unwrap(), "cpc:/var/www/"]);
    assert!(!Path::new("/etc").join(&name).exists(), "cp wrote into the host's /etc");
    assert_eq!(fs::metadata("/etc").unwrap().permissions().mode(), etc_mode, "cp changed the host's /etc mode");
    // The container's /etc has it (read back through cp, itself resolved in the root).
    let back = host.path().join("back");
    b.ok(&["cp", &format!("cpc:/etc/{name}"), back.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&back).unwrap(), "probe");
    // A file too, and a tar stream.
    let f = host.path().join(format!("{name}-file"));
    fs::write(&f, "file").unwrap();
    b.ok(&["cp", f.to_str().unwrap(), "cpc:/var/www/site/"]);
    assert!(!Path::new("/etc").join(format!("{name}-file")).exists(), "cp wrote into the host's /etc");
    assert_eq!(fs::metadata("/etc").unwrap().permissions().mode(), etc_mode);
}

/// Item 2, the same through a link to the host's directory itself (which the image also has,
/// empty): the copy lands in the container's directory; the host's keeps its files and mode.
#[test]
#[ignore = "needs root"]
fn cp_into_a_planted_symlink_to_a_host_path_stays_in_the_root() {
    let (b, m) = setup();
    b.ok(&["create", "--name", "cpc", "chains"]);
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("m");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("planted"), "planted").unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();
    let mode = fs::metadata(m.path()).unwrap().permissions().mode();
    b.ok(&["cp", src.to_str().unwrap(), "cpc:/var/www/"]);
    m.untouched("cp m cpc:/var/www/");
    assert_eq!(fs::metadata(m.path()).unwrap().permissions().mode(), mode, "cp changed the host directory's mode");
    let back = host.path().join("back");
    b.ok(&["cp", &format!("cpc:{}/planted", m.path().display()), back.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&back).unwrap(), "planted");
}

/// `build`: the working directory each RUN is made in (a previous step turned it into a
/// link: straight to the host's directory, or through a chain), `COPY --from` a stage's chain,
/// and COPY into a directory the image made a link to the host's directory.
#[test]
#[ignore = "needs root"]
fn build_paths_through_chains_stay_in_the_root() {
    let (b, m) = setup();
    let direct = m.path().display().to_string();
    let targets: Vec<(String, usize)> =
        std::iter::once((direct, 1)).chain(CHAINS.iter().map(|n| (format!("/c{n}/l1"), n + 1))).collect();
    for (target, links) in &targets {
        let df = format!("FROM chains\nWORKDIR /w/sub\nRUN cd / && rm -rf /w && ln -s {target} /w\nRUN pwd\n");
        let (out, ok) = try_build(&b, "wd", &df, &[]);
        m.untouched(&format!("RUN in /w/sub, /w -> {target}"));
        if resolves(*links) {
            assert!(ok, "RUN in /w/sub, /w -> {target}: {out}");
        } else {
            assert!(!ok && eloop(&out), "RUN in /w/sub through {links} links must fail with ELOOP: {out}");
        }
    }
    for n in CHAINS {
        let (out, ok) = try_build(
            &b,
            &format!("from{n}"),
            &format!("FROM busybox\nCOPY --from=chains /c{n}/l1/secret /got\nRUN cat /got\n"),
            &[],
        );
        m.not_in(&out, &format!("COPY --from through {n} links"));
        assert!(!ok, "COPY --from through {n} links: {out}");

        let (out, _) = try_build(
            &b,
            &format!("into{n}"),
            &format!("FROM chains\nCOPY f /c{n}/l1/\nCOPY f /c{n}/l1/g\nRUN cat /c{n}/l1/secret || true\n"),
            &[("f", "context file")],
        );
        m.not_in(&out, &format!("COPY into {n} links"));
        m.untouched(&format!("COPY into {n} links"));
    }
    // COPY into a link to the host's directory lands in the image's directory of that name
    // (BuildKit's rule: the destination's links resolve inside the stage), and the link stays.
    let df = format!("FROM chains\nCOPY f /var/www/m/\nRUN test -L /var/www/m && cat {}/f\n", m.path().display());
    let (out, ok) = try_build(&b, "into-link", &df, &[("f", "context file")]);
    assert!(ok && out.contains("context file"), "COPY into /var/www/m/: {out}");
    m.untouched("COPY into /var/www/m/");

    // A RUN's mount points are removed from its upper directory afterwards, walked by name: a
    // step that turns the mount point's parent into a link to the host's directory cannot make
    // berth remove what is there.
    fs::create_dir(m.path().join("y")).unwrap();
    let df = format!("FROM busybox\nRUN --mount=type=tmpfs,target=/x/y mv /x /x2 && ln -s {} /x\n", m.path().display());
    let (out, _) = try_build(&b, "swap", &df, &[]);
    assert!(m.path().join("y").is_dir(), "the build removed a host directory: {out}");
    fs::remove_dir(m.path().join("y")).unwrap();
    m.untouched("RUN swapping its mount point's parent");
}

/// The paths copied by these tests stay readable to the next tests (no leftover mounts).
#[test]
#[ignore = "needs root"]
fn no_mounts_are_left_behind() {
    let (b, _m) = setup();
    let root: PathBuf = b.root().to_path_buf();
    let _ = run(&b, &["run", "--rm", "-w", "/c41/l1/wd", "chains", "true"]);
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(root.to_str().unwrap()), "a failed run left a mount: {mounts}");
}
