//! The security, device and namespace flags of `run`/`create` (issue 13), each shown by a probe
//! inside a real busybox container, under berth's runtime and runc; bad values fail with Docker's
//! messages and exit 125, leaving nothing behind. Expected values were taken from Docker 20.10
//! on the same host (`docker run --rm --network none bb ...`).

use berth_tests::{busybox_root, have, Berth};
use std::path::Path;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `sh -c script` in a fresh `--rm` container with `flags`; its stdout.
fn probe(b: &Berth, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    b.ok(&args)
}

/// The value of `field` in a /proc/*/status text.
fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// Our own bounding set: what `ALL` and `--privileged` can give on this host.
fn host_bounding() -> String {
    status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "CapBnd")
}

const CAPS: &str = "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status";

#[test]
#[ignore = "needs root"]
fn capabilities_add_and_drop_as_docker() {
    let b = busybox_root();
    for rt in ["berth", "runc"] {
        if rt == "runc" && !have("runc") {
            continue;
        }
        let rtf = ["--runtime", rt];
        let st = probe(&b, &rtf, CAPS);
        assert_eq!(status_field(&st, "CapEff"), "00000000a80425fb", "{rt}: Docker's default set");
        let st = probe(&b, &[&rtf[..], &["--cap-drop", "ALL"]].concat(), CAPS);
        assert_eq!(status_field(&st, "CapEff"), "0000000000000000", "{rt}");
        assert_eq!(status_field(&st, "CapBnd"), "0000000000000000", "{rt}");
        // Docker's order: drop ALL, then add; names in any case, with or without CAP_.
        let st = probe(
            &b,
            &[&rtf[..], &["--cap-drop", "all", "--cap-add", "net_admin", "--cap-add", "CAP_sys_admin"]].concat(),
            CAPS,
        );
        assert_eq!(status_field(&st, "CapEff"), "0000000000201000", "{rt}");
        let st = probe(&b, &[&rtf[..], &["--cap-drop", "chown", "--cap-add", "SYS_PTRACE"]].concat(), CAPS);
        assert_eq!(status_field(&st, "CapEff"), "00000000a80c25fa", "{rt}: -CHOWN +SYS_PTRACE");
        // The seccomp profile follows the set, as Docker's: CAP_SYS_ADMIN allows mount(2).
        let mnt = "mkdir -p /m; mount -t tmpfs none /m 2>&1 && echo mounted; true";
        assert_eq!(probe(&b, &[&rtf[..], &["--cap-add", "SYS_ADMIN"]].concat(), mnt).trim(), "mounted", "{rt}");
        assert_eq!(probe(&b, &rtf, mnt).trim(), "mount: permission denied (are you root?)", "{rt}");
        let st = probe(&b, &[&rtf[..], &["--cap-add", "ALL"]].concat(), CAPS);
        assert_eq!(status_field(&st, "CapEff"), host_bounding(), "{rt}: ALL");
    }
    // exec'd processes get the container's set, as in Docker.
    b.ok(&["run", "-d", "--name", "capc", "--network", "none", "--cap-drop", "ALL", "busybox", "sleep", "60"]);
    let st = b.ok(&["exec", "capc", "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(status_field(&st, "CapEff"), "0000000000000000");
    b.ok(&["rm", "-f", "capc"]);
    let caps = b.ok(&["create", "--cap-add", "net_admin", "--cap-drop", "Chown", "busybox"]);
    let f = b.ok(&["inspect", "-f", "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}", caps.trim()]);
    assert_eq!(f.trim(), r#"["CAP_NET_ADMIN"] ["CAP_CHOWN"]"#);
}

#[test]
#[ignore = "needs root"]
fn privileged_relaxes_what_docker_relaxes() {
    let b = busybox_root();
    let script = format!(
        "{CAPS}; mount | grep -E ' on /sys (type|/fs/cgroup )' ; mount | grep -c ' /proc/kcore ' ; \
         ls /dev/loop-control >/dev/null && echo has-loop-control"
    );
    for rt in ["berth", "runc"] {
        if rt == "runc" && !have("runc") {
            continue;
        }
        let out = probe(&b, &["--runtime", rt, "--privileged"], &script);
        assert_eq!(status_field(&out, "CapEff"), host_bounding(), "{rt}: every capability");
        assert_eq!(status_field(&out, "Seccomp"), "0", "{rt}: no seccomp");
        let sys = out.lines().find(|l| l.contains(" on /sys type sysfs")).expect(&out);
        assert!(sys.contains("(rw"), "{rt}: /sys is writable: {sys}");
        assert!(out.lines().any(|l| l.trim() == "0"), "{rt}: /proc/kcore not masked: {out}");
        if Path::new("/dev/loop-control").exists() {
            assert!(out.contains("has-loop-control"), "{rt}: the host's devices: {out}");
        }
    }
    let id = b.ok(&["create", "--privileged", "busybox"]);
    let f = b.ok(&["inspect", "-f", "{{.HostConfig.Privileged}} {{json .HostConfig.SecurityOpt}}", id.trim()]);
    assert_eq!(f.trim(), r#"true ["label=disable"]"#);
}

#[test]
#[ignore = "needs root"]
fn security_opts_seccomp_and_no_new_privileges() {
    let b = busybox_root();
    let st = probe(&b, &["--security-opt", "seccomp=unconfined"], CAPS);
    assert_eq!(status_field(&st, "Seccomp"), "0");
    let st = probe(&b, &["--security-opt", "no-new-privileges:false"], CAPS);
    assert_eq!(status_field(&st, "NoNewPrivs"), "0");
    assert_eq!(status_field(&st, "Seccomp"), "2", "the default profile still applies");
    let st = probe(&b, &["--security-opt", "no-new-privileges"], CAPS);
    assert_eq!(status_field(&st, "NoNewPrivs"), "1");
    // A profile of Docker's format from a file: everything allowed but mkdir.
    let dir = tempfile::tempdir().unwrap();
    let prof = dir.path().join("p.json");
    std::fs::write(
        &prof,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", prof.display());
    for rt in ["berth", "runc"] {
        if rt == "runc" && !have("runc") {
            continue;
        }
        let out = probe(
            &b,
            &["--runtime", rt, "--security-opt", &opt],
            "mkdir /x 2>&1; echo rc=$?; touch /y && echo touched",
        );
        assert!(out.contains("rc=1") && out.contains("touched"), "{rt}: {out}");
    }
    // label= and apparmor= are accepted and recorded (this host has neither SELinux nor AppArmor).
    let id = b.ok(&[
        "create",
        "--security-opt",
        "label=disable",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        &opt,
        "busybox",
    ]);
    let f = b.ok(&["inspect", "-f", "{{json .HostConfig.SecurityOpt}}", id.trim()]);
    assert!(f.starts_with(r#"["label=disable","apparmor=unconfined","seccomp={"#), "{f}");
}

#[test]
#[ignore = "needs root"]
fn devices_with_cgroup_permissions() {
    let b = busybox_root();
    let out =
        probe(&b, &["--device", "/dev/zero:/dev/myzero:r"], "ls -l /dev/myzero; head -c 3 /dev/myzero | od -An -c");
    assert!(out.starts_with("crw-rw-rw-") && out.contains("1,   5"), "{out}");
    assert_eq!(out.lines().nth(1).map(str::split_whitespace).map(Iterator::count), Some(3), "{out}");
    if Path::new("/dev/loop-control").exists() {
        // 10:237 is outside Docker's default rules: read only, as asked.
        for rt in ["berth", "runc"] {
            if rt == "runc" && !have("runc") {
                continue;
            }
            let out = probe(
                &b,
                &["--runtime", rt, "--device", "/dev/loop-control:/dev/lc:r"],
                "ls -l /dev/lc; (exec 3</dev/lc) && echo read-ok; (exec 3>/dev/lc) 2>/dev/null || echo write-denied",
            );
            assert!(out.contains("10, 237"), "{rt}: {out}");
            assert!(out.contains("read-ok") && out.contains("write-denied"), "{rt}: {out}");
        }
        let out = probe(&b, &[], "(exec 3</dev/loop-control) 2>/dev/null || echo no-device");
        assert!(out.contains("no-device"), "{out}");
    }
    let id = b.ok(&["create", "--device", "/dev/zero:/dev/z:r", "busybox"]);
    let f = b.ok(&["inspect", "-f", "{{json .HostConfig.Devices}}", id.trim()]);
    assert_json(&f, r#"[{"PathOnHost":"/dev/zero","PathInContainer":"/dev/z","CgroupPermissions":"r"}]"#);
}

#[test]
#[ignore = "needs root"]
fn ulimits_shm_size_sysctls_oom_score_adj_domainname() {
    let b = busybox_root();
    for rt in ["berth", "runc"] {
        if rt == "runc" && !have("runc") {
            continue;
        }
        let out = probe(
            &b,
            &[
                "--runtime",
                rt,
                "--ulimit",
                "nofile=100:200",
                "--ulimit",
                "core=0",
                "--shm-size",
                "1m",
                "--sysctl",
                "net.ipv4.ip_forward=1",
                "--sysctl",
                "kernel.shmmax=1000000",
                "--oom-score-adj",
                "500",
                "--domainname",
                "example.com",
            ],
            "ulimit -n; ulimit -Hn; ulimit -c; df -k /dev/shm | tail -1 | awk '{print $2}'; \
             cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/self/oom_score_adj /proc/sys/kernel/domainname",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["100", "200", "0", "1024", "1", "1000000", "500", "example.com"], "{rt}");
    }
    let out = probe(&b, &[], "df -k /dev/shm | tail -1 | awk '{print $2}'; cat /proc/self/oom_score_adj");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["65536", "0"], "Docker's defaults");
    let id = b.ok(&[
        "create",
        "--ulimit",
        "nofile=10:20",
        "--ulimit",
        "core=5",
        "--shm-size",
        "1m",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--oom-score-adj",
        "5",
        "--domainname",
        "x.com",
        "busybox",
    ]);
    let f = b.ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.Ulimits}} {{.HostConfig.ShmSize}} {{json .HostConfig.Sysctls}} {{.HostConfig.OomScoreAdj}} {{.Config.Domainname}}",
        id.trim(),
    ]);
    let (ulimits, rest) = f.trim().split_once(' ').unwrap();
    assert_json(ulimits, r#"[{"Name":"core","Hard":5,"Soft":5},{"Name":"nofile","Hard":20,"Soft":10}]"#);
    assert_eq!(rest, r#"1048576 {"net.ipv4.ip_forward":"1"} 5 x.com"#);
}

/// Equal JSON documents, whatever the order of their keys.
fn assert_json(got: &str, want: &str) {
    let g: serde_json::Value = serde_json::from_str(got.trim()).unwrap();
    let w: serde_json::Value = serde_json::from_str(want).unwrap();
    assert_eq!(g, w);
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().display().to_string()
}

#[test]
#[ignore = "needs root"]
fn pid_ipc_uts_and_cgroup_namespaces() {
    let b = busybox_root();
    let init = std::fs::read_to_string("/proc/1/comm").unwrap();
    for rt in ["berth", "runc"] {
        if rt == "runc" && !have("runc") {
            continue;
        }
        let out = probe(
            &b,
            &["--runtime", rt, "--pid", "host", "--ipc", "host", "--uts", "host"],
            "cat /proc/1/comm; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; hostname",
        );
        let host = nix::unistd::gethostname().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [init.trim(), &host_ns("pid"), &host_ns("ipc"), &host],
            "{rt}: the host's init, IPC namespace and hostname"
        );
    }
    // Another container's PID and IPC namespaces (IPC only from a shareable donor, as Docker).
    b.ok(&["run", "-d", "--name", "donor", "--network", "none", "--ipc", "shareable", "busybox", "sleep", "60"]);
    let want =
        b.ok(&["exec", "donor", "sh", "-c", "readlink /proc/1/ns/pid; readlink /proc/1/ns/ipc; echo hi > /dev/shm/f"]);
    let out = probe(
        &b,
        &["--pid", "container:donor", "--ipc", "container:donor"],
        "readlink /proc/1/ns/pid; readlink /proc/1/ns/ipc; cat /proc/1/comm; cat /dev/shm/f",
    );
    assert_eq!(out, format!("{want}sleep\nhi\n"), "the donor's namespaces and /dev/shm");
    b.ok(&["run", "-d", "--name", "private", "--network", "none", "busybox", "sleep", "60"]);
    let o = b.run(&["run", "--rm", "--network", "none", "--ipc", "container:private", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(String::from_utf8_lossy(&o.stderr).contains("non-shareable IPC"), "{o:?}");
    // A stopped donor: Docker's start-time check.
    b.ok(&["stop", "-t", "0", "donor"]);
    let o = b.run(&["run", "--rm", "--network", "none", "--pid", "container:donor", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not running"), "{o:?}");
    b.ok(&["rm", "-f", "donor", "private"]);
    let root = b.root().display().to_string();
    let shm = std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root) && l.contains("/shm "))
        .count();
    assert_eq!(shm, 0, "the donor's /dev/shm is unmounted with it");
    // --ipc none: no /dev/shm at all.
    let out = probe(&b, &["--ipc", "none"], "mount | grep -c ' /dev/shm ' || true");
    assert_eq!(out.trim(), "0");
    // cgroup namespaces: the host's view (paths under /berth) or a private one (all "/").
    let id = b.ok(&["create", "--network", "none", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup"]);
    let out = b.ok(&["start", "-a", id.trim()]);
    assert!(out.lines().all(|l| l.ends_with(":/")), "{out}");
    let out = probe(&b, &["--cgroupns", "host"], "cat /proc/self/cgroup");
    assert!(out.lines().all(|l| l.contains("/berth/")), "{out}");
    let f = b.ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}} {{.HostConfig.IpcMode}}", id.trim()]);
    assert_eq!(f.trim(), "private private");
}

#[test]
#[ignore = "needs root"]
fn group_add_by_gid_and_name() {
    let b = busybox_root();
    let out = probe(&b, &["--group-add", "1234", "--group-add", "nogroup"], "id");
    assert_eq!(out.trim(), "uid=0(root) gid=0(root) groups=0(root),1234,65534(nogroup)");
}

/// What a failed create may leave: container directories, name links, mounts under the root.
fn leftovers(b: &Berth) -> (usize, usize, usize) {
    let count = |d: &str| std::fs::read_dir(b.root().join(d)).map(|r| r.count()).unwrap_or(0);
    let root = b.root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap().lines().filter(|l| l.contains(&root)).count();
    (count("containers"), count("names"), mounts)
}

#[test]
#[ignore = "needs root"]
fn bad_values_fail_as_docker_and_leave_nothing() {
    let b = busybox_root();
    let cases: &[(&[&str], &str)] = &[
        (&["--cap-add", "BOGUS"], "invalid CapAdd: unknown capability: \"CAP_BOGUS\""),
        (&["--cap-drop", "bogus"], "invalid CapDrop: unknown capability: \"CAP_BOGUS\""),
        (&["--ulimit", "nofile=abc"], "strconv.ParseInt: parsing \"abc\": invalid syntax"),
        (&["--ulimit", "bogus=1"], "invalid ulimit type: bogus"),
        (&["--ulimit", "nofile=10:5"], "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
        (&["--sysctl", "kernel.hostname=x"], "sysctl 'kernel.hostname=x' is not allowed"),
        (&["--sysctl", "vm.swappiness=1"], "sysctl 'vm.swappiness=1' is not allowed"),
        (&["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "not allowed in host network namespace"),
        (
            &["--device", "/nonexistent"],
            "error gathering device information while adding custom device \"/nonexistent\": no such file or directory",
        ),
        (&["--device", "/etc/passwd"], "adding custom device \"/etc/passwd\": not a device node"),
        (&["--device", "/dev/zero:/dev/z:rwq"], "bad mode specified: rwq"),
        (&["--device", "/dev/zero:dev/z"], "dev/z is not an absolute path"),
        (&["--pid", "container:missing"], "No such container: missing"),
        (&["--pid", "bogus"], "--pid: invalid PID mode"),
        (&["--ipc", "bogus"], "Invalid IPC mode: bogus"),
        (&["--ipc", "container:missing"], "No such container: missing"),
        (&["--uts", "bogus"], "--uts: invalid UTS mode"),
        (&["--uts", "host", "-h", "foo"], "conflicting options: hostname and the UTS mode"),
        (&["--cgroupns", "bogus"], "--cgroupns: invalid CGROUP mode"),
        (
            &["--security-opt", "seccomp=/missing.json"],
            "opening seccomp profile (/missing.json) failed: open /missing.json: no such file or directory",
        ),
        (&["--security-opt", "bogus"], "Invalid --security-opt: \"bogus\""),
        (&["--security-opt", "bogus=1"], "invalid --security-opt 2: \"bogus=1\""),
        (&["--security-opt", "no-new-privileges:bogus"], "invalid --security-opt 2: \"no-new-privileges:bogus\""),
        (&["--oom-score-adj", "2000"], "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
        (&["--group-add", "bogus"], "Unable to find group bogus: no matching entries in group file"),
        (&["--shm-size", "abc"], "invalid size: 'abc'"),
    ];
    let before = leftovers(&b);
    for (flags, msg) in cases {
        let mut args = vec!["run", "--rm"];
        if !flags.contains(&"--network") {
            args.extend_from_slice(&["--network", "none"]);
        }
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let o = b.run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(code(&o), 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: want {msg:?}, got {err}");
    }
    assert_eq!(leftovers(&b), before, "a refused run leaves nothing");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
#[ignore = "needs root"]
fn wasm_containers_refuse_these_flags() {
    let b = Berth::new();
    berth_tests::require_root();
    // A rootfs whose entrypoint is a wasm module: dispatched to the wasm runtime.
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("w.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let module = b"\0asm\x01\0\0\0";
    let mut h = tar::Header::new_gnu();
    h.set_size(module.len() as u64);
    h.set_mode(0o755);
    h.set_cksum();
    tar.append_data(&mut h, "m.wasm", &module[..]).unwrap();
    tar.finish().unwrap();
    drop(tar);
    b.ok(&["import", "--change", r#"ENTRYPOINT ["/m.wasm"]"#, tar_path.to_str().unwrap(), "wimg"]);
    let before = leftovers(&b);
    for flags in [&["--cap-add", "NET_ADMIN"][..], &["--privileged"], &["--ulimit", "nofile=10"], &["--pid", "host"]] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.push("wimg");
        let o = b.run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        // Refused by the engine, as Docker's daemon refuses what it cannot do: `create` exits 1.
        assert_eq!(code(&o), 1, "{flags:?}: {err}");
        assert!(err.contains(&format!("{} does not apply to a wasm container", flags[0])), "{flags:?}: {err}");
    }
    assert_eq!(leftovers(&b), before, "a refused create leaves nothing");
    let id = b.ok(&["create", "wimg"]);
    let wasm = b.ok(&["ps", "-a", "-q", "--no-trunc", "--filter", "runtime=wasm"]);
    assert_eq!(wasm.trim(), id.trim(), "without these flags it is created, as a wasm container");
}
