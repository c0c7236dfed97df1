//! Differential test against Docker: the same Dockerfiles and contexts built by `docker build`
//! and `berth build` on the same busybox base must give the same image config (the fields a
//! Dockerfile sets) and the same files in each layer a step adds (paths, types, modes, owners,
//! sizes, link targets, contents and whiteouts; mtimes aside). Docker is the test process's
//! private daemon (`berth_tests::docker`), started as the suite runs.

use berth_tests::docker::docker;
use berth_tests::{busybox_root, busybox_tar, require_root, Berth};
use serde_json::Value;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

fn docker_ok(args: &[&str]) -> String {
    docker().ok(args)
}

/// The Dockerfile cases: (name, files). Each FROMs `$BASE`, the busybox fixture both
/// engines imported under the same name.
fn cases() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "config",
            vec![
                (
                    "Dockerfile",
                    r#"ARG BASE
FROM $BASE
ARG REL=3
LABEL version=$REL team="two words"
ENV HOME_DIR=/srv NAME="the app" REL=$REL
WORKDIR $HOME_DIR/app
COPY --chmod=0755 tool.sh /usr/local/bin/tool
COPY conf/ /etc/app/
COPY --chown=65534:65534 data.txt ./
RUN touch made && rm /bin/true && mkdir -p /var/empty
USER nobody
EXPOSE 8080/tcp 9000-9001/udp
VOLUME /cache /state
STOPSIGNAL SIGTERM
HEALTHCHECK --start-period=2s CMD ["tool", "check"]
SHELL ["/bin/sh", "-euc"]
ONBUILD COPY . /src
ENTRYPOINT ["tool"]
CMD ["serve"]
"#,
                ),
                ("tool.sh", "#!/bin/sh\necho tool \"$@\"\n"),
                ("conf/app.conf", "port=8080\n"),
                ("conf/extra/more.conf", "more\n"),
                ("data.txt", "data\n"),
            ],
        ),
        (
            "multistage",
            // No heredoc here: Docker 20.10's built-in Dockerfile frontend predates them (and a
            // newer one cannot be pulled without Docker Hub); berth's build tests cover them.
            vec![
                (
                    "Dockerfile",
                    r#"ARG BASE
FROM $BASE AS builder
RUN mkdir -p /out/bin && echo built > /out/artifact && ln -s artifact /out/link
FROM $BASE
COPY --from=builder /out /opt/out
COPY motd /etc/motd
RUN rm -rf /var/www && chmod 1777 /tmp
CMD ["cat", "/opt/out/artifact"]
"#,
                ),
                ("motd", "hello\n"),
            ],
        ),
        (
            "ignore",
            vec![
                (
                    "Dockerfile",
                    "ARG BASE\nFROM $BASE\nCOPY . /ctx/\nCOPY NOTES.md lib/*.txt /docs/\nCOPY one.txt /renamed\n",
                ),
                (".dockerignore", "# local state\n*.tmp\n**/private*\n!important.tmp\nnode_modules/\n"),
                ("x.tmp", "no"),
                ("important.tmp", "yes"),
                ("lib/private.pem", "no"),
                ("lib/code.txt", "code"),
                ("node_modules/m.js", "no"),
                ("NOTES.md", "notes"),
                ("one.txt", "one"),
            ],
        ),
        (
            // BuildKit's three choices: WORKDIR of an existing directory adds an empty layer,
            // WORKDIR under USER makes the directories that user's, WORKDIR / adds none.
            "workdir",
            vec![(
                "Dockerfile",
                r#"ARG BASE
FROM $BASE
WORKDIR /etc
RUN echo 'u:x:1000:1001::/home/u:/bin/sh' >> /etc/passwd && echo 'g:x:1001:' >> /etc/group
USER u
WORKDIR /home/u/app
RUN touch x
WORKDIR /
"#,
            )],
        ),
        // A numeric USER owns what WORKDIR makes (uid as the group); an unknown name, root.
        (
            "workdir-ids",
            vec![("Dockerfile", "ARG BASE\nFROM $BASE\nUSER 1234\nWORKDIR /x/y\nUSER nosuch\nWORKDIR /z\n")],
        ),
        // FROM scratch: BuildKit records `/` as the working directory.
        ("scratch", vec![("Dockerfile", "FROM scratch\nCOPY f /f\n"), ("f", "f\n")]),
    ]
}

/// The config fields a Dockerfile sets, with absent, null and empty made equal.
fn config_of(inspect_json: &str) -> BTreeMap<String, Value> {
    let v: Value = serde_json::from_str(inspect_json).unwrap();
    let c = &v[0]["Config"];
    let mut out = BTreeMap::new();
    for f in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "Healthcheck",
        "StopSignal",
        "Shell",
        "OnBuild",
    ] {
        let x = c.get(f).cloned().unwrap_or(Value::Null);
        let empty = match &x {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        out.insert(f.to_string(), if empty { Value::Null } else { x });
    }
    out
}

/// One line per entry of a layer tar: path, type, mode, owner, size, link target, content hash.
fn layer_listing(bytes: &[u8]) -> Vec<String> {
    let plain: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut v).unwrap();
        v
    } else {
        bytes.to_vec()
    };
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(&plain[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().display().to_string();
        let path = path.trim_start_matches("./").trim_end_matches('/').to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let link = e.link_name().ok().flatten().map(|l| l.display().to_string()).unwrap_or_default();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        out.push(format!(
            "{path} {:?} {:o} {}:{} {} {link} {}",
            h.entry_type(),
            h.mode().unwrap_or(0) & 0o7777,
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            body.len(),
            hex::encode(sha2::Sha256::digest(&body)),
        ));
    }
    out.sort();
    out
}

/// Every layer's listing of an image archive in Docker's format (`docker save`/`berth save`).
fn layers_of_archive(archive: &Path) -> Vec<Vec<String>> {
    let files = berth_tests::tar_files(fs::File::open(archive).unwrap());
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"].as_array().unwrap().iter().map(|l| layer_listing(&files[l.as_str().unwrap()])).collect()
}

#[test]
#[ignore = "needs root"]
fn same_images_as_docker_build() {
    require_root();
    let tag = format!("berth-difftest-{}", std::process::id());
    let base = format!("{tag}-busybox:latest");
    let tar = busybox_tar();
    docker_ok(&["import", "--change", "CMD [\"sh\"]", tar.to_str().unwrap(), &base]);
    let _cleanup = DockerImages(vec![base.clone()]);
    let b = Berth::new();
    b.ok(&["import", "--change", "CMD [\"sh\"]", tar.to_str().unwrap(), &base]);
    let mut cleanup = DockerImages(Vec::new());
    let mut failures = Vec::new();
    for (name, files) in cases() {
        let ctx = tempfile::Builder::new().prefix("berth-difftest-").tempdir().unwrap();
        for (p, body) in &files {
            let path = ctx.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
        let image = format!("{tag}-{name}:latest");
        let arg = format!("BASE={base}");
        let c = ctx.path().to_str().unwrap();
        let o = docker()
            .cmd()
            .args(["build", "-q", "--network", "none", "--build-arg", &arg, "-t", &image, c])
            .output()
            .unwrap();
        assert!(o.status.success(), "docker build {name}: {}", String::from_utf8_lossy(&o.stderr));
        cleanup.0.push(image.clone());
        b.ok(&["build", "-q", "--network", "none", "--build-arg", &arg, "-t", &image, c]);

        let dc = config_of(&docker_ok(&["image", "inspect", &image]));
        let bc = config_of(&b.ok(&["image", "inspect", &image]));
        for (k, dv) in &dc {
            if bc.get(k) != Some(dv) {
                failures.push(format!("{name}: Config.{k}: docker {dv} berth {}", bc[k]));
            }
        }

        let da = ctx.path().join("docker.tar");
        let ba = ctx.path().join("berth.tar");
        docker_ok(&["save", "-o", da.to_str().unwrap(), &image]);
        b.ok(&["save", "-o", ba.to_str().unwrap(), &image]);
        let (dl, bl) = (layers_of_archive(&da), layers_of_archive(&ba));
        if dl.len() != bl.len() {
            failures.push(format!("{name}: docker made {} layers, berth {}", dl.len(), bl.len()));
            continue;
        }
        // Layer 0 is the imported base; the rest are the steps'.
        for (i, (d, bb)) in dl.iter().zip(&bl).enumerate().skip(1) {
            // Accepted: BuildKit's RUN layers carry /etc itself (runc made the /etc/hosts and
            // /etc/resolv.conf mount points in it); berth's RUN steps change nothing there.
            let d: Vec<String> =
                d.iter().filter(|x| !x.starts_with("etc Directory ") || bb.contains(x)).cloned().collect();
            if &d != bb {
                let only_d: Vec<&String> = d.iter().filter(|x| !bb.contains(x)).collect();
                let only_b: Vec<&String> = bb.iter().filter(|x| !d.contains(x)).collect();
                failures.push(format!("{name}: layer {i}:\n  only docker: {only_d:#?}\n  only berth: {only_b:#?}"));
            }
        }
    }
    assert!(failures.is_empty(), "differences from docker build:\n{}", failures.join("\n"));
}

/// Removes the Docker images a test made, whatever happened.
struct DockerImages(Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for i in &self.0 {
            let _ = docker().cmd().args(["rmi", "-f", i]).output();
        }
    }
}

/// The listing helpers themselves, on an archive berth wrote (runs without Docker).
#[test]
#[ignore = "needs root"]
fn listing_helpers_read_a_saved_image() {
    let b = busybox_root();
    let (name, files) = cases().remove(1);
    let ctx = tempfile::Builder::new().prefix("berth-difftest-").tempdir().unwrap();
    for (p, body) in &files {
        fs::write(ctx.path().join(p), body).unwrap();
    }
    b.ok(&["build", "-q", "--build-arg", "BASE=busybox", "-t", name, ctx.path().to_str().unwrap()]);
    let cfg = config_of(&b.ok(&["image", "inspect", name]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["cat", "/opt/out/artifact"]));
    assert!(cfg["Volumes"].is_null());
    let a = ctx.path().join("saved.tar");
    b.ok(&["save", "-o", a.to_str().unwrap(), name]);
    let layers = layers_of_archive(&a);
    assert_eq!(layers.len(), 4, "base, COPY --from, COPY heredoc, RUN");
    assert!(layers[1].iter().any(|l| l.starts_with("opt/out/link Symlink 777 0:0 0 artifact ")), "{:#?}", layers[1]);
    assert!(layers[1].iter().any(|l| l.starts_with("opt/out/artifact Regular 644 0:0 6 ")), "{:#?}", layers[1]);
    assert!(layers[3].iter().any(|l| l.starts_with("var/.wh.www ")), "a whiteout for the deletion: {:#?}", layers[3]);
    assert!(layers[3].iter().any(|l| l.starts_with("tmp Directory 1777 ")), "{:#?}", layers[3]);
}
