//! `berth run` end to end through the binary: Docker's flags, exit codes and bad input.
//!
//! Privileged tier: these start real containers and run as root (as CI does).

use berth_tests::busybox_root;
use std::process::Output;

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
#[ignore = "needs root"]
fn run_prints_output_and_returns_the_exit_code() {
    let b = busybox_root();
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "hello"]), "hello\n");
    let o = b.run(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code(&o), 3);
    assert_eq!(stdout(&o), "out\n");
    assert!(stderr(&o).contains("err"));
    // --rm removed them both.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
#[ignore = "needs root"]
fn command_not_found_is_127_and_not_executable_is_126() {
    let b = busybox_root();
    let o = b.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-command"), "{}", stderr(&o));
    let o = b.run(&["run", "--rm", "--entrypoint", "/etc/passwd", "busybox"]);
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    // Without --rm the container stays, Created, with the error recorded (as Docker).
    let o = b.run(&["run", "--name", "nf", "busybox", "nope"]);
    assert_eq!(code(&o), 127);
    let st = b.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "nf"]);
    assert_eq!(st.trim(), "created 127");
    b.ok(&["rm", "nf"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
#[ignore = "needs root"]
fn missing_image_and_bad_flags_are_125() {
    let b = busybox_root();
    let o = b.run(&["run", "--rm", "--pull", "never", "no-such-image"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    // A registry that is not there: the pull fails, berth says so, 125.
    let port = berth_tests::free_port();
    let img = format!("127.0.0.1:{port}/nope:latest");
    let o = b.run(&["run", "--rm", &img]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("Unable to find image"), "{}", stderr(&o));
    for bad in [
        vec!["run", "--memory", "lots", "busybox", "true"],
        vec!["run", "--restart", "sometimes", "busybox", "true"],
        vec!["run", "--cpus", "many", "busybox", "true"],
        vec!["run", "--stop-signal", "SIGNOPE", "busybox", "true"],
        vec!["run", "--mount", "type=nfs,target=/x", "busybox", "true"],
        vec!["run", "--no-such-flag", "busybox", "true"],
    ] {
        let o = b.run(&bad);
        assert_eq!(code(&o), 125, "{bad:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "", "nothing created by bad input");
}

#[test]
#[ignore = "needs root"]
fn nonexistent_bind_source_is_refused_cleanly() {
    let b = busybox_root();
    // `--mount` refuses a missing source (`-v` creates it, as Docker: see run_flags.rs).
    let o = b.run(&["run", "--rm", "--mount", "type=bind,src=/no/such/host/path,dst=/data", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("/no/such/host/path"), "{}", stderr(&o));
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(!b.root().join("names").read_dir().map(|mut d| d.next().is_some()).unwrap_or(false));
}

#[test]
#[ignore = "needs root"]
fn name_in_use_is_a_conflict() {
    let b = busybox_root();
    let id = b.ok(&["create", "--name", "web", "busybox", "true"]);
    let o = b.run(&["run", "--name", "web", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("\"/web\" is already in use"), "{}", stderr(&o));
    assert!(stderr(&o).contains(id.trim()));
    b.ok(&["rm", "web"]);
    b.ok(&["run", "--rm", "--name", "web", "busybox", "true"]);
}

#[test]
#[ignore = "needs root"]
fn env_workdir_user_hostname_and_etc_files() {
    let b = busybox_root();
    let envf = b.root().join("env.list");
    std::fs::write(&envf, "# comment\nFROM_FILE=yes\n\nFOO=from-file\n").unwrap();
    let out = b.ok(&[
        "run",
        "--rm",
        "--env-file",
        envf.to_str().unwrap(),
        "-e",
        "FOO=bar",
        "-e",
        "HOME",
        "-w",
        "/tmp/newdir",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $FOO $FROM_FILE; pwd; hostname; cat /etc/hostname; echo $PATH; echo $HOSTNAME",
    ]);
    let home = std::env::var("HOME").unwrap_or_default();
    let _ = home;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bar yes");
    assert_eq!(lines[1], "/tmp/newdir");
    assert_eq!(lines[2], "box");
    assert_eq!(lines[3], "box");
    assert_eq!(lines[4], "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    assert_eq!(lines[5], "box");
    assert_eq!(
        b.ok(&["run", "--rm", "-u", "nobody", "busybox", "id"]).trim(),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
    );
    assert_eq!(b.ok(&["run", "--rm", "-u", "1234:0", "busybox", "id", "-u"]).trim(), "1234");
    assert!(b.ok(&["run", "--rm", "busybox", "cat", "/etc/hosts"]).contains("localhost"));
    assert!(b.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]).contains("nameserver"));
    let o = b.run(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("unable to find user nosuchuser"), "{}", stderr(&o));
    // The default hostname is the short id.
    let id = b.ok(&["run", "-d", "busybox", "hostname"]).trim().to_string();
    assert_eq!(id.len(), 64);
    b.ok(&["wait", &id]);
    assert_eq!(b.ok(&["logs", &id]).trim(), &id[..12]);
    b.ok(&["rm", &id]);
}

#[test]
#[ignore = "needs root"]
fn isolation_matches_docker_defaults() {
    let b = busybox_root();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo $$; grep CapBnd /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status; ls /sys/class/net; cat /proc/kcore | wc -c",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "pid namespace");
    assert_eq!(lines[1].split_whitespace().nth(1), Some("00000000a80425fb"), "Docker's default capabilities");
    assert!(lines[2].ends_with('1'), "no_new_privs");
    assert!(lines[3].ends_with('2'), "seccomp filter");
    assert_eq!(lines[4], "lo", "--network none: loopback only");
    assert_eq!(lines[5], "0", "/proc/kcore is masked");
    let o = b.run(&["run", "--rm", "busybox", "sh", "-c", "echo x > /proc/sys/kernel/hostname"]);
    assert_ne!(code(&o), 0, "/proc/sys is read-only");
    // Host network: the host's interfaces.
    let out = b.ok(&["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
    assert!(out.lines().count() >= 1);
}

#[test]
#[ignore = "needs root"]
fn binds_volumes_tmpfs_and_read_only() {
    let b = busybox_root();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from host").unwrap();
    let hp = host.path().to_str().unwrap();
    let out = b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{hp}:/h"),
        "busybox",
        "sh",
        "-c",
        "cat /h/in.txt; echo out > /h/out.txt",
    ]);
    assert_eq!(out, "from host");
    assert_eq!(std::fs::read_to_string(host.path().join("out.txt")).unwrap(), "out\n");
    let o = b.run(&["run", "--rm", "-v", &format!("{hp}:/h:ro"), "busybox", "touch", "/h/x"]);
    assert_ne!(code(&o), 0, "ro bind");
    // A named volume starts with the image's content at the mount path, and persists.
    let out = b.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd | head -1; echo kept > /etc/mine",
    ]);
    assert_eq!(out.trim(), "root:x:0:0:root:/root:/bin/sh");
    assert_eq!(
        b.ok(&["run", "--rm", "--mount", "type=volume,source=etcvol,target=/data", "busybox", "cat", "/data/mine"]),
        "kept\n"
    );
    assert!(b.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "etcvol"));
    let insp = b.ok(&["volume", "inspect", "etcvol"]);
    let v: serde_json::Value = serde_json::from_str(&insp).unwrap();
    assert_eq!(v[0]["Driver"], "local");
    assert!(v[0]["Mountpoint"].as_str().unwrap().ends_with("volumes/etcvol/_data"));
    b.ok(&["volume", "rm", "etcvol"]);
    // tmpfs and a read-only rootfs.
    let out = b.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/a && echo ok; touch /nope 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "ok\nro\n");
    let out = b.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs"), "{out}");
}

#[test]
#[ignore = "needs root"]
fn detached_ps_logs_inspect() {
    let b = busybox_root();
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "sleeper",
        "--label",
        "tier=test",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = b.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains(&id[..12]) && ps.contains("sleeper") && ps.contains("Up "), "{ps}");
    assert_eq!(b.ok(&["ps", "-q", "--filter", "label=tier=test"]).trim(), &id[..12]);
    assert_eq!(b.ok(&["ps", "-q", "--filter", "name=nomatch"]).trim(), "");
    let j: serde_json::Value = serde_json::from_str(b.ok(&["ps", "--format", "json"]).lines().next().unwrap()).unwrap();
    assert_eq!(j["Names"], "sleeper");
    assert_eq!(j["Runtime"], "linux");
    for _ in 0..100 {
        if b.ok(&["logs", "sleeper"]) == "started\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(b.ok(&["logs", &id[..6]]), "started\n");
    let insp: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "sleeper"])).unwrap();
    let c = &insp[0];
    assert_eq!(c["Id"], id);
    assert_eq!(c["Name"], "/sleeper");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["State"]["OOMKilled"], false);
    assert_eq!(c["Runtime"], "linux");
    assert_eq!(c["Config"]["Labels"]["tier"], "test");
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge"); // Docker's default network
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    // The log is Docker's json-file format.
    let log = std::fs::read_to_string(c["LogPath"].as_str().unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "started\n");
    assert_eq!(first["stream"], "stdout");
    b.ok(&["rm", "-f", "sleeper"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}
