//! Native functions (docs/functions.md, "Deploying and native functions"): a busybox `httpd`
//! on `$PORT` serving a static file and CGI scripts from a bind-mounted directory, deployed with
//! `berth function deploy` and served by `berth serve` as berth containers: scaled from zero
//! and back to zero, scaled out under concurrency and back, a crash answered 502 and replaced,
//! a SIGKILLed gateway's instances swept by the next `serve`; `berth function
//! deploy|ls|inspect|logs|rm` and their bad inputs.

use berth_functions::native;
use berth_tests::{busybox_root, busybox_tar, links_settle, root_links, serve_on_free_port, Berth, ChildGuard};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The image: busybox whose command serves `/www` with httpd on `$PORT` (not `exec`ed, so a
/// killed httpd ends the container).
fn import_httpd(b: &Berth) {
    let tar = busybox_tar();
    b.ok(&[
        "import",
        "--change",
        r#"CMD ["sh", "-c", "httpd -f -p $PORT -h /www; exit 3"]"#,
        tar.to_str().unwrap(),
        "fnhttpd",
    ]);
}

/// `/www` for the image: `index.html`, `cgi-bin/slow` (answers its hostname after a second),
/// `cgi-bin/host` (at once) and `cgi-bin/crash` (kills httpd mid-request).
fn www(dir: &Path) -> String {
    let w = dir.join("www");
    std::fs::create_dir_all(w.join("cgi-bin")).unwrap();
    std::fs::write(w.join("index.html"), "hello from a native function\n").unwrap();
    let cgi = |name: &str, body: &str| {
        let p = w.join("cgi-bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    cgi("slow", "sleep 1\necho 'Content-Type: text/plain'\necho\nhostname");
    cgi("host", "echo 'Content-Type: text/plain'\necho\nhostname");
    cgi("crash", "killall -9 httpd");
    format!("{}:/www:ro", w.display())
}

/// The containers of the root that are function instances.
fn instances(root: &Path) -> usize {
    let e = berth_engine::Engine::open(root).unwrap();
    e.list_containers().unwrap().iter().filter(|c| c.config.labels.contains_key(native::FUNCTION_LABEL)).count()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The root's links (bridges and veths) once its default bridge exists: a throwaway container
/// makes it, so what is counted later is the veths on top.
fn links_with_bridge(b: &Berth) -> usize {
    b.ok(&["run", "--rm", "busybox", "true"]);
    root_links(b.root())
}

fn mounts_of(root: &Path) -> usize {
    let canon = std::fs::canonicalize(root).unwrap();
    std::fs::read_to_string("/proc/mounts").unwrap().lines().filter(|l| l.contains(canon.to_str().unwrap())).count()
}

/// A gateway for the root on a free port.
fn serve(b: &Berth) -> (u16, ChildGuard) {
    serve_on_free_port("berth serve", |port| {
        let mut c = b.cmd();
        c.args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    })
}

/// `GET path` through the gateway: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: fn.test\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Deploys the httpd image as `name` on `/` with extra flags.
fn deploy(b: &Berth, name: &str, vol: &str, extra: &[&str]) {
    let mut args = vec!["function", "deploy", name, "fnhttpd", "--route", "/", "-v", vol, "--idle-timeout", "2s"];
    args.extend_from_slice(extra);
    b.ok(&args);
}

#[test]
#[ignore = "needs root"]
fn scales_from_zero_to_zero_and_back() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let links0 = links_with_bridge(&b);
    deploy(&b, "hello", &vol, &[]);
    let (port, mut gw) = serve(&b);
    assert_eq!(instances(b.root()), 0, "nothing runs before the first request");
    let (status, body) = get(port, "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from a native function\n"));
    assert_eq!(instances(b.root()), 1);
    // Warm: the same instance answers.
    let (_, h1) = get(port, "/cgi-bin/host");
    let (_, h2) = get(port, "/cgi-bin/host");
    assert_eq!(h1, h2);
    // Idle past the timeout (2 s): stopped and removed.
    wait_until("the idle instance to go", Duration::from_secs(15), || instances(b.root()) == 0);
    assert_eq!(links_settle(b.root(), links0), links0, "its veth went with it");
    // The next request starts another.
    let (status, h3) = get(port, "/cgi-bin/host");
    assert_eq!(status, 200);
    assert_ne!(h3, h1, "a new instance (another hostname)");
    let log = std::fs::read_to_string(berth_functions::Registry::new(b.root()).log_path("hello")).unwrap();
    assert!(log.contains("started in") && log.contains("idle for 2s: stopped"), "{log}");
    // A graceful stop of the gateway removes its instances.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gw.0.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let _ = gw.0.wait();
    assert_eq!(instances(b.root()), 0, "shutdown removes its instances");
    assert_eq!(links_settle(b.root(), links0), links0, "no veth left");
    assert_eq!(mounts_of(b.root()), 0, "no mount left");
}

#[test]
#[ignore = "needs root"]
fn scales_out_under_concurrency_and_back() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    deploy(&b, "wide", &vol, &["--concurrency", "2", "--max-instances", "3"]);
    let (port, _gw) = serve(&b);
    let burst = |n: usize| -> Vec<(u16, String)> {
        let ts: Vec<_> = (0..n).map(|_| std::thread::spawn(move || get(port, "/cgi-bin/slow"))).collect();
        ts.into_iter().map(|t| t.join().unwrap()).collect()
    };
    // 6 slow requests at once, 2 per instance: 3 instances.
    let hosts = burst(6);
    assert!(hosts.iter().all(|(s, _)| *s == 200), "{hosts:?}");
    let distinct: BTreeSet<&String> = hosts.iter().map(|(_, h)| h).collect();
    assert_eq!(distinct.len(), 3, "three instances served: {hosts:?}");
    // 10 at once, at most 3 instances of 2: all served (some wait), never a 4th instance.
    let hosts = burst(10);
    assert!(hosts.iter().all(|(s, _)| *s == 200), "{hosts:?}");
    assert!(hosts.iter().map(|(_, h)| h).collect::<BTreeSet<_>>().len() <= 3);
    assert!(instances(b.root()) <= 3);
    // Back down to zero once idle.
    wait_until("scale back to zero", Duration::from_secs(20), || instances(b.root()) == 0);
}

#[test]
#[ignore = "needs root"]
fn a_crash_is_502_and_the_instance_replaced() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    deploy(&b, "crashy", &vol, &[]);
    let (port, _gw) = serve(&b);
    let (_, before) = get(port, "/cgi-bin/host");
    let (status, body) = get(port, "/cgi-bin/crash");
    assert_eq!(status, 502, "{body}");
    // The dead instance leaves the pool and is removed; the next request gets a new one.
    wait_until("the crashed instance to be removed", Duration::from_secs(10), || instances(b.root()) == 0);
    let (status, after) = get(port, "/cgi-bin/host");
    assert_eq!(status, 200);
    assert_ne!(before, after);
}

#[test]
#[ignore = "needs root"]
fn an_instance_that_never_listens_is_502_and_leaves_nothing() {
    let b = busybox_root();
    let tar = busybox_tar();
    b.ok(&["import", "--change", r#"CMD ["false"]"#, tar.to_str().unwrap(), "fnhttpd"]);
    let vol = www(b.root());
    deploy(&b, "broken", &vol, &[]);
    let (port, _gw) = serve(&b);
    let (status, body) = get(port, "/");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("exited before it listened"), "{body}");
    wait_until("no instance", Duration::from_secs(10), || instances(b.root()) == 0);
}

#[test]
#[ignore = "needs root"]
fn a_sigkilled_gateway_leaves_nothing_once_the_next_serve_starts() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let links0 = links_with_bridge(&b);
    let mounts0 = mounts_of(b.root());
    deploy(&b, "hello", &vol, &["--min-instances", "1", "--idle-timeout", "1h"]);
    let (port, mut gw) = serve(&b);
    assert_eq!(get(port, "/index.html").0, 200);
    gw.0.kill().unwrap(); // SIGKILL
    gw.0.wait().unwrap();
    assert_eq!(instances(b.root()), 1, "the killed gateway's instance still runs");
    assert!(mounts_of(b.root()) > mounts0);
    // The next gateway removes it (and, min-instances 1, starts its own).
    let (port, mut gw) = serve(&b);
    wait_until("the leftover to be swept", Duration::from_secs(10), || {
        let e = berth_engine::Engine::open(b.root()).unwrap();
        let pid = gw.0.id().to_string();
        e.list_containers().unwrap().iter().all(|c| c.config.labels.get(native::GATEWAY_LABEL) == Some(&pid))
    });
    assert_eq!(get(port, "/index.html").0, 200);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gw.0.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let _ = gw.0.wait();
    assert_eq!(instances(b.root()), 0);
    assert_eq!(links_settle(b.root(), links0), links0, "no veth left");
    assert_eq!(mounts_of(b.root()), mounts0, "no mount left");
}

#[test]
#[ignore = "needs root"]
fn deploy_ls_inspect_logs_rm_round_trip() {
    let b = busybox_root();
    import_httpd(&b);
    let out = b.ok(&["function", "deploy", "hello", "fnhttpd", "-e", "A=1", "--memory", "64m", "--max-instances", "4"]);
    assert_eq!(out, "hello: native function on /hello\n");
    b.ok(&["function", "deploy", "other", "fnhttpd", "--route", "/o", "--host", "Example.com"]);
    let ls = b.ok(&["function", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("NAME ") && lines[0].contains("COLD STARTS"), "{ls}");
    assert!(lines[1].starts_with("hello ") && lines[1].contains(" native ") && lines[1].contains(" /hello "), "{ls}");
    assert!(lines[2].contains("example.com/o"), "{ls}");
    assert_eq!(b.ok(&["function", "ls", "-q"]), "hello\nother\n");
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["function", "inspect", "hello"])).unwrap();
    assert_eq!(v[0]["name"], "hello");
    assert_eq!(v[0]["kind"], "native");
    assert_eq!(v[0]["env"][0], "A=1");
    assert_eq!(v[0]["memory"], 64 << 20);
    assert_eq!(v[0]["max_instances"], 4);
    assert_eq!(v[0]["timeout"], "30s");
    assert!(v[0]["stats"].is_null(), "no gateway runs");
    // A redeploy updates it in place.
    b.ok(&["function", "deploy", "hello", "fnhttpd", "--route", "/v2"]);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["function", "inspect", "hello"])).unwrap();
    assert_eq!(v[0]["route"], "/v2");
    assert_eq!(b.ok(&["function", "logs", "hello"]), "");
    assert_eq!(b.ok(&["function", "rm", "hello", "other"]), "hello\nother\n");
    assert_eq!(b.ok(&["function", "ls", "-q"]), "");
    assert!(b.fails(&["function", "inspect", "hello"]).contains("No such function: hello"));
    assert!(b.fails(&["function", "rm", "hello"]).contains("No such function: hello"));
}

#[test]
#[ignore = "needs root"]
fn bad_input_is_refused_and_leaves_nothing() {
    let b = busybox_root();
    import_httpd(&b);
    let records = || std::fs::read_dir(b.root().join("functions")).map(|d| d.count()).unwrap_or(0);
    // An image that does not exist.
    let e = b.fails(&["function", "deploy", "ghost", "no-such-image:1"]);
    assert!(e.contains("no such image: no-such-image:1"), "{e}");
    assert_eq!(records(), 0);
    // A duplicate route (same host and path), also through a trailing slash.
    b.ok(&["function", "deploy", "one", "fnhttpd", "--route", "/api"]);
    let before = records();
    let e = b.fails(&["function", "deploy", "two", "fnhttpd", "--route", "/api/"]);
    assert!(e.contains("route /api of function \"two\" is already taken by function \"one\""), "{e}");
    assert_eq!(records(), before);
    // Bad flag values.
    assert!(b.fails(&["function", "deploy", "bad name", "fnhttpd"]).contains("invalid function name"));
    assert!(b.fails(&["function", "deploy", "x", "fnhttpd", "--route", "api"]).contains("must start with /"));
    assert!(b.fails(&["function", "deploy", "x", "fnhttpd", "--timeout", "soon"]).contains("invalid duration"));
    let e = b.fails(&["function", "deploy", "x", "fnhttpd", "--min-instances", "3", "--max-instances", "2"]);
    assert!(e.contains("min-instances"), "{e}");
    assert!(b.fails(&["function", "deploy", "x", "fnhttpd", "--network", "none"]).contains("could not reach"));
    assert!(b.fails(&["function", "deploy", "x", "fnhttpd", "--env-file", "/no/such.env"]).contains("/no/such.env"));
    assert_eq!(records(), before);
    // A malformed functions file: `serve -f` names the file, the line and the field.
    let f = b.root().join("functions.yaml");
    std::fs::write(&f, "functions:\n  - name: a\n    image: fnhttpd\n    concurency: 3\n").unwrap();
    let o = b.cmd().args(["serve", "--addr", "127.0.0.1:0", "-f", f.to_str().unwrap()]).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("functions.yaml:4: unknown field \"concurency\""), "{e}");
    std::fs::write(&f, "functions:\n  - name: a\n    image: fnhttpd\n  - name: b\n    image: fnhttpd\n    route: /a\n")
        .unwrap();
    let o = b.cmd().args(["serve", "--addr", "127.0.0.1:0", "-f", f.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already taken"));
}

#[test]
#[ignore = "needs root"]
fn sweep_removes_a_killed_gateways_instances() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let links0 = links_with_bridge(&b);
    // A gateway that started an instance and was SIGKILLed: its container still runs,
    // labelled with the dead gateway's pid.
    let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let dead_pid = child.id();
    b.ok(&[
        "run",
        "-d",
        "-v",
        &vol,
        "-e",
        "PORT=8080",
        "--label",
        &format!("{}=hello", native::FUNCTION_LABEL),
        "--label",
        &format!("{}={dead_pid}", native::GATEWAY_LABEL),
        "fnhttpd",
    ]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(instances(b.root()), 1);
    assert!(mounts_of(b.root()) > 0);
    assert_eq!(native::sweep(b.root()).unwrap(), 1);
    assert_eq!(instances(b.root()), 0);
    assert_eq!(links_settle(b.root(), links0), links0, "no veth left");
    assert_eq!(mounts_of(b.root()), 0, "no mount left");
}
