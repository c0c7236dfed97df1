//! Wasm functions: a [`Backend`] over a `wasi:http/proxy` component that
//! `berth_runtime_wasm::http` serves with a fresh instance per request.
//!
//! What this module adds to the runtime's serving is the function's side: the component is the
//! file the image's process names (any wasm image form, `Engine::wasm_component`, which also
//! gives the compiled-code cache its key), the environment and volumes come from the function's
//! record as a container's would, and the guest's stdout and stderr go to the function's log.

use crate::backend::{Backend, Body, BoxFuture};
use crate::spec::{FunctionSpec, Registry};
use crate::{Error, Result};
use berth_engine::Engine;
use berth_runtime_wasm::http::{HttpConfig, HttpFunction};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A deployed wasm function, loaded and pre-instantiated.
pub struct WasmFunction {
    f: Arc<HttpFunction>,
}

/// Appends to a function's log (the guest's output and the access lines), shared by the
/// gateway and the guest's output streams.
#[derive(Clone)]
pub struct Log(pub(crate) Arc<Mutex<Option<std::fs::File>>>);

impl Log {
    /// The log of function `name` (created when missing; a log that cannot be opened is none).
    pub fn open(reg: &Registry, name: &str) -> Log {
        let p = reg.log_path(name);
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&p).ok();
        Log(Arc::new(Mutex::new(f)))
    }

    /// Appends `bytes` as one write.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(f) => f.write_all(bytes),
            None => Ok(()),
        }
    }
}

/// What a function's instances get from its record: environment, volumes as preopens, memory
/// budget, timeout, outbound hosts.
fn http_config(spec: &FunctionSpec, log: Log) -> Result<HttpConfig> {
    let env = spec
        .environment()?
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    let mut preopens = Vec::new();
    for v in &spec.volumes {
        let mut parts = v.splitn(3, ':');
        let (src, dst) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let ro = match parts.next() {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(o) => {
                return Err(Error::Invalid(format!("function {:?}: volume {v:?}: unknown option {o:?}", spec.name)))
            }
        };
        if !src.starts_with('/') || !std::path::Path::new(src).is_dir() {
            return Err(Error::Invalid(format!(
                "function {:?}: volume {v:?}: a wasm function's volume must be an existing host directory",
                spec.name
            )));
        }
        preopens.push((PathBuf::from(src), dst.to_string(), ro));
    }
    Ok(HttpConfig {
        env,
        preopens,
        memory_limit: spec.memory.map(|m| m.max(0) as u64),
        timeout: spec.timeout,
        allow_outbound: spec.allow_outbound.clone(),
        log: Some(Arc::new(move |b: &[u8]| log.write(b))),
    })
}

impl WasmFunction {
    /// Loads `spec`'s component (compiled once, from the cache when it can). A core module,
    /// a component without the `wasi:http/incoming-handler` export or with imports this host
    /// lacks is refused naming why.
    pub fn load(engine: &Engine, reg: &Registry, spec: &FunctionSpec) -> Result<WasmFunction> {
        let src = engine.wasm_component(&spec.image)?;
        let cfg = http_config(spec, Log::open(reg, &spec.name))?;
        let cache = engine.wasm_cache_dir().join("compiled");
        let shown = format!("function {:?} (image {})", spec.name, spec.image);
        let f = HttpFunction::load(&src.path, Some(&src.key), Some(&cache), &shown, cfg)
            .map_err(|e| Error::Invalid(e.to_string().trim_start_matches("invalid configuration: ").to_string()))?;
        Ok(WasmFunction { f: Arc::new(f) })
    }

    /// What `berth function deploy` checks of a wasm function: that it loads (see [`Self::load`]).
    pub fn check(engine: &Engine, spec: &FunctionSpec) -> Result<()> {
        let reg = Registry::new(engine.root());
        Self::load(engine, &reg, spec).map(drop)
    }
}

impl Backend for WasmFunction {
    fn handle(&self, req: http::Request<Body>) -> BoxFuture<http::Response<Body>> {
        let f = self.f.clone();
        Box::pin(async move { f.handle(req).await })
    }

    fn instances(&self) -> usize {
        self.f.in_flight()
    }

    fn shutdown(&self) -> BoxFuture<()> {
        let f = self.f.clone();
        Box::pin(async move {
            while f.in_flight() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }
}
