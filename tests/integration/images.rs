//! Image management against the real CLI: import, images, inspect, history, tag, rmi, prune,
//! and berth's store read directly by umoci and skopeo.

use berth_tests::{busybox_tar, Berth};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn inspect(b: &Berth, name: &str) -> Value {
    let out = b.ok(&["image", "inspect", name]);
    let v: Value = serde_json::from_str(&out).expect("inspect prints JSON");
    v[0].clone()
}

fn import(b: &Berth, args: &[&str]) -> String {
    let tar = busybox_tar();
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    let t = tar.to_str().unwrap().to_string();
    let pos = a.iter().position(|x| *x == "FILE").unwrap();
    a[pos] = &t;
    let id = b.ok(&a).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import prints the id: {id}");
    id
}

fn layer_dirs(b: &Berth) -> usize {
    std::fs::read_dir(b.root().join("layers/sha256")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn images_inspect_history_tag_rmi_prune() {
    let b = Berth::new();
    let id = import(&b, &["--change", r#"CMD ["sh"]"#, "FILE", "busybox"]);
    let short = &id[7..19];

    let table = b.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"), "{table}");
    assert!(lines[0].trim_end().ends_with("SIZE"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    let row: Vec<&str> = lines[1].split("   ").map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(row[0], "busybox");
    assert_eq!(row[1], "latest");
    assert_eq!(row[2], short);
    assert!(row[3].ends_with(" ago"), "{table}");
    assert!(row[4].ends_with("MB"), "Docker's decimal units: {table}");

    let json = b.ok(&["images", "--format", "json"]);
    let j: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    for k in [
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    ] {
        assert!(j.get(k).is_some(), "missing {k} in {json}");
    }
    assert_eq!(j["ID"], short);
    assert_eq!(b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "busybox:latest\n");

    let v = inspect(&b, "busybox");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(v["Os"], "linux");
    assert!(v["Architecture"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(v["ManifestMediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(v["Manifest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["OCIConfig"]["rootfs"]["diff_ids"], v["RootFS"]["Layers"]);
    assert_eq!(v["Layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(v["OCIConfig"]["history"][0]["comment"], "Imported from -");
    assert_eq!(inspect(&b, short)["Id"], id.as_str(), "short ids resolve");
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", "busybox"]),
        format!("{id} [\"sh\"]\n")
    );

    let o = b.run(&["image", "inspect", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: No such image: nope"));

    let hist = b.ok(&["history", "busybox"]);
    let hl: Vec<&str> = hist.lines().collect();
    assert!(
        hl[0].starts_with("IMAGE          CREATED") && hl[0].contains("CREATED BY") && hl[0].contains("COMMENT"),
        "{hist}"
    );
    assert!(hl[1].starts_with(short) && hl[1].ends_with("Imported from -"), "{hist}");

    b.ok(&["tag", "busybox", "my/app:v1"]);
    b.ok(&["tag", short, "busybox:1.36"]);
    let names = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(names, "busybox:1.36\nbusybox:latest\nmy/app:v1\n");
    assert_eq!(b.ok(&["images", "-q"]), format!("{short}\n"), "-q prints each id once");
    assert_eq!(b.ok(&["images", "busybox", "--format", "{{.Tag}}"]), "1.36\nlatest\n");
    assert_eq!(inspect(&b, "my/app:v1")["RepoTags"].as_array().unwrap().len(), 3);
    assert!(b.fails(&["tag", "busybox", "Bad:Name"]).contains("invalid reference format"));
    assert!(b.fails(&["tag", "nothere", "x"]).contains("No such image: nothere"));

    // Unpack it so prune has a layer directory to reclaim.
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    let img = engine.resolve_image("busybox").unwrap();
    let dirs = engine.image_layers(&img).unwrap();
    assert!(dirs[0].join("bin/busybox").is_file());
    assert_eq!((b.blob_count(), layer_dirs(&b)), (3, 1));

    let e = b.fails(&["rmi", short]);
    assert!(e.contains("must be forced") && e.contains("multiple repositories"), "{e}");
    assert_eq!(b.ok(&["rmi", "my/app:v1"]), "Untagged: my/app:v1\n");
    assert_eq!(b.ok(&["rmi", "busybox:1.36"]), "Untagged: busybox:1.36\n");
    // Nothing is reclaimed while a name remains.
    assert_eq!(b.ok(&["image", "prune"]), "Total reclaimed space: 0B\n");
    assert_eq!((b.blob_count(), layer_dirs(&b)), (3, 1));
    assert_eq!(b.ok(&["rmi", "busybox"]), format!("Untagged: busybox:latest\nDeleted: {id}\n"));
    assert_eq!(b.ok(&["images", "-q"]), "");
    let o = b.run(&["rmi", "busybox"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such image: busybox"));

    let pruned = b.ok(&["image", "prune", "-f"]);
    assert!(pruned.starts_with("Total reclaimed space: ") && pruned.trim_end().ends_with("MB"), "{pruned}");
    assert_eq!((b.blob_count(), layer_dirs(&b)), (0, 0));
}

#[test]
fn rmi_force_by_id_and_shared_layers_survive_prune() {
    let b = Berth::new();
    let id1 = import(&b, &["FILE", "one"]);
    let id2 = import(&b, &["--change", "ENV X=1", "FILE", "two:v2"]);
    assert_ne!(id1, id2);
    b.ok(&["tag", "one", "other/one:x"]);
    let out = b.ok(&["rmi", "-f", &id1[7..19]]);
    assert!(out.contains("Untagged: one:latest") && out.contains("Untagged: other/one:x"), "{out}");
    assert!(out.ends_with(&format!("Deleted: {id1}\n")), "{out}");
    // Both images share the layer blob: after prune, image two is still whole.
    b.ok(&["image", "prune"]);
    assert_eq!(b.blob_count(), 3, "layer, config and manifest of two:v2 remain");
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    let img = engine.resolve_image("two:v2").unwrap();
    assert_eq!(img.id.to_string(), id2);
    assert!(engine.image_layers(&img).unwrap()[0].join("bin/busybox").is_file());
    // prune -a removes named images too.
    let out = b.ok(&["image", "prune", "-a"]);
    assert!(out.starts_with("Deleted Images:\nuntagged: two:v2\n"), "{out}");
    assert_eq!((b.blob_count(), layer_dirs(&b)), (0, 0));
}

#[test]
fn import_changes_platform_message_stdin_and_dangling() {
    let b = Berth::new();
    // gzip-compressed input on stdin
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(busybox_tar()).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let mut c = b.cmd();
    c.args([
        "import",
        "-m",
        "hello there",
        "--platform",
        "linux/arm64",
        "-c",
        "ENV PATH=/bin GREETING=\"hi you\"",
        "-c",
        "WORKDIR /srv",
        "-c",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "-c",
        "CMD echo $GREETING",
        "-c",
        "EXPOSE 80 53/udp",
        "-c",
        "LABEL org.example=yes",
        "-c",
        "USER 65534",
        "-c",
        "VOLUME /data",
        "-c",
        "STOPSIGNAL SIGINT",
        "-c",
        "ONBUILD RUN echo built",
        "-",
        "example.com/team/app:1.0",
    ]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = inspect(&b, "example.com/team/app:1.0");
    let cfg = &v["Config"];
    assert_eq!(v["Architecture"], "arm64");
    assert_eq!(cfg["Env"], serde_json::json!(["PATH=/bin", "GREETING=hi you"]));
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo $GREETING"]));
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["Labels"], serde_json::json!({"org.example": "yes"}));
    assert_eq!(cfg["User"], "65534");
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo built"]));
    assert_eq!(v["Comment"], "hello there");
    assert!(b.ok(&["history", "example.com/team/app:1.0"]).contains("hello there"));
    assert_eq!(b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "example.com/team/app:1.0\n");

    // Refused changes read nothing and store nothing.
    let before = b.blob_count();
    let e = b.fails(&["import", "-c", "RUN echo", busybox_tar().to_str().unwrap(), "x"]);
    assert!(e.contains("RUN is not a valid change command"), "{e}");
    assert!(b
        .fails(&["import", "--compression", "xz", busybox_tar().to_str().unwrap(), "x"])
        .contains("unknown compression"));
    assert_eq!(b.blob_count(), before);

    // No name: a dangling image, listed as <none>, removed by prune.
    let id = import(&b, &["FILE"]);
    let rows = b.ok(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]);
    assert!(rows.contains(&format!("<none> <none> {}", &id[7..19])), "{rows}");
    let out = b.ok(&["image", "prune"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(!b.ok(&["images"]).contains("<none>"));
}

/// `--change` is read by the builder's Dockerfile parser: the expansion forms a Dockerfile
/// has (`${V-w}`, `${V:?message}`) work there too.
#[test]
fn import_changes_expand_as_a_dockerfile_does() {
    let b = Berth::new();
    import(&b, &["--change", "ENV A=${B-w} C=${PATH:+set}", "FILE", "exp"]);
    assert_eq!(inspect(&b, "exp")["Config"]["Env"], serde_json::json!(["A=w", "C="]));
    let before = b.blob_count();
    let e = b.fails(&["import", "--change", "ENV A=${B:?B is required}", busybox_tar().to_str().unwrap(), "x"]);
    assert_eq!(e, "Error: invalid change \"ENV A=${B:?B is required}\": B: B is required\n");
    assert_eq!(b.blob_count(), before, "a refused change stores nothing");
}

#[test]
fn zstd_and_uncompressed_layers_unpack_the_same() {
    let b = Berth::new();
    import(&b, &["FILE", "gz"]);
    import(&b, &["--compression", "zstd", "FILE", "zst"]);
    import(&b, &["--compression", "uncompressed", "FILE", "plain"]);
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    let mut diff_ids = Vec::new();
    for (name, mt) in [
        ("gz", "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("zst", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("plain", "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let v = inspect(&b, name);
        assert_eq!(v["Layers"][0]["mediaType"], mt);
        diff_ids.push(v["RootFS"]["Layers"][0].clone());
        let img = engine.resolve_image(name).unwrap();
        let dirs = engine.image_layers(&img).unwrap();
        assert!(dirs[0].join("bin/busybox").is_file());
        assert_eq!(std::fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(), Some("busybox"));
    }
    assert!(diff_ids.windows(2).all(|w| w[0] == w[1]), "one tar, one diff-id: {diff_ids:?}");
    assert_eq!(layer_dirs(&b), 1, "one diff-id, unpacked once");
}

#[test]
#[ignore = "needs root"]
fn umoci_and_skopeo_read_the_store_directly() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("busybox");
    let v = inspect(&b, "busybox");
    let layout = b.root().join("content");
    let image = format!("{}:docker.io/library/busybox:latest", layout.display());

    let o = Command::new("skopeo").args(["inspect", &format!("oci:{image}")]).output().expect("skopeo");
    assert!(o.status.success(), "skopeo: {}", String::from_utf8_lossy(&o.stderr));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["Digest"], v["Manifest"]);
    assert_eq!(s["Layers"][0], v["Layers"][0]["digest"]);

    let bundle = tempfile::tempdir().unwrap();
    let dest = bundle.path().join("b");
    let o = Command::new("umoci").args(["unpack", "--image", &image]).arg(&dest).output().expect("umoci");
    assert!(o.status.success(), "umoci: {}", String::from_utf8_lossy(&o.stderr));
    assert!(dest.join("rootfs/bin/busybox").is_file());
    assert!(dest.join("config.json").is_file());
    // umoci reads the config berth wrote: CMD became the process args.
    let cfg: Value = serde_json::from_slice(&std::fs::read(dest.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"], serde_json::json!(["sh"]));
}

#[test]
fn images_used_by_containers_are_kept() {
    let b = Berth::new();
    let id = import(&b, &["FILE", "busybox"]);
    let engine = berth_engine::Engine::open(b.root()).unwrap();
    let img = engine.resolve_image("busybox").unwrap();
    let dirs = engine.image_layers(&img).unwrap();
    // A container record as the container code writes it (only Image and Layers matter here).
    let cdir = b.root().join("containers").join("c0ffee".repeat(10) + "abcd");
    std::fs::create_dir_all(&cdir).unwrap();
    let rec = serde_json::json!({"Id": "x", "Image": id, "Layers": dirs});
    std::fs::write(cdir.join("config.v2.json"), serde_json::to_vec(&rec).unwrap()).unwrap();

    let e = b.fails(&["rmi", "busybox"]);
    assert!(e.contains("must force") && e.contains("c0ffeec0ffee"), "{e}");
    assert!(b.fails(&["rmi", &id]).contains("being used by stopped container"));
    assert_eq!(b.ok(&["rmi", "-f", "busybox"]), "Untagged: busybox:latest\n");
    // Still there, as a dangling image, and prune keeps it and its unpacked layer.
    assert!(b.ok(&["images"]).contains("<none>"));
    b.ok(&["image", "prune", "-a"]);
    assert_eq!((b.blob_count(), layer_dirs(&b)), (3, 1));
    std::fs::remove_dir_all(b.root().join("containers")).unwrap();
    let out = b.ok(&["image", "prune"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert_eq!((b.blob_count(), layer_dirs(&b)), (0, 0));
}
