//! Native functions: an ordinary image listening on `$PORT`, run as berth containers that the
//! gateway starts on demand, scales out under load and stops when idle (Knative's and Cloud
//! Run's model).
//!
//! Each instance is a container created and started exactly as `berth run -d` would (env,
//! volumes, network, memory, cpus; the image's own healthcheck), labelled
//! `io.berth.function=<name>` and `io.berth.function.gateway=<pid>`, with `PORT=8080`. It sits
//! on the function's network (the default `bridge` unless `--network` says otherwise) and the
//! gateway dials its address on that network directly: the host is on every berth bridge, so
//! no port needs publishing and no NAT rule is made per instance. On `--network host` each
//! instance gets a free port of the host instead and is dialled on 127.0.0.1.
//!
//! A request takes the least busy ready instance with fewer than `concurrency` requests in
//! flight; when there is none, it waits (up to the function's timeout, a cold start included),
//! and an instance is started when the waiting requests outnumber what the instances already
//! starting will take, up to `max_instances`. An instance is ready when its port accepts a
//! connection, or, when the image has a healthcheck, when the check passes. An instance that
//! dies fails its in-flight requests with 502, leaves the pool and is removed; the next
//! request starts another. A ticker stops instances idle longer than `idle_timeout` down to
//! `min_instances`, keeps `min_instances` running, and copies the instances' output into the
//! function's log. [`sweep`] removes what a killed gateway left behind.

use crate::backend::{text_response, Backend, Body, BoxFuture};
use crate::spec::{FunctionSpec, Registry};
use berth_engine::container::CreateOptions;
use berth_engine::Engine;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::io::{Read, Seek, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The label naming the function a container is an instance of.
pub const FUNCTION_LABEL: &str = "io.berth.function";
/// The label naming the process id of the gateway that started it.
pub const GATEWAY_LABEL: &str = "io.berth.function.gateway";
/// The port an instance is told to listen on (`$PORT`), as Cloud Run's default.
pub const PORT: u16 = 8080;
/// How often the ticker looks at idle and dead instances.
const TICK: Duration = Duration::from_millis(250);

/// A native function's backend: its pool of instances.
pub struct Native {
    pool: Arc<Pool>,
    ticker: tokio::task::JoinHandle<()>,
}

struct Pool {
    spec: FunctionSpec,
    root: PathBuf,
    env: Vec<String>,
    log: PathBuf,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    client: Client<HttpConnector, Body>,
    cold_starts: AtomicU64,
    serial: AtomicU64,
    closed: AtomicBool,
}

#[derive(Default)]
struct State {
    instances: Vec<Instance>,
    /// Instances being started.
    starting: usize,
    /// Requests waiting for a slot.
    waiting: usize,
    /// Bumped by every failed start, with its error: the requests waiting then fail with it.
    failures: u64,
    last_error: String,
}

struct Instance {
    id: String,
    addr: SocketAddr,
    in_flight: usize,
    idle_since: Instant,
    log: PathBuf,
    log_offset: u64,
}

/// A slot on an instance, held for one request until its response body is done.
struct Slot {
    pool: Arc<Pool>,
    id: String,
    addr: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = st.instances.iter_mut().find(|i| i.id == self.id) {
            i.in_flight = i.in_flight.saturating_sub(1);
            i.idle_since = Instant::now();
        }
        drop(st);
        self.pool.changed.notify_waiters();
    }
}

impl Native {
    /// The backend of `spec` (a native function) over the engine of `root`. Must be called
    /// within a tokio runtime (it starts the pool's ticker there).
    pub fn new(root: &Path, spec: FunctionSpec) -> crate::Result<Native> {
        let env = spec.environment()?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let pool = Arc::new(Pool {
            log: Registry::new(root).log_path(&spec.name),
            env,
            root: root.to_path_buf(),
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
            client: Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(http),
            cold_starts: AtomicU64::new(0),
            serial: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            spec,
        });
        let p = pool.clone();
        let ticker = tokio::spawn(async move {
            let mut t = tokio::time::interval(TICK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                if p.closed.load(Ordering::Relaxed) {
                    break;
                }
                p.clone().tick().await;
            }
        });
        Ok(Native { pool, ticker })
    }

    /// Containers started since the backend was made (each one a cold start).
    pub fn cold_starts(&self) -> u64 {
        self.pool.cold_starts.load(Ordering::Relaxed)
    }

    /// The function this backend serves.
    pub fn spec(&self) -> &FunctionSpec {
        &self.pool.spec
    }
}

impl Backend for Native {
    fn handle(&self, req: http::Request<Body>) -> BoxFuture<http::Response<Body>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let timeout = pool.spec.timeout;
            match tokio::time::timeout(timeout, pool.clone().serve(req)).await {
                Ok(r) => r,
                Err(_) => text_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("function {:?}: no response within {}", pool.spec.name, crate::spec::format(timeout)),
                ),
            }
        })
    }

    fn instances(&self) -> usize {
        self.pool.state.lock().unwrap_or_else(|p| p.into_inner()).instances.len()
    }

    fn cold_starts(&self) -> u64 {
        Native::cold_starts(self)
    }

    fn shutdown(&self) -> BoxFuture<()> {
        let pool = self.pool.clone();
        self.ticker.abort();
        Box::pin(async move {
            pool.closed.store(true, Ordering::Relaxed);
            pool.changed.notify_waiters();
            // Drain: the requests in flight finish (up to the function's timeout).
            let until = Instant::now() + pool.spec.timeout;
            while Instant::now() < until && pool.state.lock().unwrap().instances.iter().any(|i| i.in_flight > 0) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let all: Vec<Instance> = std::mem::take(&mut pool.state.lock().unwrap().instances);
            let stops = all.into_iter().map(|i| {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || pool.retire(i, true))
            });
            for s in stops.collect::<Vec<_>>() {
                let _ = s.await;
            }
            // Starts under way when the shutdown began remove their own container.
            while pool.state.lock().unwrap().starting > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    }
}

impl Drop for Native {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl Pool {
    async fn serve(self: Arc<Self>, req: http::Request<Body>) -> http::Response<Body> {
        let slot = match self.clone().acquire().await {
            Ok(s) => s,
            Err(e) => return text_response(StatusCode::BAD_GATEWAY, format!("function {:?}: {e}", self.spec.name)),
        };
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = match format!("http://{}{pq}", slot.addr).parse() {
            Ok(u) => u,
            Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("bad request target: {e}")),
        };
        // The instance speaks HTTP/1.1 whatever the client spoke to the gateway.
        parts.version = http::Version::HTTP_11;
        match self.client.request(http::Request::from_parts(parts, body)).await {
            // The slot is held until the response body is done (or dropped).
            Ok(resp) => resp.map(move |b| {
                b.map_err(move |e| {
                    let _held = &slot;
                    std::io::Error::other(e)
                })
                .boxed()
            }),
            Err(e) => {
                let id = slot.id.clone();
                drop(slot);
                self.clone().check(id);
                text_response(
                    StatusCode::BAD_GATEWAY,
                    format!("function {:?}: the instance failed: {e}", self.spec.name),
                )
            }
        }
    }

    /// Takes a slot on a ready instance, starting instances as the waiting requests need.
    async fn acquire(self: Arc<Self>) -> Result<Slot, String> {
        let conc = self.spec.concurrency as usize;
        let mut counted = false;
        let mut failures_seen = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if self.closed.load(Ordering::Relaxed) {
                    if counted {
                        st.waiting -= 1;
                    }
                    return Err("the gateway is shutting down".into());
                }
                let seen = *failures_seen.get_or_insert(st.failures);
                if let Some(i) = st.instances.iter_mut().filter(|i| i.in_flight < conc).min_by_key(|i| i.in_flight) {
                    i.in_flight += 1;
                    let slot = Slot { pool: self.clone(), id: i.id.clone(), addr: i.addr };
                    if counted {
                        st.waiting -= 1;
                    }
                    return Ok(slot);
                }
                if st.failures != seen && st.starting == 0 {
                    if counted {
                        st.waiting -= 1;
                    }
                    return Err(format!("starting an instance: {}", st.last_error));
                }
                if !counted {
                    st.waiting += 1;
                    counted = true;
                }
                let room = (self.spec.max_instances as usize).saturating_sub(st.instances.len() + st.starting);
                let wanted = st.waiting.saturating_sub(st.starting * conc).div_ceil(conc);
                for _ in 0..wanted.min(room) {
                    st.starting += 1;
                    tokio::spawn(self.clone().start());
                }
                notified.as_mut().enable();
            }
            // A request given up on (its timeout) stops counting as waiting.
            let guard = Waiting(&self);
            notified.await;
            std::mem::forget(guard);
        }
    }

    /// Starts one instance and adds it to the pool once ready.
    async fn start(self: Arc<Self>) {
        let t0 = Instant::now();
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let pool = self.clone();
        let started = tokio::task::spawn_blocking(move || pool.create(serial)).await;
        let result = match started {
            Ok(Ok(inst)) => match self.ready(&inst).await {
                Ok(()) => Ok(inst),
                Err(e) => {
                    let pool = self.clone();
                    let _ = tokio::task::spawn_blocking(move || pool.retire(inst, false)).await;
                    Err(e)
                }
            },
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        };
        let leftover = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.starting -= 1;
            match result {
                Ok(inst) if self.closed.load(Ordering::Relaxed) => Some(inst),
                Ok(inst) => {
                    self.cold_starts.fetch_add(1, Ordering::Relaxed);
                    self.note(&format!("instance {} started in {} ms", &inst.id[..12], t0.elapsed().as_millis()));
                    st.instances.push(inst);
                    None
                }
                Err(e) => {
                    tracing::warn!("function {}: starting an instance: {e}", self.spec.name);
                    self.note(&format!("starting an instance failed: {e}"));
                    st.failures += 1;
                    st.last_error = e;
                    None
                }
            }
        };
        self.changed.notify_waiters();
        if let Some(inst) = leftover {
            // Started while the gateway shut down: not wanted any more.
            let pool = self.clone();
            let _ = tokio::task::spawn_blocking(move || pool.retire(inst, true)).await;
        }
    }

    /// Creates and starts a container for the function (blocking: engine calls).
    fn create(&self, serial: u64) -> Result<Instance, String> {
        let engine = Engine::open(&self.root).map_err(|e| e.to_string())?;
        let network = self.spec.network.clone().unwrap_or_else(|| "bridge".into());
        let host_net = network == "host";
        let port = if host_net {
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("a free port: {e}"))?
        } else {
            PORT
        };
        let mut env = self.env.clone();
        env.push(format!("PORT={port}"));
        let labels = [
            (FUNCTION_LABEL.to_string(), self.spec.name.clone()),
            (GATEWAY_LABEL.to_string(), std::process::id().to_string()),
        ];
        let opts = CreateOptions {
            name: Some(format!("fn-{}-{}-{serial}", self.spec.name, std::process::id())),
            image: self.spec.image.clone(),
            env,
            binds: self.spec.volumes.clone(),
            memory: self.spec.memory.unwrap_or(0),
            nano_cpus: self.spec.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            network,
            labels: labels.into_iter().collect(),
            ..Default::default()
        };
        let mut c = engine.create_container(&opts).map_err(|e| e.to_string())?;
        if let Err(e) = engine.start_container(&mut c, false) {
            let _ = engine.remove_container(&mut c, true, true);
            return Err(e.to_string());
        }
        let ip = if host_net {
            Some(Ipv4Addr::LOCALHOST)
        } else {
            engine.sandbox(&c.id).ok().flatten().and_then(|s| s.endpoints.iter().find_map(|e| e.ip))
        };
        let Some(ip) = ip else {
            let _ = engine.remove_container(&mut c, true, true);
            return Err(format!(
                "network {:?}: the instance has no address the gateway can reach",
                c.host_config.network_mode
            ));
        };
        Ok(Instance {
            id: c.id.clone(),
            addr: SocketAddr::from((ip, port)),
            in_flight: 0,
            idle_since: Instant::now(),
            log: c.log_path(),
            log_offset: 0,
        })
    }

    /// Waits until `inst` takes connections (or its healthcheck passes), up to the timeout.
    async fn ready(&self, inst: &Instance) -> Result<(), String> {
        let until = Instant::now() + self.spec.timeout;
        let engine = Engine::open(&self.root).map_err(|e| e.to_string())?;
        let healthcheck = engine
            .load_container(&inst.id)
            .map_err(|e| e.to_string())?
            .config
            .healthcheck
            .is_some_and(|h| h.is_active());
        let mut delay = Duration::from_millis(1);
        let mut tries = 0u32;
        while Instant::now() < until {
            if healthcheck {
                let mut c = engine.load_container(&inst.id).map_err(|e| e.to_string())?;
                let _ = c.reload_state();
                if c.state.health.as_ref().is_some_and(|h| h.status == "healthy") {
                    return Ok(());
                }
            } else if let Ok(Ok(_)) = tokio::time::timeout(delay * 50, tokio::net::TcpStream::connect(inst.addr)).await
            {
                return Ok(());
            }
            tries += 1;
            if tries.is_multiple_of(8) && !running(&engine, &inst.id) {
                return Err(format!(
                    "instance {} exited before it listened on port {}",
                    &inst.id[..12],
                    inst.addr.port()
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(25));
        }
        Err(format!("instance {} not ready within {}", &inst.id[..12], crate::spec::format(self.spec.timeout)))
    }

    /// After a failed request: if the instance's container is gone, it leaves the pool.
    fn check(self: Arc<Self>, id: String) {
        tokio::task::spawn_blocking(move || {
            let alive = Engine::open(&self.root).is_ok_and(|e| running(&e, &id));
            if !alive {
                self.drop_instance(&id, "exited");
            }
        });
    }

    /// Removes instance `id` from the pool and its container from the engine (blocking).
    fn drop_instance(&self, id: &str, why: &str) {
        let inst = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pos) = st.instances.iter().position(|i| i.id == id) else { return };
            st.instances.remove(pos)
        };
        self.note(&format!("instance {} {why}", &id[..12]));
        self.retire(inst, why != "exited");
        self.changed.notify_waiters();
    }

    /// Stops (gracefully when `stop`, else at once) and removes an instance's container,
    /// copying its last output into the function's log first.
    fn retire(&self, mut inst: Instance, stop: bool) {
        let Ok(engine) = Engine::open(&self.root) else { return };
        let Ok(mut c) = engine.load_container(&inst.id) else { return };
        if stop {
            let _ = engine.stop_container(&mut c, Some(2));
        }
        self.copy_output(&mut inst);
        if let Err(e) = engine.remove_container(&mut c, true, true) {
            tracing::warn!("function {}: removing instance {}: {e}", self.spec.name, c.short_id());
        }
    }

    /// Once per tick: dead instances out, idle ones stopped down to `min_instances`, the pool
    /// topped up to `min_instances`, and the instances' output copied into the function's log.
    async fn tick(self: Arc<Self>) {
        let pool = self.clone();
        let _ = tokio::task::spawn_blocking(move || pool.tick_blocking()).await;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let missing = (self.spec.min_instances as usize).saturating_sub(st.instances.len() + st.starting);
        for _ in 0..missing {
            st.starting += 1;
            tokio::spawn(self.clone().start());
        }
    }

    fn tick_blocking(&self) {
        let Ok(engine) = Engine::open(&self.root) else { return };
        let ids: Vec<String> = self.state.lock().unwrap().instances.iter().map(|i| i.id.clone()).collect();
        for id in ids {
            if !running(&engine, &id) {
                self.drop_instance(&id, "exited");
            }
        }
        // Idle ones, the longest idle first, down to min_instances: out of the pool (so no
        // request picks them), then stopped outside the lock.
        let idle: Vec<Instance> = {
            let mut st = self.state.lock().unwrap();
            let mut cands: Vec<(Instant, String)> = st
                .instances
                .iter()
                .filter(|i| i.in_flight == 0 && i.idle_since.elapsed() >= self.spec.idle_timeout)
                .map(|i| (i.idle_since, i.id.clone()))
                .collect();
            cands.sort();
            cands.truncate(st.instances.len().saturating_sub(self.spec.min_instances as usize));
            let mut out = Vec::new();
            for (_, id) in cands {
                if let Some(pos) = st.instances.iter().position(|i| i.id == id) {
                    out.push(st.instances.remove(pos));
                }
            }
            out
        };
        for inst in idle {
            let idle_for = crate::spec::format(self.spec.idle_timeout);
            self.note(&format!("instance {} idle for {idle_for}: stopped", &inst.id[..12]));
            self.retire(inst, true);
        }
        let mut st = self.state.lock().unwrap();
        for i in st.instances.iter_mut() {
            self.copy_output(i);
        }
    }

    /// Appends what the instance's container wrote since the last call to the function's log.
    fn copy_output(&self, inst: &mut Instance) {
        let Ok(mut f) = std::fs::File::open(&inst.log) else { return };
        if f.seek(std::io::SeekFrom::Start(inst.log_offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        // Only whole lines: a line being written is taken next time.
        let end = buf.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
        if end == 0 {
            return;
        }
        inst.log_offset += end as u64;
        let mut out = String::new();
        for line in buf[..end].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
            let text = v["log"].as_str().unwrap_or_default();
            out += &format!(
                "{} {} [{}] {}",
                v["time"].as_str().unwrap_or_default(),
                v["stream"].as_str().unwrap_or("stdout"),
                &inst.id[..12],
                text
            );
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        self.append_log(&out);
    }

    /// A line of the gateway's own about this function (starts, stops, failures).
    fn note(&self, what: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.append_log(&format!("{now} gateway {what}\n"));
    }

    fn append_log(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .and_then(|mut f| f.write_all(text.as_bytes()));
    }
}

/// Whether the container `id` is running (its record says so and its supervisor lives).
fn running(engine: &Engine, id: &str) -> bool {
    engine
        .load_container(id)
        .is_ok_and(|mut c| c.reload_state().is_ok() && c.state.running && berth_engine::container::shim_alive(&c.dir))
}

/// Stops counting a request as waiting when its future is dropped (a timeout) while waiting.
struct Waiting<'a>(&'a Arc<Pool>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        st.waiting = st.waiting.saturating_sub(1);
    }
}

/// Removes the instances a gateway killed without its shutdown left behind: every container
/// labelled [`FUNCTION_LABEL`] whose gateway ([`GATEWAY_LABEL`]) no longer runs. `berth serve`
/// calls it when it starts. Returns how many it removed.
pub fn sweep(root: &Path) -> crate::Result<usize> {
    let engine = Engine::open(root)?;
    let mut n = 0;
    for mut c in engine.list_containers()? {
        let Some(pid) = c.config.labels.get(FUNCTION_LABEL).and(c.config.labels.get(GATEWAY_LABEL)) else { continue };
        let alive =
            pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && Path::new(&format!("/proc/{p}")).exists());
        if alive {
            continue;
        }
        match engine.remove_container(&mut c, true, true) {
            Ok(()) => n += 1,
            Err(e) => tracing::warn!("removing the leftover function instance {}: {e}", c.short_id()),
        }
    }
    Ok(n)
}
