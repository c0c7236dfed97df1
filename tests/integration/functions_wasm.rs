//! `berth serve` with wasm functions: the gateway in front of `wasi:http/proxy` components, a
//! fresh instance per request. The components are the Python and JavaScript fixtures
//! (`$BERTH_FIXTURES/wasm/hello-http*.wasm`) and a small one written in component WAT
//! (`functions_wasm/http.wat`), packaged at test time by `berth wasm package`, whose handler
//! the tests vary: count requests (the count must stay 1: no state leaks), spin, grow its
//! memory. No test needs root; none reaches beyond 127.0.0.1.

use berth_tests::{fixtures_dir, free_port, Berth};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const HTTP_WAT: &str = include_str!("functions_wasm/http.wat");

fn wasm_fixture(name: &str) -> Option<PathBuf> {
    let p = fixtures_dir().join("wasm").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} is missing (see shared/recipes/wasm-fixtures.md)", p.display());
        None
    }
}

/// Packages the test component with `behave` spliced into its handler as image `name`.
fn component(b: &Berth, name: &str, behave: &str) {
    component_to(b, name, behave, "localhost")
}

/// [`component`] whose `$fetch` sends to `authority`.
fn component_to(b: &Berth, name: &str, behave: &str, authority: &str) {
    let wat = b.root().join(format!("{name}.wat"));
    let text = HTTP_WAT
        .replace(";;BEHAVE", behave)
        .replace(";;AUTHORITY", authority)
        .replace(";;AUTHLEN", &authority.len().to_string());
    std::fs::write(&wat, text).unwrap();
    b.ok(&["wasm", "package", wat.to_str().unwrap(), "-t", name]);
}

const SPIN: &str = "(loop $l (br $l))";
/// Grows the memory a page at a time until that fails, then traps.
const GROW: &str =
    "(block $done (loop $l (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l))) unreachable";

/// A running `berth serve`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Gateway {
    child: Child,
    port: u16,
    metrics: u16,
}

impl Gateway {
    fn start(b: &Berth, file: &str) -> Gateway {
        let f = b.root().join("functions.yaml");
        std::fs::write(&f, file).unwrap();
        let (port, metrics) = (free_port(), free_port());
        let mut child = b
            .cmd()
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .arg("-f")
            .arg(&f)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Compiling the interpreter components takes a while on a cold cache.
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(l) if l.contains("listening") => {}
            other => {
                let _ = child.kill();
                let o = child.wait_with_output().unwrap();
                panic!("berth serve did not start: {other:?}\n{}", String::from_utf8_lossy(&o.stderr));
            }
        }
        Gateway { child, port, metrics }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// GET `url`: status, headers, body.
async fn get(c: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = c.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, h, r.text().await.unwrap())
}

#[test]
fn serves_components_fresh_instance_per_request() {
    let (Some(py), Some(js)) = (wasm_fixture("hello-http.wasm"), wasm_fixture("hello-http-js.wasm")) else { return };
    let b = Berth::new();
    b.ok(&["wasm", "package", py.to_str().unwrap(), "-t", "hello-py"]);
    b.ok(&["wasm", "package", js.to_str().unwrap(), "-t", "hello-js"]);
    component(&b, "counter", "");
    let gw = Gateway::start(
        &b,
        "functions:\n  - name: py\n    image: hello-py\n    env: {GREETING: hey}\n  - name: js\n    image: hello-js\n    route: /js\n  - name: counter\n    image: counter\n    route: /\n",
    );
    rt().block_on(async {
        let c = reqwest::Client::new();
        let (s, _, body) = get(&c, &gw.url("/py")).await;
        assert_eq!((s, body.as_str()), (200, "hello from berth wasm\n"));
        // The function sees the path below its route, and its environment.
        let (s, _, body) = get(&c, &gw.url("/py/env/GREETING")).await;
        assert_eq!((s, body.trim()), (200, "hey"));
        let (s, _, _) = get(&c, &gw.url("/py/nope")).await;
        assert_eq!(s, 404);
        let (s, _, body) = get(&c, &gw.url("/js/")).await;
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("hello from berth wasm"), "{body}");
        // Everything else goes to the component at `/`: a fresh instance every time, so its
        // request counter is 1 each time; the body comes in chunks after the headers.
        for i in 0..20 {
            let (s, h, body) = get(&c, &gw.url(&format!("/anything/{i}"))).await;
            assert_eq!(s, 200);
            assert_eq!(h.get("x-count").map(|v| v.to_str().unwrap()), Some("1"));
            assert!(h.get("content-length").is_none(), "a streamed body: {h:?}");
            assert_eq!(body, "count=1\n");
        }
        // h2c on the same port.
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
        let r = h2.get(gw.url("/x")).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.text().await.unwrap(), "count=1\n");
        // A declared body over the limit is refused before any instance.
        // (Headers only: the gateway answers without reading the body.)
        let head = {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
            s.write_all(format!("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", 33u64 << 20).as_bytes())
                .unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        let m = c.get(format!("http://127.0.0.1:{}/metrics", gw.metrics)).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("berth_function_requests_total{function=\"counter\",code=\"200\"} 21"), "{m}");
        assert!(m.contains("berth_function_requests_total{function=\"py\",code=\"404\"} 1"), "{m}");
        assert!(m.contains("berth_function_instantiation_seconds_count{function=\"counter\"} 21"), "{m}");
        assert!(m.contains("berth_function_request_duration_seconds_bucket{function=\"js\""), "{m}");
    });
    // An access line per request in the function's log.
    let log = std::fs::read_to_string(b.root().join("functions/logs/py.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"GET /py/env/GREETING HTTP/1.1\" 200")), "{log}");
    assert_eq!(log.lines().filter(|l| l.contains("\"GET /py")).count(), 3, "{log}");
}

#[test]
fn a_spinning_request_times_out_while_others_are_served() {
    let b = Berth::new();
    component(&b, "spin", SPIN);
    component(&b, "counter", "");
    let gw = Gateway::start(
        &b,
        "functions:\n  - name: spin\n    image: spin\n    timeout: 5s\n  - name: counter\n    image: counter\n",
    );
    rt().block_on(async {
        let c = reqwest::Client::new();
        let t = Instant::now();
        let spin = tokio::spawn({
            let (c, u) = (c.clone(), gw.url("/spin"));
            async move { get(&c, &u).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut all = Vec::new();
        for _ in 0..50 {
            let (c, u) = (c.clone(), gw.url("/counter"));
            all.push(tokio::spawn(async move { get(&c, &u).await }));
        }
        for h in all {
            let (s, _, body) = h.await.unwrap();
            assert_eq!((s, body.as_str()), (200, "count=1\n"));
        }
        // All answered while the spinning request still runs (an order, not a stopwatch).
        assert!(!spin.is_finished(), "the others waited for the spinning one: {:?}", t.elapsed());
        let (s, _, body) = spin.await.unwrap();
        assert_eq!(s, 504, "{body}");
        assert!(body.contains("timeout"), "{body}");
        assert!(t.elapsed() >= Duration::from_secs(5), "cut before its timeout: {:?}", t.elapsed());
        // The gateway goes on serving, the spinning function included.
        assert_eq!(get(&c, &gw.url("/counter")).await.0, 200);
    });
}

#[test]
fn a_memory_overrun_fails_that_request_only() {
    let b = Berth::new();
    component(&b, "grow", GROW);
    let gw = Gateway::start(&b, "functions:\n  - name: grow\n    image: grow\n    memory: 16m\n");
    rt().block_on(async {
        let c = reqwest::Client::new();
        for _ in 0..3 {
            let (s, _, body) = get(&c, &gw.url("/grow")).await;
            assert_eq!(s, 500, "{body}");
            assert!(body.contains("memory limit"), "{body}");
        }
        let m = c.get(format!("http://127.0.0.1:{}/metrics", gw.metrics)).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("berth_function_requests_total{function=\"grow\",code=\"500\"} 3"), "{m}");
    });
    let log = std::fs::read_to_string(b.root().join("functions/logs/grow.log")).unwrap();
    assert!(log.contains("exceeded its memory limit"), "{log}");
}

#[test]
fn bad_components_and_routes_are_refused() {
    let b = Berth::new();
    let serve = |file: &str| {
        let f = b.root().join("bad.yaml");
        std::fs::write(&f, file).unwrap();
        let port = free_port().to_string();
        let o = b
            .cmd()
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "-f", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!o.status.success(), "serve started: {}", String::from_utf8_lossy(&o.stdout));
        assert!(!b.root().join("functions/gateway.pid").exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // A core module.
    let core = b.root().join("core.wat");
    std::fs::write(&core, "(module (func (export \"_start\")))").unwrap();
    b.ok(&["wasm", "package", core.to_str().unwrap(), "-t", "core"]);
    let e = serve("functions:\n  - name: core\n    image: core\n");
    assert!(e.contains("not a component"), "{e}");
    // A component without the handler: the error names what it exports.
    let run = b.root().join("run.wat");
    std::fs::write(
        &run,
        "(component (core module $m (func (export \"f\"))) (core instance $i (instantiate $m)) (func $f (canon lift (core func $i \"f\"))) (export \"run\" (func $f)))",
    )
    .unwrap();
    b.ok(&["wasm", "package", run.to_str().unwrap(), "-t", "nohandler"]);
    let e = serve("functions:\n  - name: nh\n    image: nohandler\n");
    assert!(e.contains("does not export wasi:http/incoming-handler (it exports run)"), "{e}");
    // Two functions on one route.
    component(&b, "counter", "");
    let e = serve(
        "functions:\n  - name: a\n    image: counter\n    route: /x\n  - name: b\n    image: counter\n    route: /x/\n",
    );
    assert!(e.contains("/x"), "{e}");
    // A missing image.
    let e = serve("functions:\n  - name: gone\n    image: no-such-image\n");
    assert!(e.contains("no-such-image"), "{e}");
}

/// The pids of processes whose command line names `root`.
fn processes_of(root: &std::path::Path) -> Vec<i32> {
    let needle = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn a_sigkilled_gateway_leaves_nothing_behind() {
    let b = Berth::new();
    component(&b, "counter", "");
    let f = b.root().join("functions.yaml");
    std::fs::write(&f, "functions:\n  - name: counter\n    image: counter\n").unwrap();
    let port = free_port();
    let mounts_before = std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(b.root().to_str().unwrap()))
        .count();
    let pid: i32 = b
        .ok(&["serve", "-d", "--addr", &format!("127.0.0.1:{port}"), "-f", f.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    assert!(processes_of(b.root()).contains(&pid));
    rt().block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(get(&c, &format!("http://127.0.0.1:{port}/counter")).await.0, 200);
    });
    // A second gateway on the same root is refused while the first runs.
    let e = b.fails(&["serve", "--addr", &format!("127.0.0.1:{}", free_port())]);
    assert!(e.contains("already running"), "{e}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    let t = Instant::now();
    while processes_of(b.root()).contains(&pid) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next serve starts (the dead one's lock went with it) and serves.
    let pid2: i32 = b.ok(&["serve", "-d", "--addr", &format!("127.0.0.1:{port}")]).trim().parse().unwrap();
    rt().block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(get(&c, &format!("http://127.0.0.1:{port}/counter")).await.0, 200);
    });
    assert_eq!(processes_of(b.root()), vec![pid2], "only the new gateway runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid2), nix::sys::signal::SIGTERM).unwrap();
    let t = Instant::now();
    while !processes_of(b.root()).is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(processes_of(b.root()).is_empty(), "the gateway outlived SIGTERM");
    assert!(!b.root().join("functions/gateway.pid").exists());
    let mounts_after = std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(b.root().to_str().unwrap()))
        .count();
    assert_eq!(mounts_before, mounts_after);
}

#[test]
fn outbound_requests_only_to_allowed_hosts() {
    let b = Berth::new();
    // An upstream on 127.0.0.1 answering 299 to anything.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in upstream.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 299 Fine\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    component_to(&b, "fetch", "(call $fetch)", &up.to_string());
    let gw = Gateway::start(
        &b,
        &format!(
            "functions:\n  - name: allowed\n    image: fetch\n    allow_outbound: [\"127.0.0.1:{}\"]\n  - name: other-port\n    image: fetch\n    allow_outbound: [\"127.0.0.1:1\"]\n  - name: denied\n    image: fetch\n",
            up.port()
        ),
    );
    rt().block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(get(&c, &gw.url("/allowed")).await.0, 299);
        assert_eq!(get(&c, &gw.url("/other-port")).await.0, 403);
        assert_eq!(get(&c, &gw.url("/denied")).await.0, 403);
    });
}

/// Polls `url` until it answers `want` (the gateway reloads its routes within a poll period).
async fn until_status(c: &reqwest::Client, url: &str, want: u16) {
    let t = Instant::now();
    loop {
        let s = get(c, url).await.0;
        if s == want {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{url}: still {s}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_running_gateway_picks_up_deploys_and_removals() {
    let b = Berth::new();
    component(&b, "counter", "");
    let gw = Gateway::start(&b, "functions:\n  - name: one\n    image: counter\n");
    rt().block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(get(&c, &gw.url("/one")).await.0, 200);
        assert_eq!(get(&c, &gw.url("/two/x")).await.0, 404);
        b.ok(&["function", "deploy", "two", "counter", "--route", "/two"]);
        until_status(&c, &gw.url("/two/x"), 200).await;
        // A taken route is refused at deploy; the running routes stay.
        let e = b.fails(&["function", "deploy", "three", "counter", "--route", "/two"]);
        assert!(e.contains("/two"), "{e}");
        b.ok(&["function", "rm", "two"]);
        until_status(&c, &gw.url("/two/x"), 404).await;
        assert_eq!(get(&c, &gw.url("/one")).await.0, 200);
        let ls = b.ok(&["function", "ls"]);
        assert!(ls.contains("one") && !ls.contains("two"), "{ls}");
    });
}
