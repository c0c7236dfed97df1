//! `wasi:http/proxy` components served per request: what the function gateway (`berth serve`)
//! runs for a wasm function.
//!
//! A component is loaded once ([`HttpFunction::load`]: from the compiled-code cache when it can,
//! see [`crate::cache`]), checked to export `wasi:http/incoming-handler`, linked against the whole
//! of WASI 0.2 plus `wasi:http` (the componentize-py and componentize-js components import
//! `wasi:cli`, `wasi:filesystem` and `wasi:sockets` beyond the proxy world) and pre-instantiated;
//! every request then gets a fresh instance from wasmtime's pooling allocator, as `wasmtime
//! serve` and Spin do, so nothing a request leaves in memory reaches the next one.
//!
//! All functions of a process share one [`Engine`] (pooling allocator, async support, epoch
//! interruption) and one epoch ticker thread. Per request: memory and tables share the
//! `--memory` budget (the container runtime's limiter: growth beyond fails inside the guest, and
//! a guest that traps after it gets 500 naming the limit); the guest yields to the async
//! executor at every epoch tick (so a spinning guest holds no worker thread for more than a
//! tick) and traps once past its deadline; the wall-clock `--timeout` gives 504 and drops the
//! instance, and no other request notices. Outgoing `wasi:http` requests go only to the
//! `--allow-outbound` hosts (deny by default, as Spin's `allowed_outbound_hosts`). Env and
//! volumes are the guest's environment and preopens, as for a container; its stdout and stderr
//! go to the function's log sink. Request and response bodies stream in both directions.

use crate::cache::{self, Compiled};
use crate::guest::Limits;
use crate::stdio::{Sink, SinkFn};
use berth_runtime::error::{Error, Result};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The body type of requests and responses: the same as the gateway's (`berth_functions::Body`).
pub type HttpBody = BoxBody<Bytes, std::io::Error>;

/// The export a `wasi:http/proxy` component must have (any 0.2.x version).
pub const HANDLER_EXPORT: &str = "wasi:http/incoming-handler";

/// How often the epoch advances: a spinning guest yields (and is checked against its deadline)
/// this often.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// What a function's instances get, besides the component.
#[derive(Clone, Default)]
pub struct HttpConfig {
    /// The guest's environment.
    pub env: Vec<(String, String)>,
    /// Host directory, guest path, read-only: the function's volumes.
    pub preopens: Vec<(PathBuf, String, bool)>,
    /// Bytes of linear memory and tables one instance may hold (`--memory`).
    pub memory_limit: Option<u64>,
    /// Wall-clock limit of one request, headers and body (`--timeout`; 30 s when zero).
    pub timeout: Duration,
    /// `HOST[:PORT]` (or `*`) an instance may send `wasi:http` requests to; none by default.
    pub allow_outbound: Vec<String>,
    /// Where the guest's stdout and stderr go (discarded when unset).
    pub log: Option<SinkFn>,
}

/// How long a request's instance took to make, in the response's extensions (for the metrics).
#[derive(Debug, Clone, Copy)]
pub struct Instantiation(pub Duration);

/// A loaded, pre-instantiated `wasi:http/proxy` component.
pub struct HttpFunction {
    pre: ProxyPre<Host>,
    cfg: Arc<HttpConfig>,
    outbound: Arc<Vec<Outbound>>,
    in_flight: Arc<AtomicUsize>,
}

/// The engine every served component runs on, and its epoch ticker.
fn engine() -> Result<&'static Engine> {
    static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
    let e = ENGINE.get_or_init(|| {
        let mut c = Config::new();
        c.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        // Components of interpreters (Python, JavaScript) are dozens of core instances each,
        // with big tables; the defaults hold one of them at a time.
        pool.total_component_instances(1000);
        pool.total_core_instances(10_000);
        pool.total_memories(2000);
        pool.total_tables(4000);
        pool.max_core_instances_per_component(200);
        pool.max_memories_per_component(50);
        pool.max_tables_per_component(200);
        pool.table_elements(100_000);
        pool.max_memory_size(1 << 32);
        pool.max_component_instance_size(4 << 20);
        pool.max_core_instance_size(4 << 20);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool.clone()));
        let engine = match Engine::new(&c) {
            Ok(e) => e,
            // A host that cannot reserve the pool's address space still serves, on demand.
            Err(e) => {
                tracing::warn!("wasmtime pooling allocator unavailable ({e}); allocating on demand");
                c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                Engine::new(&c).map_err(|e| format!("wasmtime: {e}"))?
            }
        };
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("berth-epoch".into())
            .spawn(move || {
                while let Some(e) = weak.upgrade() {
                    e.increment_epoch();
                    drop(e);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| format!("epoch thread: {e}"))?;
        Ok(engine)
    });
    e.as_ref().map_err(|m| Error::Init(m.clone()))
}

/// Whether a component's exports include the handler; else the error naming what it exports.
fn check_exports(engine: &Engine, c: &wasmtime::component::Component, shown: &str) -> Result<()> {
    let exports: Vec<String> = c.component_type().exports(engine).map(|(n, _)| n.to_string()).collect();
    if exports.iter().any(|n| n == HANDLER_EXPORT || n.starts_with(&format!("{HANDLER_EXPORT}@"))) {
        return Ok(());
    }
    let what = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
    Err(Error::Spec(format!("{shown}: the component does not export {HANDLER_EXPORT} (it exports {what})")))
}

impl HttpFunction {
    /// Loads the component at `path` (`key`: its content key when the caller knows one, see
    /// [`crate::ModuleSource`]), from the compiled-code cache in `cache_dir` when it can. A core
    /// module, a component without [`HANDLER_EXPORT`] or one importing what WASI and `wasi:http`
    /// do not provide is refused, naming the reason. `shown` names the component in errors.
    pub fn load(
        path: &Path,
        key: Option<&str>,
        cache_dir: Option<&Path>,
        shown: &str,
        cfg: HttpConfig,
    ) -> Result<HttpFunction> {
        let engine = engine()?;
        let cached = key.and_then(|k| cache_dir.and_then(|d| cache::lookup(engine, d, k)));
        let compiled = match cached {
            Some(c) => c,
            None => {
                let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                if !crate::is_wasm(&bytes) {
                    return Err(Error::Spec(format!("{shown}: not a WebAssembly component (no \\0asm header)")));
                }
                if !crate::is_component(&bytes) {
                    return Err(Error::Spec(format!(
                        "{shown}: a core WebAssembly module, not a component: a function must be a wasi:http/proxy component"
                    )));
                }
                let key = key.map(str::to_string).unwrap_or_else(|| cache::content_key(&bytes));
                cache::compile(engine, cache_dir, &key, &bytes)
                    .map_err(|e| Error::Spec(format!("{shown}: invalid WebAssembly: {e:#}")))?
            }
        };
        let component = match compiled {
            Compiled::Component(c) => c,
            Compiled::Module(_) => {
                return Err(Error::Spec(format!(
                "{shown}: a core WebAssembly module, not a component: a function must be a wasi:http/proxy component"
            )))
            }
        };
        check_exports(engine, &component, shown)?;
        let mut linker = wasmtime::component::Linker::<Host>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| Error::Init(format!("wasmtime: {e}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| Error::Spec(format!("{shown}: {e:#}")))?;
        let pre =
            ProxyPre::new(pre).map_err(|e| Error::Spec(format!("{shown}: not a wasi:http/proxy component: {e:#}")))?;
        let outbound = Arc::new(cfg.allow_outbound.iter().map(|s| Outbound::parse(s)).collect::<Result<Vec<_>>>()?);
        Ok(HttpFunction { pre, cfg: Arc::new(cfg), outbound, in_flight: Arc::new(AtomicUsize::new(0)) })
    }

    /// Requests being served now (each is an instance).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Serves one request on a fresh instance. Never fails: a guest that traps, runs out of its
    /// memory or sets no response gives 500, one past its timeout 504; the error is logged to
    /// the function's log sink.
    pub async fn handle(&self, req: http::Request<HttpBody>) -> http::Response<HttpBody> {
        let timeout = if self.cfg.timeout.is_zero() { Duration::from_secs(30) } else { self.cfg.timeout };
        let deadline = Instant::now() + timeout;
        let hit = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        let mut store = match self.store(deadline, hit.clone(), late.clone()) {
            Ok(s) => s,
            Err(e) => return self.fail(http::StatusCode::INTERNAL_SERVER_ERROR, &e, None),
        };
        let req = req.map(|b| b.map_err(io_to_http).boxed_unsync());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let resources = (|| -> wasmtime::Result<_> {
            let mut h = store.data_mut().http();
            let r = h.new_incoming_request(Scheme::Http, req)?;
            let o = h.new_response_outparam(tx)?;
            Ok((r, o))
        })();
        let (r, o) = match resources {
            Ok(x) => x,
            Err(e) => return self.fail(http::StatusCode::BAD_REQUEST, &format!("{e:#}"), None),
        };
        let pre = self.pre.clone();
        let in_flight = InFlight::new(self.in_flight.clone());
        let (itx, irx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _in_flight = in_flight;
            let run = async {
                let t = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                let _ = itx.send(t.elapsed());
                proxy.wasi_http_incoming_handler().call_handle(&mut store, r, o).await
            };
            match tokio::time::timeout_at(deadline.into(), run).await {
                Ok(r) => r.map_err(|e| format!("{e:?}")),
                Err(_) => Err(format!("timed out after {}", humantime(timeout))),
            }
        });
        let abort = task.abort_handle();
        let waited = tokio::time::timeout_at(deadline.into(), rx).await;
        let took = |irx: tokio::sync::oneshot::Receiver<Duration>| irx.blocking_recv_opt();
        match waited {
            Ok(Ok(Ok(resp))) => {
                let mut resp = resp.map(|b| BoxBody::new(SyncBody(Mutex::new(b.map_err(http_to_io).boxed_unsync()))));
                if let Some(d) = took(irx) {
                    resp.extensions_mut().insert(Instantiation(d));
                }
                resp
            }
            Ok(Ok(Err(code))) => {
                let took = took(irx);
                self.fail(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the function answered an error: {code:?}"),
                    took,
                )
            }
            Ok(Err(_)) => {
                // The outparam was dropped unset: the guest ended (trapped, or returned without
                // a response); its task says which.
                let why = match task.await {
                    Ok(Ok(())) => "the function returned without setting a response".to_string(),
                    Ok(Err(e)) if hit.load(Ordering::Relaxed) => {
                        format!("the function exceeded its memory limit and trapped: {e}")
                    }
                    // The deadline's interrupt can win the race with the wall-clock timer:
                    // it is the same timeout, answered the same way.
                    Ok(Err(_)) if late.load(Ordering::Relaxed) => {
                        let why = format!("the function did not answer within its timeout ({})", humantime(timeout));
                        return self.fail(http::StatusCode::GATEWAY_TIMEOUT, &why, took(irx));
                    }
                    Ok(Err(e)) => format!("the function trapped: {e}"),
                    Err(e) => format!("the function's task failed: {e}"),
                };
                self.fail(http::StatusCode::INTERNAL_SERVER_ERROR, &why, took(irx))
            }
            Err(_) => {
                abort.abort();
                let why = format!("the function did not answer within its timeout ({})", humantime(timeout));
                self.fail(http::StatusCode::GATEWAY_TIMEOUT, &why, took(irx))
            }
        }
    }

    /// `hit` is set when the guest goes past its memory limit, `late` when its deadline stops it.
    fn store(
        &self,
        deadline: Instant,
        hit: Arc<AtomicBool>,
        late: Arc<AtomicBool>,
    ) -> std::result::Result<Store<Host>, String> {
        let mut b = WasiCtxBuilder::new();
        if let Some(log) = &self.cfg.log {
            b.stdout(Sink::new(log.clone()));
            b.stderr(Sink::new(log.clone()));
        }
        b.envs(&self.cfg.env);
        for (host, guest, ro) in &self.cfg.preopens {
            let perms = if *ro { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
            b.preopened_dir(host, guest, perms).map_err(|e| format!("preopen {guest}: {e}"))?;
        }
        let limits = Limits::new(self.cfg.memory_limit.map(|m| m as usize), hit);
        let host = Host {
            wasi: b.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Hooks { allow: self.outbound.clone() },
            limits,
        };
        let mut store = Store::new(self.pre.engine(), host);
        store.limiter(|h| &mut h.limits);
        store.set_epoch_deadline(1);
        // Yield to the executor at every tick; trap once past the deadline (the wall-clock
        // timeout normally drops the instance first: this is the backstop for CPU time).
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                late.store(true, Ordering::Relaxed);
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    fn fail(&self, status: http::StatusCode, why: &str, took: Option<Duration>) -> http::Response<HttpBody> {
        if let Some(log) = &self.cfg.log {
            let _ = log(format!("berth: {status}: {why}\n").as_bytes());
        }
        // The client gets the reason and the trap's cause; the log also has the backtrace.
        let first = why.lines().next().unwrap_or_default();
        let cause = why.lines().rev().find(|l| !l.trim().is_empty()).map(str::trim).unwrap_or_default();
        let text = if cause == first { format!("{first}\n") } else { format!("{first} {cause}\n") };
        let body = http_body_util::Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed();
        let mut r = http::Response::new(body);
        *r.status_mut() = status;
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
        if let Some(d) = took {
            r.extensions_mut().insert(Instantiation(d));
        }
        r
    }
}

trait RecvOpt<T> {
    fn blocking_recv_opt(self) -> Option<T>;
}

impl<T> RecvOpt<T> for tokio::sync::oneshot::Receiver<T> {
    /// The value if it was sent already (never blocks).
    fn blocking_recv_opt(mut self) -> Option<T> {
        self.try_recv().ok()
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Counts a request in flight for as long as its instance lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(n: Arc<AtomicUsize>) -> InFlight {
        n.fetch_add(1, Ordering::Relaxed);
        InFlight(n)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn io_to_http(e: std::io::Error) -> wasmtime_wasi_http::Error {
    if e.kind() == std::io::ErrorKind::TimedOut {
        wasmtime_wasi_http::Error::ConnectionReadTimeout
    } else {
        wasmtime_wasi_http::Error::ConnectionTerminated
    }
}

fn http_to_io(e: wasmtime_wasi_http::Error) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

/// wasi-http's response bodies are `Send` but not `Sync`; the gateway's body type is both.
/// Only `poll_frame` (through `&mut`) touches the body, so the mutex is never locked: it only
/// makes the wrapper `Sync`.
struct SyncBody(Mutex<http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>>);

impl http_body::Body for SyncBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let inner = self.get_mut().0.get_mut().unwrap_or_else(|p| p.into_inner());
        Pin::new(inner).poll_frame(cx)
    }
}

/// One `--allow-outbound` entry: a host (or `*`) and an optional port.
#[derive(Debug, Clone)]
struct Outbound {
    host: String,
    port: Option<u16>,
}

impl Outbound {
    fn parse(s: &str) -> Result<Outbound> {
        let bad = || Error::Spec(format!("--allow-outbound {s:?}: expected HOST[:PORT] (or *)"));
        let rest = s.split_once("://").map(|(_, r)| r).unwrap_or(s).trim_end_matches('/');
        if rest.is_empty() {
            return Err(bad());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.parse::<u16>().is_ok() && h.starts_with('[') => {
                (h, if p == "*" { None } else { Some(p.parse::<u16>().map_err(|_| bad())?) })
            }
            _ => (rest, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        Ok(Outbound { host, port })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        (self.host == "*" || self.host == host) && self.port.is_none_or(|p| p == port)
    }
}

/// The store's data: WASI, wasi-http and the memory limiter.
struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    limits: Limits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// wasi-http's hooks: outgoing requests only to the allowed hosts.
struct Hooks {
    allow: Arc<Vec<Outbound>>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<(), wasmtime_wasi_http::Error>> + Send>,
)>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if !self.allow.iter().any(|a| a.allows(&host, port)) {
            tracing::debug!("outbound request to {host}:{port} denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Outbound;

    #[test]
    fn outbound_entries_match_host_and_port() {
        let a = Outbound::parse("127.0.0.1:8080").unwrap();
        assert!(a.allows("127.0.0.1", 8080));
        assert!(!a.allows("127.0.0.1", 8081));
        let b = Outbound::parse("http://Example.com").unwrap();
        assert!(b.allows("example.com", 80) && b.allows("example.com", 443));
        assert!(Outbound::parse("*").unwrap().allows("x", 1));
        assert!(Outbound::parse("h:notaport").is_err());
    }
}
