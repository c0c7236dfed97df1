//! `--log-driver json-file|local|none` and `--log-opt max-size/max-file/compress`, as root,
//! through the berth binary: the supervisor rotates as Docker does, `berth logs` (with
//! `--tail`, `--since`, `-f`) reads across the rotated files, `none` keeps nothing and says
//! what Docker says, `inspect` shows `HostConfig.LogConfig`, and each bad driver or option is
//! refused with Docker's message, exit 125, nothing left behind.

use berth_tests::{busybox_root, Berth};
use std::time::{Duration, Instant};

/// The container directory's log files, sorted.
fn log_files(b: &Berth, id: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(b.root().join("containers").join(id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-json.log"))
        .map(|n| n.replacen(id, "ID", 1))
        .collect();
    v.sort();
    v
}

fn wait_exited(b: &Berth, name: &str) {
    let t0 = Instant::now();
    while b.ok(&["inspect", "-f", "{{.State.Running}}", name]).trim() == "true" {
        assert!(t0.elapsed() < Duration::from_secs(30), "{name} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LINES: &str =
    "i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done";

fn expected(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")).collect()
}

#[test]
#[ignore = "needs root"]
fn rotation_keeps_max_file_files_and_logs_reads_across_them() {
    let b = busybox_root();
    for (name, compress) in [("plain", "false"), ("gz", "true")] {
        let c = format!("compress={compress}");
        let id = b.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=3",
            "--log-opt",
            &c,
            "busybox",
            "sh",
            "-c",
            LINES,
        ]);
        let id = id.trim();
        wait_exited(&b, name);
        let ext = if compress == "true" { ".gz" } else { "" };
        // As dockerd 20.10 leaves them: 9 entries of 117 bytes fill a 1k (1000 bytes) file.
        assert_eq!(
            log_files(&b, id),
            ["ID-json.log".to_string(), format!("ID-json.log.1{ext}"), format!("ID-json.log.2{ext}")]
        );
        assert_eq!(b.ok(&["logs", name]), expected(81, 100));
        assert_eq!(b.ok(&["logs", "--tail", "12", name]), expected(88, 100));
        assert_eq!(b.ok(&["logs", "--since", "2000-01-01T00:00:00Z", name]), expected(81, 100));
        assert_eq!(b.ok(&["logs", "--since", "2100-01-01T00:00:00Z", name]), "");
        let stamped = b.ok(&["logs", "-t", "--tail", "1", name]);
        assert!(stamped.ends_with(" line-99-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"), "{stamped}");
        let shown = b.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", name]);
        let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(v["Type"], "json-file");
        assert_eq!(v["Config"], serde_json::json!({"max-size": "1k", "max-file": "3", "compress": compress}));
    }
    // The default: one file, never rotated, LogConfig as Docker shows it.
    b.ok(&["run", "--name", "default", "--network", "none", "busybox", "sh", "-c", LINES]);
    assert_eq!(b.ok(&["logs", "default"]), expected(0, 100));
    let shown = b.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}} {{.LogPath}}", "default"]);
    assert!(shown.starts_with(r#"{"Type":"json-file","Config":{}} /"#), "{shown}");
    // local: the same reading, local's defaults, and no LogPath (Docker's is internal too).
    b.ok(&["run", "--name", "local", "--network", "none", "--log-driver", "local", "busybox", "sh", "-c", LINES]);
    assert_eq!(b.ok(&["logs", "--tail", "2", "local"]), expected(98, 100));
    let shown = b.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}} [{{.LogPath}}]", "local"]);
    assert_eq!(shown.trim(), r#"{"Type":"local","Config":{}} []"#);
}

#[test]
#[ignore = "needs root"]
fn follow_goes_on_across_rotations() {
    let b = busybox_root();
    // A file holds about 13 entries, filled in a quarter of a second.
    let script = "sleep 1; i=0; while [ $i -lt 80 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done";
    for max_file in ["1", "2", "3"] {
        let name = format!("f{max_file}");
        let mf = format!("max-file={max_file}");
        b.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            &mf,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let o = b.run(&["logs", "-f", &name]);
        assert!(o.status.success());
        let want: String = (0..80).map(|i| format!("line-{i}\n")).collect();
        assert_eq!(String::from_utf8_lossy(&o.stdout), want, "max-file {max_file}: -f saw every line once, in order");
    }
}

#[test]
#[ignore = "needs root"]
fn none_keeps_nothing_and_logs_says_so() {
    let b = busybox_root();
    // The attached run still shows the output: only the log is not kept.
    let out =
        b.ok(&["run", "--name", "quiet", "--network", "none", "--log-driver", "none", "busybox", "echo", "hello"]);
    assert_eq!(out, "hello\n");
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "quiet"]);
    let dir = b.root().join("containers").join(id.trim());
    let kept: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(kept, 0, "nothing kept");
    let err = b.fails(&["logs", "quiet"]);
    assert!(err.contains("configured logging driver does not support reading"), "{err}");
    let shown = b.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}} [{{.LogPath}}]", "quiet"]);
    assert_eq!(shown.trim(), r#"{"Type":"none","Config":{}} []"#);
}

#[test]
#[ignore = "needs root"]
fn bad_drivers_and_options_are_refused_as_docker_refuses_them() {
    let b = busybox_root();
    let root = b.root().to_string_lossy().into_owned();
    let mounts =
        || std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&root)).count();
    let mounts0 = mounts();
    let init = "failed to initialize logging driver: ";
    let cases: &[(&[&str], String)] = &[
        (&["--log-driver", "bogus"], r#"error looking up logging plugin bogus: plugin "bogus" not found"#.into()),
        (&["--log-opt", "max-size=abc"], format!("{init}invalid size: 'abc'")),
        (&["--log-opt", "max-file=0"], format!("{init}max-file cannot be less than 1")),
        (&["--log-opt", "max-size=1k", "--log-opt", "max-file=0"], format!("{init}max-file cannot be less than 1")),
        (&["--log-opt", "bogus=1"], "unknown log opt 'bogus' for json-file log driver".into()),
        (
            &["--log-opt", "compress=true"],
            format!("{init}compress cannot be true when max-file is less than 2 or max-size is not set"),
        ),
        (&["--log-driver", "none", "--log-opt", "max-size=1k"], "invalid logging opts for driver none".into()),
        (
            &["--log-driver", "local", "--log-opt", "max-file=1"],
            format!("{init}compression cannot be enabled when max file count is 1"),
        ),
        (
            &["--log-driver", "local", "--log-opt", "max-size=abc"],
            format!("{init}invalid value for max-size: abc: invalid size: 'abc'"),
        ),
    ];
    for (flags, msg) in cases {
        for verb in ["run", "create"] {
            let mut args = vec![verb, "--network", "none"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "true"]);
            let o = b.run(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            // Docker's daemon checks logging options: its `create` exits 1 there, `run` 125.
            let want = if verb == "create" { 1 } else { 125 };
            assert_eq!(o.status.code(), Some(want), "{args:?}: {err}");
            assert!(err.contains(msg.as_str()), "{args:?}: want {msg:?}, got {err}");
        }
    }
    // Accepted as Docker accepts it: max-file without max-size (nothing to rotate).
    b.ok(&["run", "--rm", "--network", "none", "--log-opt", "max-file=3", "busybox", "true"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "", "no container left behind");
    assert!(std::fs::read_dir(b.root().join("names")).map(|d| d.count()).unwrap_or(0) == 0, "no name left");
    assert_eq!(mounts(), mounts0, "no mount left");
}
