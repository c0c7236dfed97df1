//! Helpers shared by berth's integration, privileged and end-to-end tests.
//!
//! Real peers only: `docker-registry` (distribution), `skopeo`, `umoci`, `runc` are started or
//! called as the real programs. Every server a test starts listens on 127.0.0.1 on a free port
//! and is killed (by its PID) when its guard drops.

#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `berth` binary built by `cargo build` (tests/run.sh builds it before testing).
pub fn berth_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_BIN") {
        return p.into();
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/berth
    let exe = std::env::current_exe().expect("test executable path");
    let p = exe.parent().and_then(Path::parent).expect("target dir").join("berth");
    assert!(p.exists(), "{} not built: run `cargo build -p berth` (tests/run.sh does)", p.display());
    p
}

/// The tests crate's directory: as `cargo test` says when it runs the tests, else where it was
/// compiled. The persistent target directory serves every checkout, and a test binary built in
/// one (a clone since deleted) is fresh for another whose files are older: only the run-time
/// value names the checkout being tested.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Directory holding the base-image fixtures built by scripts/setup.sh.
pub fn fixtures_dir() -> PathBuf {
    std::env::var("BERTH_FIXTURES").unwrap_or_else(|_| "/var/cache/berth-fixtures".into()).into()
}

/// The busybox rootfs tarball (see tests/fixtures/mk-busybox.sh).
pub fn busybox_tar() -> PathBuf {
    let p = fixtures_dir().join("busybox-rootfs.tar");
    if !p.exists() {
        let script = manifest_dir().join("fixtures/mk-busybox.sh");
        let st = Command::new("bash").arg(script).arg(fixtures_dir()).status().expect("run mk-busybox.sh");
        assert!(st.success(), "building the busybox fixture failed");
    }
    p
}

/// Whether a program is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {prog}")).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Whether the tests run as root (privileged tier).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails a test that needs root when it runs as another user. Such tests are marked
/// `#[ignore = "needs root"]`, so a non-root `cargo test` lists them as ignored instead of
/// running them; tests/run.sh passes `--include-ignored` when it runs as root.
pub fn require_root() {
    assert!(is_root(), "this test needs root (it is #[ignore = \"needs root\"]: run it as root, as tests/run.sh does)");
}

/// A fresh root holding the busybox fixture as `busybox`, for tests that run containers (they
/// need root: see [`require_root`]). Its containers go with it when it drops.
pub fn busybox_root() -> Berth {
    require_root();
    let b = Berth::new();
    b.import_busybox("busybox");
    b
}

/// A temporary berth state root and a way to run berth against it.
pub struct Berth {
    pub dir: tempfile::TempDir,
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Berth {
    /// Containers (their shims, mounts, cgroups) and networks (bridges, firewall tables) would
    /// outlive the temporary directory: remove them with it, even after a failed assertion.
    fn drop(&mut self) {
        if self.root().join("containers").exists() {
            let ids = self.run(&["ps", "-aq", "--no-trunc"]);
            let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout).lines().map(String::from).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.run(&args);
            }
        }
        if self.root().join("network").exists() {
            let _ =
                self.cmd().args(["network", "reset", "--force"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth { dir: tempfile::Builder::new().prefix("berth-test-").tempdir().expect("tempdir") }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A `berth` command with `--root` set to this root and a private HOME/DOCKER_CONFIG.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(self.root());
        c.env("DOCKER_CONFIG", self.root().join("docker-config"));
        c.stdin(Stdio::null());
        c
    }

    /// Runs berth with `args`; returns its output without judging it.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn berth")
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs berth and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "berth {args:?} unexpectedly succeeded:\nstdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Imports the busybox fixture as `name`.
    pub fn import_busybox(&self, name: &str) {
        let tar = busybox_tar();
        self.ok(&["import", "--change", "CMD [\"sh\"]", tar.to_str().unwrap(), name]);
    }

    /// Number of blobs in the store.
    pub fn blob_count(&self) -> usize {
        std::fs::read_dir(self.root().join("content/blobs/sha256")).map(|d| d.count()).unwrap_or(0)
    }
}

/// Every file of a tar archive (an image archive from `save`, a layer) by path.
pub fn tar_files(archive: impl std::io::Read) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for e in tar::Archive::new(archive).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        files.insert(p, v);
    }
    files
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().unwrap().port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:port.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Starts a server `cmd(port)` on a free port of 127.0.0.1 and waits until it accepts
/// connections. A free port can be taken by another test's server between the probe and the
/// bind, and the connection test would then succeed against that one: a server that exits
/// (its bind failed) is started again on another port.
pub fn serve_on_free_port(what: &str, cmd: impl Fn(u16) -> Command) -> (u16, ChildGuard) {
    for _ in 0..5 {
        let port = free_port();
        let mut guard = ChildGuard(cmd(port).spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}")));
        let t = Instant::now();
        let mut up = false;
        while t.elapsed() < Duration::from_secs(10) && !up {
            if matches!(guard.0.try_wait(), Ok(Some(_))) {
                break;
            }
            up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if !up {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // One that lost the port exits right after its bind failed.
        std::thread::sleep(Duration::from_millis(100));
        if up && matches!(guard.0.try_wait(), Ok(None)) {
            return (port, guard);
        }
    }
    panic!("{what} did not start");
}

/// A child process killed (by PID) and reaped when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real distribution registry (Debian's `docker-registry`) on 127.0.0.1.
pub struct DistributionRegistry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl DistributionRegistry {
    /// Starts an anonymous registry; `extra_config` is appended to the YAML config (auth...).
    pub fn start_with(extra_config: &str) -> DistributionRegistry {
        let dir = tempfile::Builder::new().prefix("berth-distribution-").tempdir().unwrap();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:PORT\n{extra_config}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        let (port, guard) = serve_on_free_port("docker-registry (scripts/setup.sh installs it)", |port| {
            std::fs::write(&cfg_path, cfg.replace("127.0.0.1:PORT", &format!("127.0.0.1:{port}"))).unwrap();
            let mut c = Command::new("docker-registry");
            c.arg("serve").arg(&cfg_path).stdout(Stdio::null()).stderr(Stdio::null());
            c
        });
        DistributionRegistry { port, dir, _child: guard }
    }

    pub fn start() -> DistributionRegistry {
        Self::start_with("")
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// berth's own embedded registry (`berth registry serve`) on 127.0.0.1.
pub struct BerthRegistry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl BerthRegistry {
    pub fn start() -> BerthRegistry {
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().unwrap();
        let (port, guard) = serve_on_free_port("berth registry serve", |port| {
            let mut c = Command::new(berth_bin());
            c.arg("--root").arg(dir.path().join("root"));
            c.args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}"), "--storage"]);
            c.arg(dir.path().join("storage")).stdout(Stdio::null()).stderr(Stdio::null());
            c
        });
        BerthRegistry { port, dir, _child: guard }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The links of one state root: its bridges (their alias names the root) and every port on
/// them. Other tests run at the same time, so the host's whole link count proves nothing.
pub fn root_links(root: &Path) -> usize {
    let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let suffix = format!(" {}", canon.display());
    let links = berth_network::netlink::Netlink::open().unwrap().links().unwrap();
    let bridges: Vec<u32> =
        links.iter().filter(|l| l.alias.as_deref().is_some_and(|a| a.ends_with(&suffix))).map(|l| l.index).collect();
    bridges.len() + links.iter().filter(|l| l.master.is_some_and(|m| bridges.contains(&m))).count()
}

/// The root's link count once the kernel has finished destroying released namespaces (their
/// veths go with them, asynchronously): polls until it reaches `want` or 10 s pass.
pub fn links_settle(root: &Path, want: usize) -> usize {
    let t0 = Instant::now();
    loop {
        let n = root_links(root);
        if n == want || t0.elapsed() > Duration::from_secs(10) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The root's nftables table as `nft list` prints it (empty if it has none).
pub fn nft_table(e: &berth_engine::Engine) -> String {
    let o = Command::new("nft").args(["list", "table", "ip", &e.firewall().name]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// GET / over plain TCP from the calling (host) namespace; retried while the server starts.
pub fn http_get(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let t0 = Instant::now();
    loop {
        let r = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match r {
            Ok(s) if !s.is_empty() => return s,
            _ if t0.elapsed() > Duration::from_secs(10) => panic!("no HTTP answer from {addr}: {r:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The network library driven in-process, without containers: the network tests of the
/// integration binary and the attach/detach benchmark (tests/benches/attach_detach.rs).
pub mod docker;

pub mod net {
    use berth_engine::Engine;
    use berth_network::{AttachRequest, NetworkOpts};

    /// Tears a root's networks down when a test ends, whatever happened.
    pub struct Root {
        pub engine: Engine,
        pub dir: tempfile::TempDir,
    }

    impl Default for Root {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Root {
        pub fn new() -> Root {
            let dir = tempfile::Builder::new().prefix("berth-net-").tempdir().unwrap();
            let engine = Engine::open(dir.path()).unwrap();
            Root { engine, dir }
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = self.engine.network_reset(true);
        }
    }

    /// A container id made of one character.
    pub fn cid(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// Attaches container `id` (a namespace of its own, made here) to the network `o` names.
    pub fn attach(e: &Engine, id: &str, name: &str, o: NetworkOpts) -> berth_engine::Result<berth_network::Attached> {
        e.attach(&AttachRequest {
            container_id: id.into(),
            name: name.into(),
            hostname: name.into(),
            netns: e.netns_path(id),
            create_netns: true,
            owner: None,
            opts: o,
        })
    }

    /// Options naming only the network.
    pub fn on(net: &str) -> NetworkOpts {
        NetworkOpts { network: net.into(), ..Default::default() }
    }
}
