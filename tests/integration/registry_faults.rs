//! The registry client against a hostile registry: a small in-process axum server on
//! 127.0.0.1 that answers like a distribution registry until told to misbehave (Bearer
//! tokens that expire, blobs whose bytes do not match their digest, truncated bodies, 404
//! and 401 at any step, malformed manifests, a layer so slow that the pull can be killed in
//! the middle). Every failure must name the reference or digest, exit non-zero and leave the
//! store as it was: no half-written blob, no name pointing at missing content.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use berth_engine::progress::Progress;
use berth_engine::pull::PullOptions;
use berth_engine::store::Store;
use berth_engine::{media, Digest, Engine, Reference};
use berth_tests::{Berth, ChildGuard};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Manifest,
    Config,
    Layer,
    Upload,
    BlobPut,
    ManifestPut,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Truncate {
    /// A well-framed response whose body is shorter than the descriptor says.
    Short,
    /// `Content-Length` says all of it; the connection drops halfway.
    Abort,
}

struct BearerCfg {
    expires_in: u64,
    /// `user:password` the token endpoint insists on, if any.
    basic: Option<String>,
}

#[derive(Default)]
struct Srv {
    port: AtomicUsize,
    manifests: Mutex<HashMap<String, (String, Vec<u8>)>>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    /// Bytes served instead of a blob's real content (same length, other digest).
    corrupt: Mutex<HashMap<String, Vec<u8>>>,
    /// Header value served as Docker-Content-Digest instead of the real one.
    lie_digest: Mutex<Option<String>>,
    config: Mutex<Option<String>>,
    fail: Mutex<Option<(Step, u16, &'static str)>>,
    bearer: Mutex<Option<BearerCfg>>,
    tokens: Mutex<Vec<String>>,
    token_hits: AtomicUsize,
    token_queries: Mutex<Vec<String>>,
    slow: AtomicBool,
    sent: AtomicU64,
    truncate: Mutex<Option<Truncate>>,
    pushed: Mutex<Vec<String>>,
}

/// The hostile registry; its runtime (and so the server) stops when it is dropped.
struct Hostile {
    port: u16,
    srv: Arc<Srv>,
    _rt: tokio::runtime::Runtime,
}

impl Hostile {
    fn start() -> Hostile {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let srv = Arc::new(Srv::default());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        srv.port.store(port as usize, Ordering::SeqCst);
        let app = axum::Router::new().fallback(handle).with_state(srv.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        Hostile { port, srv, _rt: rt }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Serves an image (one config, one layer of `layer_size` bytes) as `repo:tag`.
    fn image(&self, repo: &str, tag: &str, layer_size: usize) -> (Digest, Digest, Digest) {
        let layer: Vec<u8> = (0..layer_size).map(|i| (i * 7 % 251) as u8 ^ (tag.len() as u8)).collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer).as_str()]},
            "config": {"Cmd": ["sh"]}
        }))
        .unwrap();
        let (ld, cd) = (Digest::of(&layer), Digest::of(&config));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": cd.as_str(), "size": config.len()},
            "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": ld.as_str(), "size": layer.len()}],
        }))
        .unwrap();
        let md = Digest::of(&manifest);
        let mut blobs = self.srv.blobs.lock().unwrap();
        blobs.insert(ld.to_string(), layer);
        blobs.insert(cd.to_string(), config);
        *self.srv.config.lock().unwrap() = Some(cd.to_string());
        let mut ms = self.srv.manifests.lock().unwrap();
        ms.insert(format!("{repo}:{tag}"), (media::OCI_MANIFEST.into(), manifest.clone()));
        ms.insert(format!("{repo}:{md}"), (media::OCI_MANIFEST.into(), manifest));
        (md, cd, ld)
    }

    fn fail(&self, step: Step, status: u16, code: &'static str) {
        *self.srv.fail.lock().unwrap() = Some((step, status, code));
    }
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    let mut r = Response::builder().status(status).header(header::CONTENT_TYPE, "application/json");
    if status == 401 {
        r = r.header(header::WWW_AUTHENTICATE, r#"Basic realm="hostile""#);
    }
    r.body(Body::from(json!({"errors": [{"code": code, "message": message}]}).to_string())).unwrap()
}

fn empty(status: u16) -> Response {
    Response::builder().status(status).body(Body::empty()).unwrap()
}

async fn handle(State(s): State<Arc<Srv>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    if path == "/token" {
        return s.token(&uri, &headers);
    }
    if let Some(r) = s.check_bearer(&headers, &path) {
        return r;
    }
    if path == "/v2/" {
        return Response::builder().status(200).body(Body::from("{}")).unwrap();
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return empty(404) };
    if let Some(i) = rest.rfind("/manifests/") {
        let (name, reference) = (&rest[..i], &rest[i + "/manifests/".len()..]);
        return s.manifest(&method, name, reference, &headers, body);
    }
    if let Some(i) = rest.find("/blobs/uploads") {
        let name = &rest[..i];
        return s.upload(&method, name, &uri, body);
    }
    if let Some(i) = rest.rfind("/blobs/") {
        let digest = &rest[i + "/blobs/".len()..];
        return Srv::blob(&s, &method, digest).await;
    }
    empty(404)
}

impl Srv {
    fn failing(&self, step: Step) -> Option<Response> {
        let f = *self.fail.lock().unwrap();
        match f {
            Some((st, status, code)) if st == step => {
                Some(error_response(status, code, &code.to_lowercase().replace('_', " ")))
            }
            _ => None,
        }
    }

    fn token(&self, uri: &Uri, headers: &HeaderMap) -> Response {
        self.token_hits.fetch_add(1, Ordering::SeqCst);
        self.token_queries.lock().unwrap().push(uri.query().unwrap_or_default().to_string());
        let cfg = self.bearer.lock().unwrap();
        let Some(cfg) = cfg.as_ref() else { return empty(404) };
        if let Some(want) = &cfg.basic {
            use base64_lite::encode;
            let expected = format!("Basic {}", encode(want.as_bytes()));
            if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                return error_response(401, "UNAUTHORIZED", "bad credentials");
            }
        }
        let t = format!("tok-{}", self.token_hits.load(Ordering::SeqCst));
        self.tokens.lock().unwrap().push(t.clone());
        Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"token": t, "expires_in": cfg.expires_in}).to_string()))
            .unwrap()
    }

    fn check_bearer(&self, headers: &HeaderMap, path: &str) -> Option<Response> {
        let cfg = self.bearer.lock().unwrap();
        cfg.as_ref()?;
        let got = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if let Some(t) = got.strip_prefix("Bearer ") {
            if self.tokens.lock().unwrap().iter().any(|x| x == t) {
                return None;
            }
        }
        let name = path.strip_prefix("/v2/").and_then(|r| r.split("/manifests/").next()).unwrap_or("");
        let name = name.split("/blobs/").next().unwrap_or("");
        let port = self.port.load(Ordering::SeqCst);
        let mut challenge = format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="hostile""#);
        if !name.is_empty() {
            challenge.push_str(&format!(r#",scope="repository:{name}:pull""#));
        }
        Some(
            Response::builder()
                .status(401)
                .header(header::WWW_AUTHENTICATE, challenge)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#))
                .unwrap(),
        )
    }

    fn manifest(&self, method: &Method, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
        if *method == Method::PUT {
            if let Some(r) = self.failing(Step::ManifestPut) {
                return r;
            }
            let mt = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let d = Digest::of(&body);
            self.pushed.lock().unwrap().push(format!("manifest {name}:{reference}"));
            let mut ms = self.manifests.lock().unwrap();
            ms.insert(format!("{name}:{reference}"), (mt.clone(), body.to_vec()));
            ms.insert(format!("{name}:{d}"), (mt, body.to_vec()));
            return Response::builder()
                .status(201)
                .header("Docker-Content-Digest", d.as_str())
                .body(Body::empty())
                .unwrap();
        }
        if let Some(r) = self.failing(Step::Manifest) {
            return r;
        }
        let Some((mt, bytes)) = self.manifests.lock().unwrap().get(&format!("{name}:{reference}")).cloned() else {
            return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown");
        };
        let digest = self.lie_digest.lock().unwrap().clone().unwrap_or_else(|| Digest::of(&bytes).to_string());
        let r = Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, mt)
            .header("Docker-Content-Digest", digest)
            .header(header::CONTENT_LENGTH, bytes.len());
        if *method == Method::HEAD {
            return r.body(Body::empty()).unwrap();
        }
        r.body(Body::from(bytes)).unwrap()
    }

    async fn blob(self: &Arc<Self>, method: &Method, digest: &str) -> Response {
        let is_config = self.config.lock().unwrap().as_deref() == Some(digest);
        if *method == Method::GET {
            if let Some(r) = self.failing(if is_config { Step::Config } else { Step::Layer }) {
                return r;
            }
        }
        let Some(real) = self.blobs.lock().unwrap().get(digest).cloned() else {
            return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry");
        };
        if *method == Method::HEAD {
            return Response::builder()
                .status(200)
                .header(header::CONTENT_LENGTH, real.len())
                .body(Body::empty())
                .unwrap();
        }
        let bytes = self.corrupt.lock().unwrap().get(digest).cloned().unwrap_or(real);
        let truncate = if is_config { None } else { *self.truncate.lock().unwrap() };
        match truncate {
            Some(Truncate::Short) => {
                let half = bytes[..bytes.len() / 2].to_vec();
                return Response::builder().status(200).body(Body::from(half)).unwrap();
            }
            Some(Truncate::Abort) => {
                // Half the body goes out (and is flushed) before the connection drops.
                let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
                let stream = futures::stream::unfold(0u8, move |n| {
                    let half = half.clone();
                    async move {
                        match n {
                            0 => Some((Ok(half), 1)),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                Some((Err(std::io::Error::other("connection dropped on purpose")), 2))
                            }
                            _ => None,
                        }
                    }
                });
                return Response::builder()
                    .status(200)
                    .header(header::CONTENT_LENGTH, bytes.len())
                    .body(Body::from_stream(stream))
                    .unwrap();
            }
            None => {}
        }
        if self.slow.load(Ordering::SeqCst) && !is_config {
            let total = bytes.len();
            let chunks: Vec<Bytes> = bytes.chunks(64 << 10).map(Bytes::copy_from_slice).collect();
            let srv = self.clone();
            let stream = futures::stream::unfold(chunks.into_iter(), move |mut it| {
                let srv = srv.clone();
                async move {
                    let c = it.next()?;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    srv.sent.fetch_add(c.len() as u64, Ordering::SeqCst);
                    Some((Ok::<_, std::io::Error>(c), it))
                }
            });
            return Response::builder()
                .status(200)
                .header(header::CONTENT_LENGTH, total)
                .body(Body::from_stream(stream))
                .unwrap();
        }
        Response::builder().status(200).header(header::CONTENT_LENGTH, bytes.len()).body(Body::from(bytes)).unwrap()
    }

    fn upload(&self, method: &Method, name: &str, uri: &Uri, body: Bytes) -> Response {
        if *method == Method::POST {
            if let Some(r) = self.failing(Step::Upload) {
                return r;
            }
            return Response::builder()
                .status(202)
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/session-1?state=x"))
                .body(Body::empty())
                .unwrap();
        }
        if *method == Method::PUT {
            if let Some(r) = self.failing(Step::BlobPut) {
                return r;
            }
            let q = uri.query().unwrap_or_default();
            let Some(d) = q.split('&').find_map(|kv| kv.strip_prefix("digest=")) else {
                return error_response(400, "DIGEST_INVALID", "no digest");
            };
            let d = d.replace("%3A", ":");
            if Digest::of(&body).as_str() != d {
                return error_response(400, "DIGEST_INVALID", "digest mismatch");
            }
            self.pushed.lock().unwrap().push(format!("blob {d}"));
            self.blobs.lock().unwrap().insert(d.clone(), body.to_vec());
            return Response::builder().status(201).header("Docker-Content-Digest", d).body(Body::empty()).unwrap();
        }
        empty(405)
    }
}

/// Just enough base64 for the token endpoint's Basic check (no extra dependency).
mod base64_lite {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in input.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

// ---- helpers --------------------------------------------------------------------------------

fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("content/blobs/sha256")).map(|d| d.count()).unwrap_or(0)
}

fn tmp_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("tmp")).map(|d| d.count()).unwrap_or(0)
}

/// index.json parses, and every blob its named images refer to exists.
fn assert_consistent(root: &Path) {
    let store = Store::open(root).unwrap();
    for (name, desc) in store.refs().expect("index.json parses") {
        let d: Digest = desc.digest().to_string().parse().unwrap();
        let m: Value = serde_json::from_slice(&store.read_blob(&d).unwrap()).unwrap();
        for b in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            let bd: Digest = b["digest"].as_str().unwrap().parse().unwrap();
            assert!(store.has_blob(&bd), "{name}: blob {bd} missing");
            assert_eq!(store.blob_size(&bd), b["size"].as_u64(), "{name}: blob {bd} size");
        }
    }
}

fn refs(root: &Path) -> usize {
    Store::open(root).unwrap().refs().unwrap().len()
}

/// Runs berth expecting failure with exit 1 (Docker's CLI for pull, push and login); returns
/// stderr.
fn fails(b: &Berth, args: &[&str]) -> String {
    let o = b.run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "berth {args:?} should fail with 1:\n{err}");
    eprintln!("berth {args:?} -> {}", err.lines().last().unwrap_or_default());
    err
}

/// Stores a small one-layer image under `name` in `root`, for push tests.
fn store_image(root: &Path, name: &str) -> (Digest, Digest) {
    let store = Store::open(root).unwrap();
    let layer: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let (ld, lsize) = store.put_blob(&layer, None).unwrap();
    let cdesc = store
        .put_json(
            media::OCI_CONFIG,
            &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld.as_str()]}}),
        )
        .unwrap();
    let m = json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": cdesc,
        "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": ld.as_str(), "size": lsize}],
    });
    let mdesc = store.put_json(media::OCI_MANIFEST, &m).unwrap();
    store.set_ref(name, &mdesc).unwrap();
    (mdesc.digest().to_string().parse().unwrap(), ld)
}

// ---- tests ----------------------------------------------------------------------------------

#[test]
fn bearer_token_flow_caches_the_token_until_it_expires() {
    let h = Hostile::start();
    h.image("tok/app", "1", 10_000);
    h.image("tok/app", "2", 20_000);
    *h.srv.bearer.lock().unwrap() = Some(BearerCfg { expires_in: 2, basic: None });

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().join("root")).unwrap();
    let client = engine.registry_client(&[]).unwrap().with_docker_config_dir(dir.path().join("docker"));
    let opts = PullOptions { client: Some(client.clone()), ..Default::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pull = |tag: &str| {
        let r = Reference::parse(&format!("{}/tok/app:{tag}", h.host())).unwrap();
        rt.block_on(engine.pull(&r, &opts, &Progress::quiet())).unwrap()
    };
    let t0 = Instant::now();
    pull("1");
    assert_eq!(h.srv.token_hits.load(Ordering::SeqCst), 1, "one token for manifest, config and layer");
    assert_eq!(client.token_requests(), 1);
    let q = h.srv.token_queries.lock().unwrap()[0].clone();
    assert!(q.contains("service=hostile") && q.contains("scope=repository%3Atok%2Fapp%3Apull"), "{q}");
    pull("2");
    if t0.elapsed() < Duration::from_millis(1500) {
        assert_eq!(h.srv.token_hits.load(Ordering::SeqCst), 1, "the cached token is reused");
    }
    std::thread::sleep(Duration::from_millis(2100));
    pull("1");
    assert!(h.srv.token_hits.load(Ordering::SeqCst) >= 2, "an expired token is fetched again");
    let hits = h.srv.token_hits.load(Ordering::SeqCst);
    pull("2");
    assert_eq!(h.srv.token_hits.load(Ordering::SeqCst), hits, "and cached again");
}

#[test]
fn a_push_through_the_token_flow_asks_for_one_token() {
    let h = Hostile::start();
    *h.srv.bearer.lock().unwrap() = Some(BearerCfg { expires_in: 60, basic: None });
    let b = Berth::new();
    let name = format!("{}/tokpush/app:1", h.host());
    let (md, _) = store_image(b.root(), &name);
    let o = b.run(&["push", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(h.srv.manifests.lock().unwrap().contains_key(&format!("tokpush/app:{md}")));
    assert_eq!(h.srv.token_hits.load(Ordering::SeqCst), 1, "{:?}", h.srv.token_queries.lock().unwrap());
    assert!(h.srv.token_queries.lock().unwrap()[0].contains("scope=repository%3Atokpush%2Fapp%3Apull%2Cpush"));
}

#[test]
fn bearer_token_endpoint_gets_the_logged_in_credentials() {
    let h = Hostile::start();
    h.image("priv/app", "1", 10_000);
    *h.srv.bearer.lock().unwrap() = Some(BearerCfg { expires_in: 60, basic: Some("bob:hunter2".into()) });
    let name = format!("{}/priv/app:1", h.host());
    let b = Berth::new();
    let err = fails(&b, &["pull", &name]);
    assert!(err.contains("unauthorized") && err.contains("authentication required"), "{err}");

    let err = fails(&b, &["login", &h.host(), "-u", "bob", "-p", "wrong"]);
    assert!(err.contains("incorrect username or password"), "{err}");
    let o = b.run(&["login", &h.host(), "-u", "bob", "-p", "hunter2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = b.run(&["pull", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(h.srv.token_queries.lock().unwrap().iter().any(|q| q.contains("account=bob")));
    assert_consistent(b.root());
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let h = Hostile::start();
    let (_, cd, ld) = h.image("bad/app", "1", 50_000);
    let name = format!("{}/bad/app:1", h.host());

    // A corrupt layer: refused, and only the (good) config was stored.
    let mut wrong = h.srv.blobs.lock().unwrap()[ld.as_str()].clone();
    wrong[100] ^= 0xff;
    h.srv.corrupt.lock().unwrap().insert(ld.to_string(), wrong);
    let b = Berth::new();
    let err = fails(&b, &["pull", &name]);
    assert!(err.contains(ld.as_str()) && err.contains("digest mismatch"), "{err}");
    assert!(!b.root().join("content/blobs/sha256").join(ld.hex()).exists());
    assert!(blob_count(b.root()) <= 1, "at most the verified config");
    assert_eq!(tmp_count(b.root()), 0, "no ingest left behind");
    assert_eq!(refs(b.root()), 0);

    // A corrupt config: nothing at all is stored.
    h.srv.corrupt.lock().unwrap().clear();
    let mut wrong = h.srv.blobs.lock().unwrap()[cd.as_str()].clone();
    wrong[5] ^= 0x01;
    h.srv.corrupt.lock().unwrap().insert(cd.to_string(), wrong);
    let c = Berth::new();
    let before = blob_count(c.root());
    let err = fails(&c, &["pull", &name]);
    assert!(err.contains(cd.as_str()) && err.contains("digest mismatch"), "{err}");
    assert_eq!(blob_count(c.root()), before);
    assert_eq!(tmp_count(c.root()), 0);
    assert_eq!(refs(c.root()), 0);
}

#[test]
fn truncated_bodies_are_refused() {
    let h = Hostile::start();
    let (_, _, ld) = h.image("trunc/app", "1", 300_000);
    let name = format!("{}/trunc/app:1", h.host());
    for mode in [Truncate::Short, Truncate::Abort] {
        *h.srv.truncate.lock().unwrap() = Some(mode);
        let b = Berth::new();
        let err = fails(&b, &["pull", &name]);
        assert!(err.contains(ld.as_str()), "{mode:?}: {err}");
        assert!(err.contains("truncated") || err.contains("size mismatch"), "{mode:?}: {err}");
        assert!(!b.root().join("content/blobs/sha256").join(ld.hex()).exists());
        assert_eq!(tmp_count(b.root()), 0);
        assert_eq!(refs(b.root()), 0);
    }
    // The same pull against an honest server then completes.
    *h.srv.truncate.lock().unwrap() = None;
    let b = Berth::new();
    assert!(b.run(&["pull", &name]).status.success());
    assert_consistent(b.root());
}

#[test]
fn not_found_and_unauthorized_at_every_pull_step() {
    let h = Hostile::start();
    let (_, cd, ld) = h.image("steps/app", "1", 20_000);
    let name = format!("{}/steps/app:1", h.host());
    let cases: [(Step, u16, &str, &str); 7] = [
        (Step::Manifest, 404, "MANIFEST_UNKNOWN", "manifest unknown"),
        (Step::Manifest, 404, "NAME_UNKNOWN", "repository"),
        (Step::Manifest, 401, "UNAUTHORIZED", "authentication required"),
        (Step::Config, 404, "BLOB_UNKNOWN", "blob unknown"),
        (Step::Config, 401, "UNAUTHORIZED", "authentication required"),
        (Step::Layer, 404, "BLOB_UNKNOWN", "blob unknown"),
        (Step::Layer, 401, "UNAUTHORIZED", "authentication required"),
    ];
    for (step, status, code, words) in cases {
        h.fail(step, status, code);
        let b = Berth::new();
        let err = fails(&b, &["pull", &name]);
        let names_it = match step {
            Step::Manifest => err.contains("steps/app"),
            Step::Config => err.contains(cd.as_str()),
            _ => err.contains(ld.as_str()),
        };
        assert!(names_it, "{step:?} {status}: {err}");
        assert!(err.contains(words), "{step:?} {status}: {err}");
        if status == 401 {
            assert!(err.contains("unauthorized"), "{err}");
        }
        assert_eq!(refs(b.root()), 0);
        assert_eq!(tmp_count(b.root()), 0);
    }
    // A missing tag names the tag.
    *h.srv.fail.lock().unwrap() = None;
    let b = Berth::new();
    let err = fails(&b, &["pull", &format!("{}/steps/app:nope", h.host())]);
    assert!(err.contains("steps/app:nope") && err.contains("manifest unknown"), "{err}");
}

#[test]
fn not_found_and_unauthorized_at_every_push_step() {
    let h = Hostile::start();
    for (step, status, code, words) in [
        (Step::Upload, 404, "NAME_UNKNOWN", "repository"),
        (Step::Upload, 401, "UNAUTHORIZED", "authentication required"),
        (Step::BlobPut, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown"),
        (Step::BlobPut, 401, "UNAUTHORIZED", "authentication required"),
        (Step::ManifestPut, 404, "NAME_UNKNOWN", "repository"),
        (Step::ManifestPut, 401, "UNAUTHORIZED", "authentication required"),
    ] {
        h.fail(step, status, code);
        h.srv.blobs.lock().unwrap().clear();
        let b = Berth::new();
        let name = format!("{}/push/app:1", h.host());
        let (md, _) = store_image(b.root(), &name);
        let err = fails(&b, &["push", &name]);
        assert!(err.contains("push/app"), "{step:?} {status}: {err}");
        assert!(err.contains(words), "{step:?} {status}: {err}");
        if status == 401 {
            assert!(err.contains("unauthorized"), "{err}");
        }
        if step != Step::ManifestPut {
            assert!(err.contains("sha256:"), "a blob step names the digest: {err}");
        }
        assert!(!h.srv.manifests.lock().unwrap().contains_key(&format!("push/app:{md}")));
    }
    // And with nothing failing, the push lands, the digests agree.
    *h.srv.fail.lock().unwrap() = None;
    let b = Berth::new();
    let name = format!("{}/push/app:2", h.host());
    let (md, ld) = store_image(b.root(), &name);
    let o = b.run(&["push", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("2: digest: {md}")));
    assert!(h.srv.pushed.lock().unwrap().contains(&format!("blob {ld}")));
}

#[test]
fn malformed_manifests_are_refused() {
    let h = Hostile::start();
    let b = Berth::new();
    for (i, (mt, body)) in [
        (media::OCI_MANIFEST, br#"{"schemaVersion": 2, "config": "oops", "layers": []}"#.to_vec()),
        (media::OCI_MANIFEST, b"this is not json".to_vec()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            br#"{"schemaVersion": 1, "fsLayers": []}"#.to_vec(),
        ),
        (media::OCI_INDEX, br#"{"schemaVersion": 2, "manifests": [{"digest": 5}]}"#.to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        h.srv.manifests.lock().unwrap().insert(format!("mal/app:{i}"), (mt.to_string(), body));
        let err = fails(&b, &["pull", &format!("{}/mal/app:{i}", h.host())]);
        assert!(err.contains(&format!("mal/app:{i}")), "{err}");
        assert!(err.contains("malformed") || err.contains("schema 1"), "{err}");
    }
    assert_eq!(blob_count(b.root()), 0);
    assert_eq!(refs(b.root()), 0);

    // A manifest fetched by tag that does not match the registry's Docker-Content-Digest.
    let (md, _, _) = h.image("mal/lie", "1", 1000);
    *h.srv.lie_digest.lock().unwrap() = Some(Digest::of(b"something else").to_string());
    let err = fails(&b, &["pull", &format!("{}/mal/lie:1", h.host())]);
    assert!(err.contains("digest mismatch") && err.contains(md.as_str()), "{err}");
    *h.srv.lie_digest.lock().unwrap() = None;
    assert_eq!(refs(b.root()), 0);
}

#[test]
fn a_pull_killed_halfway_is_completed_by_the_next_pull() {
    let h = Hostile::start();
    let (md, _, ld) = h.image("slow/app", "1", 3 << 20);
    let name = format!("{}/slow/app:1", h.host());
    h.srv.slow.store(true, Ordering::SeqCst);
    let b = Berth::new();
    let child = b
        .cmd()
        .args(["pull", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let t = Instant::now();
    while h.srv.sent.load(Ordering::SeqCst) < 1 << 20 {
        assert!(t.elapsed() < Duration::from_secs(30), "the slow layer never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = berth_sys::process::send_signal(guard.0.id() as i32, libc::SIGKILL);
    let st = guard.0.wait().unwrap();
    assert!(!st.success());
    assert_eq!(refs(b.root()), 0, "no name before all content is committed");
    assert!(!b.root().join("content/blobs/sha256").join(ld.hex()).exists());
    assert_consistent(b.root());

    h.srv.slow.store(false, Ordering::SeqCst);
    let o = b.run(&["pull", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let store = Store::open(b.root()).unwrap();
    assert_eq!(store.get_ref(&name).unwrap().unwrap().digest().to_string(), md.to_string());
    assert_consistent(b.root());
    assert_eq!(tmp_count(b.root()), 0, "the dead pull's ingest file was swept");
}
