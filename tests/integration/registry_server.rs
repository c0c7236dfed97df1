//! `berth registry serve` against real clients: skopeo pushes and pulls through it, Debian's
//! distribution registry exchanges images with it, and raw HTTP requests check the OCI
//! distribution-spec v1.1 endpoints, status codes and error codes one by one.

use berth_tests::{
    berth_bin, busybox_tar, free_port, have, wait_for_port, BerthRegistry, ChildGuard, DistributionRegistry,
};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").arg("--insecure-policy").args(args))
}

/// A one-layer busybox OCI layout at `dir`, tagged `t`; returns its manifest digest.
fn busybox_layout(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    run(Command::new("umoci").args(["init", "--layout", d]));
    run(Command::new("umoci").args(["new", "--image", &format!("{d}:t")]));
    run(Command::new("umoci").args(["raw", "add-layer", "--image", &format!("{d}:t")]).arg(busybox_tar()));
    run(Command::new("umoci").args(["config", "--image", &format!("{d}:t"), "--config.cmd", "sh"]));
    layout_digest(dir)
}

fn layout_digest(dir: &Path) -> String {
    let idx: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_string()
}

fn peers_present() -> bool {
    let ok = have("skopeo") && have("umoci");
    if !ok {
        eprintln!("skopeo/umoci missing: run scripts/setup.sh");
    }
    ok
}

#[test]
fn skopeo_pushes_inspects_lists_and_pulls() {
    assert!(peers_present());
    let reg = BerthRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let digest = busybox_layout(&src);
    let dest = format!("docker://{}/library/busybox:1.0", reg.host());
    skopeo(&["copy", "--dest-tls-verify=false", &format!("oci:{}:t", src.display()), &dest]);
    // A second tag of the same image in another (nested) repository reuses the blobs.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:t", src.display()),
        &format!("docker://{}/team/sub/busybox:latest", reg.host()),
    ]);

    let inspect: Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &dest])).unwrap();
    assert_eq!(inspect["Digest"], digest);
    assert_eq!(inspect["RepoTags"], json!(["1.0"]));
    assert_eq!(inspect["Os"], "linux");
    let tags: Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/library/busybox", reg.host()),
    ]))
    .unwrap();
    assert_eq!(tags["Tags"], json!(["1.0"]));

    let out = tmp.path().join("out");
    skopeo(&["copy", "--src-tls-verify=false", &dest, &format!("oci:{}:t", out.display())]);
    assert_eq!(layout_digest(&out), digest, "pulled manifest is byte-identical");
    let pulled: Vec<_> = std::fs::read_dir(out.join("blobs/sha256")).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(pulled.len(), 3);
    for e in pulled {
        let pushed = src.join("blobs/sha256").join(e.file_name());
        assert_eq!(std::fs::read(e.path()).unwrap(), std::fs::read(&pushed).unwrap(), "{:?}", e.file_name());
    }

    // The storage layout is content-addressed and shared between repositories.
    let storage = reg.dir.path().join("storage");
    let blobs = std::fs::read_dir(storage.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 3, "manifest, config and layer stored once");
    let hex = digest.strip_prefix("sha256:").unwrap();
    for repo in ["library/busybox", "team/sub/busybox"] {
        let r = storage.join("repositories").join(repo);
        assert!(r.join("_manifests/revisions/sha256").join(hex).is_file(), "{repo}");
    }
    assert_eq!(
        std::fs::read_to_string(storage.join("repositories/library/busybox/_manifests/tags/1.0")).unwrap().trim(),
        digest
    );
}

#[test]
fn images_travel_between_berth_and_distribution() {
    assert!(peers_present());
    let berth = BerthRegistry::start();
    let dist = DistributionRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let digest = busybox_layout(&src);
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    let b1 = format!("docker://{}/origin/busybox:v1", berth.host());
    let d1 = format!("docker://{}/copied/busybox:v1", dist.host());
    let b2 = format!("docker://{}/back/busybox:v2", berth.host());
    skopeo(&["copy", "--dest-tls-verify=false", &format!("oci:{}:t", src.display()), &b1]);
    skopeo(&["copy", tls[0], tls[1], &b1, &d1]);
    skopeo(&["copy", tls[0], tls[1], &d1, &b2]);
    for r in [&d1, &b2] {
        let i: Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", r])).unwrap();
        assert_eq!(i["Digest"], digest, "{r}");
    }
    // And a pull from berth of what came back, verified byte for byte.
    let out = tmp.path().join("out");
    skopeo(&["copy", "--src-tls-verify=false", &b2, &format!("oci:{}:t", out.display())]);
    assert_eq!(layout_digest(&out), digest);
}

#[test]
fn storage_survives_a_restart() {
    assert!(peers_present());
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let digest = busybox_layout(&src);
    let storage = tmp.path().join("storage");
    let start = || {
        let port = free_port();
        let child = Command::new(berth_bin())
            .arg("--root")
            .arg(tmp.path().join("root"))
            .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}"), "--storage"])
            .arg(&storage)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let g = ChildGuard(child);
        assert!(wait_for_port(port, Duration::from_secs(10)));
        (g, port)
    };
    let (mut g, port) = start();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:t", src.display()),
        &format!("docker://127.0.0.1:{port}/keep/me:v1"),
    ]);
    // SIGTERM stops it cleanly, after it said where it listened.
    let _ = berth_sys::process::send_signal(g.0.id() as i32, libc::SIGTERM);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "registry ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(g.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains(&format!("listening on http://127.0.0.1:{port}")), "{err}");
    drop(g);

    let (_g, port) = start();
    let i: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://127.0.0.1:{port}/keep/me:v1"),
    ]))
    .unwrap();
    assert_eq!(i["Digest"], digest);
}

// ---- raw HTTP ------------------------------------------------------------------------------

struct Api {
    base: String,
    http: Client,
    _reg: BerthRegistry,
}

impl Api {
    fn start() -> Api {
        let reg = BerthRegistry::start();
        Api { base: format!("http://{}", reg.host()), http: Client::new(), _reg: reg }
    }

    fn storage(&self) -> PathBuf {
        self._reg.dir.path().join("storage")
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn req(&self, m: Method, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Response {
        let mut r = self.http.request(m, self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        r.send().await.expect("request")
    }

    async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path, &[], None).await
    }

    async fn head(&self, path: &str) -> Response {
        self.req(Method::HEAD, path, &[], None).await
    }

    /// Pushes a blob monolithically; returns its digest.
    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = sha(bytes);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[("Content-Type", "application/octet-stream")],
                Some(bytes.to_vec()),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        d
    }

    async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, m: &Value) -> Response {
        self.req(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            Some(serde_json::to_vec(m).unwrap()),
        )
        .await
    }

    /// Pushes a config and a layer and a manifest tagged `tag`; returns (manifest, its digest).
    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Value, String) {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = self.push_blob(repo, config).await;
        let l = self.push_blob(repo, layer).await;
        let m = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}]
        });
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        (m.clone(), sha(&serde_json::to_vec(&m).unwrap()))
    }
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers().get(name).unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers())).to_str().unwrap()
}

async fn error_code(r: Response) -> String {
    let v: Value = r.json().await.expect("JSON error body");
    v["errors"][0]["code"].as_str().expect("errors[0].code").to_string()
}

fn dir_count(p: &Path) -> usize {
    std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn base_and_error_bodies() {
    let api = Api::start();
    let r = api.get("/v2/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "Docker-Distribution-API-Version"), "registry/2.0");

    let r = api.get("/v2/nothing/here/manifests/latest").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "Content-Type"), "application/json");
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = api.get(&format!("/v2/nothing/blobs/{}", sha(b"x"))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    assert_eq!(api.head(&format!("/v2/nothing/blobs/{}", sha(b"x"))).await.status(), StatusCode::NOT_FOUND);
    let r = api.get("/v2/nothing/tags/list").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let r = api.get("/v2/nothing/blobs/sha256:short").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn invalid_names_and_tags_are_refused() {
    let api = Api::start();
    for name in ["UPPER", "a//b", "-a", "a..b", "a/_b"] {
        let r = api.get(&format!("/v2/{name}/tags/list")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(error_code(r).await, "NAME_INVALID", "{name}");
        let r = api.req(Method::POST, &format!("/v2/{name}/blobs/uploads/"), &[], None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    let (m, _) = api.push_image("good", "v1", b"layer").await;
    for tag in [".hidden", "-dash", &"t".repeat(129)] {
        let r = api.put_manifest("good", tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{tag}");
        assert_eq!(error_code(r).await, "MANIFEST_INVALID", "{tag}");
    }
    // Not JSON, no layers, wrong schema version, Content-Type contradicting mediaType.
    let r = api
        .req(Method::PUT, "/v2/good/manifests/bad", &[("Content-Type", OCI_MANIFEST)], Some(b"{nope".to_vec()))
        .await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let mut no_layers = m.clone();
    no_layers.as_object_mut().unwrap().remove("layers");
    assert_eq!(error_code(api.put_manifest("good", "bad", OCI_MANIFEST, &no_layers).await).await, "MANIFEST_INVALID");
    let mut v1 = m.clone();
    v1["schemaVersion"] = json!(1);
    assert_eq!(error_code(api.put_manifest("good", "bad", OCI_MANIFEST, &v1).await).await, "MANIFEST_INVALID");
    assert_eq!(error_code(api.put_manifest("good", "bad", OCI_INDEX, &m).await).await, "MANIFEST_INVALID");
    // Pushing by digest: the body must have that digest.
    let r = api.put_manifest("good", &sha(b"other"), OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let tags: Value = api.get("/v2/good/tags/list").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!(["v1"]), "nothing refused was tagged");
}

#[tokio::test]
async fn chunked_upload_in_order_only() {
    let api = Api::start();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = sha(&data);
    let r = api.req(Method::POST, "/v2/chunky/blobs/uploads/", &[], None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = header(&r, "Location").to_string();
    assert!(loc.starts_with("/v2/chunky/blobs/uploads/"), "{loc}");
    assert_eq!(header(&r, "Docker-Upload-UUID"), loc.rsplit('/').next().unwrap());
    assert_eq!(header(&r, "Range"), "0-0");
    header(&r, "OCI-Chunk-Min-Length").parse::<u64>().unwrap();

    let patch = |range: String, chunk: Vec<u8>, loc: String| {
        let api = &api;
        async move {
            let len = chunk.len().to_string();
            api.req(
                Method::PATCH,
                &loc,
                &[("Content-Type", "application/octet-stream"), ("Content-Range", &range), ("Content-Length", &len)],
                Some(chunk),
            )
            .await
        }
    };
    let r = patch("0-99999".into(), data[..100_000].to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "Range"), "0-99999");
    let loc = header(&r, "Location").to_string();

    // Out of order (a gap), and a retry of the chunk already received: both 416.
    let r = patch("200000-299999".into(), data[200_000..].to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "Range"), "0-99999");
    let r = patch("0-99999".into(), data[..100_000].to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let r = api.get(&loc).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "Range"), "0-99999");
    assert_eq!(header(&r, "Location"), loc);

    let r = patch("100000-199999".into(), data[100_000..200_000].to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The last chunk travels with the closing PUT.
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = api
        .req(
            Method::PUT,
            &format!("{loc}{sep}digest={d}"),
            &[("Content-Range", "200000-299999"), ("Content-Type", "application/octet-stream")],
            Some(data[200_000..].to_vec()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "Location"), format!("/v2/chunky/blobs/{d}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    assert_eq!(api.get(&loc).await.status(), StatusCode::NOT_FOUND, "the session is over");

    let r = api.head(&format!("/v2/chunky/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "Content-Length"), "300000");
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    let r = api.get(&format!("/v2/chunky/blobs/{d}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);
    let r = api.req(Method::GET, &format!("/v2/chunky/blobs/{d}"), &[("Range", "bytes=1000-1999")], None).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "Content-Range"), "bytes 1000-1999/300000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    let r = api.req(Method::GET, &format!("/v2/chunky/blobs/{d}"), &[("Range", "bytes=400000-")], None).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // A cancelled upload is gone.
    let r = api.req(Method::POST, "/v2/chunky/blobs/uploads/", &[], None).await;
    let loc = header(&r, "Location").to_string();
    assert_eq!(api.req(Method::DELETE, &loc, &[], None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.get(&loc).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(dir_count(&api.storage().join("uploads")), 0);
}

#[tokio::test]
async fn digest_mismatch_stores_nothing() {
    let api = Api::start();
    let data = b"the real content".to_vec();
    let wrong = sha(b"something else");
    // Streamed upload closed with the wrong digest.
    let r = api.req(Method::POST, "/v2/m/blobs/uploads/", &[], None).await;
    let loc = header(&r, "Location").to_string();
    assert_eq!(api.req(Method::PATCH, &loc, &[], Some(data.clone())).await.status(), StatusCode::ACCEPTED);
    let r = api.req(Method::PUT, &format!("{loc}?digest={wrong}"), &[], None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // Monolithic upload with the wrong digest.
    let r = api.req(Method::POST, &format!("/v2/m/blobs/uploads/?digest={wrong}"), &[], Some(data.clone())).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [&wrong, &sha(&data)] {
        assert_eq!(api.head(&format!("/v2/m/blobs/{d}")).await.status(), StatusCode::NOT_FOUND);
    }
    let s = api.storage();
    assert_eq!(dir_count(&s.join("blobs/sha256")), 0);
    assert_eq!(dir_count(&s.join("uploads")), 0);
    assert_eq!(dir_count(&s.join("tmp")), 0);
}

#[tokio::test]
async fn monolithic_upload_and_cross_repo_mount() {
    let api = Api::start();
    let d = api.push_blob("src/repo", b"shared layer").await;
    let r = api.get(&format!("/v2/src/repo/blobs/{d}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"shared layer");
    assert_eq!(api.head(&format!("/v2/dst/blobs/{d}")).await.status(), StatusCode::NOT_FOUND, "per-repository");

    let r = api.req(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"), &[], None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "Location"), format!("/v2/dst/blobs/{d}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    assert_eq!(api.head(&format!("/v2/dst/blobs/{d}")).await.status(), StatusCode::OK);

    // Not in `from`: a fresh upload session instead.
    let r = api.req(Method::POST, &format!("/v2/other/blobs/uploads/?mount={d}&from=nowhere"), &[], None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(header(&r, "Location").starts_with("/v2/other/blobs/uploads/"));
    let missing = sha(b"never pushed");
    let r = api.req(Method::POST, &format!("/v2/other/blobs/uploads/?mount={missing}&from=src/repo"), &[], None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Automatic mount (no `from`): the registry finds it anywhere.
    let r = api.req(Method::POST, &format!("/v2/auto/blobs/uploads/?mount={d}"), &[], None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(dir_count(&api.storage().join("blobs/sha256")), 1, "mounts share the bytes");
}

#[tokio::test]
async fn manifests_need_their_blobs() {
    let api = Api::start();
    let c = api.push_blob("r", b"{}").await;
    let missing = sha(b"missing layer");
    let m = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": missing, "size": 13}]
    });
    let r = api.put_manifest("r", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // Blobs of another repository do not count.
    api.push_blob("elsewhere", b"missing layer").await;
    let r = api.put_manifest("r", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(b"no manifest"), "size": 11}]});
    let r = api.put_manifest("r", "idx", OCI_INDEX, &idx).await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(api.get("/v2/r/manifests/v1").await.status(), StatusCode::NOT_FOUND);

    // With everything present: an image, then an index of it, by tag and by digest.
    let (m, md) = api.push_image("r", "v1", b"layer bytes").await;
    let r = api.get("/v2/r/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "Content-Type"), OCI_MANIFEST);
    assert_eq!(header(&r, "Docker-Content-Digest"), md);
    assert_eq!(r.json::<Value>().await.unwrap(), m);
    let size = serde_json::to_vec(&m).unwrap().len();
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": size,
                       "platform": {"architecture": "amd64", "os": "linux"}}]});
    let idx_bytes = serde_json::to_vec(&idx).unwrap();
    let r = api.put_manifest("r", &sha(&idx_bytes), OCI_INDEX, &idx).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "Location"), format!("/v2/r/manifests/{}", sha(&idx_bytes)));
    let r = api.head(&format!("/v2/r/manifests/{}", sha(&idx_bytes))).await;
    assert_eq!(header(&r, "Content-Type"), OCI_INDEX);
    assert_eq!(header(&r, "Content-Length"), idx_bytes.len().to_string());

    // Big manifests (the spec asks for at least 4 MB) are accepted.
    let mut big = m.clone();
    big["annotations"] = json!({"filler": "x".repeat(4_200_000)});
    let r = api.put_manifest("r", "big", OCI_MANIFEST, &big).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = api.get("/v2/r/manifests/big").await;
    assert_eq!(r.bytes().await.unwrap().len(), serde_json::to_vec(&big).unwrap().len());
}

#[tokio::test]
async fn referrers_of_a_subject() {
    let api = Api::start();
    let (m, md) = api.push_image("app", "v1", b"app layer").await;
    let size = serde_json::to_vec(&m).unwrap().len();
    let empty = api.push_blob("app", b"{}").await;
    let sig_type = "application/vnd.example.signature";
    let sig = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": sig_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": size},
        "annotations": {"org.example.signed-by": "me"}
    });
    let sig_d = sha(&serde_json::to_vec(&sig).unwrap());
    let r = api.put_manifest("app", &sig_d, OCI_MANIFEST, &sig).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "OCI-Subject"), md);
    // A second referrer whose artifact type comes from its config.
    let sbom_cfg = api.push_blob("app", b"{\"sbom\":true}").await;
    let sbom = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.sbom", "digest": sbom_cfg, "size": 13},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": size}
    });
    assert_eq!(api.put_manifest("app", "sbom", OCI_MANIFEST, &sbom).await.status(), StatusCode::CREATED);

    let r = api.get(&format!("/v2/app/referrers/{md}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "Content-Type"), OCI_INDEX);
    assert!(r.headers().get("OCI-Filters-Applied").is_none());
    let idx: Value = r.json().await.unwrap();
    assert_eq!(idx["schemaVersion"], 2);
    assert_eq!(idx["mediaType"], OCI_INDEX);
    let list = idx["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let s = list.iter().find(|d| d["digest"] == sig_d).expect("signature listed");
    assert_eq!(s["artifactType"], sig_type);
    assert_eq!(s["mediaType"], OCI_MANIFEST);
    assert_eq!(s["annotations"]["org.example.signed-by"], "me");
    assert!(list.iter().any(|d| d["artifactType"] == "application/vnd.example.sbom"));

    let r = api.get(&format!("/v2/app/referrers/{md}?artifactType={sig_type}")).await;
    assert_eq!(header(&r, "OCI-Filters-Applied"), "artifactType");
    let idx: Value = r.json().await.unwrap();
    assert_eq!(idx["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(idx["manifests"][0]["digest"], sig_d);

    // Nothing refers to an unknown digest: 200 with an empty index.
    let r = api.get(&format!("/v2/app/referrers/{}", sha(b"nobody"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    let r = api.get("/v2/app/referrers/sha256:nope").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Deleting a referrer takes it off the list.
    assert_eq!(
        api.req(Method::DELETE, &format!("/v2/app/manifests/{sig_d}"), &[], None).await.status(),
        StatusCode::ACCEPTED
    );
    let idx: Value = api.get(&format!("/v2/app/referrers/{md}")).await.json().await.unwrap();
    assert_eq!(idx["manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tags_are_listed_in_order_and_paginated() {
    let api = Api::start();
    let (m, _) = api.push_image("pages", "v2", b"l").await;
    for t in ["v10", "v1", "alpha", "Beta", "v3"] {
        assert_eq!(api.put_manifest("pages", t, OCI_MANIFEST, &m).await.status(), StatusCode::CREATED);
    }
    let all: Value = api.get("/v2/pages/tags/list").await.json().await.unwrap();
    assert_eq!(all["name"], "pages");
    assert_eq!(all["tags"], json!(["Beta", "alpha", "v1", "v10", "v2", "v3"]));

    let r = api.get("/v2/pages/tags/list?n=2").await;
    let link = header(&r, "Link").to_string();
    assert_eq!(link, "</v2/pages/tags/list?n=2&last=alpha>; rel=\"next\"");
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["Beta", "alpha"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap().to_string();
    let r = api.get(&next).await;
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["v1", "v10"]));
    let r = api.get("/v2/pages/tags/list?n=2&last=v10").await;
    assert!(r.headers().get("Link").is_none(), "last page has no next link");
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["v2", "v3"]));
    let r = api.get("/v2/pages/tags/list?last=v2").await;
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["v3"]));

    let cat: Value = api.get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(cat["repositories"], json!(["pages"]));
}

#[tokio::test]
async fn deleting_manifests_tags_and_blobs() {
    let api = Api::start();
    let (_, md) = api.push_image("del", "v1", b"to be deleted").await;
    let layer = sha(b"to be deleted");
    let r =
        api.put_manifest("del", "v2", OCI_MANIFEST, &api.get("/v2/del/manifests/v1").await.json().await.unwrap()).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // By tag: only the tag goes.
    assert_eq!(api.req(Method::DELETE, "/v2/del/manifests/v2", &[], None).await.status(), StatusCode::ACCEPTED);
    assert_eq!(api.get("/v2/del/manifests/v2").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.get(&format!("/v2/del/manifests/{md}")).await.status(), StatusCode::OK);
    // By digest: the manifest and its remaining tags go.
    assert_eq!(
        api.req(Method::DELETE, &format!("/v2/del/manifests/{md}"), &[], None).await.status(),
        StatusCode::ACCEPTED
    );
    let r = api.get(&format!("/v2/del/manifests/{md}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    assert_eq!(api.get("/v2/del/manifests/v1").await.status(), StatusCode::NOT_FOUND);
    let r = api.req(Method::DELETE, &format!("/v2/del/manifests/{md}"), &[], None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        api.req(Method::DELETE, &format!("/v2/del/blobs/{layer}"), &[], None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(api.head(&format!("/v2/del/blobs/{layer}")).await.status(), StatusCode::NOT_FOUND);
    let r = api.get(&format!("/v2/del/blobs/{layer}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = api.req(Method::DELETE, &format!("/v2/del/blobs/{layer}"), &[], None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Unreferenced bytes are gone; the config is still linked.
    let s = api.storage();
    assert!(!s.join("blobs/sha256").join(layer.strip_prefix("sha256:").unwrap()).exists());
    assert!(!s.join("blobs/sha256").join(md.strip_prefix("sha256:").unwrap()).exists());
    assert_eq!(dir_count(&s.join("blobs/sha256")), 1);
}

/// Peak resident memory of a process, in KiB.
fn vm_hwm(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn large_layers_stream_through() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(berth_bin())
        .arg("--root")
        .arg(tmp.path().join("root"))
        .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    assert!(wait_for_port(port, Duration::from_secs(10)));
    let base = format!("http://127.0.0.1:{port}");
    let http = Client::new();
    // The binary's own mapped pages count as RSS; judge only what the transfer adds.
    assert_eq!(http.get(format!("{base}/v2/")).send().await.unwrap().status(), StatusCode::OK);
    let idle = vm_hwm(guard.0.id());

    // 64 MiB of incompressible data (xorshift).
    let mut data = vec![0u8; 64 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let d = sha(&data);
    let r = http.post(format!("{base}/v2/big/blobs/uploads/")).send().await.unwrap();
    let loc = r.headers()["Location"].to_str().unwrap().to_string();
    let t = Instant::now();
    let r = http.patch(format!("{base}{loc}")).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http.put(format!("{base}{loc}?digest={d}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let push = t.elapsed();
    let t = Instant::now();
    let got = http.get(format!("{base}/v2/big/blobs/{d}")).send().await.unwrap().bytes().await.unwrap();
    let pull = t.elapsed();
    assert!(got.as_ref() == &data[..], "pulled bytes differ");
    eprintln!("64 MiB: push {push:?}, pull {pull:?}");
    assert!(push < Duration::from_secs(20) && pull < Duration::from_secs(20), "push {push:?}, pull {pull:?}");
    // Streaming, not buffering: the server never held the layer in memory.
    let hwm = vm_hwm(guard.0.id());
    assert!(hwm - idle < 32 << 10, "registry peak RSS grew by {} KiB for a 64 MiB layer", hwm - idle);
    assert!(tmp.path().join("root/registry/blobs/sha256").join(d.strip_prefix("sha256:").unwrap()).is_file());
}

#[tokio::test]
async fn berth_pulls_from_and_pushes_to_it() {
    assert!(peers_present());
    let api = Api::start();
    let host = api._reg.host();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let digest = busybox_layout(&src);
    let reference = format!("{host}/x/busybox:v1");
    skopeo(&["copy", "--dest-tls-verify=false", &format!("oci:{}:t", src.display()), &format!("docker://{reference}")]);
    let berth = berth_tests::Berth::new();
    berth.ok(&["pull", &reference]);

    // Empty the registry, so berth's push has to upload every blob itself.
    let m: Value = api.get(&format!("/v2/x/busybox/manifests/{digest}")).await.json().await.unwrap();
    assert_eq!(
        api.req(Method::DELETE, &format!("/v2/x/busybox/manifests/{digest}"), &[], None).await.status(),
        StatusCode::ACCEPTED
    );
    let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    blobs.extend(m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()));
    for b in &blobs {
        let r = api.req(Method::DELETE, &format!("/v2/x/busybox/blobs/{b}"), &[], None).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(dir_count(&api.storage().join("blobs/sha256")), 0);

    let out = berth.ok(&["push", &reference]);
    assert!(out.contains(&digest), "{out}");
    let i: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{reference}")])).unwrap();
    assert_eq!(i["Digest"], digest);
    for b in &blobs {
        let r = api.get(&format!("/v2/x/busybox/blobs/{b}")).await;
        assert_eq!(sha(&r.bytes().await.unwrap()), *b);
    }
    // And a fresh berth root pulls it back.
    let again = berth_tests::Berth::new();
    again.ok(&["pull", &reference]);
    assert_eq!(again.blob_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_the_same_content() {
    let api = std::sync::Arc::new(Api::start());
    let layer: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (api, layer) = (api.clone(), layer.clone());
        tasks.push(tokio::spawn(async move {
            let repo = format!("race/r{}", i % 4);
            api.push_image(&repo, &format!("t{i}"), &layer).await.1
        }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.unwrap());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "same manifest everywhere");
    for i in 0..8 {
        let r = api.get(&format!("/v2/race/r{}/manifests/t{i}", i % 4)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let s = api.storage();
    assert_eq!(dir_count(&s.join("blobs/sha256")), 3, "config, layer, manifest once each");
    assert_eq!(dir_count(&s.join("uploads")), 0);
    assert_eq!(dir_count(&s.join("tmp")), 0);
    let cat: Value = api.get("/v2/_catalog?n=3").await.json().await.unwrap();
    assert_eq!(cat["repositories"], json!(["race/r0", "race/r1", "race/r2"]));
}
