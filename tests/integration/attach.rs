//! `attach`, detach keys, `start -ai`, `--no-stdin`, `--sig-proxy` and `exec --detach-keys`,
//! driven as a user drives them: real `-it` sessions on a pseudo-terminal the test holds the
//! master of, typing keys and reading the screen.

use berth_tests::{busybox_root, Berth};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A berth command on a pseudo-terminal: what it printed so far, and its keyboard.
struct Session {
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Session {
    fn start(b: &Berth, args: &[&str]) -> Session {
        let ws = nix::pty::Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
        let slave = std::fs::File::from(pty.slave);
        let mut cmd = b.cmd();
        cmd.args(args).stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
        let child = cmd.spawn().expect("spawn berth");
        drop(cmd); // our copies of the slave: the master sees EIO once berth is gone
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (mut r, s) = (master.try_clone().unwrap(), screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = r.read(&mut buf) {
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { master, screen, child }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `what` after the first `from` bytes.
    fn expect_after(&self, from: usize, what: &str) {
        let t = Instant::now();
        while !self.screen().get(from..).unwrap_or_default().contains(what) {
            assert!(t.elapsed() < Duration::from_secs(15), "waited for {what:?}; the screen shows:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn expect(&self, what: &str) {
        self.expect_after(0, what)
    }

    fn mark(&self) -> usize {
        self.screen().len()
    }

    fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// Waits for berth to exit; its exit code.
    fn exit_code(mut self) -> (i32, String) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // the last of the screen
                return (st.code().unwrap_or(-1), self.screen());
            }
            assert!(t.elapsed() < Duration::from_secs(15), "berth did not exit; the screen shows:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CTRL_P_Q: &[u8] = b"\x10\x11";

fn running(b: &Berth, name: &str) -> bool {
    b.ok(&["inspect", "-f", "{{.State.Running}}", name]).trim() == "true"
}

/// Runs `berth` with `args` and `input` on its stdin; its exit code, stdout and stderr.
fn with_input(b: &Berth, args: &[&str], input: &str) -> (i32, String, String) {
    let mut c = b.cmd().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
#[ignore = "needs root"]
fn run_it_detaches_and_attach_comes_back() {
    let b = busybox_root();
    // run -it, Ctrl-P Ctrl-Q: berth returns quietly with 0, the container runs on.
    let mut s = Session::start(&b, &["run", "-it", "--name", "tt", "busybox", "sh"]);
    s.expect("/ # ");
    s.send(b"echo one-$((40+2))\r");
    s.expect("one-42");
    s.send(CTRL_P_Q);
    let (code, screen) = s.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("read escape sequence"), "run -it detaches quietly, as Docker's: {screen}");
    assert!(running(&b, "tt"), "detaching leaves the container running");

    // attach: input reaches the shell, new output comes back; two clients at once see the
    // same output, and input from either.
    let mut a = Session::start(&b, &["attach", "tt"]);
    let mut a2 = Session::start(&b, &["attach", "tt"]);
    std::thread::sleep(Duration::from_millis(500));
    let (m, m2) = (a.mark(), a2.mark());
    a.send(b"echo two-$((1+1))\r");
    a.expect_after(m, "two-2");
    a2.expect_after(m2, "two-2");
    let m = a.mark();
    a2.send(b"echo three-$((1+2))\r");
    a.expect_after(m, "three-3");
    // The terminal's size follows the attached client's.
    berth_sys::term::set_window_size(&a.master, 30, 100).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let m = a.mark();
    a.send(b"stty size\r");
    a.expect_after(m, "30 100");
    // Docker's attach announces the detach and exits 1.
    a.send(CTRL_P_Q);
    let (code, screen) = a.exit_code();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("read escape sequence"), "{screen}");
    a2.send(CTRL_P_Q);
    assert_eq!(a2.exit_code().0, 1);
    assert!(running(&b, "tt"));

    // --detach-keys in Docker's syntax; the session ends with the container's exit code.
    let mut a = Session::start(&b, &["attach", "--detach-keys", "ctrl-a,a", "tt"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(CTRL_P_Q); // no longer the detach keys: passed on to the shell
    a.send(b"\x01a");
    let (code, screen) = a.exit_code();
    assert_eq!((code, screen.contains("read escape sequence")), (1, true), "{screen}");
    assert!(running(&b, "tt"));
    let mut a = Session::start(&b, &["attach", "tt"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\x15exit 7\r"); // Ctrl-U first: the Ctrl-P above recalled a command line

    assert_eq!(a.exit_code().0, 7, "attach exits with the container's status");
    assert!(!running(&b, "tt"));
}

#[test]
#[ignore = "needs root"]
fn attach_refuses_what_docker_refuses() {
    let b = busybox_root();
    b.ok(&["create", "--name", "idle", "busybox", "true"]);
    let o = b.run(&["attach", "idle"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Error: You cannot attach to a stopped container, start it first\n");
    let o = b.run(&["attach", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Error: No such container: nosuch\n");
    // Bad detach keys: Docker's words, before anything is created or attached.
    b.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    for (args, code) in [
        (vec!["attach", "--detach-keys", "bad", "up"], 1),
        (vec!["start", "-a", "--detach-keys", "ctrl-", "idle"], 1),
        (vec!["run", "--detach-keys", "ctrl-1", "--name", "never", "busybox", "true"], 125),
    ] {
        let o = b.run(&args);
        let keys = args[args.iter().position(|a| *a == "--detach-keys").unwrap() + 1];
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), format!("Error: Invalid detach keys ({keys}) provided\n"));
    }
    let o = b.run(&["exec", "--detach-keys", "ctrl-xx", "up", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Error: Invalid escape keys (ctrl-xx) provided\n");
    assert!(b.run(&["inspect", "never"]).status.code() == Some(1), "a refused run creates nothing");
    b.ok(&["rm", "-f", "up"]);
}

#[test]
#[ignore = "needs root"]
fn start_ai_attaches_and_detaches() {
    let b = busybox_root();
    b.ok(&["create", "-it", "--name", "si", "busybox", "sh"]);
    let mut s = Session::start(&b, &["start", "-ai", "si"]);
    s.expect("/ # ");
    s.send(b"echo s-$((2*3))\r");
    s.expect("s-6");
    s.send(CTRL_P_Q);
    let (code, screen) = s.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert!(running(&b, "si"));
    b.ok(&["rm", "-f", "si"]);
}

#[test]
#[ignore = "needs root"]
fn no_stdin_and_input_from_a_later_attach() {
    let b = busybox_root();
    let script = "while read l; do echo got-$l; [ \"$l\" = quit ] && exit 0; done";
    b.ok(&["run", "-d", "-i", "--name", "rr", "busybox", "sh", "-c", script]);
    // --no-stdin: our input does not reach the container; it runs on after we go.
    let mut c =
        b.cmd().args(["attach", "--no-stdin", "rr"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(b"quit\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(c.try_wait().unwrap().is_none(), "attach --no-stdin waits for the container");
    c.kill().unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("got-"), "{:?}", out.stdout);
    assert!(running(&b, "rr"));
    // Without it our input reaches the container (and the end of our input does not close
    // the container's stdin: Docker's StdinOnce is for the CLI that started it).
    let (code, out, err) = with_input(&b, &["attach", "rr"], "hello\nquit\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "got-hello\ngot-quit\n");
    assert!(!running(&b, "rr"));
}

#[test]
#[ignore = "needs root"]
fn sig_proxy_passes_sigint_on_or_not() {
    let b = busybox_root();
    let script = "trap 'echo got-INT; exit 3' INT; echo ready; while true; do sleep 0.1; done";
    b.ok(&["run", "-d", "--name", "pp", "busybox", "sh", "-c", script]);
    let attach = |args: &[&str]| {
        let c = b.cmd().args(args).stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(800)); // attached
        c
    };
    // --sig-proxy=false: SIGINT ends the CLI, not the container.
    let c = attach(&["attach", "--sig-proxy=false", "pp"]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.code().is_none(), "killed by SIGINT: {:?}", o.status);
    std::thread::sleep(Duration::from_millis(500));
    assert!(running(&b, "pp"), "the container did not get the SIGINT");
    // The default: the CLI passes it on; the container's trap runs, attach exits with its code.
    let c = attach(&["attach", "pp"]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "got-INT\n");
}

#[test]
#[ignore = "needs root"]
fn exec_detach_keys_leave_the_process_running() {
    let b = busybox_root();
    b.ok(&["run", "-d", "--name", "ee", "busybox", "sleep", "600"]);
    let mut s = Session::start(&b, &["exec", "-it", "--detach-keys", "ctrl-x", "ee", "sh"]);
    s.expect("/ # ");
    s.send(b"echo e-$((3*3))\r");
    s.expect("e-9");
    s.send(b"\x18");
    let (code, screen) = s.exit_code();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("read escape sequence"), "{screen}");
    // The detached shell runs on in the container (and nothing of berth's is in there).
    let ps = b.ok(&["exec", "ee", "ps", "-o", "comm"]);
    assert_eq!(ps.lines().filter(|l| l.trim() == "sh").count(), 1, "{ps}");
    assert!(!ps.contains("berth"), "{ps}");
    // A session that ends normally leaves no holder of its terminal behind.
    let mut s = Session::start(&b, &["exec", "-it", "ee", "sh"]);
    s.expect("/ # ");
    s.send(b"exit 4\r");
    assert_eq!(s.exit_code().0, 4);
    b.ok(&["rm", "-f", "ee"]);
}
