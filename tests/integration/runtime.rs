//! `berth runtime` (berth's OCI runtime) on real bundles made from the busybox fixture, as root:
//! exit codes and output, the create/start/exec/kill/delete lifecycle, a differential run of
//! the same probe under `runc run` (outputs must be identical), limits (memory with OOM
//! detection, pids), read-only rootfs and masked paths, seccomp, a joined network namespace,
//! the console socket, and no leaked mounts, cgroups or processes after a batch of runs.
//!
//! Every test takes one lock: they share the host's cgroup hierarchies and process table, and
//! the leak test counts both.

use berth_tests::{berth_bin, busybox_tar, have, require_root};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

const PROBE: &str = include_str!("../probe/probe.sh");

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn serial() -> std::sync::MutexGuard<'static, ()> {
    require_root();
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A name unique to this test process: container ids and cgroup paths.
fn unique(what: &str) -> String {
    format!("brt-{}-{what}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A Docker-like config.json (what `runc spec` gives, with Docker's capabilities, masked and
/// read-only paths and device rules).
fn config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=box"],
            "cwd": "/",
            "capabilities": {"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS},
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "box",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}
        ],
        "linux": {
            "cgroupsPath": format!("/{}", unique("cg")),
            "resources": {"devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"}
            ]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// A seccomp profile shaped like Docker's default: EPERM unless allowed, an allow list of
/// every syscall but the dangerous ones, `personality` and `clone` allowed only with harmless
/// arguments, ENOSYS for clone3 (so libcs fall back to clone).
fn docker_like_seccomp() -> Value {
    let denied = [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "keyctl",
        "add_key",
        "request_key",
        "ptrace",
        "reboot",
        "swapon",
        "swapoff",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "perf_event_open",
        "acct",
        "settimeofday",
        "clock_settime",
        "clone",
        "clone3",
        "personality",
        "open_by_handle_at",
        "name_to_handle_at",
        "userfaultfd",
        "fanotify_init",
        "lookup_dcookie",
        "quotactl",
        "iopl",
        "ioperm",
        "syslog",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "open_tree",
    ];
    let allowed: Vec<&str> =
        berth_runtime_linux::seccomp::native_syscall_names().into_iter().filter(|n| !denied.contains(n)).collect();
    let mut syscalls = vec![json!({"names": allowed, "action": "SCMP_ACT_ALLOW"})];
    for p in [0u64, 8, 131072, 131080, 4294967295] {
        syscalls.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]}));
    }
    syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    })
}

/// A bundle: the busybox rootfs (with the probe at /probe.sh) and a config.json.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(config: &Value) -> Bundle {
        let dir = tempfile::Builder::new().prefix("berth-rt-test-").tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let st = Command::new("tar").arg("-xf").arg(busybox_tar()).arg("-C").arg(&rootfs).status().unwrap();
        assert!(st.success(), "untar the busybox fixture");
        std::fs::write(rootfs.join("probe.sh"), PROBE).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(rootfs.join("probe.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(rootfs.join("data"), "not a program\n").unwrap();
        let b = Bundle { dir };
        b.set_config(config);
        b
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn set_config(&self, config: &Value) {
        std::fs::write(self.path().join("config.json"), serde_json::to_vec_pretty(config).unwrap()).unwrap();
    }
}

/// A state root for `berth runtime`.
struct Rt {
    root: tempfile::TempDir,
}

impl Rt {
    fn new() -> Rt {
        Rt { root: tempfile::Builder::new().prefix("berth-rt-state-").tempdir().unwrap() }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("runtime").arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    fn exec(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn run(&self, bundle: &Bundle, id: &str) -> Output {
        self.cmd().args(["run", "--bundle"]).arg(bundle.path()).arg(id).output().unwrap()
    }

    fn state(&self, id: &str) -> Option<Value> {
        let o = self.exec(&["state", id]);
        o.status.success().then(|| serde_json::from_slice(&o.stdout).unwrap())
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        // Whatever a failed test left behind: kill and delete it (by id, through the runtime).
        if let Ok(entries) = std::fs::read_dir(self.root.path()) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.cmd().args(["delete", "--force", &id]).output();
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
#[ignore = "needs root"]
fn run_reports_exit_codes_and_output_like_docker() {
    let _g = serial();
    let rt = Rt::new();
    let b = Bundle::new(&config(&["true"]));
    let o = rt.run(&b, &unique("true"));
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));

    b.set_config(&config(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    let o = rt.run(&b, &unique("three"));
    assert_eq!((code(&o), text(&o.stdout), text(&o.stderr)), (3, "out\n".into(), "err\n".into()));

    b.set_config(&config(&["foo"]));
    let o = rt.run(&b, &unique("missing"));
    assert_eq!(code(&o), 127);
    assert!(text(&o.stderr).contains(r#"exec: "foo": executable file not found in $PATH"#), "{}", text(&o.stderr));

    b.set_config(&config(&["/data"]));
    let o = rt.run(&b, &unique("noexec"));
    assert_eq!(code(&o), 126);
    assert!(text(&o.stderr).contains(r#"exec: "/data": permission denied"#), "{}", text(&o.stderr));

    b.set_config(&config(&["/nonexistent/bin"]));
    let o = rt.run(&b, &unique("abs-missing"));
    assert_eq!(code(&o), 127, "{}", text(&o.stderr));

    // A signal's exit code is 128+signal.
    b.set_config(&config(&["sh", "-c", "sh -c 'kill -KILL $$'; exit $?"]));
    let o = rt.run(&b, &unique("signal"));
    assert_eq!(code(&o), 137, "{}", text(&o.stderr));

    // Nothing is left in the state root after `run`.
    assert_eq!(std::fs::read_dir(rt.root.path()).unwrap().count(), 0);
}

#[test]
#[ignore = "needs root"]
fn create_start_exec_kill_delete() {
    let _g = serial();
    let rt = Rt::new();
    let mut cfg = config(&["sh", "-c", "echo started; exec sleep 100"]);
    let cgroup = cfg["linux"]["cgroupsPath"].as_str().unwrap().to_string();
    cfg["process"]["env"].as_array_mut().unwrap().push(json!("GREETING=hi"));
    let b = Bundle::new(&cfg);
    let id = unique("life");
    let log = b.path().join("out.log");
    let out = std::fs::File::create(&log).unwrap();
    // The init inherits create's stdout: give it a file, not a pipe this test would wait on.
    let st = rt
        .cmd()
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .status()
        .unwrap();
    assert!(st.success());
    let s = rt.state(&id).unwrap();
    assert_eq!(s["status"], "created");
    assert_eq!(s["ociVersion"], "1.0.2");
    assert_eq!(s["bundle"], b.path().canonicalize().unwrap().to_str().unwrap());
    let pid = s["pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "", "nothing runs before start");
    let cg_dir = PathBuf::from(format!("/sys/fs/cgroup/pids{cgroup}"));
    assert!(cg_dir.exists(), "{} exists while the container does", cg_dir.display());

    let o = rt.exec(&["start", &id]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
    let t = Instant::now();
    while std::fs::read_to_string(&log).unwrap() != "started\n" && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "started\n");
    let o = rt.exec(&["start", &id]);
    assert_eq!(code(&o), 125, "a running container cannot be started again");

    // exec: same namespaces, environment from config.json plus --env, exit codes.
    let o = rt.exec(&[
        "exec",
        "--env",
        "EXTRA=1",
        &id,
        "sh",
        "-c",
        "echo $GREETING $EXTRA; hostname; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hi 1\nbox\nsleep 100 ");
    let o = rt.exec(&["exec", &id, "sh", "-c", "exit 4"]);
    assert_eq!(code(&o), 4);
    let o = rt.exec(&["exec", &id, "nope"]);
    assert_eq!(code(&o), 127);
    assert!(text(&o.stderr).contains(r#"exec: "nope": executable file not found in $PATH"#));
    let o = rt.exec(&["exec", "--user", "65534:65534", &id, "id"]);
    assert_eq!(text(&o.stdout), "uid=65534(nobody) gid=65534(nogroup)\n", "{}", text(&o.stderr));
    // The exec'd process ran in the container's cgroup.
    let o = rt.exec(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert!(text(&o.stdout).contains(&format!("pids:{cgroup}")), "{}", text(&o.stdout));

    // pause/resume freeze and thaw the container.
    let o = rt.exec(&["pause", &id]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(rt.state(&id).unwrap()["status"], "paused");
    let frozen = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(frozen.contains("State:\tD") || frozen.contains("State:\tS"), "{frozen}");
    assert_eq!(code(&rt.exec(&["pause", &id])), 125, "already paused");
    let o = rt.exec(&["resume", &id]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(rt.state(&id).unwrap()["status"], "running");

    let o = rt.exec(&["delete", &id]);
    assert_eq!(code(&o), 125, "a running container is not deleted without --force");
    let o = rt.exec(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = Instant::now();
    while rt.state(&id).unwrap()["status"] != "stopped" && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rt.state(&id).unwrap()["status"], "stopped");
    let o = rt.exec(&["kill", &id, "TERM"]);
    assert_eq!(code(&o), 125, "a stopped container cannot be signalled");
    let o = rt.exec(&["delete", &id]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(rt.state(&id).is_none());
    let o = rt.exec(&["state", &id]);
    assert!(text(&o.stderr).contains("does not exist"), "{}", text(&o.stderr));
    assert!(!cg_dir.exists(), "the cgroup is removed on delete");

    // A created container can be deleted directly (its init is killed).
    let id2 = unique("created");
    let st = rt.cmd().args(["create", "--bundle"]).arg(b.path()).arg(&id2).stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    let o = rt.exec(&["create", "--bundle", b.path().to_str().unwrap(), &id2]);
    assert!(text(&o.stderr).contains("already exists"), "{}", text(&o.stderr));
    let pid = rt.state(&id2).unwrap()["pid"].as_i64().unwrap();
    let o = rt.exec(&["delete", &id2]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        !Path::new(&format!("/proc/{pid}/status")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap().contains("zombie")
    );
}

/// Runs the probe under berth and under runc with the same config and returns both outputs.
fn probe_both(cfg: &Value) -> (String, String) {
    let rt = Rt::new();
    let b1 = Bundle::new(cfg);
    let o = rt.run(&b1, &unique("probe"));
    assert!(o.status.success(), "berth: {}\n{}", text(&o.stderr), text(&o.stdout));
    let berth = text(&o.stdout);

    let mut cfg2 = cfg.clone();
    cfg2["linux"]["cgroupsPath"] = json!(format!("/{}", unique("cg-runc")));
    let b2 = Bundle::new(&cfg2);
    let runc_root = tempfile::tempdir().unwrap();
    let id = unique("runc");
    let o = Command::new("runc")
        .arg("--root")
        .arg(runc_root.path())
        .args(["run", "--bundle"])
        .arg(b2.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc").arg("--root").arg(runc_root.path()).args(["delete", "-f", &id]).output();
    assert!(o.status.success(), "runc: {}", text(&o.stderr));
    (berth, text(&o.stdout))
}

fn assert_same(berth: &str, runc: &str) {
    if berth != runc {
        let b: Vec<&str> = berth.lines().collect();
        let r: Vec<&str> = runc.lines().collect();
        let mut diff = String::new();
        for i in 0..b.len().max(r.len()) {
            let (x, y) = (b.get(i).copied().unwrap_or("<none>"), r.get(i).copied().unwrap_or("<none>"));
            if x != y {
                diff.push_str(&format!("line {}:\n  berth: {x}\n  runc:  {y}\n", i + 1));
            }
        }
        panic!("berth and runc disagree:\n{diff}\n--- berth:\n{berth}");
    }
}

#[test]
#[ignore = "needs root"]
fn probe_output_is_identical_to_runc() {
    let _g = serial();
    if !have("runc") {
        panic!("runc is not installed (scripts/setup.sh installs it)");
    }
    // Docker's defaults for root, with limits, a seccomp profile and a read-only rootfs.
    let mut cfg = config(&["/probe.sh"]);
    cfg["process"]["env"].as_array_mut().unwrap().push(json!("FOO=bar baz"));
    cfg["process"]["cwd"] = json!("/tmp");
    cfg["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [10]});
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}]);
    cfg["root"]["readonly"] = json!(true);
    cfg["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    cfg["linux"]["resources"]["pids"] = json!({"limit": 64});
    cfg["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    cfg["linux"]["seccomp"] = docker_like_seccomp();
    let (berth, runc) = probe_both(&cfg);
    assert!(berth.contains("Seccomp:\t2"), "{berth}");
    assert!(berth.contains("/sys/fs/cgroup/memory/memory.limit_in_bytes=67108864"), "{berth}");
    assert!(berth.contains("rootfs read-only"), "{berth}");
    assert_same(&berth, &runc);

    // An unprivileged user with no_new_privs, ambient capabilities and a umask.
    let mut cfg = config(&["/probe.sh"]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 63});
    cfg["process"]["noNewPrivileges"] = json!(true);
    cfg["process"]["oomScoreAdj"] = json!(500);
    let few = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    cfg["process"]["capabilities"] =
        json!({"bounding": DOCKER_CAPS, "effective": few, "permitted": few, "inheritable": few, "ambient": few});
    cfg["hostname"] = json!("other-host");
    let (berth, runc) = probe_both(&cfg);
    assert!(
        berth.contains("uid=1000 gid=1000 groups=1000 2000 3000")
            || berth.contains("uid=1000 gid=1000 groups=2000 3000"),
        "{berth}"
    );
    assert!(berth.contains("NoNewPrivs:\t1"), "{berth}");
    assert_same(&berth, &runc);

    // `runc spec`'s own capabilities: ambient ones without inheritable ones cannot be raised,
    // and runc carries on without them.
    let mut cfg = config(&["/probe.sh"]);
    let spec_caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    cfg["process"]["capabilities"] =
        json!({"bounding": spec_caps, "effective": spec_caps, "permitted": spec_caps, "ambient": spec_caps});
    cfg["process"]["noNewPrivileges"] = json!(true);
    let (berth, runc) = probe_both(&cfg);
    assert!(berth.contains("CapAmb:\t0000000000000000"), "{berth}");
    assert_same(&berth, &runc);
}

#[test]
#[ignore = "needs root"]
fn memory_limit_kills_and_oom_is_reported() {
    let _g = serial();
    let rt = Rt::new();
    let mut cfg = config(&["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"]);
    cfg["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    let b = Bundle::new(&cfg);
    let id = unique("oom");
    let o = rt.cmd().args(["run", "--keep", "--bundle"]).arg(b.path()).arg(&id).output().unwrap();
    assert_eq!(code(&o), 137, "killed by the OOM killer: {}", text(&o.stderr));
    let s = rt.state(&id).unwrap();
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["oomKilled"], true, "{s}");
    assert_eq!(s["annotations"]["io.berth.oom-killed"], "true");
    assert_eq!(s["exitStatus"], 137);
    assert!(rt.exec(&["delete", &id]).status.success());

    // The same container with room to spare is not reported.
    cfg["linux"]["resources"]["memory"] = json!({"limit": 268435456});
    cfg["linux"]["cgroupsPath"] = json!(format!("/{}", unique("cg")));
    b.set_config(&cfg);
    let id = unique("no-oom");
    let o = rt.cmd().args(["run", "--keep", "--bundle"]).arg(b.path()).arg(&id).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(rt.state(&id).unwrap()["oomKilled"], false);
    assert!(rt.exec(&["delete", &id]).status.success());
}

#[test]
#[ignore = "needs root"]
fn pids_limit_is_enforced() {
    let _g = serial();
    let rt = Rt::new();
    let mut cfg = config(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait",
    ]);
    cfg["linux"]["resources"]["pids"] = json!({"limit": 6});
    let b = Bundle::new(&cfg);
    let o = rt.run(&b, &unique("pids"));
    assert_eq!(text(&o.stdout), "6\n");
    assert!(text(&o.stderr).contains("can't fork"), "fork must fail past the limit: {}", text(&o.stderr));
}

#[test]
#[ignore = "needs root"]
fn readonly_rootfs_and_masked_paths() {
    let _g = serial();
    let rt = Rt::new();
    let script = "touch /x 2>&1; { echo > /proc/sys/kernel/domainname; } 2>&1; \
        wc -c < /proc/keys; ls -A /sys/firmware | wc -l; wc -c < /proc/timer_list; \
        awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo | cut -d, -f1";
    let mut cfg = config(&["sh", "-c", script]);
    cfg["root"]["readonly"] = json!(true);
    let b = Bundle::new(&cfg);
    let o = rt.run(&b, &unique("ro"));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Read-only file system"), "{out}");
    assert!(lines[1].contains("Read-only file system"), "{out}");
    assert_eq!(&lines[2..], ["0", "0", "0", "ro"], "{out}");
}

#[test]
#[ignore = "needs root"]
fn seccomp_profile_is_enforced() {
    let _g = serial();
    let rt = Rt::new();
    let mut cfg = config(&["sh", "-c", "mkdir /tmp/a && echo made; ls / > /dev/null && echo listed"]);
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let b = Bundle::new(&cfg);
    let o = rt.run(&b, &unique("seccomp"));
    assert_eq!(text(&o.stdout), "listed\n");
    assert!(text(&o.stderr).contains("Operation not permitted"), "{}", text(&o.stderr));

    // Docker-like: clone3 gets ENOSYS, mount EPERM even with CAP_SYS_ADMIN, sh still works.
    let mut caps: Vec<&str> = DOCKER_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    let mut cfg = config(&["sh", "-c", "mount -t tmpfs none /mnt 2>&1; echo $(echo nested)"]);
    cfg["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    cfg["linux"]["seccomp"] = docker_like_seccomp();
    b.set_config(&cfg);
    let o = rt.run(&b, &unique("seccomp-docker"));
    let out = text(&o.stdout);
    assert!(out.to_lowercase().contains("permission denied"), "EPERM from seccomp despite CAP_SYS_ADMIN: {out}");
    assert!(out.ends_with("nested\n"), "{out}");
}

#[test]
#[ignore = "needs root"]
fn network_namespace_is_joined_by_path() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("netns");
    std::fs::write(&ns, "").unwrap();
    let st = Command::new("unshare").arg(format!("--net={}", ns.display())).arg("true").status().unwrap();
    assert!(st.success(), "unshare --net=FILE");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(ns.clone());
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&ns).unwrap().ino();

    let rt = Rt::new();
    let mut cfg = config(&["sh", "-c", "stat -L -c %i /proc/self/ns/net"]);
    cfg["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network", "path": ns}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}]);
    let b = Bundle::new(&cfg);
    let o = rt.run(&b, &unique("netns"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), ino.to_string());
}

#[test]
#[ignore = "needs root"]
fn terminal_goes_to_the_console_socket() {
    let _g = serial();
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let rt = Rt::new();
    let mut cfg = config(&["sh", "-c", "tty; echo done"]);
    cfg["process"]["terminal"] = json!(true);
    let b = Bundle::new(&cfg);
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut child = rt
        .cmd()
        .args(["run", "--console-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(b.path())
        .arg(unique("tty"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let (master, name) = berth_sys::term::recv_fd(conn.as_raw_fd()).unwrap();
    assert_eq!(name, "/dev/pts/0");
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    // EIO once the slave side is closed by the container's exit.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(text(&out), "/dev/pts/0\r\ndone\r\n");
}

#[test]
#[ignore = "needs root"]
fn foreground_run_relays_the_terminal() {
    let _g = serial();
    use std::io::Write;
    let rt = Rt::new();
    let mut cfg = config(&["sh", "-c", "read x; echo got $x; tty"]);
    cfg["process"]["terminal"] = json!(true);
    let b = Bundle::new(&cfg);
    let mut child = rt
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(unique("fg-tty"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("got hello\r\n/dev/pts/0\r\n"), "{out:?}");
}

fn mount_lines() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().map(String::from).collect()
}

/// Every directory of every cgroup hierarchy, two levels deep (`/sys/fs/cgroup/<h>/<a>/<b>`).
fn cgroup_dirs() -> Vec<String> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for a in std::fs::read_dir(h.path()).into_iter().flatten().flatten().filter(|e| e.path().is_dir()) {
            out.push(a.path().display().to_string());
            for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten().filter(|e| e.path().is_dir()) {
                out.push(b.path().display().to_string());
            }
        }
    }
    out
}

/// Processes on the host, and those in a cgroup of this test process's containers.
fn processes() -> (usize, usize) {
    let prefix = format!("brt-{}-", std::process::id());
    let (mut all, mut ours) = (0, 0);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        all += 1;
        // Zombies are not processes any more: orphaned inits (after create/start, when the
        // runtime has exited) wait for PID 1 to reap them, which it does in its own time.
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')));
        if !zombie && std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(&prefix)) {
            ours += 1;
        }
    }
    (all, ours)
}

fn ours(text: &str) -> usize {
    text.lines().filter(|l| l.contains(&format!("brt-{}-", std::process::id())) || l.contains("berth-rt-test-")).count()
}

#[test]
#[ignore = "needs root"]
fn a_batch_of_runs_leaks_nothing() {
    let _g = serial();
    let rt = Rt::new();
    let b = Bundle::new(&config(&["true"]));
    // Warm-up: parents of cgroup paths are created once and shared.
    assert!(rt.run(&b, &unique("warm")).status.success());
    let before = (mount_lines(), cgroup_dirs(), processes().0);
    for i in 0..20 {
        let mut cfg = config(&["sh", "-c", "sleep 0.01 & sleep 0.01 & wait; true"]);
        if i % 2 == 1 {
            cfg["process"]["args"] = json!(["nope"]);
        }
        b.set_config(&cfg);
        let o = rt.run(&b, &unique("batch"));
        assert_eq!(code(&o), if i % 2 == 1 { 127 } else { 0 }, "{}", text(&o.stderr));
    }
    let after = (mount_lines(), cgroup_dirs(), processes().0);
    eprintln!(
        "before/after the batch: {} / {} mounts, {} / {} cgroup directories, {} / {} processes",
        before.0.len(),
        after.0.len(),
        before.1.len(),
        after.1.len(),
        before.2,
        after.2
    );
    // The machine is shared (other engineers' tests mount overlays and namespaces, builds come
    // and go), so a difference only counts as a leak if it is ours: under this test's bundles
    // or state root, or named after its containers and cgroups.
    let added = |b: &[String], a: &[String]| -> Vec<String> { a.iter().filter(|l| !b.contains(l)).cloned().collect() };
    let state_root = rt.root.path().display().to_string();
    let mine = |l: &String| ours(l) > 0 || l.contains(&state_root);
    let new_mounts = added(&before.0, &after.0);
    assert!(!new_mounts.iter().any(mine), "mounts left behind: {new_mounts:#?}");
    if new_mounts.is_empty() {
        assert!(after.0.len() <= before.0.len(), "host mount count before/after");
    }
    let new_cgroups = added(&before.1, &after.1);
    assert!(!new_cgroups.iter().any(mine), "cgroups left behind: {new_cgroups:#?}");
    if new_cgroups.is_empty() {
        assert!(after.1.len() <= before.1.len(), "cgroup directory count before/after");
    }
    assert_eq!(processes().1, 0, "processes left in the containers' cgroups");
    assert_eq!(std::fs::read_dir(rt.root.path()).unwrap().count(), 0);
}
