//! `berth pull`/`push`/`login`/`logout` against a real distribution registry (Debian's
//! `docker-registry`), with skopeo as the independent second opinion on what was pushed.
//!
//! Test images are built straight into a state root's store (gzip tar layers, an OCI config
//! and manifest, optionally an index over several platforms), so these tests depend on no
//! other berth command.

use berth_engine::store::Store;
use berth_engine::{media, Digest};
use berth_tests::{busybox_tar, have, Berth, DistributionRegistry};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A gzip'd tar holding one file `name` with `content`.
fn tar_gz(files: &[(&str, &[u8])]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *content).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    gzip(&raw)
}

/// gzip of `raw`, and the diff id (digest of `raw`).
fn gzip(raw: &[u8]) -> (Vec<u8>, Digest) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    (gz.finish().unwrap(), Digest::of(raw))
}

struct Built {
    manifest: Digest,
    manifest_size: u64,
    layers: Vec<Digest>,
}

/// Stores an image (OCI manifest) made of `layers` (gzip blob, diff id) for `os/arch`.
fn store_image(root: &Path, name: Option<&str>, os: &str, arch: &str, layers: &[(Vec<u8>, Digest)]) -> Built {
    store_image_typed(root, name, os, arch, layers, media::OCI_LAYER_GZIP)
}

fn store_image_typed(
    root: &Path,
    name: Option<&str>,
    os: &str,
    arch: &str,
    layers: &[(Vec<u8>, Digest)],
    layer_type: &str,
) -> Built {
    let store = Store::open(root).unwrap();
    let mut descs = Vec::new();
    let mut digests = Vec::new();
    for (blob, _) in layers {
        let (d, size) = store.put_blob(blob, None).unwrap();
        descs.push(json!({"mediaType": layer_type, "digest": d.as_str(), "size": size}));
        digests.push(d);
    }
    let config = json!({
        "architecture": arch, "os": os,
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>()},
        "history": [],
    });
    let cdesc = store.put_json(media::OCI_CONFIG, &config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": cdesc,
        "layers": descs,
    });
    let mdesc = store.put_json(media::OCI_MANIFEST, &manifest).unwrap();
    if let Some(n) = name {
        store.set_ref(n, &mdesc).unwrap();
    }
    Built { manifest: mdesc.digest().to_string().parse().unwrap(), manifest_size: mdesc.size(), layers: digests }
}

/// Busybox as a two-layer image: the fixture rootfs, plus a small layer unique to `tag`.
fn store_busybox(root: &Path, name: &str, tag: &str) -> Built {
    let raw = std::fs::read(busybox_tar()).unwrap();
    let extra = format!("built for {tag}\n");
    store_image(root, Some(name), "linux", "amd64", &[gzip(&raw), tar_gz(&[("etc/berth-test", extra.as_bytes())])])
}

/// The digest `name` points at in a root's index.json, and its media type.
fn ref_of(root: &Path, name: &str) -> Option<(String, String)> {
    let idx: Value = serde_json::from_slice(&std::fs::read(root.join("content/index.json")).unwrap()).unwrap();
    idx["manifests"].as_array().unwrap().iter().find_map(|m| {
        (m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .then(|| (m["digest"].as_str().unwrap().to_string(), m["mediaType"].as_str().unwrap().to_string()))
    })
}

/// Runs berth; returns (success, stdout + stderr).
fn run(b: &Berth, args: &[&str]) -> (bool, String) {
    let o = b.run(args);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success(), out)
}

fn ok(b: &Berth, args: &[&str]) -> String {
    let (good, out) = run(b, args);
    assert!(good, "berth {args:?} failed:\n{out}");
    out
}

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo").args(args).output().expect("skopeo is installed (scripts/setup.sh)");
    assert!(o.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The digest of the manifest skopeo reads for `image` (independent of berth's code).
fn skopeo_digest(image: &str) -> String {
    Digest::of(skopeo(&["inspect", "--tls-verify=false", "--raw", image]).as_bytes()).to_string()
}

/// Every blob an index.json entry refers to (manifests, configs, layers) exists.
fn assert_store_consistent(root: &Path) {
    let store = Store::open(root).unwrap();
    for (name, desc) in store.refs().unwrap() {
        let d: Digest = desc.digest().to_string().parse().unwrap();
        let m: Value = serde_json::from_slice(&store.read_blob(&d).unwrap()).unwrap();
        for b in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            let bd: Digest = b["digest"].as_str().unwrap().parse().unwrap();
            assert!(store.has_blob(&bd), "{name}: blob {bd} missing");
        }
    }
}

#[test]
fn push_then_pull_into_a_fresh_root_and_repush_moves_nothing() {
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let name = format!("{}/test/busybox:1", reg.host());
    let built = store_busybox(a.root(), &name, "1");

    let out = ok(&a, &["push", &name]);
    assert!(out.contains(&format!("The push refers to repository [{}/test/busybox]", reg.host())), "{out}");
    assert_eq!(out.matches(": Pushed").count(), 2, "{out}");
    assert!(out.contains(&format!("1: digest: {} size: {}", built.manifest, built.manifest_size)), "{out}");
    assert_eq!(skopeo_digest(&format!("docker://{name}")), built.manifest.to_string());

    // Re-push: the tag already names the manifest, so nothing moves.
    let out = ok(&a, &["push", &name]);
    assert_eq!(out.matches("Layer already exists").count(), 2, "{out}");
    assert!(!out.contains("Pushed"), "{out}");

    let b = Berth::new();
    let out = ok(&b, &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {}", built.manifest)), "{out}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {name}")), "{out}");
    assert!(out.lines().any(|l| l == name), "the full reference on stdout: {out}");
    assert_eq!(ref_of(b.root(), &name).unwrap(), (built.manifest.to_string(), media::OCI_MANIFEST.to_string()));
    assert_eq!(a.blob_count(), b.blob_count());
    assert_store_consistent(b.root());
    assert_eq!(std::fs::read_dir(b.root().join("tmp")).unwrap().count(), 0);

    // Pulling again downloads nothing.
    let out = ok(&b, &["pull", &name]);
    assert_eq!(out.matches("Already exists").count(), 2, "{out}");
    assert!(out.contains(&format!("Status: Image is up to date for {name}")), "{out}");

    // -q prints only the reference.
    let c = Berth::new();
    let o = c.run(&["pull", "-q", &name]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), name);
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));

    // A pulled image pushes back to a new repository with its layers mounted, not uploaded.
    let other = format!("{}/test/copy:2", reg.host());
    let store = Store::open(b.root()).unwrap();
    store.set_ref(&other, &store.get_ref(&name).unwrap().unwrap()).unwrap();
    let out = ok(&b, &["push", &other]);
    assert_eq!(out.matches("Mounted from test/busybox").count(), 2, "{out}");
    assert_eq!(skopeo_digest(&format!("docker://{other}")), built.manifest.to_string());
}

#[test]
fn push_to_a_second_repository_mounts_across_repositories() {
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let first = format!("{}/team/app:1", reg.host());
    let built = store_busybox(a.root(), &first, "mount");
    ok(&a, &["push", &first]);
    let second = format!("{}/other/app:latest", reg.host());
    let store = Store::open(a.root()).unwrap();
    store.set_ref(&second, &store.get_ref(&first).unwrap().unwrap()).unwrap();
    let out = ok(&a, &["push", &second.replace(":latest", "")]);
    assert!(out.contains("Using default tag: latest"), "{out}");
    assert_eq!(out.matches("Mounted from team/app").count(), 2, "{out}");
    assert!(!out.contains("Pushed"), "{out}");
    assert_eq!(skopeo_digest(&format!("docker://{second}")), built.manifest.to_string());

    // Pushing a missing name fails clearly.
    let (good, out) = run(&a, &["push", &format!("{}/nope:1", reg.host())]);
    assert!(!good);
    assert!(out.contains("nope:1"), "{out}");
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn index_with_several_platforms_picks_the_right_one() {
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let root = a.root();
    let amd = store_image(root, None, "linux", "amd64", &[tar_gz(&[("arch", b"amd64")])]);
    let arm = store_image(root, None, "linux", "arm64", &[tar_gz(&[("arch", b"arm64")])]);
    let wasm_module = b"\0asm\x01\0\0\0".to_vec();
    let wasm = store_image_typed(
        root,
        None,
        "wasi",
        "wasm",
        &[(wasm_module.clone(), Digest::of(&wasm_module))],
        media::WASM_LAYER,
    );
    let entry = |b: &Built, os: &str, arch: &str, variant: Option<&str>| {
        let mut p = json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        json!({"mediaType": media::OCI_MANIFEST, "digest": b.manifest.as_str(), "size": b.manifest_size, "platform": p})
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [
            entry(&amd, "linux", "amd64", None),
            entry(&arm, "linux", "arm64", Some("v8")),
            entry(&wasm, "wasi", "wasm", None),
        ],
    });
    let store = Store::open(root).unwrap();
    let idesc = store.put_json(media::OCI_INDEX, &index).unwrap();
    let name = format!("{}/multi/app:1", reg.host());
    store.set_ref(&name, &idesc).unwrap();
    let index_digest = idesc.digest().to_string();

    let out = ok(&a, &["push", &name]);
    assert!(out.contains(&format!("digest: {index_digest}")), "{out}");
    assert_eq!(skopeo_digest(&format!("docker://{name}")), index_digest);
    let raw: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{name}")]))
            .unwrap();
    assert_eq!(raw["mediaType"], media::OCI_INDEX);

    let host = match host_arch() {
        "arm64" => &arm,
        _ => &amd,
    };
    let pick = |platform: Option<&str>| -> String {
        let b = Berth::new();
        let mut args = vec!["pull"];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        args.push(&name);
        let out = ok(&b, &args);
        assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
        assert_store_consistent(b.root());
        ref_of(b.root(), &name).unwrap().0
    };
    assert_eq!(pick(None), host.manifest.to_string());
    assert_eq!(pick(Some("linux/arm64")), arm.manifest.to_string());
    assert_eq!(pick(Some("linux/arm64/v8")), arm.manifest.to_string());
    assert_eq!(pick(Some("linux/amd64")), amd.manifest.to_string());
    assert_eq!(pick(Some("wasi/wasm")), wasm.manifest.to_string());

    let b = Berth::new();
    let (good, out) = run(&b, &["pull", "--platform", "linux/s390x", &name]);
    assert!(!good);
    assert!(out.contains("no matching manifest for linux/s390x"), "{out}");
    for p in ["linux/amd64", "linux/arm64", "wasi/wasm"] {
        assert!(out.contains(p), "available platforms listed: {out}");
    }
    assert!(ref_of(b.root(), &name).is_none());
}

#[test]
fn docker_schema2_manifests_pull_and_push_as_they_are() {
    if !have("skopeo") {
        panic!("skopeo is required (scripts/setup.sh installs it)");
    }
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let oci = format!("{}/conv/oci:1", reg.host());
    store_busybox(a.root(), &oci, "v2s2");
    ok(&a, &["push", "-q", &oci]);
    let v2 = format!("{}/conv/docker:1", reg.host());
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("docker://{oci}"),
        &format!("docker://{v2}"),
    ]);
    let want = skopeo_digest(&format!("docker://{v2}"));

    let b = Berth::new();
    let out = ok(&b, &["pull", &v2]);
    assert!(out.contains(&format!("Digest: {want}")), "{out}");
    assert_eq!(ref_of(b.root(), &v2).unwrap(), (want.clone(), media::DOCKER_MANIFEST.to_string()));
    assert_store_consistent(b.root());

    // Pushed back under another name, it keeps its Docker media type and digest.
    let again = format!("{}/conv/again:1", reg.host());
    let store = Store::open(b.root()).unwrap();
    store.set_ref(&again, &store.get_ref(&v2).unwrap().unwrap()).unwrap();
    ok(&b, &["push", &again]);
    let raw: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{again}")]))
            .unwrap();
    assert_eq!(raw["mediaType"], media::DOCKER_MANIFEST);
    assert_eq!(skopeo_digest(&format!("docker://{again}")), want);
}

#[test]
fn skopeo_reads_what_berth_pushed() {
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let name = format!("{}/interop/busybox:1", reg.host());
    let built = store_busybox(a.root(), &name, "interop");
    ok(&a, &["push", &name]);
    let inspect: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{name}")])).unwrap();
    assert_eq!(inspect["Digest"], built.manifest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), built.layers.len());
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("layout");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:x", layout.display()),
    ]);
    for l in &built.layers {
        assert!(layout.join("blobs/sha256").join(l.hex()).is_file(), "skopeo copied layer {l}");
    }
    // And berth reads what skopeo pushed (a copy into another repository).
    let copy = format!("{}/interop/copy:2", reg.host());
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:x", layout.display()),
        &format!("docker://{copy}"),
    ]);
    let b = Berth::new();
    ok(&b, &["pull", &copy]);
    assert_eq!(ref_of(b.root(), &copy).unwrap().0, built.manifest.to_string());
}

#[test]
fn errors_name_the_reference() {
    let reg = DistributionRegistry::start();
    let b = Berth::new();
    let (good, out) = run(&b, &["pull", &format!("{}/nothing/here:1", reg.host())]);
    assert!(!good);
    assert!(out.contains("nothing/here"), "{out}");
    assert!(out.contains("unknown") || out.contains("not found"), "{out}");
    let o = b.run(&["pull", &format!("{}/nothing/here:1", reg.host())]);
    assert_eq!(o.status.code(), Some(1), "pull fails with 1, as Docker's");

    let a = Berth::new();
    let name = format!("{}/exists/img:1", reg.host());
    store_busybox(a.root(), &name, "errors");
    ok(&a, &["push", &name]);
    let (good, out) = run(&b, &["pull", &format!("{}/exists/img:nope", reg.host())]);
    assert!(!good);
    assert!(out.contains("exists/img:nope") && out.contains("manifest unknown"), "{out}");
}

/// A registry with htpasswd (bcrypt) Basic auth; the temp dir holds the file while it runs.
fn htpasswd_registry(user: &str, pass: &str) -> (DistributionRegistry, tempfile::TempDir) {
    assert!(have("htpasswd"), "htpasswd (apache2-utils) is required: scripts/setup.sh installs it");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let o = Command::new("htpasswd").args(["-Bbn", user, pass]).output().unwrap();
    assert!(o.status.success());
    std::fs::write(&file, &o.stdout).unwrap();
    let reg = DistributionRegistry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
        file.display()
    ));
    (reg, dir)
}

#[test]
fn basic_auth_with_login_and_logout() {
    let (reg, _htpasswd) = htpasswd_registry("alice", "s3cret");
    let host = reg.host();
    let a = Berth::new();
    let name = format!("{host}/private/busybox:1");
    store_busybox(a.root(), &name, "auth");

    // Docker's file with keys berth must keep.
    let cfg_dir = a.root().join("docker-config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.json"),
        r#"{"psFormat": "table {{.ID}}", "auths": {"other.example": {"auth": "eDp5"}}}"#,
    )
    .unwrap();

    let (good, out) = run(&a, &["push", &name]);
    assert!(!good);
    assert!(out.contains("unauthorized") && out.contains("authentication required"), "{out}");

    let (good, out) = run(&a, &["login", &host, "-u", "alice", "-p", "wrong"]);
    assert!(!good, "{out}");
    assert!(out.contains("401") || out.contains("unauthorized"), "{out}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert!(cfg["auths"].get(&host).is_none(), "a failed login stores nothing");

    let o = a
        .cmd()
        .args(["login", &host, "-u", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = o.unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));
    let cfg: Value = serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["auths"][&host]["auth"], "YWxpY2U6czNjcmV0", "base64 of alice:s3cret");
    assert_eq!(cfg["psFormat"], "table {{.ID}}");
    assert_eq!(cfg["auths"]["other.example"]["auth"], "eDp5");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cfg_dir.join("config.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "config.json holds secrets: {mode:o}");

    let out = ok(&a, &["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");

    // A fresh root with the same Docker config pulls; without it, it may not.
    let b = Berth::new();
    let (good, out) = run(&b, &["pull", &name]);
    assert!(!good && out.contains("unauthorized"), "{out}");
    let o = b.cmd().env("DOCKER_CONFIG", &cfg_dir).args(["pull", &name]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = ok(&a, &["logout", &host]);
    assert!(out.contains(&format!("Removing login credentials for {host}")), "{out}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert!(cfg["auths"].get(&host).is_none());
    assert_eq!(cfg["psFormat"], "table {{.ID}}");
    let out = ok(&a, &["logout", &host]);
    assert!(out.contains("Not logged in"), "{out}");
    let c = Berth::new();
    let (good, out) = run(&c, &["pull", &name]);
    assert!(!good && out.contains("unauthorized"), "{out}");
}

#[test]
fn pull_by_digest_and_platform_of_a_single_manifest() {
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let name = format!("{}/bydigest/app:1", reg.host());
    let built = store_busybox(a.root(), &name, "digest");
    ok(&a, &["push", "-q", &name]);

    let pinned = format!("{}/bydigest/app@{}", reg.host(), built.manifest);
    let b = Berth::new();
    let out = ok(&b, &["pull", &pinned]);
    assert!(!out.contains("Using default tag"), "{out}");
    assert_eq!(ref_of(b.root(), &pinned).unwrap().0, built.manifest.to_string());
    assert_store_consistent(b.root());

    // --platform on a single-platform image checks its config.
    let c = Berth::new();
    let (good, out) = run(&c, &["pull", "--platform", "linux/arm64", &name]);
    assert!(!good);
    assert!(out.contains("does not match the specified platform: wanted linux/arm64, actual: linux/amd64"), "{out}");
    assert!(ref_of(c.root(), &name).is_none());
    ok(&c, &["pull", "--platform", "linux/amd64", &name]);
    let (good, out) = run(&c, &["pull", "--platform", "linux//", &name]);
    assert!(!good && out.contains("invalid platform"), "{out}");
}
