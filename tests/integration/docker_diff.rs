//! The Docker differential suite: the same commands through `docker` (a private daemon, see
//! `berth_tests::docker`) and `berth`, on the same busybox image imported into both, and what
//! matters compared: what a probe inside a container sees for each `run` flag (capabilities,
//! mounts, ulimits, sysctls, devices, cgroup limits, ids, hostname, /etc/hosts), `inspect -f`
//! and `--format` outputs of real-world templates, health states over time, and the messages
//! and exit codes of bad inputs. Docker is the oracle: every difference fails the test unless
//! it is listed here as accepted, with its reason (docs/docker-compat.md lists them too).

use berth_tests::docker::{docker, Docker, BUSYBOX};
use berth_tests::{require_root, Berth};
use std::collections::BTreeSet;
use std::process::Output;
use std::time::{Duration, Instant};

const PROBE: &str = include_str!("docker_diff_probe.sh");

/// Lines of the probe's output that differ on purpose, by prefix: (case or "*", prefix, reason).
const ACCEPTED_PROBE: &[(&str, &str, &str)] = &[
    (
        "*",
        "mount: /proc/interrupts ",
        "berth masks /proc/interrupts as Docker 25+ does (moby#47216); the 20.10 daemon here predates it",
    ),
    ("*", "ns net:", "both private; berth makes the netns itself, so only its identity differs"),
    (
        "*",
        "NoNewPrivs: ",
        "berth sets no_new_privs by default (its exec hardening relies on it; docs/security.md); \
         the nnp cases below compare it with the flag given",
    ),
    (
        "cap-add-all",
        "Cap",
        "ALL includes CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE, as Docker 23+ does; the \
         20.10 daemon here predates them",
    ),
];

/// (case, prefix) pairs compared whatever [`ACCEPTED_PROBE`] says for every case.
const EXACT: &[(&str, &str)] = &[("nnp-on", "NoNewPrivs: "), ("nnp-off", "NoNewPrivs: ")];

/// The two engines, each with the busybox image as [`BUSYBOX`], and a directory holding the
/// probe script (bind-mounted read-only into the probed containers).
struct Pair {
    d: &'static Docker,
    b: Berth,
    probe: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        require_root();
        let d = docker();
        let b = Berth::new();
        b.import_busybox(BUSYBOX);
        let probe = tempfile::Builder::new().prefix("berth-diff-probe-").tempdir().unwrap();
        std::fs::write(probe.path().join("probe.sh"), PROBE).unwrap();
        Pair { d, b, probe }
    }

    /// Runs `args` through both; `@IMG` stands for the image, `@PROBE` for the probe directory.
    fn both(&self, args: &[&str]) -> (Output, Output) {
        let probe = self.probe.path().to_str().unwrap().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("@IMG", BUSYBOX).replace("@PROBE", &probe)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (self.d.run(&args), self.b.run(&args))
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

fn is_container_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Keeps the mount options both engines choose (not the host filesystem's own).
fn mount_line(l: &str) -> String {
    let mut parts = l.splitn(4, ' ');
    let (_, point, kind, opts) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let opts = opts.unwrap_or("").trim_matches(|c| c == '(' || c == ')');
    let keep: Vec<&str> = opts
        .split(',')
        .filter(|o| {
            matches!(*o, "ro" | "rw" | "nosuid" | "nodev" | "noexec")
                || ["size=", "mode=", "gid=", "ptmxmode="].iter().any(|p| o.starts_with(p))
                || (kind == "cgroup" && !o.contains('='))
        })
        .collect();
    format!("mount: {point} {kind} ({})", keep.join(","))
}

/// The probe's output with what is meant to differ between any two containers made uniform:
/// container ids, namespace identities (as `host` or `private`), host-filesystem mount options.
fn normalize(out: &str) -> Vec<String> {
    let host = host_hostname();
    out.lines()
        .map(|l| {
            if let Some(h) = l.strip_prefix("hostname: ") {
                return format!(
                    "hostname: {}",
                    if is_container_id(h) {
                        "<id>"
                    } else if h == host {
                        "<host>"
                    } else {
                        h
                    }
                );
            }
            if let Some(rest) = l.strip_prefix("ns ") {
                let (kind, id) = rest.split_once(": ").unwrap_or((rest, ""));
                let mine = std::fs::read_link(format!("/proc/self/ns/{kind}"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                return format!("ns {kind}: {}", if id == mine { "host" } else { "private" });
            }
            if l.starts_with("mount: ") {
                return mount_line(l);
            }
            l.to_string()
        })
        .collect()
}

fn accepted(case: &str, line: &str) -> bool {
    ACCEPTED_PROBE.iter().any(|(c, prefix, _)| {
        ((*c == "*" && !EXACT.contains(&(case, *prefix))) || *c == case) && line.starts_with(prefix)
    })
}

/// What differs between two normalised probe outputs, as readable lines.
fn probe_diff(case: &str, d: &[String], b: &[String]) -> Vec<String> {
    let ds: BTreeSet<&String> = d.iter().filter(|l| !accepted(case, l)).collect();
    let bs: BTreeSet<&String> = b.iter().filter(|l| !accepted(case, l)).collect();
    let mut out = Vec::new();
    for l in ds.difference(&bs) {
        out.push(format!("{case}: docker only: {l}"));
    }
    for l in bs.difference(&ds) {
        out.push(format!("{case}: berth only:  {l}"));
    }
    out
}

/// The `run` flags compared through the probe: (case, flags before the image).
fn probe_cases() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("default", vec![]),
        ("user", vec!["-u", "1000:1000", "--group-add", "10", "--group-add", "20"]),
        ("cap-drop-all", vec!["--cap-drop", "ALL"]),
        ("cap-add", vec!["--cap-add", "NET_ADMIN", "--cap-add", "sys_time", "--cap-drop", "chown"]),
        // Not ALL alone, nor --privileged: root here lacks CAP_SYS_RESOURCE, so no engine can
        // grant it (both refuse; run_security's tests check berth's --privileged itself).
        ("cap-add-all", vec!["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--cap-drop", "MKNOD"]),
        ("nnp-on", vec!["--security-opt", "no-new-privileges"]),
        ("nnp-off", vec!["--security-opt", "no-new-privileges=false"]),
        ("seccomp-unconfined", vec!["--security-opt", "seccomp=unconfined"]),
        ("ulimit", vec!["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=500", "--ulimit", "core=-1"]),
        ("shm-size", vec!["--shm-size", "128m"]),
        ("sysctl", vec!["--sysctl", "net.core.somaxconn=1000", "--sysctl", "kernel.msgmax=4096"]),
        ("host-namespaces", vec!["--pid", "host", "--ipc", "host", "--uts", "host"]),
        ("ipc-private", vec!["--ipc", "private"]),
        ("cgroupns-private", vec!["--cgroupns", "private"]),
        ("device", vec!["--device", "/dev/zero:/dev/myzero:r", "--device", "/dev/full"]),
        (
            "resources",
            vec![
                "--memory",
                "64m",
                "--memory-swap",
                "128m",
                "--memory-reservation",
                "32m",
                "--cpu-shares",
                "512",
                "--cpus",
                "0.5",
                "--cpuset-cpus",
                "0",
                "--cpuset-mems",
                "0",
                "--pids-limit",
                "50",
            ],
        ),
        ("memory-swap-unlimited", vec!["--memory", "32m", "--memory-swap", "-1"]),
        ("oom", vec!["--oom-score-adj", "200", "--memory", "64m", "--oom-kill-disable"]),
        (
            "identity",
            vec!["-h", "myhost", "--domainname", "example.com", "-w", "/tmp", "-e", "A=1", "-e", "B=two words"],
        ),
        ("read-only", vec!["--read-only", "--tmpfs", "/run:size=1m", "--tmpfs", "/tmp"]),
        ("add-host", vec!["--add-host", "db:10.1.2.3", "--add-host", "cache:10.1.2.4"]),
        ("init", vec!["--init"]),
    ]
}

#[test]
#[ignore = "needs root"]
fn run_flags_seen_from_inside_as_in_docker() {
    let p = Pair::new();
    let mut failures = Vec::new();
    for (case, flags) in probe_cases() {
        let mut args = vec!["run", "--rm", "--network", "none", "-v", "@PROBE:/probe:ro"];
        args.extend(flags.iter().copied());
        args.extend(["@IMG", "sh", "/probe/probe.sh"]);
        let (d, b) = p.both(&args);
        assert!(d.status.success(), "docker {case}: {}", stderr(&d));
        if !b.status.success() {
            failures.push(format!("{case}: berth failed ({}): {}", b.status, stderr(&b).trim()));
            continue;
        }
        failures.extend(probe_diff(case, &normalize(&stdout(&d)), &normalize(&stdout(&b))));
    }
    assert!(failures.is_empty(), "differences from docker run:\n{}", failures.join("\n"));
}

/// The first line of an error as the user reads it, without the tool's own prefixes (Docker's
/// `docker: `, `Error response from daemon: `, `Error: `; berth's `berth: `, `Error: `).
fn message(o: &Output) -> String {
    let e = stderr(o);
    const PREFIXES: [&str; 4] = ["docker: ", "berth: ", "Error response from daemon: ", "Error: "];
    let lines: Vec<&str> = e.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Progress lines (`Using default tag: latest`) may come first: the error is the prefixed one.
    let first = lines.iter().find(|l| PREFIXES.iter().any(|p| l.starts_with(p))).or(lines.first());
    let mut l = first.copied().unwrap_or("").to_string();
    for p in PREFIXES {
        if let Some(r) = l.strip_prefix(p) {
            l = r.to_string();
        }
    }
    // Docker 20.10's CLI ends `run`'s errors with a full stop; its other commands don't.
    l.trim_end_matches('.').replace("docker", "berth")
}

/// How an error's message must compare.
enum Msg {
    /// The same first line, prefixes aside.
    Same,
    /// Both first lines contain this.
    Contains(&'static str),
    /// Only the exit code is compared; the reason the words differ.
    Differs(&'static str),
    /// A check Docker 20.10's CLI lacks and newer ones make: berth must refuse (exit 125) with
    /// this in its message, whatever the daemon here does.
    Newer(&'static str),
}

/// Bad inputs and failing commands: (args, how the message compares). Exit codes must match.
fn error_cases() -> Vec<(Vec<&'static str>, Msg)> {
    use Msg::*;
    let none = ["run", "--rm", "--network", "none"];
    let run = |rest: &[&'static str]| -> Vec<&'static str> { none.iter().chain(rest).copied().collect() };
    vec![
        (run(&["@IMG", "sh", "-c", "exit 3"]), Same),
        (run(&["@IMG", "/nonexistent"]), Differs("Docker's names its OCI runtime's wording; berth says what failed")),
        (run(&["@IMG", "/etc"]), Differs("Docker's names its OCI runtime's wording; berth says what failed")),
        (vec!["run", "--bogus", "@IMG"], Same),
        (run(&["--restart", "always", "@IMG", "true"]), Same),
        (run(&["-e", "=bad", "@IMG", "true"]), Same),
        (run(&["--cap-add", "BOGUS", "@IMG", "true"]), Same),
        (run(&["--ulimit", "nofile=abc", "@IMG", "true"]), Contains("nofile=abc")),
        (run(&["--health-interval", "garbage", "@IMG", "true"]), Contains("garbage")),
        (run(&["--pull", "bogus", "@IMG", "true"]), Newer("invalid pull option: 'bogus'")),
        (run(&["--pull", "never", "nosuchimage"]), Same),
        (run(&["--pid", "container:nosuch", "@IMG", "true"]), Same),
        (run(&["--ipc", "bogus", "@IMG", "true"]), Same),
        (run(&["--sysctl", "kernel.hostname=x", "@IMG", "true"]), Contains("kernel.hostname=x")),
        (run(&["--security-opt", "seccomp=/missing.json", "@IMG", "true"]), Contains("/missing.json")),
        (run(&["--memory", "64m", "--memory-swap", "32m", "@IMG", "true"]), Same),
        (vec!["logs", "nosuch"], Same),
        (vec!["inspect", "nosuch"], Same),
        (vec!["rm", "nosuch"], Same),
        (vec!["stop", "nosuch"], Same),
        (vec!["start", "nosuch"], Same),
        (vec!["kill", "nosuch"], Contains("No such container: nosuch")),
        (vec!["wait", "nosuch"], Same),
        (vec!["port", "nosuch"], Same),
        (vec!["exec", "nosuch", "true"], Same),
        (vec!["attach", "nosuch"], Same),
        (vec!["tag", "nosuch", "x"], Same),
        // Docker 20.10's `rmi` names what was typed, its `tag` (and Docker 28's both) the tag.
        (vec!["rmi", "nosuch"], Contains("No such image: nosuch")),
        (vec!["pull", "127.0.0.1:1/x"], Contains("dial tcp 127.0.0.1:1: connect: connection refused")),
        (vec!["ps", "--format", "{{.ID"], Contains("unclosed action")),
        (vec!["inspect", "-f", "{{.Foo}}", "@IMG"], Contains("map has no entry for key \"Foo\"")),
    ]
}

#[test]
#[ignore = "needs root"]
fn errors_and_exit_codes_as_in_docker() {
    let p = Pair::new();
    let mut failures = Vec::new();
    for (args, how) in error_cases() {
        let (d, b) = p.both(&args);
        if let Msg::Newer(s) = how {
            if b.status.code() != Some(125) || !message(&b).contains(s) {
                failures.push(format!(
                    "{args:?}: berth should refuse with {s:?}: {:?} {}",
                    b.status.code(),
                    message(&b)
                ));
            }
            continue;
        }
        let (dc, bc) = (d.status.code(), b.status.code());
        if dc != bc {
            failures.push(format!("{args:?}: exit docker {dc:?} berth {bc:?} ({})", message(&b)));
            continue;
        }
        let (dm, bm) = (message(&d), message(&b));
        match how {
            Msg::Same if dm != bm => failures.push(format!("{args:?}:\n  docker: {dm}\n  berth:  {bm}")),
            Msg::Contains(s) if !(dm.contains(s) && bm.contains(s)) => {
                failures.push(format!("{args:?}: both should say {s:?}:\n  docker: {dm}\n  berth:  {bm}"))
            }
            Msg::Differs(why) => eprintln!("{args:?}: the words differ on purpose: {why}"),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "differences from docker:\n{}", failures.join("\n"));
}

/// Templates users copy from Docker's documentation and from scripts, on a created container.
const TEMPLATES: &[&str] = &[
    "{{.State.Status}}",
    "{{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}",
    "{{.Name}}",
    "{{.Config.Cmd}}",
    "{{json .Config.Cmd}}",
    "{{join .Config.Cmd \" \"}}",
    "{{.Config.Env}}",
    "{{range .Config.Env}}{{println .}}{{end}}",
    "{{json .Config.Labels}}",
    "{{.Config.Labels}}",
    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{index .Config.Labels \"com.example.team\"}}",
    "{{.Config.ExposedPorts}}",
    "{{range $p, $c := .Config.ExposedPorts}}{{$p}} {{end}}",
    "{{.Config.WorkingDir}} {{.Config.User}} {{.Config.Hostname}}",
    "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
    "{{.HostConfig.PidsLimit}}",
    "{{.HostConfig.RestartPolicy}}",
    "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
    "{{.HostConfig.NetworkMode}}",
    "{{.HostConfig.Binds}}",
    "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} {{.Mode}}{{end}}",
    "{{len .Mounts}}",
    "{{range .NetworkSettings.Networks}}[{{.IPAddress}}]{{end}}",
    "{{if eq .State.Status \"created\"}}fresh{{else}}used{{end}}",
    "{{with .Config.Entrypoint}}has{{else}}none{{end}}",
    "{{printf \"%s/%d\" .State.Status .RestartCount}}",
    "{{upper .Config.WorkingDir}} {{lower \"ABC\"}} {{title \"a b\"}}",
    "{{split .Config.WorkingDir \"/\"}}",
    "{{$n := len .Config.Env}}{{if gt $n 1}}many{{end}}",
    "{{.Config.Env | len}}",
    "{{.Path}} {{.Args}}",
    "{{.Driver}} {{.Platform}}",
    "{{.HostConfig.LogConfig.Type}}",
];

/// Templates whose output differs on purpose (berth must still run them): (template, reason).
const ACCEPTED_TEMPLATES: &[(&str, &str)] = &[(
    "{{.HostConfig.PidsLimit}}",
    "unset, it is a nil pointer: Docker 20.10 ran this template on the raw JSON, where it is \
     absent (`<no value>`); Docker 23+ and berth run it on the typed document (`<nil>`)",
)];

/// `ps` and `images` row templates (`--format`).
const PS_TEMPLATES: &[&str] = &[
    "{{.Names}} {{.Image}} {{.Command}} {{.Status}}",
    "{{.Label \"com.example.team\"}}",
    "{{.Labels}}",
    "{{.Mounts}}",
    "{{.Ports}}|{{.Networks}}",
    "{{json .Names}}",
];

#[test]
#[ignore = "needs root"]
fn templates_as_in_docker() {
    let p = Pair::new();
    let vol = tempfile::Builder::new().prefix("berth-diff-vol-").tempdir().unwrap();
    let bind = format!("{}:/data:ro", vol.path().display());
    let name = format!("berth-diff-tpl-{}", std::process::id());
    let create = [
        "create",
        "--name",
        &name,
        "--network",
        "none",
        // One variable: Docker 20.10's CLI sends several in reverse order (28's does not).
        "-e",
        "A=1",
        "-l",
        "com.example.team=core",
        "-l",
        "tier=web",
        "-v",
        &bind,
        "-w",
        "/srv/app",
        "--memory",
        "64m",
        "--expose",
        "8080",
        "--restart",
        "on-failure:3",
        "@IMG",
        "sh",
        "-c",
        "echo hi",
    ];
    let (d, b) = p.both(&create);
    assert!(d.status.success(), "docker create: {}", stderr(&d));
    assert!(b.status.success(), "berth create: {}", stderr(&b));
    let _rm = RmDocker(p.d, name.clone());
    // Each engine's container id, which names the container's hostname too.
    let (did, bid) = (stdout(&d).trim().to_string(), stdout(&b).trim().to_string());
    let ids = |d: &Output, b: &Output| {
        let unid = |s: String, id: &str| s.replace(id, "<id>").replace(&id[..12], "<id>");
        (unid(stdout(d), &did), unid(stdout(b), &bid))
    };
    let mut failures = Vec::new();
    for t in TEMPLATES {
        let (d, b) = p.both(&["inspect", "-f", t, &name]);
        let (ds, bs) = ids(&d, &b);
        if ACCEPTED_TEMPLATES.iter().any(|(a, _)| a == t) {
            if !b.status.success() {
                failures.push(format!("inspect -f {t}: berth failed: {}", stderr(&b).trim()));
            }
            continue;
        }
        if d.status.code() != b.status.code() || ds != bs {
            failures.push(format!(
                "inspect -f {t}\n  docker ({:?}): {ds:?} {}\n  berth  ({:?}): {bs:?} {}",
                d.status.code(),
                stderr(&d).trim(),
                b.status.code(),
                stderr(&b).trim()
            ));
        }
    }
    let filter = format!("name={name}");
    for t in PS_TEMPLATES {
        let (d, b) = p.both(&["ps", "-a", "--filter", &filter, "--format", t]);
        let (mut ds, mut bs) = ids(&d, &b);
        // Docker joins `.Labels` in Go's map order, which is random; berth sorts them.
        if *t == "{{.Labels}}" {
            let sorted = |s: &str| {
                let mut v: Vec<&str> = s.trim_end().split(',').collect();
                v.sort();
                v.join(",")
            };
            (ds, bs) = (sorted(&ds), sorted(&bs));
        }
        if d.status.code() != b.status.code() || ds != bs {
            failures.push(format!(
                "ps --format {t}\n  docker ({:?}): {ds:?} {}\n  berth  ({:?}): {bs:?} {}",
                d.status.code(),
                stderr(&d).trim(),
                b.status.code(),
                stderr(&b).trim()
            ));
        }
    }
    let (d, b) = p.both(&["images", BUSYBOX, "--format", "{{.Repository}}:{{.Tag}}"]);
    if stdout(&d) != stdout(&b) {
        failures.push(format!("images --format: docker {:?} berth {:?}", stdout(&d), stdout(&b)));
    }
    assert!(failures.is_empty(), "differences from docker's templates:\n{}", failures.join("\n"));
}

/// Removes a Docker container a test made, whatever happened.
struct RmDocker(&'static Docker, String);

impl Drop for RmDocker {
    fn drop(&mut self) {
        let _ = self.0.run(&["rm", "-f", &self.1]);
    }
}

/// Polls `inspect -f` until it prints `want` (or the time is up); returns what it printed last.
fn wait_for(run: &dyn Fn(&[&str]) -> Output, name: &str, template: &str, want: &str) -> String {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < Duration::from_secs(20) {
        last = String::from_utf8_lossy(&run(&["inspect", "-f", template, name]).stdout).trim().to_string();
        if last == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    last
}

/// The status word `ps` adds after `Up N seconds`, e.g. `(healthy)`.
fn health_suffix(status: &str) -> String {
    status.find('(').map(|i| status[i..].trim().to_string()).unwrap_or_default()
}

/// Runs one engine's CLI with the given arguments.
type Runner<'a> = Box<dyn Fn(&[&str]) -> Output + 'a>;

#[test]
#[ignore = "needs root"]
fn health_states_over_time_as_in_docker() {
    let p = Pair::new();
    let name = format!("berth-diff-health-{}", std::process::id());
    let _rm = RmDocker(p.d, name.clone());
    let engines: [(&str, Runner); 2] =
        [("docker", Box::new(|a: &[&str]| p.d.run(a))), ("berth", Box::new(|a: &[&str]| p.b.run(a)))];
    let mut seen: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    // One engine after the other, each timed from its own container's start.
    for (i, (engine, run)) in engines.iter().enumerate() {
        let image = BUSYBOX;
        let o = run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--health-cmd",
            "test -f /tmp/ok && echo fine",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            image,
            "sleep",
            "60",
        ]);
        assert!(o.status.success(), "{engine} run: {}", stderr(&o));
        let first = String::from_utf8_lossy(&run(&["inspect", "-f", "{{.State.Health.Status}}", &name]).stdout)
            .trim()
            .to_string();
        seen[i].push(first);
        seen[i].push(wait_for(
            run.as_ref(),
            &name,
            "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
            "unhealthy 2",
        ));
        let ps = String::from_utf8_lossy(
            &run(&["ps", "--filter", &format!("name={name}"), "--format", "{{.Status}}"]).stdout,
        )
        .trim()
        .to_string();
        seen[i].push(health_suffix(&ps));
        let filtered = String::from_utf8_lossy(
            &run(&["ps", "-q", "--filter", "health=unhealthy", "--filter", &format!("name={name}")]).stdout,
        )
        .lines()
        .count();
        seen[i].push(format!("filter unhealthy: {filtered}"));
        assert!(run(&["exec", &name, "touch", "/tmp/ok"]).status.success());
        seen[i].push(wait_for(
            run.as_ref(),
            &name,
            "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
            "healthy 0",
        ));
        let last = String::from_utf8_lossy(
            &run(&["inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}{{end}}", &name]).stdout,
        )
        .to_string();
        seen[i].push(format!("last output ends: {}", last.trim_end().ends_with("0:fine")));
        let count = String::from_utf8_lossy(&run(&["inspect", "-f", "{{len .State.Health.Log}}", &name]).stdout)
            .trim()
            .parse::<usize>()
            .unwrap_or(99);
        seen[i].push(format!("log entries at most 5: {}", count <= 5));
        assert!(run(&["stop", "-t", "1", &name]).status.success());
        let stopped = String::from_utf8_lossy(&run(&["inspect", "-f", "{{.State.Health.Status}}", &name]).stdout)
            .trim()
            .to_string();
        seen[i].push(format!("stopped: {stopped}"));
        assert!(run(&["rm", "-f", &name]).status.success());
    }
    assert_eq!(seen[0], seen[1], "health as docker ({:?}) vs berth", engines.map(|e| e.0));
}
