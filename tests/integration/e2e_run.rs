//! End to end: the README demo, exec/cp/top/stats, a real pseudo-terminal, prune, and the
//! differential test of berth's runtime against runc and crun (what a probe inside sees).
//!
//! Privileged tier (root).

use berth_tests::{busybox_root, have};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
#[ignore = "needs root"]
fn readme_demo_detached_with_env_and_a_volume() {
    let b = busybox_root();
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "demo",
        "-e",
        "GREETING=hello from berth",
        "-v",
        "demo-data:/data",
        "busybox",
        "sh",
        "-c",
        "echo \"$GREETING\" > /data/greeting; echo written; exec sleep 60",
    ]);
    assert_eq!(id.trim().len(), 64);
    let t = Instant::now();
    while b.ok(&["logs", "demo"]) != "written\n" {
        assert!(t.elapsed() < Duration::from_secs(10), "no log line");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The volume outlives the container and is shared with the next one.
    b.ok(&["rm", "-f", "demo"]);
    assert_eq!(
        b.ok(&["run", "--rm", "-v", "demo-data:/in:ro", "busybox", "cat", "/in/greeting"]),
        "hello from berth\n"
    );
    assert!(b.ok(&["volume", "ls"]).contains("demo-data"));
    let o = b.run(&["volume", "rm", "demo-data"]);
    assert_eq!(code(&o), 0);
    // Anonymous volumes from -v /path go with rm -v; volume prune removes unused ones.
    let id = b.ok(&["run", "-d", "-v", "/anon", "busybox", "sleep", "60"]).trim().to_string();
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    b.ok(&["rm", "-f", "-v", &id]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.ok(&["volume", "create", "keep"]);
    b.ok(&["run", "--name", "left", "-v", "/anon2", "busybox", "true"]);
    b.ok(&["rm", "left"]);
    let out = b.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(b.ok(&["volume", "ls", "-q"]).trim(), "keep", "prune keeps named volumes unless --all");
    b.ok(&["volume", "prune", "-f", "--all"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
}

#[test]
#[ignore = "needs root"]
fn exec_cp_top_stats() {
    let b = busybox_root();
    b.ok(&["run", "-d", "--name", "box", "-e", "MAIN=1", "busybox", "sleep", "60"]);
    assert_eq!(b.ok(&["exec", "box", "sh", "-c", "echo $MAIN; hostname; id -u"]).lines().next(), Some("1"));
    let out = b.ok(&["exec", "-u", "nobody", "-w", "/tmp", "-e", "X=y", "box", "sh", "-c", "id -u; pwd; echo $X"]);
    assert_eq!(out, "65534\n/tmp\ny\n");
    let o = b.run(&["exec", "box", "sh", "-c", "exit 42"]);
    assert_eq!(code(&o), 42);
    let o = b.run(&["exec", "box", "no-such-binary"]);
    assert_eq!(code(&o), 127);
    // -i passes stdin.
    let mut c = b.cmd();
    c.args(["exec", "-i", "box", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"through stdin\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "through stdin\n");
    // -d returns at once; the process runs in the container.
    b.ok(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"]);
    let t = Instant::now();
    while b.run(&["exec", "box", "cat", "/tmp/d"]).stdout != b"detached\n" {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
    }
    // cp both ways, files and directories.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f.txt"), "file").unwrap();
    std::fs::create_dir(host.path().join("dir")).unwrap();
    std::fs::write(host.path().join("dir/inner"), "inner").unwrap();
    let hp = |p: &str| host.path().join(p).to_str().unwrap().to_string();
    b.ok(&["cp", &hp("f.txt"), "box:/tmp/"]);
    b.ok(&["cp", &hp("dir"), "box:/tmp/copied"]);
    assert_eq!(b.ok(&["exec", "box", "cat", "/tmp/f.txt", "/tmp/copied/inner"]), "fileinner");
    b.ok(&["cp", "box:/etc/passwd", &hp("passwd")]);
    assert!(std::fs::read_to_string(hp("passwd")).unwrap().starts_with("root:"));
    b.ok(&["cp", "box:/tmp/copied", &hp("back")]);
    assert_eq!(std::fs::read_to_string(hp("back/inner")).unwrap(), "inner");
    let o = b.run(&["cp", "box:/no/such/file", &hp("x")]);
    assert_ne!(code(&o), 0);
    // top lists the container's processes; stats has Docker's columns.
    let top = b.ok(&["top", "box"]);
    assert!(top.starts_with("UID") && top.contains("sleep 60"), "{top}");
    let stats = b.ok(&["stats", "--no-stream"]);
    assert!(stats.starts_with("CONTAINER ID   NAME"), "{stats}");
    assert!(stats.contains("box"), "{stats}");
    // cp works on a stopped container too (its overlay is mounted just for the copy).
    b.ok(&["stop", "-t", "0", "box"]);
    b.ok(&["cp", &hp("f.txt"), "box:/stopped.txt"]);
    b.ok(&["start", "box"]);
    assert_eq!(b.ok(&["exec", "box", "cat", "/stopped.txt"]), "file");
    let o = b.run(&["exec", "nonexistent", "true"]);
    assert_ne!(code(&o), 0);
    b.ok(&["rm", "-f", "box"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(b.root().to_str().unwrap()), "no mount left");
}

#[test]
#[ignore = "needs root"]
fn container_prune_and_the_container_group() {
    let b = busybox_root();
    b.ok(&["container", "create", "--name", "c1", "busybox", "true"]);
    b.ok(&["container", "run", "--name", "c2", "busybox", "true"]);
    b.ok(&["container", "run", "-d", "--name", "c3", "busybox", "sleep", "60"]);
    assert_eq!(b.ok(&["container", "ls", "-q"]).lines().count(), 1);
    assert_eq!(b.ok(&["container", "ls", "-aq"]).lines().count(), 3);
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:"), "{out}");
    assert_eq!(out.lines().filter(|l| l.len() == 64).count(), 2);
    assert_eq!(b.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "c3");
    b.ok(&["container", "rm", "-f", "c3"]);
}

fn openpty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let ws = nix::pty::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = nix::pty::openpty(Some(&ws), None).unwrap();
    (pty.master, pty.slave)
}

fn read_until(master: &mut std::fs::File, needle: &str, timeout: Duration) -> String {
    let mut acc = String::new();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    while !acc.contains(needle) {
        assert!(t.elapsed() < timeout, "no {needle:?} in {acc:?}");
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        if poll(&mut [PollFd::new(master.as_fd(), PollFlags::POLLIN)], PollTimeout::from(100u16)).unwrap_or(0) > 0 {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => acc.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => break,
            }
        }
    }
    acc
}

#[test]
#[ignore = "needs root"]
fn interactive_tty_has_size_and_ctrl_c() {
    let b = busybox_root();
    let (master, slave) = openpty(33, 101);
    let mut cmd = b.cmd();
    cmd.args(["run", "-it", "--rm", "--name", "tty", "busybox", "sh"]);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
    cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
    cmd.stderr(Stdio::from(slave));
    berth_sys::process::controlling_terminal_on_spawn(&mut cmd);
    let mut child = berth_tests::ChildGuard(cmd.spawn().unwrap());
    let mut m = std::fs::File::from(master);
    m.write_all(b"tty; stty size\n").unwrap();
    let out = read_until(&mut m, "33 101", Duration::from_secs(15));
    assert!(out.contains("/dev/pts/"), "{out}");
    // The window size follows the terminal.
    berth_sys::term::set_window_size(&m, 40, 120).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    m.write_all(b"stty size\n").unwrap();
    read_until(&mut m, "40 120", Duration::from_secs(10));
    // Ctrl-C reaches the process in the container (sleep dies, the shell goes on).
    m.write_all(b"sleep 30\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    m.write_all(b"\x03").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    m.write_all(b"echo after-$?\n").unwrap();
    read_until(&mut m, "after-130", Duration::from_secs(10));
    m.write_all(b"exit 5\n").unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "berth run -it did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(5));
}

/// What a probe inside the container reports: the same for every runtime.
const PROBE: &str = "hostname; id; echo $$; grep -E '^Cap(Bnd|Eff|Prm)' /proc/self/status; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; \
    cut -d' ' -f2,3 /proc/self/mounts | grep -vE '^/sys/fs/cgroup/' | sort; env | sort; ls /dev | sort; ls /sys/class/net; \
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
    cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; ulimit -n; umask";

/// Differences that are implementation details, not behaviour: how a path is masked (an
/// empty tmpfs or /dev/null, both unreadable), and crun's /dev/core symlink.
fn normalize(probe: &str) -> String {
    probe
        .lines()
        .filter(|l| *l != "core")
        .map(|l| {
            if l.starts_with("/proc/") || l.starts_with("/sys/") {
                l.replace("devtmpfs", "tmpfs")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs root"]
fn runtimes_agree_on_what_the_container_sees() {
    let b = busybox_root();
    let probe = |runtime: &str| {
        b.ok(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "--hostname",
            "probe",
            "-u",
            "nobody",
            "-e",
            "K=V",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            PROBE,
        ])
    };
    let ours = probe("berth");
    assert!(ours.contains("probe\nuid=65534(nobody)"), "{ours}");
    for rt in ["runc", "crun"] {
        if !have(rt) {
            eprintln!("{rt} not installed: skipped");
            continue;
        }
        let theirs = probe(rt);
        assert_eq!(normalize(&ours), normalize(&theirs), "berth's runtime and {rt} differ");
    }
}
