//! A private Docker daemon, the oracle of the differential tests.
//!
//! Debian's `dockerd` (scripts/setup.sh installs `docker.io`) is started once per test process
//! with its own data root, exec root, pidfile and socket under `/var/tmp/berth-dockerd-PID`,
//! and with `--iptables=false --ip-forward=false --bridge=none`: it cannot touch berth's
//! networks or the host's firewall, and it has no default bridge (so differential runs use
//! `--network none`). It is started through `setpriv --pdeathsig TERM` from a thread that lives
//! as long as the test process, so it is told to shut down when the tests end, however they
//! end; the directories of daemons that are gone are removed by the next start (and by
//! tests/run.sh at its end).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the private daemons' directories live (one per test process, named by its pid).
const BASE: &str = "/var/tmp";
const PREFIX: &str = "berth-dockerd-";
/// The docker CLI of Debian's docker.io.
const DEBIAN_CLI: &str = "/usr/bin/docker";

/// The name of the busybox fixture in the daemon (imported once, as berth imports it).
pub const BUSYBOX: &str = "berth-diff-busybox";

/// A running private Docker daemon.
pub struct Docker {
    dir: PathBuf,
}

static DAEMON: OnceLock<Docker> = OnceLock::new();

/// The test process's private Docker daemon, started on first use with the busybox fixture
/// imported as [`BUSYBOX`]. Needs root and Debian's `docker.io`: a test that calls it is
/// `#[ignore = "needs root"]` like every test that runs containers.
pub fn docker() -> &'static Docker {
    crate::require_root();
    DAEMON.get_or_init(|| {
        let d = Docker::start().unwrap_or_else(|e| panic!("cannot start a private dockerd: {e}"));
        d.ok(&["import", "--change", "CMD [\"sh\"]", crate::busybox_tar().to_str().unwrap(), BUSYBOX]);
        d
    })
}

impl Docker {
    fn start() -> Result<Docker, String> {
        if !crate::have("dockerd") {
            return Err("dockerd is not installed (scripts/setup.sh installs Debian's docker.io)".into());
        }
        sweep_stale();
        let dir = Path::new(BASE).join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
        let ns = format!("berth-diff-{}", std::process::id());
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "TERM", "--", "dockerd"])
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("sock").display()))
            .args(["--iptables=false", "--ip-forward=false", "--bridge=none"])
            .args(["--containerd-namespace", &ns, "--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // The parent-death signal follows the thread that forked the daemon: fork it from one
        // that never ends, so the signal comes when the test process does.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = cmd.spawn().map(|c| c.id()).map_err(|e| format!("spawn dockerd: {e}"));
            let _ = tx.send(r);
            loop {
                std::thread::park();
            }
        });
        rx.recv().map_err(|e| e.to_string())??;
        let d = Docker { dir };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if d.run(&["version", "--format", "{{.Server.Version}}"]).status.success() {
                return Ok(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(d.dir.join("log")).unwrap_or_default();
        Err(format!("dockerd did not answer within 60 s; its log:\n{log}"))
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("sock").display())
    }

    /// A `docker` CLI command talking to this daemon, with a private config directory. The CLI
    /// is Debian's, of the daemon's own version (its BuildKit is built in; a newer CLI found
    /// first on PATH may want a buildx plugin this machine lacks).
    pub fn cmd(&self) -> Command {
        let cli = if Path::new(DEBIAN_CLI).exists() { DEBIAN_CLI } else { "docker" };
        let mut c = Command::new(cli);
        c.env("DOCKER_HOST", self.host());
        c.env("DOCKER_CONFIG", self.dir.join("cli-config"));
        c.env("DOCKER_BUILDKIT", "1");
        c.env_remove("DOCKER_CONTEXT");
        c.stdin(Stdio::null());
        c
    }

    /// Runs docker with `args`; returns its output without judging it.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn docker")
    }

    /// Runs docker and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// Removes the directories of private daemons whose test process is gone (unmounting what a
/// daemon killed mid-way left mounted there).
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(BASE) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Its daemon too (it outlives its test process for the moment its shutdown takes).
        if let Ok(p) = std::fs::read_to_string(e.path().join("pid")) {
            if p.trim().parse::<i32>().is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
        }
        let prefix = format!("{}/", e.path().display());
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut points: Vec<&str> =
            mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&prefix)).collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in points {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}
