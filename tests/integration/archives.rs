//! Image archives with real peers: berth save/load round trips, skopeo's `oci-archive:` and
//! `docker-archive:` in, berth's OCI archive out to skopeo and umoci, and broken archives
//! refused without naming anything.

use berth_tests::Berth;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn skopeo(args: &[&str]) {
    let o = Command::new("skopeo").args(args).output().expect("skopeo is installed");
    assert!(o.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn image_id(b: &Berth, name: &str) -> String {
    b.ok(&["image", "inspect", "-f", "{{.Id}}", name]).trim().to_string()
}

fn tar_entries(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(p).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// Every stored blob hashes to its name: whatever a failed load left is complete.
fn assert_blobs_verified(b: &Berth) {
    for e in std::fs::read_dir(b.root().join("content/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&data)),
            e.file_name().to_string_lossy(),
            "blob {:?} is corrupt",
            e.path()
        );
    }
}

#[test]
fn docker_format_round_trip_keeps_the_image_id() {
    let a = Berth::new();
    a.import_busybox("busybox");
    a.ok(&["tag", "busybox", "example.com/bb:2"]);
    let id = image_id(&a, "busybox");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bb.tar");
    a.ok(&["save", "-o", file.to_str().unwrap(), "busybox", "example.com/bb:2"]);

    // Docker 25+'s layout: manifest.json over an OCI layout, layers as plain tars.
    let entries = tar_entries(&file);
    let get = |n: &str| {
        entries.iter().find(|(name, _)| name == n).map(|(_, d)| d.clone()).unwrap_or_else(|| panic!("no {n}"))
    };
    let manifest: Value = serde_json::from_slice(&get("manifest.json")).unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", &id[7..]));
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["busybox:latest", "example.com/bb:2"]));
    let layer_path = manifest[0]["Layers"][0].as_str().unwrap();
    let layer = get(layer_path);
    assert_eq!(
        format!("blobs/sha256/{}", hex::encode(Sha256::digest(&layer))),
        layer_path,
        "layers are named by diff-id"
    );
    assert_eq!(&layer[257..262], b"ustar", "layers are uncompressed tars");
    let index: Value = serde_json::from_slice(&get("index.json")).unwrap();
    assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], "docker.io/library/busybox:latest");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
    assert_eq!(get("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let repos: Value = serde_json::from_slice(&get("repositories")).unwrap();
    assert!(repos["busybox"]["latest"].is_string());

    // Both kinds of reader take it: skopeo's docker-archive (manifest.json) and oci-archive
    // (index.json) transports.
    for (transport, suffix) in [("docker-archive", ""), ("oci-archive", ":latest")] {
        let o = Command::new("skopeo")
            .args(["inspect", &format!("{transport}:{}{suffix}", file.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo {transport}: {}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Layers"][0], layer_path.replace("blobs/sha256/", "sha256:"), "{transport}");
    }

    let b = Berth::new();
    let out = b.ok(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: busybox:latest\nLoaded image: example.com/bb:2\n");
    assert_eq!(image_id(&b, "busybox"), id);
    assert_eq!(image_id(&b, "example.com/bb:2"), id);
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    let img = engine.resolve_image("busybox").unwrap();
    assert!(engine.image_layers(&img).unwrap()[0].join("bin/busybox").is_file());

    // A gzip-compressed archive on stdin loads too; loading again is idempotent.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(&file).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let c = Berth::new();
    for _ in 0..2 {
        let mut cmd = c.cmd();
        cmd.args(["load", "-q"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&gz).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Loaded image: busybox:latest"));
    }
    assert_eq!(image_id(&c, "busybox"), id);

    // Saved by id: no names, loads as an untagged image.
    let byid = dir.path().join("byid.tar");
    a.ok(&["save", "-o", byid.to_str().unwrap(), &id[7..19]]);
    let d = Berth::new();
    assert_eq!(d.ok(&["load", "-i", byid.to_str().unwrap()]), format!("Loaded image ID: {id}\n"));
    assert!(d.ok(&["images"]).contains("<none>"));

    assert!(a
        .fails(&["save", "-o", dir.path().join("x.tar").to_str().unwrap(), "nothere"])
        .contains("No such image: nothere"));
    assert!(!dir.path().join("x.tar").exists(), "a failed save leaves no file");
}

#[test]
#[ignore = "needs root"]
fn oci_archive_goes_to_skopeo_and_umoci() {
    berth_tests::require_root();
    let a = Berth::new();
    a.import_busybox("busybox");
    let manifest = a.ok(&["image", "inspect", "-f", "{{.Manifest}}", "busybox"]).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oci.tar");
    a.ok(&["save", "--format", "oci", "-o", file.to_str().unwrap(), "busybox"]);
    let entries = tar_entries(&file);
    let index: Value = serde_json::from_slice(&entries.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
    assert_eq!(index["manifests"][0]["digest"], manifest.as_str(), "the store's own manifest, unchanged");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/busybox:latest"
    );

    let layout = dir.path().join("layout");
    skopeo(&["copy", &format!("oci-archive:{}", file.display()), &format!("oci:{}:bb", layout.display())]);
    let bundle = dir.path().join("bundle");
    let o = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:bb", layout.display())])
        .arg(&bundle)
        .output()
        .expect("umoci is installed");
    assert!(o.status.success(), "umoci: {}", String::from_utf8_lossy(&o.stderr));
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    // And back: berth loads its own OCI archive under the full name.
    let b = Berth::new();
    assert_eq!(b.ok(&["load", "-i", file.to_str().unwrap()]), "Loaded image: busybox:latest\n");
    assert_eq!(b.ok(&["image", "inspect", "-f", "{{.Manifest}}", "busybox"]).trim(), manifest);
}

#[test]
fn loads_what_skopeo_writes() {
    let a = Berth::new();
    a.import_busybox("busybox");
    let id = image_id(&a, "busybox");
    let src = format!("oci:{}:docker.io/library/busybox:latest", a.root().join("content").display());
    let dir = tempfile::tempdir().unwrap();

    let oci = dir.path().join("sk-oci.tar");
    skopeo(&["copy", &src, &format!("oci-archive:{}:docker.io/library/busybox:1.0", oci.display())]);
    let docker = dir.path().join("sk-docker.tar");
    skopeo(&["copy", &src, &format!("docker-archive:{}:example.com/team/bb:2", docker.display())]);
    let unnamed = dir.path().join("sk-unnamed.tar");
    skopeo(&["copy", &src, &format!("oci-archive:{}", unnamed.display())]);

    let b = Berth::new();
    assert_eq!(b.ok(&["load", "-i", oci.to_str().unwrap()]), "Loaded image: busybox:1.0\n");
    // skopeo's docker-archive is the legacy layout: <hex>.tar layers, <id>/layer.tar symlinks.
    assert!(tar_entries(&docker).iter().any(|(n, _)| n.ends_with("/layer.tar")));
    assert_eq!(b.ok(&["load", "-i", docker.to_str().unwrap()]), "Loaded image: example.com/team/bb:2\n");
    assert_eq!(image_id(&b, "busybox:1.0"), id);
    assert_eq!(image_id(&b, "example.com/team/bb:2"), id);
    let out = b.ok(&["load", "-i", unnamed.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image ID: {id}\n"));
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    for n in ["busybox:1.0", "example.com/team/bb:2"] {
        let img = engine.resolve_image(n).unwrap();
        assert!(engine.image_layers(&img).unwrap()[0].join("bin/busybox").is_file(), "{n}");
    }
}

#[test]
fn broken_archives_are_refused_and_name_nothing() {
    let a = Berth::new();
    a.import_busybox("busybox");
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    a.ok(&["save", "-o", good.to_str().unwrap(), "busybox"]);
    let bytes = std::fs::read(&good).unwrap();

    let b = Berth::new();
    for cut in [100, 512 * 3 + 7, bytes.len() / 2, bytes.len() - 2048] {
        let p = dir.path().join(format!("cut-{cut}.tar"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = b.fails(&["load", "-i", p.to_str().unwrap()]);
        assert!(e.contains("malformed image archive") || e.contains("truncated"), "cut at {cut}: {e}");
        assert_eq!(b.ok(&["images", "-q"]), "", "cut at {cut}: nothing named");
        assert_blobs_verified(&b);
    }
    let p = dir.path().join("garbage.tar");
    std::fs::write(&p, b"this is not a tarball at all").unwrap();
    assert!(b.fails(&["load", "-i", p.to_str().unwrap()]).contains("malformed image archive"));

    // A layer whose bytes do not match the config's diff-id is refused.
    let mut out = tar::Builder::new(Vec::new());
    let mut a_in = tar::Archive::new(&bytes[..]);
    for e in a_in.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let mut h = e.header().clone();
        let name = e.path().unwrap().into_owned();
        if data.len() > 100_000 {
            // Rename the layer to the digest of different content: the name check fails.
            data[1000] ^= 0xff;
        }
        out.append_data(&mut h, &name, &data[..]).unwrap();
    }
    let p = dir.path().join("tampered.tar");
    std::fs::write(&p, out.into_inner().unwrap()).unwrap();
    let e = b.fails(&["load", "-i", p.to_str().unwrap()]);
    assert!(e.contains("digest mismatch"), "{e}");
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert_blobs_verified(&b);

    // manifest.json naming a layer the archive lacks.
    let mut out = tar::Builder::new(Vec::new());
    let m = br#"[{"Config":"cfg.json","RepoTags":["x:y"],"Layers":["nope/layer.tar"]}]"#;
    let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:5a260160da97781d55b24f7eb3e7a797bfab54f877e85dc35a582351c30ac4f1"]}}"#;
    for (n, d) in [("manifest.json", &m[..]), ("cfg.json", &cfg[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, n, d).unwrap();
    }
    let p = dir.path().join("missing.tar");
    std::fs::write(&p, out.into_inner().unwrap()).unwrap();
    let e = b.fails(&["load", "-i", p.to_str().unwrap()]);
    assert!(e.contains("nope/layer.tar"), "{e}");
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert_blobs_verified(&b);
}

#[test]
fn save_to_stdout_and_platform_indexes() {
    let a = Berth::new();
    a.import_busybox("busybox");
    a.ok(&["import", "--platform", "linux/s390x", berth_tests::busybox_tar().to_str().unwrap(), "other"]);
    let host = berth_engine::platform::Platform::host();

    // `berth save` with no -o writes the archive to stdout (a pipe here).
    let o = a.cmd().args(["save", "--format", "oci", "busybox", "other"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tar::Archive::new(&o.stdout[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        entries.push((e.path().unwrap().to_string_lossy().into_owned(), d));
    }
    // Rewrite index.json into a multi-platform image: one index entry pointing at a nested
    // index of both manifests, as registries and buildx lay them out.
    let index: Value = serde_json::from_slice(&entries.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
    let m = index["manifests"].as_array().unwrap();
    let arch = |i: usize| if i == 0 { host.architecture.clone() } else { "s390x".to_string() };
    let nested = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": (0..2).map(|i| serde_json::json!({
            "mediaType": m[i]["mediaType"], "digest": m[i]["digest"], "size": m[i]["size"],
            "platform": {"os": "linux", "architecture": arch(i)},
        })).collect::<Vec<_>>(),
    });
    // Put the other platform first: berth must pick by platform, not by position.
    let mut nested = nested;
    nested["manifests"].as_array_mut().unwrap().reverse();
    let nb = serde_json::to_vec(&nested).unwrap();
    let nd = format!("sha256:{}", hex::encode(Sha256::digest(&nb)));
    let top = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd, "size": nb.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"},
    }]});
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, d: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, name, d).unwrap();
    };
    for (n, d) in &entries {
        if n != "index.json" && !n.ends_with('/') {
            add(n, d);
        }
    }
    add(&format!("blobs/sha256/{}", &nd[7..]), &nb);
    add("index.json", &serde_json::to_vec(&top).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("multi.tar");
    std::fs::write(&p, out.into_inner().unwrap()).unwrap();

    let b = Berth::new();
    assert_eq!(b.ok(&["load", "-i", p.to_str().unwrap()]), "Loaded image: multi:1\n");
    assert_eq!(b.ok(&["image", "inspect", "-f", "{{.Architecture}}", "multi:1"]).trim(), host.architecture);
    assert_eq!(image_id(&b, "multi:1"), image_id(&a, "busybox"));
}

#[test]
fn save_refuses_a_terminal() {
    let a = Berth::new();
    a.import_busybox("busybox");
    // util-linux's `script` gives the command a pseudo-terminal as stdout.
    let cmd = format!("{} --root {} save busybox", berth_tests::berth_bin().display(), a.root().display());
    let o = Command::new("script").args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::null()).output().expect("script");
    assert!(!o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cowardly refusing to save to a terminal"), "{out}");
}
