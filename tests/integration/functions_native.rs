//! Native functions (docs/functions.md, "Deploying and native functions"): a busybox `httpd`
//! on `$PORT` serving a static file and CGI scripts from a bind-mounted directory, run by the
//! native pool (`berth_functions::native`) as berth containers: scaled from zero and back to
//! zero, scaled out under concurrency and back, a crash answered 502 and replaced, a killed
//! gateway's instances swept; and `berth function deploy|ls|inspect|rm` with its bad inputs.

use berth_functions::backend::{full, Backend};
use berth_functions::native::{self, Native};
use berth_functions::FunctionSpec;
use berth_tests::{busybox_root, busybox_tar, links_settle, root_links, Berth};
use http_body_util::BodyExt;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
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

fn spec(name: &str, volume: &str) -> FunctionSpec {
    let mut s = FunctionSpec {
        name: name.into(),
        image: "fnhttpd".into(),
        volumes: vec![volume.into()],
        idle_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(20),
        ..Default::default()
    };
    s.validate().unwrap();
    s
}

async fn get(b: &Native, path: &str) -> (u16, String) {
    let req = http::Request::builder().uri(format!("http://gw{path}")).body(full("")).unwrap();
    let resp = b.handle(req).await;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
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

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
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

#[test]
#[ignore = "needs root"]
fn scales_from_zero_to_zero_and_back() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let rt = rt();
    let links0 = links_with_bridge(&b);
    let backend = rt.block_on(async { Native::new(b.root(), spec("hello", &vol)).unwrap() });
    assert_eq!(backend.instances(), 0);
    assert_eq!(instances(b.root()), 0, "nothing runs before the first request");
    let (status, body) = rt.block_on(get(&backend, "/index.html"));
    assert_eq!((status, body.as_str()), (200, "hello from a native function\n"));
    assert_eq!(backend.instances(), 1);
    assert_eq!(backend.cold_starts(), 1);
    assert_eq!(instances(b.root()), 1);
    // Warm: the same instance answers.
    let (_, h1) = rt.block_on(get(&backend, "/cgi-bin/host"));
    let (_, h2) = rt.block_on(get(&backend, "/cgi-bin/host"));
    assert_eq!(h1, h2);
    assert_eq!(backend.cold_starts(), 1);
    // Idle past the timeout (2 s): stopped and removed.
    wait_until("the idle instance to go", Duration::from_secs(15), || instances(b.root()) == 0);
    assert_eq!(backend.instances(), 0);
    // The next request starts another.
    let (status, h3) = rt.block_on(get(&backend, "/cgi-bin/host"));
    assert_eq!(status, 200);
    assert_ne!(h3, h1, "a new instance (another hostname)");
    assert_eq!(backend.cold_starts(), 2);
    rt.block_on(backend.shutdown());
    assert_eq!(instances(b.root()), 0, "shutdown removes its instances");
    assert_eq!(links_settle(b.root(), links0), links0, "no veth left");
    assert_eq!(mounts_of(b.root()), 0, "no mount left");
    let log = std::fs::read_to_string(berth_functions::Registry::new(b.root()).log_path("hello")).unwrap();
    assert!(log.contains("started in") && log.contains("idle for 2s: stopped"), "{log}");
}

#[test]
#[ignore = "needs root"]
fn scales_out_under_concurrency_and_back() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let rt = rt();
    let mut s = spec("wide", &vol);
    s.concurrency = 2;
    s.max_instances = 3;
    let backend = Arc::new(rt.block_on(async { Native::new(b.root(), s).unwrap() }));
    // 6 slow requests at once, 2 per instance: 3 instances, each answering 2.
    let hosts: Vec<(u16, String)> = rt.block_on(async {
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let be = backend.clone();
                tokio::spawn(async move { get(&be, "/cgi-bin/slow").await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert!(hosts.iter().all(|(s, _)| *s == 200), "{hosts:?}");
    let distinct: BTreeSet<&String> = hosts.iter().map(|(_, h)| h).collect();
    assert_eq!(distinct.len(), 3, "three instances served: {hosts:?}");
    assert_eq!(backend.instances(), 3);
    // 10 at once with max 3 instances of 2: all served (some wait), never a 4th instance.
    let statuses: Vec<u16> = rt.block_on(async {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let be = backend.clone();
                tokio::spawn(async move { get(&be, "/cgi-bin/slow").await.0 })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(statuses, vec![200; 10]);
    assert!(instances(b.root()) <= 3);
    // Back down to zero once idle.
    wait_until("scale back to zero", Duration::from_secs(20), || instances(b.root()) == 0);
    assert_eq!(backend.instances(), 0);
    rt.block_on(backend.shutdown());
}

#[test]
#[ignore = "needs root"]
fn a_crash_is_502_and_the_instance_replaced() {
    let b = busybox_root();
    import_httpd(&b);
    let vol = www(b.root());
    let rt = rt();
    let backend = rt.block_on(async { Native::new(b.root(), spec("crashy", &vol)).unwrap() });
    let (_, before) = rt.block_on(get(&backend, "/cgi-bin/host"));
    let (status, body) = rt.block_on(get(&backend, "/cgi-bin/crash"));
    assert_eq!(status, 502, "{body}");
    // The dead instance leaves the pool and is removed; the next request gets a new one.
    wait_until("the crashed instance to be removed", Duration::from_secs(10), || instances(b.root()) == 0);
    let (status, after) = rt.block_on(get(&backend, "/cgi-bin/host"));
    assert_eq!(status, 200);
    assert_ne!(before, after);
    assert_eq!(backend.cold_starts(), 2);
    rt.block_on(backend.shutdown());
    assert_eq!(instances(b.root()), 0);
}

#[test]
#[ignore = "needs root"]
fn a_failing_start_is_502_and_leaves_nothing() {
    let b = busybox_root();
    // An image whose command exits at once: it never listens.
    let tar = busybox_tar();
    b.ok(&["import", "--change", r#"CMD ["false"]"#, tar.to_str().unwrap(), "fnhttpd"]);
    let vol = www(b.root());
    let rt = rt();
    let backend = rt.block_on(async { Native::new(b.root(), spec("broken", &vol)).unwrap() });
    let (status, body) = rt.block_on(get(&backend, "/"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("exited before it listened"), "{body}");
    rt.block_on(backend.shutdown());
    assert_eq!(instances(b.root()), 0);
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
