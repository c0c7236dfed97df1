//! Attacks on berth's state from outside the containers (issue 11, items 5, 10 and 11): a
//! local unprivileged user reading the state root, archives and registries that try to
//! exhaust memory or disk, and SIGKILL of the CLI at random points leaving things behind.
//! Each test asserts that the host is untouched.

use berth_tests::{busybox_root, require_root, Berth};
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
fn fresh_root() -> Berth {
    require_root();
    assert!(berth_tests::have("setpriv"), "needs setpriv (util-linux) to act as another user");
    let b = Berth::new();
    fs::remove_dir(b.root()).unwrap();
    b.import_busybox("busybox");
    b
}

#[test]
#[ignore = "needs root"]
fn state_root_is_private_to_root() {
    let b = fresh_root();
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
#[ignore = "needs root"]
fn an_existing_open_root_is_tightened() {
    let b = fresh_root();
    fs::set_permissions(b.root(), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(as_nobody(&["ls", b.root().to_str().unwrap()]).status.success(), "the old root is open");
    b.ok(&["images"]);
    assert_eq!(mode(b.root()), 0o700, "the next command tightens the root");
    assert!(!as_nobody(&["ls", b.root().to_str().unwrap()]).status.success());
}

#[test]
#[ignore = "needs root"]
fn containers_keep_their_umask_and_volumes_their_users() {
    let b = busybox_root();
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

// ---- memory and disk bombs (item 10) ------------------------------------------------------

/// Blobs in the root's store.
fn blob_count(root: &Path) -> usize {
    fs::read_dir(root.join("content/blobs/sha256")).map(|d| d.count()).unwrap_or(0)
}

/// Scratch files left in the root's store.
fn tmp_count(root: &Path) -> usize {
    fs::read_dir(root.join("tmp")).map(|d| d.count()).unwrap_or(0)
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

/// An image config for one layer whose tar has digest `diff_hex`, padded to at least `pad`
/// bytes with a harmless string field.
fn config_json(diff_hex: &str, pad: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_hex}")]},
        "config": {"Cmd": ["sh"]},
        "pad": "x".repeat(pad),
    }))
    .unwrap()
}

/// A one-file layer tar.
fn small_layer() -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "hello", &b"hi\n"[..]).unwrap();
    t.into_inner().unwrap()
}

fn append(t: &mut tar::Builder<impl std::io::Write>, path: &str, size: u64, data: impl std::io::Read) {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, path, data).unwrap();
}

/// A gzip'd `docker save` archive of one image `tag` with `config`, plus whatever `extra`
/// appends to the tar.
fn docker_archive(
    dir: &Path,
    tag: &str,
    config: &[u8],
    layer: &[u8],
    extra: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<fs::File>>),
) -> PathBuf {
    let path = dir.join("archive.tar.gz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), flate2::Compression::default());
    let mut t = tar::Builder::new(gz);
    let (ch, lh) = (sha256_hex(config), sha256_hex(layer));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": format!("{ch}.json"), "RepoTags": [tag], "Layers": [format!("{lh}/layer.tar")]}
    ]))
    .unwrap();
    extra(&mut t);
    append(&mut t, &format!("{lh}/layer.tar"), layer.len() as u64, layer);
    append(&mut t, &format!("{ch}.json"), config.len() as u64, config);
    append(&mut t, "manifest.json", manifest.len() as u64, &manifest[..]);
    t.into_inner().unwrap().finish().unwrap();
    path
}

/// A memory cgroup of its own (cgroup v1's memory hierarchy, or a pure v2 hierarchy) limited
/// to `limit` bytes, removed when dropped.
struct MemCgroup {
    dir: PathBuf,
    v1: bool,
}

impl MemCgroup {
    fn new(limit: u64) -> Option<MemCgroup> {
        let name = format!("berth-test-{}-{:x}", std::process::id(), rand_u32());
        let (dir, v1) = if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
            (Path::new("/sys/fs/cgroup/memory").join(name), true)
        } else if fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").is_ok_and(|s| s.contains("memory")) {
            (Path::new("/sys/fs/cgroup").join(name), false)
        } else {
            return None;
        };
        fs::create_dir(&dir).ok()?;
        let file = if v1 { "memory.limit_in_bytes" } else { "memory.max" };
        fs::write(dir.join(file), limit.to_string()).unwrap();
        if !v1 {
            let _ = fs::write(dir.join("memory.swap.max"), "0");
        }
        Some(MemCgroup { dir, v1 })
    }

    /// `cmd` (program and arguments) run inside the cgroup.
    fn command(&self, cmd: &Command) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("echo $$ > {}/cgroup.procs && exec \"$@\"", self.dir.display())).arg("sh");
        c.arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    }

    /// The most memory the cgroup used (page cache included), in bytes.
    fn peak(&self) -> u64 {
        let f = if self.v1 { "memory.max_usage_in_bytes" } else { "memory.peak" };
        fs::read_to_string(self.dir.join(f)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    t.subsec_nanos() ^ std::process::id()
}

#[test]
#[ignore = "needs root"]
fn loading_thousands_of_small_files_costs_no_memory() {
    require_root();
    let Some(cg) = MemCgroup::new(256 << 20) else {
        eprintln!("skipping: no memory cgroup controller");
        return;
    };
    let b = Berth::new();
    let work = tempfile::tempdir().unwrap();
    let layer = small_layer();
    // 3,000 files of 1 MiB of zeros: 3 GiB unpacked, a few MB compressed.
    let archive = docker_archive(work.path(), "bomb:1", &config_json(&sha256_hex(&layer), 0), &layer, |t| {
        for i in 0..3000 {
            append(t, &format!("junk/{i:04}"), 1 << 20, std::io::repeat(0).take(1 << 20));
        }
    });
    assert!(fs::metadata(&archive).unwrap().len() < 16 << 20);
    let mut load = b.cmd();
    load.args(["load", "-i", archive.to_str().unwrap()]);
    let o = cg.command(&load).output().unwrap();
    eprintln!("berth load peak memory (page cache included): {} MiB", cg.peak() >> 20);
    assert!(o.status.success(), "{} {}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Loaded image: bomb:1"));
    // Only the image: layer, config and manifest; the junk is gone with the scratch files.
    assert_eq!(blob_count(b.root()), 3);
    assert_eq!(tmp_count(b.root()), 0);
}

use std::io::Read as _;

#[test]
fn an_oversized_config_is_refused_by_load() {
    let b = Berth::new();
    let work = tempfile::tempdir().unwrap();
    let layer = small_layer();
    let config = config_json(&sha256_hex(&layer), 100_000_000);
    let archive = docker_archive(work.path(), "big:1", &config, &layer, |_| {});
    let err = b.fails(&["load", "-i", archive.to_str().unwrap()]);
    assert!(err.contains("more than the 8388608 berth accepts"), "{err}");
    assert_eq!(blob_count(b.root()), 0, "nothing stored");
    assert_eq!(tmp_count(b.root()), 0, "no scratch file left");

    // The same image as an OCI layout: manifest and layer are stored only with their config.
    let oci = work.path().join("oci.tar");
    let mut t = tar::Builder::new(fs::File::create(&oci).unwrap());
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", sha256_hex(&layer)), "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": "docker.io/library/big:2"}}],
    }))
    .unwrap();
    for body in [&manifest, &config, &layer] {
        append(&mut t, &format!("blobs/sha256/{}", sha256_hex(body)), body.len() as u64, &body[..]);
    }
    append(&mut t, "oci-layout", 30, &br#"{"imageLayoutVersion":"1.0.0"}"#[..]);
    append(&mut t, "index.json", index.len() as u64, &index[..]);
    t.into_inner().unwrap().sync_all().unwrap();
    let err = b.fails(&["load", "-i", oci.to_str().unwrap()]);
    assert!(err.contains("more than the 8388608 berth accepts"), "{err}");
    assert_eq!(blob_count(b.root()), 0, "nothing stored");
    assert_eq!(tmp_count(b.root()), 0, "no scratch file left");
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
}

/// What the fake registry answers at a path.
#[derive(Clone)]
enum Answer {
    /// These bytes, with this content type.
    Bytes(&'static str, axum::body::Bytes),
    /// `total` bytes (the declared length), one a second.
    Trickle(u64),
}

/// A registry of fixed answers on 127.0.0.1 that records what it was asked; stops with its
/// runtime when dropped.
struct FakeRegistry {
    port: u16,
    answers: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Answer>>>,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeRegistry {
    fn start() -> FakeRegistry {
        use axum::body::Body;
        use axum::response::Response;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let answers: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Answer>>> = Default::default();
        let asked: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let (a, k) = (answers.clone(), asked.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (a, k) = (a.clone(), k.clone());
            async move {
                let path = uri.path().to_string();
                k.lock().unwrap().push(path.clone());
                let answer = a.lock().unwrap().get(&path).cloned();
                match answer {
                    _ if path == "/v2/" => Response::new(Body::empty()),
                    Some(Answer::Bytes(ct, b)) => Response::builder()
                        .header("content-type", ct)
                        .header("docker-content-digest", format!("sha256:{}", sha256_hex(&b)))
                        .body(Body::from(b))
                        .unwrap(),
                    Some(Answer::Trickle(total)) => {
                        let s = futures::stream::unfold(0u64, move |i| async move {
                            if i > 0 {
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                            (i < total).then(|| (Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")), i + 1))
                        });
                        Response::builder().header("content-length", total).body(Body::from_stream(s)).unwrap()
                    }
                    None => Response::builder().status(404).body(Body::empty()).unwrap(),
                }
            }
        });
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move { axum::serve(listener, app).await });
        FakeRegistry { port, answers, asked, _rt: rt }
    }

    fn set(&self, path: String, a: Answer) {
        self.answers.lock().unwrap().insert(path, a);
    }

    /// Serves `repo:1`: a manifest with the given config and one layer, declaring the sizes
    /// given; returns the reference and the digests (hex) of config and layer.
    fn image(&self, repo: &str, config: (Answer, u64), layer: (Answer, u64)) -> (String, String, String) {
        // The digest of what is served, or any other when it is not served whole.
        let digest = |a: &Answer, salt: &str| match a {
            Answer::Bytes(_, b) => sha256_hex(b),
            Answer::Trickle(_) => sha256_hex(format!("{repo}-{salt}").as_bytes()),
        };
        let (ch, lh) = (digest(&config.0, "config"), digest(&layer.0, "layer"));
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{ch}"), "size": config.1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{lh}"), "size": layer.1}],
        }))
        .unwrap();
        self.set(format!("/v2/{repo}/blobs/sha256:{ch}"), config.0);
        self.set(format!("/v2/{repo}/blobs/sha256:{lh}"), layer.0);
        self.set(
            format!("/v2/{repo}/manifests/1"),
            Answer::Bytes("application/vnd.oci.image.manifest.v1+json", m.into()),
        );
        (format!("127.0.0.1:{}/{repo}:1", self.port), ch, lh)
    }

    fn was_asked(&self, needle: &str) -> bool {
        self.asked.lock().unwrap().iter().any(|p| p.contains(needle))
    }
}

/// A real config (and its size) whose layer the fake registry may or may not serve.
fn some_config() -> (Answer, u64) {
    let c = config_json(&sha256_hex(b"whatever"), 0);
    let n = c.len() as u64;
    (Answer::Bytes("application/octet-stream", c.into()), n)
}

#[test]
fn a_registry_declaring_a_huge_config_or_blob_is_refused_before_any_byte() {
    let reg = FakeRegistry::start();
    let b = Berth::new();
    // A config of 100 MB: refused from its descriptor, never fetched.
    let big = Answer::Bytes("application/octet-stream", vec![b' '; 100_000_000].into());
    let (r, ch, _) = reg.image("bomb/config", (big, 100_000_000), (Answer::Bytes("x", vec![0u8; 10].into()), 10));
    let err = b.fails(&["pull", &r]);
    assert!(err.contains("100000000 bytes, more than the 8388608 berth accepts"), "{err}");
    assert!(!reg.was_asked(&ch), "the config was fetched");

    // A layer of 10^12 bytes: more than the disk has; refused before asking for it.
    let huge = Answer::Bytes("application/octet-stream", vec![0u8; 64 << 20].into());
    let (r, _, lh) = reg.image("bomb/layer", some_config(), (huge, 1_000_000_000_000));
    let err = b.fails(&["pull", &r]);
    assert!(err.contains("not enough disk space") && err.contains("needs 1000000000"), "{err}");
    assert!(!reg.was_asked(&lh), "the layer was fetched");

    assert_eq!(blob_count(b.root()), 0, "nothing stored");
    assert_eq!(tmp_count(b.root()), 0, "no scratch file left");
}

#[test]
fn a_trickling_registry_hits_the_stall_deadline() {
    let reg = FakeRegistry::start();
    let b = Berth::new();
    let (r, _, _) = reg.image("slow/app", some_config(), (Answer::Trickle(1000), 1000));
    let t = std::time::Instant::now();
    let mut child = b
        .cmd()
        .env("BERTH_PULL_STALL_TIMEOUT", "2")
        .args(["pull", &r])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The old client waited a read timeout of 300 s per byte: give up (and fail) after 30 s.
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the pull of a trickling layer did not stop within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    eprintln!("stopped after {:?}: {err}", t.elapsed());
    assert!(!status.success());
    assert!(err.contains("stalled") && err.contains("BERTH_PULL_STALL_TIMEOUT"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(tmp_count(b.root()), 0, "no scratch file left");
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn the_embedded_registry_refuses_an_oversized_config() {
    let reg = berth_tests::BerthRegistry::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let base = format!("http://{}", reg.host());
    let http = reqwest::Client::new();
    let upload = |bytes: Vec<u8>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let d = format!("sha256:{}", sha256_hex(&bytes));
            let r = http.post(format!("{base}/v2/big/cfg/blobs/uploads/")).send().await.unwrap();
            assert_eq!(r.status(), 202);
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let url = if loc.starts_with('/') { format!("{base}{loc}") } else { loc };
            let sep = if url.contains('?') { '&' } else { '?' };
            let n = bytes.len();
            let r = http.put(format!("{url}{sep}digest={d}")).body(bytes).send().await.unwrap();
            assert_eq!(r.status(), 201);
            (d, n)
        }
    };
    rt.block_on(async {
        let layer = small_layer();
        let (ld, ln) = upload(layer.clone()).await;
        let (cd, cn) = upload(config_json(&sha256_hex(&layer), 100_000_000)).await;
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ln}],
        });
        let r = http
            .put(format!("{base}/v2/big/cfg/manifests/1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(&m).unwrap())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("MANIFEST_INVALID") && body.contains("8388608"), "{body}");
        let r = http.get(format!("{base}/v2/big/cfg/manifests/1")).send().await.unwrap();
        assert_eq!(r.status(), 404, "no tag was made");
    });
}

// ---- leaks after SIGKILL (item 11) --------------------------------------------------------

/// What a root owns on the machine, counted from the outside.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    mounts: usize,
    build_runs: usize,
    container_dirs: usize,
    removing: usize,
    cgroups: usize,
    links: usize,
    processes: usize,
}

/// The 64-hex ids the root has directories for (containers, removals, build steps).
fn ids_of(root: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for d in ["containers", "build-run"] {
        for e in fs::read_dir(root.join(d)).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let id = n.strip_prefix(".removing-").unwrap_or(&n).to_string();
            if id.len() == 64 {
                ids.push(id);
            }
        }
    }
    ids
}

/// Mounts, directories, cgroups of `ids`, links and processes of this root (other tests run
/// at the same time: only this root's own).
fn footprint(root: &Path, ids: &[String]) -> Footprint {
    let r = root.to_string_lossy().into_owned();
    let count = |d: &str, f: &dyn Fn(&str) -> bool| {
        fs::read_dir(root.join(d))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| f(&e.file_name().to_string_lossy()))
            .count()
    };
    let mut hierarchies: Vec<PathBuf> = vec!["/sys/fs/cgroup".into()];
    hierarchies.extend(fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()));
    let cgroups = hierarchies.iter().map(|h| ids.iter().filter(|id| h.join("berth").join(id).is_dir()).count()).sum();
    let processes = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| p.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|p| {
            let cmd = String::from_utf8_lossy(&fs::read(p.path().join("cmdline")).unwrap_or_default()).into_owned();
            let cg = fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
            cmd.contains(&r) || ids.iter().any(|id| cg.contains(&format!("/berth/{id}")))
        })
        .count();
    Footprint {
        mounts: fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&r)).count(),
        build_runs: count("build-run", &|_| true),
        container_dirs: count("containers", &|n| !n.starts_with(".removing-")),
        removing: count("containers", &|n| n.starts_with(".removing-")),
        cgroups,
        links: berth_tests::root_links(root),
        processes,
    }
}

/// A small xorshift generator: random kill points, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Starts `berth args` and SIGKILLs it after `ms` milliseconds (or lets it finish first).
fn kill_after(b: &Berth, args: &[&str], ms: u64) {
    let mut child =
        b.cmd().args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    // A plain kill(2) of the child this test started and has not reaped.
    let _ = berth_sys::process::send_signal(child.id() as i32, libc::SIGKILL);
    let _ = child.wait();
}

#[test]
#[ignore = "needs root"]
fn what_sigkilled_commands_leave_is_swept() {
    let b = busybox_root();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let ctx = context("FROM busybox\nRUN sleep 5\n");
    let ctx = ctx.path().to_str().unwrap().to_string();
    // The default bridge stays once made: made before counting.
    b.ok(&["run", "--rm", "busybox", "true"]);
    let t = std::time::Instant::now();
    let before = loop {
        // The `--rm` run's shim may still be on its way out.
        let f = footprint(b.root(), &[]);
        if f.processes == 0 || t.elapsed() > std::time::Duration::from_secs(5) {
            break f;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };

    for _ in 0..10 {
        kill_after(&b, &["build", "--no-cache", "-q", &ctx], rng.below(800));
    }
    for _ in 0..10 {
        let id = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
        kill_after(&b, &["rm", "-f", id.trim()], rng.below(300));
    }
    for _ in 0..10 {
        kill_after(&b, &["run", "-d", "busybox", "sleep", "100"], rng.below(300));
    }
    let ids = ids_of(b.root());
    eprintln!("after the kills: {:?}", footprint(b.root(), &ids));

    // What `ps -a` shows goes as usual; the rest only a sweep finds. Record-less directories
    // are judged after a grace period (a spare is renamed into place before it is locked).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let listed = b.ok(&["ps", "-aq", "--no-trunc"]);
    let listed: Vec<&str> = listed.lines().collect();
    // Listing swept the half-removed, the never-recorded and the build steps of killed builds:
    // what is left is what it shows.
    let now = footprint(b.root(), &ids);
    assert_eq!((now.container_dirs, now.removing, now.build_runs), (listed.len(), 0, 0), "{now:?}");
    if !listed.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(listed);
        b.ok(&args);
    }
    b.ok(&["container", "prune", "-f"]);
    let t = std::time::Instant::now();
    let after = loop {
        let f = footprint(b.root(), &ids);
        if f == before || t.elapsed() > std::time::Duration::from_secs(10) {
            break f;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(after, before, "back to where the root started");
}
