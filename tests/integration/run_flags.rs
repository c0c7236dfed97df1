//! Docker's everyday `run`/`create` flags (issue 13): each flag's effect seen from inside a
//! real busybox container or through `inspect`, and each bad input refused with Docker's
//! words and exit code, leaving nothing behind (no container, no name, no cidfile). The
//! expected messages and defaults were taken from Docker 20.10 (its `--pull` and `-q` from
//! Docker 28's CLI, the first to check and have them).
//!
//! Privileged tier: these start real containers and run as root.

use super::containers::{code, stderr, stdout};
use berth_tests::{busybox_root, fixtures_dir, have, Berth};
use serde_json::Value;
use std::time::{Duration, Instant};

fn inspect(b: &Berth, name: &str) -> Value {
    let v: Value = serde_json::from_str(&b.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

/// Nothing a refused create could leave: no container, no reserved name.
fn nothing_left(b: &Berth, what: &str) {
    assert_eq!(b.ok(&["ps", "-aq"]), "", "{what}: a container was left behind");
    let names = std::fs::read_dir(b.root().join("names")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(names, 0, "{what}: a name was left reserved");
}

#[test]
#[ignore = "needs root"]
fn bad_flags_and_values_are_refused_with_dockers_words() {
    let b = busybox_root();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--bogus", "busybox"], "unknown flag: --bogus\nSee 'berth run --help'.\n"),
        (&["run", "--cap-bogus=1", "busybox"], "unknown flag: --cap-bogus\nSee 'berth run --help'.\n"),
        (&["create", "--bogus", "busybox"], "unknown flag: --bogus\nSee 'berth create --help'.\n"),
        (&["run", "-Z", "busybox"], "unknown shorthand flag: 'Z' in -Z\nSee 'berth run --help'.\n"),
        (
            &["run", "-a", "bogus", "busybox"],
            "invalid argument \"bogus\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR\nSee 'berth run --help'.\n",
        ),
        (
            &["run", "-e", "=bad", "busybox"],
            "invalid argument \"=bad\" for \"-e, --env\" flag: invalid environment variable: =bad\nSee 'berth run --help'.\n",
        ),
        (
            &["run", "--link", "a:b:c", "busybox"],
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c",
        ),
        (&["run", "--memory-swap", "x", "busybox"], "invalid argument \"x\" for \"--memory-swap\" flag: invalid size: 'x'"),
        (
            &["run", "-c", "abc", "busybox"],
            "invalid argument \"abc\" for \"-c, --cpu-shares\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        (&["run", "--rm", "--restart", "always", "busybox", "true"], "Conflicting options: --restart and --rm"),
        (&["run", "--rm", "--restart", "on-failure:3", "busybox", "true"], "Conflicting options: --restart and --rm"),
        (
            &["run", "--pull", "bogus", "busybox", "true"],
            "invalid pull option: 'bogus': must be one of \"always\", \"missing\" or \"never\"",
        ),
        (&["run", "--pull", "never", "no-such-image"], "No such image: no-such-image"),
        (
            &["run", "--platform", "bogus", "busybox", "true"],
            "error parsing specified platform: \"bogus\": unknown operating system or architecture: invalid argument",
        ),
        (&["run", "--mac-address", "zz", "busybox", "true"], "zz is not a valid mac address"),
        (&["run", "--volumes-from", "nosuch", "busybox", "true"], "No such container: nosuch"),
        (&["run", "--link", "nosuch:al", "busybox", "true"], "could not get container for nosuch"),
        (&["run", "--network", "none", "--link", "x:y", "busybox", "true"], "links are only supported for user-defined networks"),
        (&["run", "--network", "host", "--link", "x:y", "busybox", "true"], "links are only supported for user-defined networks"),
        (
            &["run", "--memory", "64m", "--memory-swap", "32m", "busybox", "true"],
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            &["run", "--memory-swap", "64m", "busybox", "true"],
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            &["run", "--memory", "8m", "--memory-reservation", "10m", "busybox", "true"],
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (&["run", "--memory-reservation", "1m", "busybox", "true"], "Minimum memory reservation allowed is 6MB"),
        (&["run", "--cpu-shares", "-5", "busybox", "true"], "shares: invalid argument"),
        (&["run", "--cpuset-cpus", "1-0", "busybox", "true"], "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"),
        (&["run", "--cpuset-cpus", "0,,1", "busybox", "true"], "Invalid value 0,,1 for cpuset cpus: invalid format: 0,,1"),
        (&["run", "--cpuset-cpus", "4096", "busybox", "true"], "Requested CPUs are not available - requested 4096, available: "),
        (&["run", "--cpuset-mems", "x", "busybox", "true"], "Invalid value x for cpuset mems: invalid format: x"),
        (&["run", "--cpuset-mems", "99", "busybox", "true"], "Requested memory nodes are not available - requested 99"),
        (&["run", "--label-file", "/no/such/labels", "busybox", "true"], "open /no/such/labels: no such file or directory"),
        (&["run", "--runtime", "youki", "busybox", "true"], "unknown or invalid runtime name: youki"),
        (&["run", "--runtime", "io.containerd.wasmtime.v1", "busybox", "true"], "runs WebAssembly only"),
        (&["run", "--mount", "type=bind,src=/no/such/dir,dst=/x", "busybox", "true"], "bind source path does not exist: /no/such/dir"),
    ];
    for (args, want) in cases {
        let o = b.run(args);
        assert_eq!(code(&o), 125, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: want {want:?} in:\n{}", stderr(&o));
        nothing_left(&b, &format!("{args:?}"));
    }
    assert!(!std::path::Path::new("/no/such/dir").exists(), "--mount must not create its source");
    // Docker's CLI exits 1 (not 125) for -a with -d.
    let o = b.run(&["run", "-d", "-a", "stdout", "busybox", "true"]);
    assert_eq!((code(&o), stderr(&o).as_str()), (1, "Conflicting options: -a and -d\n"));
    nothing_left(&b, "-a -d");
    // Option parsing still stops at the image: the rest is the container's.
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "sh", "-c", "printf '[%s]' \"$@\"", "sh", "-e", "x", "--rm"]),
        "[-e][x][--rm]"
    );
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "--bogus"]), "--bogus\n");
}

#[test]
#[ignore = "needs root"]
fn cidfile_is_written_refused_when_present_and_removed_after_a_failed_create() {
    let b = busybox_root();
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let cids = cid.to_str().unwrap();
    let id = b.ok(&["create", "--cidfile", cids, "busybox", "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim(), "the file holds the id, no newline");
    assert_eq!(inspect(&b, id.trim())["HostConfig"]["ContainerIDFile"], cids);
    let o = b.run(&["run", "--cidfile", cids, "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains(&format!(
            "container ID file found, make sure the other container isn't running or delete {cids}"
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(b.ok(&["ps", "-aq", "--no-trunc"]).trim(), id.trim(), "no second container");
    std::fs::remove_file(&cid).unwrap();
    // A create that fails leaves no file.
    let o = b.run(&["run", "--cidfile", cids, "--memory-swap", "1g", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(!cid.exists(), "a failed create removes the cidfile");
    let o = b.run(&["run", "--cidfile", cids, "--pull", "never", "no-such-image"]);
    assert_eq!(code(&o), 125);
    assert!(!cid.exists(), "a failed create removes the cidfile");
    // run writes it too.
    let id2 = b.ok(&["run", "-d", "--cidfile", cids, "busybox", "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id2.trim());
}

#[test]
#[ignore = "needs root"]
fn attach_names_the_streams_relayed() {
    let b = busybox_root();
    let script = "echo out; echo err >&2; exit 3";
    let o = b.run(&["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script]);
    assert_eq!((code(&o), stdout(&o).as_str(), stderr(&o).as_str()), (3, "out\n", ""));
    let o = b.run(&["run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script]);
    assert_eq!((code(&o), stdout(&o).as_str(), stderr(&o).as_str()), (3, "", "err\n"));
    let o = b.run(&["run", "--rm", "-a", "stdout", "-a", "stderr", "busybox", "sh", "-c", script]);
    assert_eq!((code(&o), stdout(&o).as_str(), stderr(&o).as_str()), (3, "out\n", "err\n"));
    // Only stdin: nothing to show, so Docker prints the id (and still waits for the exit).
    let o = b.run(&["run", "-a", "stdin", "busybox", "sh", "-c", script]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id:?}");
    // Both streams went to the log all the same.
    let logs = b.run(&["logs", &id]);
    assert_eq!((stdout(&logs).as_str(), stderr(&logs).as_str()), ("out\n", "err\n"));
    let i = inspect(&b, &id);
    assert_eq!(
        (&i["Config"]["AttachStdin"], &i["Config"]["AttachStdout"], &i["Config"]["AttachStderr"]),
        (&Value::Bool(true), &Value::Bool(false), &Value::Bool(false))
    );
    let c = b.ok(&["create", "-a", "stdout", "busybox", "true"]);
    let i = inspect(&b, c.trim());
    assert_eq!((&i["Config"]["AttachStdout"], &i["Config"]["AttachStderr"]), (&Value::Bool(true), &Value::Bool(false)));
}

/// The container's own cgroup files, as it sees them (`/sys/fs/cgroup` is its cgroup), on
/// cgroup v1 (this host) or v2.
const CGROUP_PROBE: &str = r#"cd /sys/fs/cgroup
if [ -f memory/memory.limit_in_bytes ]; then
  echo "swap=$(cat memory/memory.memsw.limit_in_bytes) soft=$(cat memory/memory.soft_limit_in_bytes) oom=$(grep oom_kill_disable memory/memory.oom_control | cut -d' ' -f2) shares=$(cat cpu/cpu.shares) cpus=$(cat cpuset/cpuset.cpus) mems=$(cat cpuset/cpuset.mems)"
else
  echo "swap=$(cat memory.swap.max) soft=$(cat memory.low) oom=- shares=$(cat cpu.weight) cpus=$(cat cpuset.cpus) mems=$(cat cpuset.mems)"
fi"#;

#[test]
#[ignore = "needs root"]
fn resource_flags_reach_the_cgroup_under_every_runtime() {
    let b = busybox_root();
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists();
    let want = if v1 {
        "swap=9223372036854771712 soft=33554432 oom=1 shares=512 cpus=0 mems=0\n"
    } else {
        // memory.low for the reservation, cpu.weight 20 for 512 shares (runc's formula).
        "swap=max soft=33554432 oom=- shares=20 cpus=0 mems=0\n"
    };
    let flags = [
        "--memory",
        "64m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--oom-kill-disable",
    ];
    for runtime in ["berth", "runc", "crun"] {
        if runtime != "berth" && !have(runtime) {
            continue;
        }
        let mut args = vec!["run", "--rm", "--network", "none", "--runtime", runtime];
        args.extend(flags);
        args.extend(["busybox", "sh", "-c", CGROUP_PROBE]);
        assert_eq!(b.ok(&args), want, "under {runtime}");
    }
    // A swap limit above the memory limit.
    let o = b.ok(&[
        "run",
        "--rm",
        "--memory",
        "64m",
        "--memory-swap",
        "100m",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.swap.max",
    ]);
    assert_eq!(o, if v1 { "104857600\n" } else { "37748736\n" });
    // inspect names them as Docker does; defaults when not given.
    let mut args = vec!["create", "--name", "res"];
    args.extend(flags);
    args.extend(["busybox", "true"]);
    b.ok(&args);
    let hc = inspect(&b, "res")["HostConfig"].clone();
    assert_eq!(hc["Memory"], 64 << 20);
    assert_eq!(hc["MemorySwap"], -1);
    assert_eq!(hc["MemoryReservation"], 32 << 20);
    assert_eq!(hc["CpuShares"], 512);
    assert_eq!(hc["CpusetCpus"], "0");
    assert_eq!(hc["CpusetMems"], "0");
    assert_eq!(hc["OomKillDisable"], v1);
    b.ok(&["create", "--name", "plain", "busybox", "true"]);
    let hc = inspect(&b, "plain")["HostConfig"].clone();
    for (k, v) in [("MemorySwap", 0), ("MemoryReservation", 0), ("CpuShares", 0)] {
        assert_eq!(hc[k], v, "{k}");
    }
    assert_eq!((&hc["CpusetCpus"], &hc["OomKillDisable"]), (&Value::from(""), &Value::Bool(false)));
    assert!(hc.get("Annotations").is_none(), "omitted when unset, as Docker");
    // Docker's warnings for --oom-kill-disable without a memory limit; the run goes on.
    let o = b.run(&["run", "--rm", "--oom-kill-disable", "busybox", "true"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    if v1 {
        assert!(stderr(&o).contains(
            "WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous."
        ));
    }
}

#[test]
#[ignore = "needs root"]
fn links_resolve_on_the_default_bridge_and_on_a_user_network() {
    let b = busybox_root();
    b.ok(&["run", "-d", "--name", "db", "busybox", "sleep", "60"]);
    let o = b.ok(&[
        "run",
        "--rm",
        "--link",
        "db:d",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W2 d >/dev/null && echo alias-ok; ping -c1 -W2 db >/dev/null && echo name-ok; grep -w d /etc/hosts",
    ]);
    let db_ip = inspect(&b, "db")["NetworkSettings"]["IPAddress"].as_str().unwrap().to_string();
    let db_host = inspect(&b, "db")["Config"]["Hostname"].as_str().unwrap().to_string();
    assert_eq!(o, format!("alias-ok\nname-ok\n{db_ip}\td {db_host} db\n"));
    b.ok(&["create", "--name", "web", "--link", "db:d", "--link", "db", "busybox", "true"]);
    assert_eq!(inspect(&b, "web")["HostConfig"]["Links"], serde_json::json!(["/db:/web/d", "/db:/web/db"]));
    // A user-defined network: the link's alias resolves too; Docker keeps it on the endpoint.
    b.ok(&["network", "create", "rfnet"]);
    b.ok(&["run", "-d", "--name", "udb", "--network", "rfnet", "busybox", "sleep", "60"]);
    let o = b.ok(&[
        "run",
        "--rm",
        "--network",
        "rfnet",
        "--link",
        "udb:u",
        "--link",
        "absent:x",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W2 u >/dev/null && echo alias-ok; ping -c1 -W2 udb >/dev/null && echo name-ok",
    ]);
    assert_eq!(o, "alias-ok\nname-ok\n");
    b.ok(&["create", "--name", "uweb", "--network", "rfnet", "--link", "udb:u", "busybox", "true"]);
    let i = inspect(&b, "uweb");
    assert_eq!(i["HostConfig"]["Links"], Value::Null);
    assert_eq!(i["NetworkSettings"]["Networks"]["rfnet"]["Links"], serde_json::json!(["udb:u"]));
    // On the default bridge the linked container must be running when this one starts.
    b.ok(&["stop", "-t", "0", "db"]);
    let o = b.run(&["start", "web"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("Cannot link to a non running container: /db AS /web/d"), "{}", stderr(&o));
    let o = b.run(&["run", "--rm", "--link", "db:d", "busybox", "true"]);
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(stderr(&o).contains("Cannot link to a non running container: /db AS"), "{}", stderr(&o));
}

#[test]
#[ignore = "needs root"]
fn volumes_from_copies_mounts_read_only_or_not() {
    let b = busybox_root();
    let host = tempfile::tempdir().unwrap();
    let hp = host.path().to_str().unwrap();
    b.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        &format!("{hp}:/data"),
        "-v",
        "named:/named",
        "-v",
        "/anon",
        "--tmpfs",
        "/tt",
        "busybox",
        "true",
    ]);
    let probe = "for d in /data /named /anon; do touch $d/w 2>/dev/null && echo $d:rw || echo $d:ro; done; grep -c ' /tt ' /proc/mounts || true";
    assert_eq!(
        b.ok(&["run", "--rm", "--volumes-from", "src", "busybox", "sh", "-c", probe]),
        "/data:rw\n/named:rw\n/anon:rw\n0\n"
    );
    assert!(host.path().join("w").exists(), "the bind is the host directory itself");
    assert_eq!(
        b.ok(&["run", "--rm", "--volumes-from", "src:ro", "busybox", "sh", "-c", probe]),
        "/data:ro\n/named:ro\n/anon:ro\n0\n"
    );
    // The user's own mount at a destination wins.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("mine"), "").unwrap();
    let o = b.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "-v",
        &format!("{}:/data", other.path().display()),
        "busybox",
        "ls",
        "/data",
    ]);
    assert_eq!(o, "mine\n");
    let id = b.ok(&["create", "--volumes-from", "src:ro", "busybox", "true"]);
    let i = inspect(&b, id.trim());
    assert_eq!(i["HostConfig"]["VolumesFrom"], serde_json::json!(["src:ro"]));
    let mounts = i["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 3, "{mounts:?}");
    assert!(mounts.iter().all(|m| m["RW"] == false && m["Mode"] == ""), "{mounts:?}");
    let anon = inspect(&b, "src")["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/anon").unwrap()
        ["Name"]
        .as_str()
        .unwrap()
        .to_string();
    // Removing the borrower with -v leaves the volumes it borrowed.
    b.ok(&["rm", "-v", id.trim()]);
    assert!(b.ok(&["volume", "ls", "-q"]).contains(&anon), "the source's anonymous volume survives");
}

#[test]
#[ignore = "needs root"]
fn mac_address_annotations_and_label_files() {
    let b = busybox_root();
    let o =
        b.ok(&["run", "--rm", "--mac-address", "02:42:AC:11:00:99", "busybox", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(o, "02:42:ac:11:00:99\n");
    let dir = tempfile::tempdir().unwrap();
    let lf = dir.path().join("labels");
    std::fs::write(&lf, "# a comment\n\nteam=infra\nflag\nover=file\n").unwrap();
    let id = b.ok(&[
        "create",
        "--mac-address",
        "02:42:ac:11:00:98",
        "--annotation",
        "org.example/a=b",
        "--annotation",
        "bare",
        "--label-file",
        lf.to_str().unwrap(),
        "-l",
        "over=flag",
        "busybox",
        "true",
    ]);
    let i = inspect(&b, id.trim());
    assert_eq!(i["Config"]["MacAddress"], "02:42:ac:11:00:98");
    assert_eq!(i["HostConfig"]["Annotations"], serde_json::json!({"org.example/a": "b", "bare": ""}));
    assert_eq!(i["Config"]["Labels"], serde_json::json!({"team": "infra", "flag": "", "over": "flag"}));
    // The annotations reach the OCI runtime through the bundle.
    let spec: Value = serde_json::from_slice(
        &std::fs::read(b.root().join("containers").join(id.trim()).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["annotations"]["org.example/a"], "b");
    let plain = b.ok(&["create", "busybox", "true"]);
    assert!(inspect(&b, plain.trim())["Config"].get("MacAddress").is_none(), "omitted when unset, as Docker");
    std::fs::write(&lf, "bad key=1\n").unwrap();
    let o = b.run(&["create", "--label-file", lf.to_str().unwrap(), "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("poorly formatted environment: variable 'bad key' contains whitespaces"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs root"]
fn v_creates_a_missing_host_directory_and_resolves_relative_paths() {
    let b = busybox_root();
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = b.cmd().args(args).current_dir(cwd.path()).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let missing = cwd.path().join("new/deeper");
    let o = run(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/x", missing.display()),
        "busybox",
        "sh",
        "-c",
        "touch /x/made && echo ok",
    ]);
    assert_eq!(o, "ok\n");
    assert!(missing.join("made").exists());
    std::fs::create_dir(cwd.path().join("data")).unwrap();
    std::fs::write(cwd.path().join("data/f"), "from ./data\n").unwrap();
    std::fs::create_dir(cwd.path().join("sub")).unwrap();
    let o = run(&[
        "run",
        "--rm",
        "-v",
        "./data:/d:ro",
        "-v",
        "./rel-new:/n",
        "busybox",
        "sh",
        "-c",
        "cat /d/f; touch /n/x",
    ]);
    assert_eq!(o, "from ./data\n");
    assert!(cwd.path().join("rel-new/x").exists(), "a missing relative directory is made in the current one");
    let sub = b
        .cmd()
        .args(["run", "--rm", "-v", "../data:/d", "busybox", "cat", "/d/f"])
        .current_dir(cwd.path().join("sub"))
        .output()
        .unwrap();
    assert_eq!(stdout(&sub), "from ./data\n", "{}", stderr(&sub));
    let id = run(&["create", "-v", "./data:/d", "-v", "data:/named", "busybox", "true"]);
    let i = inspect(&b, id.trim());
    let data = cwd.path().join("data");
    assert_eq!(i["HostConfig"]["Binds"], serde_json::json!([format!("{}:/d", data.display()), "data:/named"]));
    let kinds: Vec<&str> = i["Mounts"].as_array().unwrap().iter().map(|m| m["Type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["bind", "volume"], "a bare name stays a named volume");
}

#[test]
#[ignore = "needs root"]
fn platform_pull_and_quiet() {
    let b = busybox_root();
    let host = berth_engine::platform::Platform::host().architecture;
    b.ok(&["run", "--rm", "--platform", &format!("linux/{host}"), "busybox", "true"]);
    b.ok(&["run", "--rm", "--platform", "linux", "busybox", "true"]);
    // A local image of another platform is not used: berth looks for the one asked for, as
    // Docker does, and the registry is not there.
    let port = berth_tests::free_port();
    let img = format!("127.0.0.1:{port}/bb");
    b.ok(&["tag", "busybox", &img]);
    let other = if host == "arm64" { "linux/amd64" } else { "linux/arm64" };
    let o = b.run(&["run", "--rm", "--platform", other, &img, "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains(&format!("Unable to find image '{img}:latest' locally")), "{}", stderr(&o));
    assert!(stderr(&o).contains("onnection refused"), "{}", stderr(&o));
    // -q: no pull output at all, only the error.
    let o = b.run(&["run", "-q", "--rm", "--platform", other, &img, "true"]);
    assert_eq!(code(&o), 125);
    assert!(!stderr(&o).contains("Unable to find image") && !stderr(&o).contains("Pulling"), "{}", stderr(&o));
    let o = b.run(&["run", "--pull", "never", "--rm", "--platform", other, &img, "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Unable to find image"), "{}", stderr(&o));
    // --pull always goes to the registry even for a local image.
    let o = b.run(&["run", "--pull", "always", "--rm", &img, "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("onnection refused"), "{}", stderr(&o));
    nothing_left(&b, "platform");
}

#[test]
#[ignore = "needs root"]
fn stop_timeout_is_honoured_by_stop() {
    let b = busybox_root();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--stop-timeout",
        "1",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 60 & wait",
    ]);
    assert_eq!(inspect(&b, "stubborn")["Config"]["StopTimeout"], 1);
    let t0 = Instant::now();
    b.ok(&["stop", "stubborn"]);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(6), "stop took {took:?}");
    assert_eq!(inspect(&b, "stubborn")["State"]["ExitCode"], 137);
}

#[test]
#[ignore = "needs root"]
fn publish_with_host_network_warns_and_runs() {
    let b = busybox_root();
    let o = b.run(&["run", "--rm", "-p", "8080:80", "--network", "host", "busybox", "echo", "ran"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "ran\n"), "{}", stderr(&o));
    assert_eq!(stderr(&o), "WARNING: Published ports are discarded when using host network mode\n");
}

#[test]
#[ignore = "needs root"]
fn wasm_runtime_names_select_the_wasm_runtime() {
    let b = busybox_root();
    let module = fixtures_dir().join("wasm/hello.wasm");
    b.ok(&["wasm", "package", module.to_str().unwrap(), "-t", "hello"]);
    for rt in
        ["io.containerd.wasmtime.v1", "io.containerd.wasmedge.v1", "io.containerd.spin.v2", "io.containerd.slight.v1"]
    {
        let o = b.ok(&["run", "--rm", "--runtime", rt, "hello"]);
        assert!(o.starts_with("hello from wasm"), "{rt}: {o}");
    }
    let id = b.ok(&["create", "--runtime", "io.containerd.wasmtime.v1", "hello"]);
    let i = inspect(&b, id.trim());
    assert_eq!(
        (&i["HostConfig"]["Runtime"], &i["Runtime"]),
        (&Value::from("io.containerd.wasmtime.v1"), &Value::from("wasm"))
    );
    assert!(b.ok(&["start", "-a", id.trim()]).starts_with("hello from wasm"));
    b.ok(&["rm", id.trim()]);
    let o = b.run(&["run", "--rm", "--runtime", "io.containerd.wasmer.v1", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("runtime io.containerd.wasmer.v1 runs WebAssembly only"), "{}", stderr(&o));
    nothing_left(&b, "wasm runtime, native image");
}

#[test]
#[ignore = "needs root"]
fn a_flag_given_twice_takes_its_last_value_and_lists_accumulate() {
    let b = busybox_root();
    // As Docker's CLI (pflag): the last value of a single-valued flag wins.
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "6m",
        "--memory",
        "70m",
        "-w",
        "/tmp",
        "-w",
        "/",
        "-e",
        "A=1",
        "-e",
        "B=2",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; pwd; echo $A$B",
    ]);
    assert_eq!(out, format!("{}\n/\n12\n", 70 * 1024 * 1024));
}
