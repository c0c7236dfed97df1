//! The gateway: `berth serve`'s HTTP edge in front of every deployed function.
//!
//! One listener, HTTP/1.1 and h2c on the same port (hyper-util's auto connection builder).
//! A request goes to the function with the longest route prefix matching its path (a route
//! `/a` matches `/a` and `/a/...`, not `/ab`), a function with a `host` only for that `Host`
//! (and preferred over a host-less one on the same prefix). The function sees the path below
//! its route (`/hello/x` at route `/hello` is `/x`), with the route in `X-Forwarded-Prefix`,
//! so one component serves at any route; `X-Forwarded-For/Proto/Host` say where the request
//! came from. The routes are reloaded whenever the registry's generation changes (a deploy or
//! a removal), without a restart: unchanged functions keep their loaded backend, removed ones
//! are drained.
//!
//! The edge protects the workers: a request body declared larger than the limit gets 413 (one
//! that streams past it fails when it does), a client that trickles its headers is dropped
//! after the header timeout, one that stalls its body gets an error after the body timeout, and
//! shutdown (SIGTERM, SIGINT) stops accepting, lets in-flight requests finish (up to the drain
//! timeout) and shuts the backends down. Every request leaves an access line in its function's
//! log; the numbers go to Prometheus's `/metrics` (on `--metrics-addr`, see [`crate::metrics`])
//! and, once a second, to the stats file `berth function ls` reads.

use crate::backend::{text_response, Backend, Body, ColdStart};
use crate::metrics::Metrics;
use crate::spec::{FunctionSpec, Kind, Registry, Stats};
use crate::wasm::{Log, WasmFunction};
use crate::{Error, Result};
use berth_engine::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How the gateway listens and what it tolerates.
#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// Request bodies larger than this get 413.
    pub body_limit: u64,
    /// A client must send its request headers within this.
    pub header_timeout: Duration,
    /// A request body may stall this long between chunks.
    pub body_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// How often the registry's generation is checked.
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_addr: None,
            body_limit: 32 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            poll: Duration::from_millis(200),
        }
    }
}

/// Makes a native function's backend (the native module's; the gateway does not know how).
pub type NativeFactory = Arc<dyn Fn(&Engine, &Registry, &FunctionSpec) -> Result<Arc<dyn Backend>> + Send + Sync>;

/// The native module's backends ([`crate::native::Native`]).
pub fn native_factory() -> NativeFactory {
    Arc::new(|engine: &Engine, _: &Registry, spec: &FunctionSpec| {
        Ok(Arc::new(crate::native::Native::new(engine.root(), spec.clone())?) as Arc<dyn Backend>)
    })
}

/// One routed function.
struct Route {
    spec: FunctionSpec,
    backend: Arc<dyn Backend>,
    log: Log,
}

/// The routing table: routes longest prefix first.
#[derive(Default)]
struct Table {
    generation: u64,
    routes: Vec<Arc<Route>>,
}

impl Table {
    fn find(&self, host: &str, path: &str) -> Option<(Arc<Route>, String)> {
        for r in &self.routes {
            if r.spec.host.as_deref().is_some_and(|h| h != host) {
                continue;
            }
            let prefix = r.spec.route.as_str();
            let rest = if prefix == "/" {
                Some(path)
            } else {
                path.strip_prefix(prefix).filter(|rest| rest.is_empty() || rest.starts_with('/'))
            };
            if let Some(rest) = rest {
                let rest = if rest.is_empty() { "/" } else { rest };
                return Some((r.clone(), rest.to_string()));
            }
        }
        None
    }
}

/// The running gateway's shared state.
struct Gateway {
    engine: Engine,
    reg: Registry,
    opts: Options,
    table: RwLock<Table>,
    metrics: Metrics,
    native: Option<NativeFactory>,
}

impl Gateway {
    /// Rebuilds the table when the registry changed; keeps the backends of unchanged functions.
    async fn reload(self: &Arc<Self>, force: bool) {
        let generation = self.reg.generation();
        if !force && generation == self.table.read().unwrap_or_else(|p| p.into_inner()).generation {
            return;
        }
        let specs = match self.reg.list() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("functions registry: {e}");
                return;
            }
        };
        let old: BTreeMap<String, Arc<Route>> = self
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .routes
            .iter()
            .map(|r| (r.spec.name.clone(), r.clone()))
            .collect();
        let mut routes = Vec::new();
        for spec in specs {
            if let Some(r) = old.get(&spec.name).filter(|r| r.spec == spec) {
                routes.push(r.clone());
                continue;
            }
            let me = self.clone();
            let s = spec.clone();
            // Loading compiles (or maps) a component: off the async workers.
            let made = tokio::task::spawn_blocking(move || me.backend(&s)).await;
            match made {
                Ok(Ok(backend)) => {
                    let log = Log::open(&self.reg, &spec.name);
                    eprintln!(
                        "berth serve: function {} ({}) at {}{}",
                        spec.name,
                        kind_of(&spec),
                        spec.host.as_deref().unwrap_or(""),
                        spec.route
                    );
                    routes.push(Arc::new(Route { spec, backend, log }))
                }
                Ok(Err(e)) => eprintln!("berth serve: function {}: {e}", spec.name),
                Err(e) => eprintln!("berth serve: function {}: {e}", spec.name),
            }
        }
        // Longest prefix first; on the same prefix, a function for a host before one for any.
        routes.sort_by(|a, b| {
            b.spec.route.len().cmp(&a.spec.route.len()).then(b.spec.host.is_some().cmp(&a.spec.host.is_some()))
        });
        let kept: Vec<String> = routes.iter().map(|r| r.spec.name.clone()).collect();
        for (name, r) in old {
            let same = routes.iter().any(|n| Arc::ptr_eq(n, &r));
            if !same {
                if !kept.contains(&name) {
                    eprintln!("berth serve: function {name} removed");
                }
                tokio::spawn(r.backend.shutdown());
            }
        }
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        t.generation = generation;
        t.routes = routes;
    }

    fn backend(&self, spec: &FunctionSpec) -> Result<Arc<dyn Backend>> {
        match spec.kind.unwrap_or_default() {
            Kind::Wasm => Ok(Arc::new(WasmFunction::load(&self.engine, &self.reg, spec)?)),
            Kind::Native => match &self.native {
                Some(f) => f(&self.engine, &self.reg, spec),
                None => Err(Error::Other("native functions are not supported by this gateway".into())),
            },
        }
    }

    async fn serve(
        self: Arc<Self>,
        req: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> http::Response<Body> {
        let start = Instant::now();
        let (mut parts, body) = req.into_parts();
        let host_header = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let host = host_header.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host_header).to_ascii_lowercase();
        let path = parts.uri.path().to_string();
        let line = format!(
            "{} {} {:?}",
            parts.method,
            parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            parts.version
        );
        let found = self.table.read().unwrap_or_else(|p| p.into_inner()).find(&host, &path);
        let Some((route, rest)) = found else {
            self.metrics.request("", 404, start.elapsed(), None, false);
            return text_response(http::StatusCode::NOT_FOUND, format!("no function serves {path}"));
        };
        let name = route.spec.name.clone();
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let resp = if declared.is_some_and(|n| n > self.opts.body_limit) {
            text_response(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than the limit of {} bytes", self.opts.body_limit),
            )
        } else {
            // The function sees the path below its route, and where the request came from.
            let pq = match parts.uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest,
            };
            let authority = if host_header.is_empty() { self.opts.addr.to_string() } else { host_header.clone() };
            parts.uri = http::Uri::builder()
                .scheme("http")
                .authority(authority.as_str())
                .path_and_query(pq.as_str())
                .build()
                .unwrap_or_else(|_| http::Uri::from_static("/"));
            let h = &mut parts.headers;
            let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prev) => format!("{prev}, {}", peer.ip()),
                None => peer.ip().to_string(),
            };
            let set = |h: &mut http::HeaderMap, k: &'static str, v: &str| {
                if let Ok(v) = http::HeaderValue::from_str(v) {
                    h.insert(k, v);
                }
            };
            set(h, "x-forwarded-for", &xff);
            if !h.contains_key("x-forwarded-proto") {
                set(h, "x-forwarded-proto", "http");
            }
            if !host_header.is_empty() && !h.contains_key("x-forwarded-host") {
                set(h, "x-forwarded-host", &host_header);
            }
            if route.spec.route != "/" {
                set(h, "x-forwarded-prefix", &route.spec.route);
            }
            let body = Guarded {
                inner: body,
                limit: self.opts.body_limit,
                seen: 0,
                stall: self.opts.body_timeout,
                timer: None,
            };
            let req = http::Request::from_parts(parts, body.boxed());
            route.backend.handle(req).await
        };
        let status = resp.status().as_u16();
        let took = start.elapsed();
        let inst = resp.extensions().get::<berth_runtime_wasm::http::Instantiation>().map(|i| i.0);
        let cold = resp.extensions().get::<ColdStart>().is_some();
        self.metrics.request(&name, status, took, inst, cold);
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let _ = route.log.write(
            format!("{when} {} \"{line}\" {status} {:.3}ms host={host}\n", peer.ip(), took.as_secs_f64() * 1000.0)
                .as_bytes(),
        );
        resp
    }

    fn stats(&self) -> Stats {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        let mut s = Stats {
            pid: std::process::id(),
            addr: self.opts.addr.to_string(),
            updated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            functions: BTreeMap::new(),
        };
        for r in &t.routes {
            let mut f = self.metrics.function_stats(&r.spec.name);
            f.instances = r.backend.instances();
            f.cold_starts += r.backend.cold_starts();
            s.functions.insert(r.spec.name.clone(), f);
        }
        s
    }
}

fn kind_of(spec: &FunctionSpec) -> Kind {
    spec.kind.unwrap_or_default()
}

/// A request body under the gateway's limits: at most `limit` bytes in all, and no longer
/// than `stall` between two chunks (a slow client cannot hold an instance forever).
struct Guarded {
    inner: hyper::body::Incoming,
    limit: u64,
    seen: u64,
    stall: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.timer = None;
                if let Some(d) = f.data_ref() {
                    this.seen += d.len() as u64;
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(std::io::Error::other(format!(
                            "request body larger than the limit of {} bytes",
                            this.limit
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let stall = this.stall;
                let t = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                match t.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client sent no request body data within the body timeout",
                    )))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future as _;

/// Runs the gateway for `engine`'s state root until `shutdown` resolves (or SIGTERM/SIGINT
/// when it is `None`), then drains. `ready` is called with the bound addresses once both
/// listeners are up.
pub async fn run(
    engine: Engine,
    opts: Options,
    native: Option<NativeFactory>,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> Result<()> {
    let reg = Registry::new(engine.root());
    let io = |what: &str, e: std::io::Error| Error::Other(format!("{what}: {e}"));
    let listener =
        tokio::net::TcpListener::bind(opts.addr).await.map_err(|e| io(&format!("listen on {}", opts.addr), e))?;
    let addr = listener.local_addr().map_err(|e| io("listener", e))?;
    let metrics_listener = match opts.metrics_addr {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await.map_err(|e| io(&format!("listen on {a}"), e))?),
        None => None,
    };
    let maddr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let mut opts = opts;
    opts.addr = addr;
    let gw = Arc::new(Gateway {
        engine,
        reg,
        opts: opts.clone(),
        table: RwLock::new(Table::default()),
        metrics: Metrics::default(),
        native,
    });
    gw.reload(true).await;
    // Reloads and the stats file, off the request path.
    let bg = {
        let gw = gw.clone();
        tokio::spawn(async move {
            let mut last_stats = Instant::now() - Duration::from_secs(10);
            loop {
                tokio::time::sleep(gw.opts.poll).await;
                gw.reload(false).await;
                if last_stats.elapsed() >= Duration::from_secs(1) {
                    last_stats = Instant::now();
                    let s = gw.stats();
                    let reg = gw.reg.clone();
                    let _ = tokio::task::spawn_blocking(move || s.write(&reg)).await;
                }
            }
        })
    };
    let metrics_task = metrics_listener.map(|l| {
        let gw = gw.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else { continue };
                let gw = gw.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let gw = gw.clone();
                        async move {
                            let r = if req.uri().path() == "/metrics" {
                                let instances: Vec<(String, usize, u64)> = gw
                                    .table
                                    .read()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .routes
                                    .iter()
                                    .map(|r| (r.spec.name.clone(), r.backend.instances(), r.backend.cold_starts()))
                                    .collect();
                                let mut r = http::Response::new(crate::backend::full(gw.metrics.render(&instances)));
                                r.headers_mut().insert(
                                    http::header::CONTENT_TYPE,
                                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                                );
                                r
                            } else {
                                text_response(http::StatusCode::NOT_FOUND, "not found: the metrics are at /metrics")
                            };
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        })
    });
    ready(addr, maddr);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(opts.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| io("signal", e))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let gw = gw.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.serve(req, peer).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    eprintln!("berth serve: shutting down, draining in-flight requests");
    drop(listener);
    bg.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    let _ = tokio::time::timeout(gw.opts.drain_timeout, graceful.shutdown()).await;
    let routes: Vec<Arc<Route>> = gw.table.read().unwrap_or_else(|p| p.into_inner()).routes.clone();
    for r in routes {
        let _ = tokio::time::timeout(gw.opts.drain_timeout, r.backend.shutdown()).await;
    }
    let _ = std::fs::remove_file(gw.reg.stats_path());
    Ok(())
}

/// `<root>/functions/gateway.pid`: the running gateway's process id (`function ls` shows it).
pub fn pid_path(reg: &Registry) -> std::path::PathBuf {
    reg.dir().join("gateway.pid")
}

/// The pid of the gateway running for `reg`'s root, if one does.
pub fn running_pid(reg: &Registry) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_path(reg)).ok()?.trim().parse().ok()?;
    let lock = std::fs::OpenOptions::new().read(true).open(reg.dir().join("gateway.lock")).ok()?;
    // The lock is held for the gateway's whole life: free means it is gone (even SIGKILLed).
    match fs4::fs_std::FileExt::try_lock_exclusive(&lock) {
        Ok(true) => None,
        _ => Some(pid),
    }
}

/// Deploys the functions of a `functions.yaml`, each as `berth function deploy` would
/// ([`crate::manage::deploy`]); two functions of the file on one route are refused first.
pub fn deploy_file(engine: &Engine, path: &std::path::Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for s in crate::spec::load_file(path)? {
        names.push(crate::manage::deploy(engine.root(), s)?.name);
    }
    Ok(names)
}

/// `berth serve` in the foreground: one gateway per state root (a lock held for its life, so a
/// SIGKILLed one leaves nothing the next must clean but files it overwrites), the functions of
/// `file` deployed first, then [`run`] until SIGTERM or SIGINT.
pub fn serve(
    engine: Engine,
    opts: Options,
    file: Option<&std::path::Path>,
    native: Option<NativeFactory>,
) -> Result<()> {
    let reg = Registry::new(engine.root());
    std::fs::create_dir_all(reg.dir()).map_err(|e| Error::Other(format!("{}: {e}", reg.dir().display())))?;
    let lock_path = reg.dir().join("gateway.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::Other(format!("{}: {e}", lock_path.display())))?;
    if !fs4::fs_std::FileExt::try_lock_exclusive(&lock).unwrap_or(false) {
        let pid = std::fs::read_to_string(pid_path(&reg)).unwrap_or_default();
        return Err(Error::Conflict(format!(
            "a gateway is already running for this state root (pid {}): stop it first",
            pid.trim()
        )));
    }
    // What a killed gateway left: its stats (its pid is gone), its pid file (rewritten) and
    // its native functions' containers.
    let _ = std::fs::remove_file(reg.stats_path());
    match crate::native::sweep(engine.root()) {
        Ok(0) => {}
        Ok(n) => eprintln!("berth serve: removed {n} instance(s) a previous gateway left"),
        Err(e) => eprintln!("berth serve: sweeping a previous gateway's instances: {e}"),
    }
    let native = native.or_else(|| Some(native_factory()));
    if let Some(f) = file {
        for name in deploy_file(&engine, f)? {
            eprintln!("berth serve: deployed {name} from {}", f.display());
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berth-gateway")
        .build()
        .map_err(|e| Error::Other(format!("tokio: {e}")))?;
    let pid_file = pid_path(&reg);
    let r = rt.block_on(run(engine, opts, native, |addr, maddr| {
        let _ = std::fs::write(&pid_file, format!("{}\n", std::process::id()));
        match maddr {
            Some(m) => println!("berth serve: listening on http://{addr} (metrics on http://{m}/metrics)"),
            None => println!("berth serve: listening on http://{addr}"),
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }));
    let _ = std::fs::remove_file(&pid_file);
    drop(lock);
    r
}

/// `berth serve -d`: runs `berth ARGS` (the same serve without `-d`) detached from the caller,
/// its output to `<root>/functions/gateway.log`, and waits until it listens; returns its pid.
pub fn detach(engine: &Engine, args: Vec<std::ffi::OsString>) -> Result<u32> {
    let reg = Registry::new(engine.root());
    let err = |e: std::io::Error| Error::Other(format!("berth serve -d: {e}"));
    std::fs::create_dir_all(reg.dir()).map_err(err)?;
    if let Some(pid) = running_pid(&reg) {
        return Err(Error::Conflict(format!(
            "a gateway is already running for this state root (pid {pid}): stop it first"
        )));
    }
    let _ = std::fs::remove_file(pid_path(&reg));
    let log_path = reg.dir().join("gateway.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(err)?;
    let mut cmd = std::process::Command::new(berth_sys::exe::berth_exe().map_err(err)?);
    cmd.args(args).stdin(std::process::Stdio::null()).stdout(log.try_clone().map_err(err)?).stderr(log);
    berth_sys::process::detach_on_spawn(&mut cmd, None);
    let mut child = cmd.spawn().map_err(err)?;
    let _ = child.wait();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Some(pid) = running_pid(&reg) {
            return Ok(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = tail.lines().rev().take(5).collect();
    Err(Error::Other(format!(
        "the detached gateway did not start; the end of {}:\n{}",
        log_path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Null;
    impl Backend for Null {
        fn handle(&self, _: http::Request<Body>) -> crate::backend::BoxFuture<http::Response<Body>> {
            Box::pin(async { text_response(http::StatusCode::OK, "") })
        }
        fn instances(&self) -> usize {
            0
        }
        fn shutdown(&self) -> crate::backend::BoxFuture<()> {
            Box::pin(async {})
        }
    }

    fn route(name: &str, prefix: &str, host: Option<&str>) -> Arc<Route> {
        let spec = FunctionSpec {
            name: name.into(),
            route: prefix.into(),
            host: host.map(String::from),
            ..Default::default()
        };
        let log = Log(Arc::new(std::sync::Mutex::new(None)));
        Arc::new(Route { spec, backend: Arc::new(Null), log })
    }

    #[test]
    fn longest_prefix_and_host_win() {
        let mut routes = vec![
            route("root", "/", None),
            route("a", "/a", None),
            route("ab", "/a/b", None),
            route("ah", "/a", Some("h.example")),
        ];
        routes.sort_by(|a, b| {
            b.spec.route.len().cmp(&a.spec.route.len()).then(b.spec.host.is_some().cmp(&a.spec.host.is_some()))
        });
        let t = Table { generation: 0, routes };
        let name = |h: &str, p: &str| t.find(h, p).map(|(r, rest)| (r.spec.name.clone(), rest));
        assert_eq!(name("x", "/a/b/c"), Some(("ab".into(), "/c".into())));
        assert_eq!(name("x", "/a"), Some(("a".into(), "/".into())));
        assert_eq!(name("h.example", "/a/x"), Some(("ah".into(), "/x".into())));
        assert_eq!(name("x", "/ab"), Some(("root".into(), "/ab".into())));
    }
}
