//! Breakouts through the runtime's own processes, attempted from inside a container, as root
//! (issue 11, items 3, 4, 6, 8, 12): hijacking an `exec` child before it is confined (ptrace,
//! its /proc descriptors), the caller's descriptors and terminal reaching the container,
//! overwriting the berth binary through /proc/<pid>/exe, a killed shim leaving its container
//! behind, and the binary's layout (PIE).
//!
//! The attacker in the container is a small static C program compiled at test time (busybox
//! has no ptrace tool) and bind-mounted in read-only. Every test takes one lock: some count the
//! machine's processes, mounts and cgroups.

use berth_tests::{berth_bin, busybox_root, have, Berth, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The attacker: for `argv[1]` seconds, scans /proc for berth's own processes (comm "berth":
/// an exec child or init before it execs the container's program) and for each tries to read
/// its descriptors, to open its executable for writing, and to PTRACE_ATTACH it; logs every
/// success to `argv[2]`, and at the end how many berth processes it saw.
/// What both attackers share: headers, whether a process's name starts with a prefix, their log.
const PROC_C: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int comm_is(int pid, const char *prefix) {
    char p[64], comm[64] = {0};
    snprintf(p, sizeof p, "/proc/%d/comm", pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return 0;
    if (read(fd, comm, sizeof comm - 1) < 0) comm[0] = 0;
    close(fd);
    return strncmp(comm, prefix, strlen(prefix)) == 0;
}

/* The attacker's log (argv[2]), appended to and unbuffered so the test reads every line. */
static FILE *open_log(const char *path) {
    FILE *log = fopen(path, "a");
    if (log) setvbuf(log, NULL, _IONBF, 0);
    return log;
}

/* Whether pid still runs berth's code (an exec that completed makes a hit legitimate). */
static int is_berth(int pid) { return comm_is(pid, "berth"); }
"#;

const TRACER_C: &str = r#"
int main(int argc, char **argv) {
    int secs = atoi(argv[1]);
    FILE *log = open_log(argv[2]);
    if (!log) return 1;
    pid_t self = getpid();
    time_t end = time(NULL) + secs;
    long scans = 0, seen = 0;
    fprintf(log, "START\n");
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 1 || pid == self || !is_berth(pid)) continue;
            seen++;
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/fd", pid);
            DIR *fdd = opendir(p);
            struct dirent *f;
            while (fdd && (f = readdir(fdd))) {
                if (f->d_name[0] == '.') continue;
                char l[128], t[512];
                snprintf(l, sizeof l, "/proc/%d/fd/%s", pid, f->d_name);
                ssize_t n = readlink(l, t, sizeof t - 1);
                if (n > 0 && is_berth(pid)) { t[n] = 0; fprintf(log, "HIT-FD %d %s %s\n", pid, f->d_name, t); }
            }
            if (fdd) closedir(fdd);
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int w = open(p, O_WRONLY);
            if (w >= 0) { fprintf(log, "HIT-EXE-WRITABLE %d\n", pid); close(w); }
            int x = open(p, O_PATH);
            if (x >= 0) { if (is_berth(pid)) fprintf(log, "HIT-EXE-OPENED %d\n", pid); close(x); }
            /* SEIZE + INTERRUPT: no SIGSTOP left behind for a process that exec'd meanwhile. */
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
                ptrace(PTRACE_INTERRUPT, pid, 0, 0);
                waitpid(pid, NULL, __WALL);
                if (is_berth(pid)) fprintf(log, "HIT-ATTACHED %d\n", pid);
                ptrace(PTRACE_DETACH, pid, 0, 0);
            }
        }
        if (d) closedir(d);
        scans++;
    }
    fprintf(log, "DONE scans=%ld seen=%ld\n", scans, seen);
    return 0;
}
"#;

/// Compiles a C program statically into `dir` (gcc is part of the test machine's toolchain).
fn compile(dir: &Path, name: &str, src: &str) -> Option<PathBuf> {
    if !have("gcc") {
        eprintln!("skipping: no gcc to build the in-container attacker");
        return None;
    }
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, format!("{PROC_C}{src}")).unwrap();
    let out = dir.join(name);
    let o = Command::new("gcc").args(["-static", "-O1", "-o"]).arg(&out).arg(&c).output().unwrap();
    assert!(o.status.success(), "gcc: {}", String::from_utf8_lossy(&o.stderr));
    Some(out)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` (output discarded); its status, or a failed test (and the process killed) if it
/// takes longer than `limit`.
fn status_within(mut cmd: Command, limit: Duration) -> std::process::ExitStatus {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut c = ChildGuard(cmd.spawn().unwrap());
    let t = Instant::now();
    loop {
        if let Some(st) = c.0.try_wait().unwrap() {
            return st;
        }
        assert!(t.elapsed() < limit, "{cmd:?} still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `berth` command whose child gets `fd` (a host directory) on descriptor 9, as
/// `berth exec c true 9</host/dir` would.
fn with_fd9(mut cmd: Command, dir: &Path) -> Command {
    let f = std::fs::File::open(dir).unwrap();
    let raw = std::os::fd::IntoRawFd::into_raw_fd(f);
    berth_sys::process::pass_fd_on_spawn(&mut cmd, raw, 9);
    cmd
}

/// Item 3: a process in the container races every `berth exec` child (attach, read its
/// descriptors, open its executable) and gets nothing; the exec'd process is confined; the
/// caller's extra descriptor never reaches the container.
#[test]
#[ignore = "needs root"]
fn exec_child_cannot_be_hijacked() {
    let _g = serial();
    let b = busybox_root();
    let tools = tempfile::tempdir().unwrap();
    let Some(_) = compile(tools.path(), "tracer", TRACER_C) else { return };
    let secret = tempfile::Builder::new().prefix("hostsecret-").tempdir().unwrap();
    std::fs::write(secret.path().join("key"), "host secret").unwrap();
    let vol = format!("{}:/t:ro", tools.path().display());
    b.ok(&["run", "-d", "--name", "box", "--network", "none", "-v", &vol, "busybox", "sleep", "1000"]);
    b.ok(&["exec", "-d", "box", "/t/tracer", "12", "/tmp/log"]);
    wait_until("the tracer to start", Duration::from_secs(10), || {
        b.run(&["exec", "box", "cat", "/tmp/log"]).stdout.starts_with(b"START")
    });
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed() < Duration::from_secs(8) {
        let mut cmd = with_fd9(b.cmd(), secret.path());
        cmd.args(["exec", "box", "true"]);
        let st = status_within(cmd, Duration::from_secs(20));
        assert_eq!(st.code(), Some(0));
        n += 1;
    }
    wait_until("the tracer to finish", Duration::from_secs(15), || {
        String::from_utf8_lossy(&b.run(&["exec", "box", "cat", "/tmp/log"]).stdout).contains("DONE")
    });
    let log = b.ok(&["exec", "box", "cat", "/tmp/log"]);
    eprintln!("{n} execs; tracer log tail: {:?}", log.lines().last());
    let seen: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("DONE ").and_then(|r| r.split("seen=").nth(1)))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(seen > 0, "the tracer never saw an exec child: the test proves nothing\n{log}");
    let hits: Vec<&str> = log.lines().filter(|l| l.starts_with("HIT-")).collect();
    assert!(hits.is_empty(), "exec children reached before they were confined:\n{}", hits.join("\n"));
    // The exec'd process runs confined, and without the caller's descriptor 9.
    let st = b.ok(&["exec", "box", "grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"]);
    assert!(st.contains("NoNewPrivs:\t1") && st.contains("Seccomp:\t2"), "{st}");
    let mut cmd = with_fd9(b.cmd(), secret.path());
    cmd.args(["exec", "box", "ls", "-l", "/proc/self/fd/"]);
    let o = cmd.output().unwrap();
    let fds = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !fds.contains("hostsecret") && !fds.contains(" 9 -> "), "{fds}");
    b.ok(&["rm", "-f", "box"]);
}

/// Processes whose command line is exactly `args` (a container's marker command).
fn processes(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want)
                && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
        })
        .collect()
}

/// What a root owns on the machine: mount lines under it, berth cgroup directories of its
/// containers, and its shims.
fn footprint(root: &Path) -> (usize, usize, usize) {
    let r = root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&r)).count();
    let ids: Vec<String> = std::fs::read_dir(root.join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut cgroups = 0;
    let mut hierarchies: Vec<PathBuf> = vec!["/sys/fs/cgroup".into()];
    hierarchies.extend(std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()));
    for h in &hierarchies {
        cgroups += ids.iter().filter(|id| h.join("berth").join(id).is_dir()).count();
    }
    (mounts, cgroups, shims_of(root).len())
}

/// The parent of `pid` (0 when gone).
fn ppid(pid: i32) -> i32 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    st.rfind(')').and_then(|i| st[i + 2..].split(' ').nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The pids of the shims serving `root`.
fn shims_of(root: &Path) -> Vec<i32> {
    let r = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let a: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            a.len() > 2 && a[1] == b"shim" && a[2] == r.as_bytes()
        })
        .collect()
}

/// Item 8, killed while the container runs: its processes die with the shim at once, before
/// any other berth command looks; the next command records the end and cleans up.
#[test]
#[ignore = "needs root"]
fn container_dies_with_its_shim() {
    let _g = serial();
    let b = busybox_root();
    let before = footprint(b.root());
    b.ok(&["run", "-d", "--name", "sup", "--network", "none", "busybox", "sleep", "31337"]);
    assert_eq!(processes(&["sleep", "31337"]).len(), 1);
    let shims = shims_of(b.root());
    assert_eq!(shims.len(), 1);
    let _ = berth_sys::process::send_signal(shims[0], libc::SIGKILL);
    wait_until("the container to die with its shim", Duration::from_secs(3), || {
        processes(&["sleep", "31337"]).is_empty()
    });
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    b.ok(&["rm", "sup"]);
    assert_eq!(footprint(b.root()), before, "mounts, cgroups, shims");
}

/// Item 8 for wasm: a detached guest process (forked by the shim, as a native init is) dies
/// with its shim too, instead of spinning on unsupervised.
#[test]
#[ignore = "needs root"]
fn wasm_guest_dies_with_its_shim() {
    let _g = serial();
    berth_tests::require_root();
    let b = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("spin.wat");
    std::fs::write(&wat, "(module (memory 1) (func (export \"_start\") (loop $spin (br $spin))))").unwrap();
    b.ok(&["wasm", "package", wat.to_str().unwrap(), "-t", "spin"]);
    let before = footprint(b.root());
    let id = b.ok(&["run", "-d", "spin"]).trim().to_string();
    let guest: i32 = b.ok(&["inspect", "-f", "{{.State.Pid}}", &id]).trim().parse().unwrap();
    assert!(Path::new(&format!("/proc/{guest}")).exists());
    // The guest process is forked from the shim without an exec, so it bears the shim's
    // command line too: the shim is the one whose parent is not a shim.
    let both = shims_of(b.root());
    let shim = both.iter().copied().find(|p| !both.contains(&ppid(*p))).expect("the shim");
    assert!(both.contains(&guest) || both.len() == 1, "{both:?} {guest}");
    let _ = berth_sys::process::send_signal(shim, libc::SIGKILL);
    wait_until("the wasm guest to die with its shim", Duration::from_secs(3), || {
        std::fs::read_to_string(format!("/proc/{guest}/stat")).map(|s| s.contains(") Z ")).unwrap_or(true)
    });
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    b.ok(&["rm", &id]);
    assert_eq!(footprint(b.root()), before, "mounts, cgroups, shims");
}

/// Item 8, killed while `run -d` waits for the start: the CLI fails promptly (125) instead of
/// hanging, and nothing of the container stays running (no init blocked on its exec fifo).
#[test]
#[ignore = "needs root"]
fn run_fails_promptly_when_its_shim_dies() {
    let _g = serial();
    let b = busybox_root();
    let before = footprint(b.root());
    let mut early = 0;
    for (i, delay_us) in [0u64, 1000, 5000, 10_000, 20_000, 40_000, 80_000, 150_000].into_iter().enumerate() {
        let marker = format!("{}", 40000 + i);
        let mut cli = b.cmd();
        cli.args(["run", "-d", "--network", "none", "busybox", "sleep", &marker]);
        cli.stdout(Stdio::null()).stderr(Stdio::null());
        let mut cli = ChildGuard(cli.spawn().unwrap());
        let t = Instant::now();
        let shim = loop {
            if let Some(&p) = shims_of(b.root()).first() {
                break Some(p);
            }
            if cli.0.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(10) {
                break None;
            }
        };
        let Some(shim) = shim else { panic!("no shim appeared (iteration {i})") };
        std::thread::sleep(Duration::from_micros(delay_us));
        // The shim itself, not a child it forked that still bears its command line.
        let now = shims_of(b.root());
        let shim = now.iter().copied().find(|p| !now.contains(&ppid(*p))).unwrap_or(shim);
        let seen: Vec<String> = now
            .iter()
            .map(|p| {
                format!(
                    "{p} ppid {} comm {}",
                    ppid(*p),
                    std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default().trim()
                )
            })
            .collect();
        let _ = berth_sys::process::send_signal(shim, libc::SIGKILL);
        let t = Instant::now();
        let st = loop {
            if let Some(st) = cli.0.try_wait().unwrap() {
                break st;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "`run -d` still waits for a dead shim (iteration {i})");
            std::thread::sleep(Duration::from_millis(10));
        };
        if !st.success() {
            early += 1;
            assert_eq!(st.code(), Some(125), "iteration {i}");
        }
        let t = Instant::now();
        while !processes(&["sleep", &marker]).is_empty() {
            if t.elapsed() > Duration::from_secs(3) {
                let left: Vec<String> = processes(&["sleep", &marker])
                    .iter()
                    .map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default())
                    .collect();
                panic!(
                    "iteration {i} (CLI {st}): the container outlived its shim {shim} (of {seen:?}):\n{}",
                    left.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    eprintln!("{early} of 8 kills landed before the container started");
    let ids = b.ok(&["ps", "-aq"]);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.lines());
    if args.len() > 2 {
        b.ok(&args);
    }
    assert_eq!(footprint(b.root()), before, "mounts, cgroups, shims");
}

/// Item 6: `berth exec` without `-t`, run from a terminal, gives the container's process
/// pipes, never the terminal itself: a background process left behind in the container cannot
/// read what the user types next at the host shell.
#[test]
#[ignore = "needs root"]
fn exec_does_not_hand_over_the_callers_terminal() {
    let _g = serial();
    let b = busybox_root();
    b.ok(&["run", "-d", "--name", "term", "--network", "none", "busybox", "sleep", "1000"]);
    let pty = nix::pty::openpty(None, None).unwrap();
    let (master, slave) = (pty.master, pty.slave);
    for interactive in [false, true] {
        let mut cmd = b.cmd();
        cmd.arg("exec");
        if interactive {
            cmd.arg("-i");
        }
        cmd.args(["term", "sh", "-c", "sleep 30303 & echo started"]);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
        cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
        cmd.stderr(Stdio::from(slave.try_clone().unwrap()));
        // The pty is its terminal.
        berth_sys::process::controlling_terminal_on_spawn(&mut cmd);
        let t = Instant::now();
        let mut child = ChildGuard(cmd.spawn().unwrap());
        let st = loop {
            if let Some(st) = child.0.try_wait().unwrap() {
                break st;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "exec did not return");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(st.success());
        let mut out = vec![0u8; 4096];
        let n = nix_read(&master, &mut out);
        assert!(String::from_utf8_lossy(&out[..n]).contains("started"), "the output still reaches the caller");
        // The background process, seen from the host: its stdio are pipes (or /dev/null).
        let bg = processes(&["sleep", "30303"]);
        assert_eq!(bg.len(), 1, "the background process runs on");
        for fd in 0..3 {
            let l = std::fs::read_link(format!("/proc/{}/fd/{fd}", bg[0])).unwrap();
            let l = l.to_string_lossy();
            assert!(l.starts_with("pipe:") || l == "/dev/null", "-i {interactive}: fd {fd} is {l}");
        }
        let _ = berth_sys::process::send_signal(bg[0], libc::SIGKILL);
        wait_until("the background process to go", Duration::from_secs(5), || {
            processes(&["sleep", "30303"]).is_empty()
        });
    }
    b.ok(&["rm", "-f", "term"]);
}

fn nix_read(fd: &std::os::fd::OwnedFd, buf: &mut [u8]) -> usize {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::{AsFd, AsRawFd};
    if poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], PollTimeout::from(2000u16)).unwrap_or(0) <= 0 {
        return 0;
    }
    nix::unistd::read(fd.as_raw_fd(), buf).unwrap_or(0)
}

/// The overwriter (CVE-2019-5736): for `argv[1]` seconds, takes an O_PATH handle on the
/// executable of every berth process it can see (comm "berth", or "exe" for one exec'd through
/// /proc/self/exe), and keeps trying to reopen each for writing (which works once no process
/// runs that file any more); on success it overwrites the start of the file. Logs to `argv[2]`.
const OVERWRITER_C: &str = r#"
int main(int argc, char **argv) {
    int secs = atoi(argv[1]);
    FILE *log = open_log(argv[2]);
    if (!log) return 1;
    int fds[256], held = 0, seen[4096] = {0};
    time_t end = time(NULL) + secs;
    fprintf(log, "START\n");
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 1 || pid >= 4096 || pid == getpid() || seen[pid]) continue;
            if (!is_berth(pid) && !comm_is(pid, "exe")) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int x = open(p, O_PATH);
            if (x >= 0 && held < 256) { fds[held++] = x; seen[pid] = 1; fprintf(log, "HANDLE %d\n", pid); }
        }
        if (d) closedir(d);
        for (int i = 0; i < held; i++) {
            char p[64];
            snprintf(p, sizeof p, "/proc/self/fd/%d", fds[i]);
            int w = open(p, O_WRONLY);
            if (w >= 0) {
                ssize_t n = pwrite(w, "PWNED", 5, 0);
                fprintf(log, "HIT-WROTE %zd\n", n);
                close(w);
            }
        }
        usleep(20000);
    }
    fprintf(log, "DONE held=%d\n", held);
    return 0;
}
"#;

/// Item 4: a container cannot overwrite the berth binary through /proc/<pid>/exe of a berth
/// process (an exec child, or berth itself exec'd in the container as `/proc/self/exe`), even
/// once its shim is gone. Attempted against a copy of the binary, which must stay unchanged.
#[test]
#[ignore = "needs root"]
fn binary_cannot_be_overwritten_from_a_container() {
    let _g = serial();
    let b = busybox_root();
    let tools = tempfile::tempdir().unwrap();
    let Some(_) = compile(tools.path(), "ow", OVERWRITER_C) else { return };
    let bin = tempfile::tempdir().unwrap();
    let copy = bin.path().join("berth");
    std::fs::copy(berth_bin(), &copy).unwrap();
    let original = std::fs::read(&copy).unwrap();
    let berth = |args: &[&str]| {
        let mut c = Command::new(&copy);
        c.arg("--root").arg(b.root()).args(args).stdin(Stdio::null());
        c
    };
    let ok = |args: &[&str]| {
        let o = berth(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let vol = format!("{}:/t:ro", tools.path().display());
    ok(&["run", "-d", "--name", "ow", "--network", "none", "-v", &vol, "busybox", "sleep", "1000"]);
    let shim = shims_of(b.root())[0];
    // The shim (the init's parent) runs from a sealed view: not writable even by host root.
    // (Writing back the ELF magic's first byte: harmless should it succeed.) EROFS from the
    // overlay view, EPERM from a sealed memfd; never ETXTBSY, the host file's "busy".
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{shim}/exe"))
        .and_then(|f| std::os::unix::fs::FileExt::write_at(&f, b"\x7f", 0));
    let errno = w.expect_err("the shim's executable is writable").raw_os_error();
    assert!(matches!(errno, Some(libc::EROFS) | Some(libc::EPERM)), "the shim runs the host's binary: {errno:?}");
    ok(&["exec", "-d", "ow", "/t/ow", "8", "/tmp/log"]);
    wait_until("the overwriter to start", Duration::from_secs(10), || {
        berth(&["exec", "ow", "cat", "/tmp/log"]).output().unwrap().stdout.starts_with(b"START")
    });
    for _ in 0..20 {
        assert_eq!(status_within(berth(&["exec", "ow", "true"]), Duration::from_secs(20)).code(), Some(0));
    }
    // berth itself inside the container, through /proc/self/exe (refused now; on main it ran
    // the host's binary, a process the overwriter can take a handle on).
    let _ = berth(&["exec", "-d", "ow", "/proc/self/exe", "registry", "serve", "--addr", "127.0.0.1:0"]).output();
    std::thread::sleep(Duration::from_millis(500));
    let log = String::from_utf8_lossy(&berth(&["exec", "ow", "cat", "/tmp/log"]).output().unwrap().stdout).into_owned();
    // Then every process of the copy that would keep the file busy goes: the shim, and berth
    // exec'd in the container if it ran.
    for pid in processes(&["/proc/self/exe", "registry", "serve", "--addr", "127.0.0.1:0"]) {
        let _ = berth_sys::process::send_signal(pid, libc::SIGKILL);
    }
    let _ = berth_sys::process::send_signal(shim, libc::SIGKILL);
    std::thread::sleep(Duration::from_secs(3));
    eprintln!("overwriter log before the shim died:\n{log}");
    assert!(std::fs::read(&copy).unwrap() == original, "the berth binary (a copy) was overwritten from the container");
    assert!(!log.contains("HIT-WROTE"), "{log}");
    let _ = berth(&["rm", "-f", "ow"]).output();
}

/// Item 12: the berth binary (and so every berth process: the shim, the init until its exec,
/// the wasm guest process) is position-independent, its base address randomised.
#[test]
fn the_binary_is_position_independent() {
    let head = std::fs::read(berth_bin()).unwrap();
    assert_eq!(&head[..4], b"\x7fELF");
    // e_type, little-endian at offset 16: ET_DYN (3) is a PIE, ET_EXEC (2) a fixed address.
    assert_eq!(u16::from_le_bytes([head[16], head[17]]), 3, "berth is not a PIE");
}
