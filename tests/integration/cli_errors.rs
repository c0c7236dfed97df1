//! Errors and exit codes as Docker's CLI gives them (each checked against a real dockerd):
//! 125/126/127 belong to `run`, `create` and `exec`; every other failing command exits 1.
//! Every error reads `Error: ...` (berth has no daemon to blame), a registry that is not
//! there reads as Go's `dial tcp` error, a user who is not root is told berth needs root, and
//! `BERTH_ROOT` does not show up in usage lines as if `--root` were required.

use berth_tests::{busybox_root, Berth, BerthRegistry};
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The error report says `Error: ...` (its last line) and nothing says "daemon".
fn assert_berth_style(args: &[&str], o: &Output) {
    let err = text(&o.stderr);
    assert!(!err.to_lowercase().contains("daemon"), "{args:?}: {err}");
    assert!(!err.contains("berth:"), "{args:?}: {err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("Error: "), "{args:?}: not in berth's style: {last:?}\n{err}");
}

#[test]
#[ignore = "needs root"]
fn exit_codes_as_dockers_cli() {
    let b = busybox_root();
    let reg = BerthRegistry::start();
    let closed = berth_tests::free_port();
    let missing = format!("{}/nothing/here:1", reg.host());
    let push_to = format!("127.0.0.1:{closed}/bb:1");
    b.ok(&["tag", "busybox", &push_to]);
    b.ok(&["create", "--name", "stopped", "busybox", "true"]);
    let refused = format!("dial tcp 127.0.0.1:{closed}: connect: connection refused");
    let closed_host = format!("127.0.0.1:{closed}");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["pull", &missing], 1, "nothing/here"),
        (vec!["push", &push_to], 1, &refused),
        (vec!["login", "-u", "a", "-p", "b", &closed_host], 1, &refused),
        (vec!["tag", "nosuch", "x"], 1, "Error: No such image: nosuch"),
        (vec!["logs", "nosuch"], 1, "Error: No such container: nosuch"),
        (vec!["exec", "nosuch", "true"], 1, "Error: No such container: nosuch"),
        (vec!["exec", "stopped", "true"], 1, "is not running"),
        (vec!["rm", "nosuch"], 1, "Error: No such container: nosuch"),
        (vec!["stop", "nosuch"], 1, "Error: No such container: nosuch"),
        (vec!["start", "nosuch"], 1, "Error: No such container: nosuch"),
        (vec!["kill", "nosuch"], 1, "No such container: nosuch"),
        (vec!["wait", "nosuch"], 1, "No such container: nosuch"),
        (vec!["inspect", "nosuch"], 1, "Error: No such object: nosuch"),
        (vec!["rmi", "nosuch"], 1, "No such image"),
        (vec!["logs"], 1, "required"),
        (vec!["logs", "--bogus", "x"], 125, "--bogus"),
        (vec!["run", "--pull", "never", "nosuch"], 125, "No such image"),
        (vec!["run", "--memory", "lots", "busybox", "true"], 125, "lots"),
        (vec!["run", "busybox", "nosuchcmd"], 127, "executable file not found"),
        (vec!["run", "busybox", "/etc/passwd"], 126, "permission denied"),
        // create: a bad flag value is 125; what the engine refuses is 1, as Docker's daemon's.
        (vec!["create", "--memory", "lots", "busybox"], 125, "lots"),
        (vec!["create", "--pull", "never", "nosuch"], 1, "No such image"),
    ];
    for (args, code, says) in &cases {
        let o = b.run(args);
        assert_eq!(o.status.code(), Some(*code), "berth {args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(says), "berth {args:?} should say {says:?}: {}", text(&o.stderr));
        // Flag errors aside: clap's own usage errors, and those worded as Docker's CLI words
        // them (`unknown flag: --bogus` / `See 'berth logs --help'.`, cli/src/flag_errors.rs).
        let e = text(&o.stderr);
        if !e.starts_with("error:") && !e.starts_with("unknown flag") && !e.starts_with("invalid argument") {
            assert_berth_style(args, &o);
        }
    }
    // exec: 126/127 when the command cannot run (and no such user), as Docker's exec.
    b.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    for (args, code) in [
        (vec!["exec", "up", "nosuchcmd"], 127),
        (vec!["exec", "up", "/etc/passwd"], 126),
        (vec!["exec", "-u", "nosuchuser", "up", "true"], 126),
        (vec!["exec", "up", "sh", "-c", "exit 9"], 9),
    ] {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(code), "berth {args:?}: {}", text(&o.stderr));
    }
    b.ok(&["rm", "-f", "up", "stopped"]);
}

#[test]
#[ignore = "needs root"]
fn a_user_who_is_not_root_is_told_berth_needs_root() {
    berth_tests::require_root();
    if !berth_tests::have("runuser") {
        eprintln!("skipping: no runuser");
        return;
    }
    let b = Berth::new();
    // The state root below a directory only root may enter, as /var/lib/berth is.
    let root = b.root().join("state");
    for args in [vec!["ps"], vec!["run", "busybox", "true"], vec!["images"]] {
        let o = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(berth_tests::berth_bin())
            .arg("--root")
            .arg(&root)
            .args(&args)
            .output()
            .unwrap();
        let err = text(&o.stderr);
        assert_eq!(
            err,
            format!(
                "Error: berth needs root: permission denied on {} (run berth as root, e.g. with sudo)\n",
                root.display()
            ),
            "{args:?}"
        );
        assert_eq!(o.status.code(), Some(if args[0] == "run" { 125 } else { 1 }), "{args:?}");
    }
    assert!(!root.exists(), "nothing was made");
    // A state root of their own gets them as far as berth's state under /run (once it exists,
    // root's): the same message.
    let own = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(berth_network::SUBNET_LOCK.rsplit_once('/').unwrap().0).unwrap();
    drop(std::fs::OpenOptions::new().create(true).append(true).open(berth_network::SUBNET_LOCK).unwrap());
    let _ = std::process::Command::new("chown").arg("nobody").arg(own.path()).status();
    let o = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(berth_tests::berth_bin())
        .arg("--root")
        .arg(own.path().join("r"))
        .args(["network", "create", "mine"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        format!(
            "Error: berth needs root: permission denied on {} (run berth as root, e.g. with sudo)\n",
            berth_network::SUBNET_LOCK
        )
    );
}

#[test]
fn berth_root_in_the_environment_is_not_a_required_argument() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        std::process::Command::new(berth_tests::berth_bin()).arg("run").env("BERTH_ROOT", dir.path()).output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let usage = err.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default();
    assert_eq!(usage, "Usage: berth run <IMAGE [COMMAND [ARG...]]>...", "{err}");
    let o = std::process::Command::new(berth_tests::berth_bin())
        .arg("--help")
        .env("BERTH_ROOT", dir.path())
        .output()
        .unwrap();
    let help = text(&o.stdout);
    assert!(help.contains("Usage: berth [OPTIONS] <COMMAND>"), "{help}");
    assert!(help.contains("[env: BERTH_ROOT]"), "{help}");
}
