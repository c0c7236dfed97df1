//! Docker's cgroup flags beyond the everyday ones (issue 13): CPU period, quota and real-time
//! budget, swappiness, kernel memory, block I/O weights and throttles, `--cgroup-parent`,
//! `--device-cgroup-rule`. Each effect is read back from the container's own cgroup files under
//! berth's runtime, runc and crun; `inspect` shows Docker's `HostConfig` names; bad values are
//! refused with Docker 20.10's words and exit 125, leaving no record and no cgroup.
//!
//! Privileged tier: these start real containers and run as root. This host is cgroup v1.

use super::containers::{code, stderr};
use berth_tests::{busybox_root, have, Berth};
use serde_json::{json, Value};
use std::path::Path;

fn inspect(b: &Berth, name: &str) -> Value {
    let v: Value = serde_json::from_str(&b.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

/// The block device the root file system is on, and its `major:minor`.
fn root_device() -> Option<(String, String)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dev = std::fs::metadata("/").ok()?.dev();
    let want = format!("{}:{}", nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    for e in std::fs::read_dir("/dev").ok()?.flatten() {
        let md = e.metadata().ok()?;
        if md.file_type().is_block_device()
            && format!("{}:{}", nix::sys::stat::major(md.rdev()), nix::sys::stat::minor(md.rdev())) == want
        {
            return Some((e.path().to_string_lossy().into_owned(), want));
        }
    }
    None
}

/// The container's own cgroup files, as it sees them (v1: each controller's directory).
const PROBE: &str = r#"cd /sys/fs/cgroup
echo "period=$(cat cpu/cpu.cfs_period_us) quota=$(cat cpu/cpu.cfs_quota_us) rt=$(cat cpu/cpu.rt_period_us) swappiness=$(cat memory/memory.swappiness)"
echo "rbps=$(cat blkio/blkio.throttle.read_bps_device) wbps=$(cat blkio/blkio.throttle.write_bps_device) riops=$(cat blkio/blkio.throttle.read_iops_device) wiops=$(cat blkio/blkio.throttle.write_iops_device)"
grep -x 'c 1:3 rwm' devices/devices.list
grep ':cpu:' /proc/self/cgroup | cut -d: -f3"#;

#[test]
#[ignore = "needs root"]
fn cgroup_flags_reach_the_cgroup_under_every_runtime() {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists() {
        eprintln!("skipped: needs cgroup v1 with real-time group scheduling");
        return;
    }
    let b = busybox_root();
    let (dev, nums) = root_device().expect("the root file system's block device");
    let parent = format!("berth-test-parent-{}", std::process::id());
    let rbps = format!("{dev}:1mb");
    let wbps = format!("{dev}:2mb");
    let riops = format!("{dev}:100");
    let wiops = format!("{dev}:200");
    let flags = [
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpu-rt-period",
        "100000",
        "--memory-swappiness",
        "10",
        "--device-read-bps",
        &rbps,
        "--device-write-bps",
        &wbps,
        "--device-read-iops",
        &riops,
        "--device-write-iops",
        &wiops,
        "--device-cgroup-rule",
        "c 1:3 rwm",
        "--cgroup-parent",
        &parent,
    ];
    for runtime in ["berth", "runc", "crun"] {
        if runtime != "berth" && !have(runtime) {
            continue;
        }
        let mut args = vec!["run", "--name", "cg", "--network", "none", "--runtime", runtime];
        args.extend(flags);
        args.extend(["busybox", "sh", "-c", PROBE]);
        let out = b.ok(&args);
        let id = inspect(&b, "cg")["Id"].as_str().unwrap().to_string();
        assert_eq!(
            out,
            format!(
                "period=50000 quota=25000 rt=100000 swappiness=10\n\
                 rbps={nums} 1048576 wbps={nums} 2097152 riops={nums} 100 wiops={nums} 200\n\
                 c 1:3 rwm\n/{parent}/{id}\n"
            ),
            "under {runtime}"
        );
        // rm removes the container's cgroup in every hierarchy; the parent stays, as Docker's.
        b.ok(&["rm", "cg"]);
        for h in ["cpu", "memory", "blkio", "devices", "pids"] {
            let dir = Path::new("/sys/fs/cgroup").join(h).join(&parent);
            assert!(dir.exists(), "{runtime}: {h} parent");
            assert!(!dir.join(&id).exists(), "{runtime}: {} left behind", dir.join(&id).display());
        }
    }
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join(&parent));
    }
    // A negative quota is no limit (the kernel's -1), as Docker sets it.
    let o = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cpu-quota",
        "-5",
        "busybox",
        "cat",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(o, "-1\n");
}

#[test]
#[ignore = "needs root"]
fn cgroup_flags_show_in_inspect_under_dockers_names() {
    let b = busybox_root();
    let (dev, _) = root_device().expect("the root file system's block device");
    let rbps = format!("{dev}:1mb");
    let wiops = format!("{dev}:100");
    let o = b.run(&[
        "create",
        "--name",
        "lim",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpu-rt-period",
        "100000",
        "--memory-swappiness",
        "10",
        "--kernel-memory",
        "50m",
        "--device-read-bps",
        &rbps,
        "--device-write-iops",
        &wiops,
        "--cgroup-parent",
        "mypar",
        "--device-cgroup-rule",
        "c 1:3 rwm",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o)
        .contains("WARNING: Specifying a kernel memory limit is deprecated and will be removed in a future release."));
    let hc = inspect(&b, "lim")["HostConfig"].clone();
    for (k, v) in [
        ("CpuPeriod", json!(50000)),
        ("CpuQuota", json!(25000)),
        ("CpuRealtimePeriod", json!(100000)),
        ("CpuRealtimeRuntime", json!(0)),
        ("MemorySwappiness", json!(10)),
        ("KernelMemory", json!(50 << 20)),
        ("KernelMemoryTCP", json!(0)),
        ("BlkioDeviceReadBps", json!([{"Path": dev, "Rate": 1 << 20}])),
        ("BlkioDeviceWriteIOps", json!([{"Path": dev, "Rate": 100}])),
        ("BlkioDeviceWriteBps", json!([])),
        ("CgroupParent", json!("mypar")),
        ("DeviceCgroupRules", json!(["c 1:3 rwm"])),
    ] {
        assert_eq!(hc[k], v, "{k}");
    }
    b.ok(&["create", "--name", "plain", "busybox", "true"]);
    let hc = inspect(&b, "plain")["HostConfig"].clone();
    for (k, v) in [
        ("CpuPeriod", json!(0)),
        ("MemorySwappiness", Value::Null),
        ("BlkioWeight", json!(0)),
        ("BlkioWeightDevice", json!([])),
        ("CgroupParent", json!("")),
        ("DeviceCgroupRules", Value::Null),
    ] {
        assert_eq!(hc[k], v, "{k}");
    }
    // No proportional I/O scheduler here: Docker discards the weights with a warning.
    if !Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        && !Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists()
    {
        let wd = format!("{dev}:200");
        let o = b.run(&[
            "create",
            "--name",
            "wt",
            "--blkio-weight",
            "300",
            "--blkio-weight-device",
            &wd,
            "busybox",
            "true",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stderr(&o).contains(
            "WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
        ));
        assert!(stderr(&o).contains("Weight-device discarded."));
        let hc = inspect(&b, "wt")["HostConfig"].clone();
        assert_eq!((&hc["BlkioWeight"], &hc["BlkioWeightDevice"]), (&json!(0), &json!([])));
    }
}

#[test]
#[ignore = "needs root"]
fn bad_cgroup_flags_are_refused_with_dockers_words() {
    let b = busybox_root();
    let parent = format!("berth-test-bad-{}", std::process::id());
    let cases: &[(&[&str], &str)] = &[
        (&["--cpus", "1", "--cpu-period", "50000"], "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (&["--cpus", "1", "--cpu-quota", "50000"], "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (
            &["--cpu-period", "500"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (
            &["--cpu-period", "2000000"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (&["--cpu-quota", "500"], "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (&["--memory-swappiness", "101"], "invalid value: 101. Valid memory swappiness range is 0-100"),
        (&["--memory-swappiness", "-2"], "invalid value: -2. Valid memory swappiness range is 0-100"),
        (
            &["--memory-swappiness", "abc"],
            "invalid argument \"abc\" for \"--memory-swappiness\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        (&["--kernel-memory", "1m"], "Minimum kernel memory limit allowed is 6MB"),
        (
            &["--blkio-weight", "70000"],
            "invalid argument \"70000\" for \"--blkio-weight\" flag: strconv.ParseUint: parsing \"70000\": value out of range",
        ),
        (
            &["--cpu-rt-period", "1000", "--cpu-rt-runtime", "5000"],
            "cpu real-time runtime cannot be higher than cpu real-time period",
        ),
        (
            &["--blkio-weight-device", "/dev/null:5"],
            "invalid argument \"/dev/null:5\" for \"--blkio-weight-device\" flag: invalid weight for device: /dev/null:5",
        ),
        (
            &["--blkio-weight-device", "null:300"],
            "invalid argument \"null:300\" for \"--blkio-weight-device\" flag: bad format for device path: null:300",
        ),
        (&["--device-read-bps", "/dev/null"], "invalid argument \"/dev/null\" for \"--device-read-bps\" flag: bad format: /dev/null"),
        (
            &["--device-write-bps", "/dev/null:abc"],
            "invalid rate for device: /dev/null:abc. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb",
        ),
        (
            &["--device-read-iops", "/dev/null:abc"],
            "invalid rate for device: /dev/null:abc. The correct format is <device-path>:<number>. Number must be a positive integer",
        ),
        (&["--device-write-iops", "/dev/nonexistent:10"], "stat /dev/nonexistent: no such file or directory"),
        (&["--device-cgroup-rule", "x 1:3 rwm"], "invalid device cgroup format 'x 1:3 rwm'"),
        (&["--device-cgroup-rule", "c 1:3"], "invalid device cgroup format 'c 1:3'"),
        (&["--cgroup-parent", "../x"], "--cgroup-parent \"../x\" must not contain '..'"),
        (&["--cgroup-parent", "a.slice:b:c"], "systemd slices are not supported"),
    ];
    for (flags, want) in cases {
        let mut args = Vec::new();
        if !flags.contains(&"--cgroup-parent") {
            args.extend(["--cgroup-parent", parent.as_str()]);
        }
        args.extend(*flags);
        refused(&b, &args, want);
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            for p in [parent.as_str(), "x"] {
                assert!(!h.path().join(p).exists(), "{args:?}: a cgroup was made in {}", h.path().display());
            }
        }
    }
}

/// What Docker's CLI checks itself (its `create` exits 125 there); its daemon checks the rest
/// (its `create` exits 1), as each was checked against dockerd 20.10.
const CHECKED_BY_THE_CLI: &[&str] = &[
    "invalid argument ",
    "invalid rate for device",
    "invalid value: ",
    "--userns: invalid USER mode",
    "invalid storage option",
];

/// `run` and `create` with `flags` both fail with `want` in the error (exit 125 from `run`;
/// from `create`, 125 or 1 as Docker's), leaving no container and no reserved name.
fn refused(b: &Berth, flags: &[&str], want: &str) {
    for cmd in ["run", "create"] {
        let mut args = vec![cmd];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        let o = b.run(&args);
        // A flag's value refused as it is parsed is the CLI's (pflag's `invalid argument`).
        let by_cli =
            CHECKED_BY_THE_CLI.iter().any(|p| want.starts_with(p)) || stderr(&o).starts_with("invalid argument ");
        let code_wanted = if cmd == "create" && !by_cli { 1 } else { 125 };
        assert_eq!(code(&o), code_wanted, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: want {want:?} in:\n{}", stderr(&o));
        assert_eq!(b.ok(&["ps", "-aq"]), "", "{args:?}: a container was left behind");
        let names = std::fs::read_dir(b.root().join("names")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(names, 0, "{args:?}: a name was left reserved");
    }
}

#[test]
#[ignore = "needs root"]
fn flags_for_features_this_host_lacks_are_accepted_or_refused_as_docker() {
    let b = busybox_root();
    // Accepted, as Docker accepts them here; recorded under Docker's names.
    let o = b.run(&[
        "run",
        "--name",
        "ok",
        "--network",
        "none",
        "--userns",
        "host",
        "--isolation",
        "default",
        "--volume-driver",
        "local",
        "--disable-content-trust",
        "--link-local-ip",
        "169.254.1.1",
        "busybox",
        "echo",
        "ran",
    ]);
    assert_eq!((code(&o), super::containers::stdout(&o).as_str()), (0, "ran\n"), "{}", stderr(&o));
    let hc = inspect(&b, "ok")["HostConfig"].clone();
    assert_eq!(
        (&hc["UsernsMode"], &hc["Isolation"], &hc["VolumeDriver"]),
        (&json!("host"), &json!("default"), &json!("local"))
    );
    b.ok(&["rm", "ok"]);
    b.ok(&["network", "create", "cgnet6"]);
    let cases: &[(&[&str], &str)] = &[
        (&["--userns", "foo"], "--userns: invalid USER mode"),
        (&["--storage-opt", "size=1G"], "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"),
        (&["--storage-opt", "bogus"], "invalid storage option"),
        (&["--isolation", "hyperv"], "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
        (&["--gpus", "all"], "could not select device driver \"\" with capabilities: [[gpu]]"),
        (
            &["--gpus", "bogus"],
            "invalid argument \"bogus\" for \"--gpus\" flag: invalid count (bogus): value must be either \"all\" or an integer: invalid syntax",
        ),
        (&["--ip6", "fd00::5"], "user specified IP address is supported on user defined networks only"),
        (
            &["--network", "cgnet6", "--ip6", "fd00::5"],
            "user specified IP address is supported only when connecting to networks with user configured subnets",
        ),
        (&["--ip6", "bogus"], "invalid IPv6 address: bogus"),
        (&["--link-local-ip", "bogus"], "Invalid link-local IP address: [bogus]"),
        (
            &["--network", "cgnet6", "--link-local-ip", "fe80::5"],
            "error setting interface \"eth0\" link local IPs to [fe80::5]: berth's networks are IPv4 only",
        ),
        (&["--volume-driver", "foo", "-v", "cgvol:/x"], "error looking up volume plugin foo: plugin \"foo\" not found"),
    ];
    for (flags, want) in cases {
        refused(&b, flags, want);
    }
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "", "no volume made for a refused create");
    // An IPv4 link-local address is added to the interface beside the network's own.
    let o = b.ok(&[
        "run",
        "--rm",
        "--network",
        "cgnet6",
        "--link-local-ip",
        "169.254.7.7",
        "busybox",
        "ip",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(o.contains("inet 169.254.7.7/16"), "{o}");
    b.ok(&["create", "--name", "ll", "--network", "cgnet6", "--link-local-ip", "169.254.7.8", "busybox", "true"]);
    b.ok(&["start", "ll"]);
    let ipam = &inspect(&b, "ll")["NetworkSettings"]["Networks"]["cgnet6"]["IPAMConfig"];
    assert_eq!(ipam, &json!({"LinkLocalIPs": ["169.254.7.8"]}));
    b.ok(&["rm", "-f", "ll"]);
    b.ok(&["network", "rm", "cgnet6"]);
}

#[test]
#[ignore = "needs root"]
fn create_rm_removes_the_container_when_it_exits_after_start() {
    let b = busybox_root();
    let id = b.ok(&["create", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; exit 3"]);
    let id = id.trim();
    assert_eq!(inspect(&b, id)["HostConfig"]["AutoRemove"], json!(true));
    let o = b.run(&["start", "-a", id]);
    assert_eq!((code(&o), super::containers::stdout(&o).as_str()), (3, "hi\n"), "{}", stderr(&o));
    let gone = |id: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if b.ok(&["ps", "-aq"]).is_empty() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!("{id} still there");
        false
    };
    assert!(gone(id));
    // Detached start, then a stop: removed too; and nothing of it in the cgroup tree.
    let id = b.ok(&["create", "--rm", "--network", "none", "busybox", "sleep", "60"]).trim().to_string();
    b.ok(&["start", &id]);
    b.ok(&["stop", "-t", "1", &id]);
    assert!(gone(&id));
    assert!(!Path::new("/sys/fs/cgroup/cpu/berth").join(&id).exists());
    let o = b.run(&["create", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("Conflicting options: --restart and --rm"), "{}", stderr(&o));
}
