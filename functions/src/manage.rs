//! The operations behind `berth function deploy|ls|inspect|logs|rm`, one call each for the
//! CLI: the checks a deploy makes before it records anything (the spec, its env files, the
//! image and its kind, a wasm function's handler export, a free route), and the views that
//! join the records with what a running gateway publishes ([`Stats`]).

use crate::spec::{FunctionSpec, FunctionStats, Kind, Registry, Stats};
use crate::{Error, Result};
use berth_engine::Engine;
use serde_json::json;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

/// `berth function deploy`: checks `spec` and records it (a deploy of an existing name
/// replaces it). The image must be in the store: a deploy never pulls.
pub fn deploy(root: &Path, mut spec: FunctionSpec) -> Result<FunctionSpec> {
    spec.validate()?;
    spec.environment()?;
    let engine = Engine::open(root)?;
    let kind = engine.image_kind(&spec.image).map_err(|e| {
        if e.is_image_not_found() {
            let (name, image) = (&spec.name, &spec.image);
            Error::NotFound(format!(
                "function {name:?}: no such image: {image} (pull or build it first: berth pull {image})"
            ))
        } else {
            Error::Engine(e)
        }
    })?;
    spec.kind = Some(match kind {
        berth_runtime::Kind::Wasm => Kind::Wasm,
        berth_runtime::Kind::Linux => Kind::Native,
    });
    if spec.kind == Some(Kind::Wasm) {
        crate::wasm::WasmFunction::check(&engine, &spec)?;
    } else if spec.network.as_deref() == Some("none") {
        return Err(Error::Invalid(format!(
            "function {:?}: network \"none\": the gateway could not reach its instances",
            spec.name
        )));
    }
    Registry::new(root).put(&spec)?;
    Registry::new(root).get(&spec.name)
}

/// `berth function ls`: every function, with the running gateway's numbers when one runs.
pub fn list(root: &Path) -> Result<Vec<(FunctionSpec, Option<FunctionStats>)>> {
    let reg = Registry::new(root);
    let stats = Stats::read(&reg);
    Ok(reg
        .list()?
        .into_iter()
        .map(|s| {
            let st = stats.as_ref().map(|st| st.functions.get(&s.name).cloned().unwrap_or_default());
            (s, st)
        })
        .collect())
}

/// `berth function inspect`: the record as JSON, with `Stats` (null without a gateway) and
/// `LogPath`.
pub fn inspect(root: &Path, name: &str) -> Result<serde_json::Value> {
    let reg = Registry::new(root);
    let spec = reg.get(name)?;
    let stats = Stats::read(&reg);
    let mut v = serde_json::to_value(&spec).map_err(|e| Error::Other(e.to_string()))?;
    v["stats"] = match &stats {
        Some(st) => json!(st.functions.get(name).cloned().unwrap_or_default()),
        None => serde_json::Value::Null,
    };
    v["gateway"] = match &stats {
        Some(st) => json!({"pid": st.pid, "addr": st.addr}),
        None => serde_json::Value::Null,
    };
    v["log_path"] = json!(reg.log_path(name));
    Ok(v)
}

/// `berth function rm`: removes the record (a running gateway stops routing to it and stops
/// its instances at its next look) and its log.
pub fn remove(root: &Path, name: &str) -> Result<FunctionSpec> {
    Registry::new(root).remove(name)
}

/// `berth function logs [-f]`: copies the function's log to `out`; with `follow`, keeps
/// copying what is appended until the function is removed.
pub fn logs(root: &Path, name: &str, follow: bool, out: &mut dyn Write) -> Result<()> {
    let reg = Registry::new(root);
    reg.get(name)?;
    let path = reg.log_path(name);
    let io = |e: std::io::Error| Error::Other(format!("{}: {e}", path.display()));
    let mut offset = 0u64;
    loop {
        if let Ok(mut f) = std::fs::File::open(&path) {
            if f.metadata().map_err(io)?.len() < offset {
                offset = 0; // rewritten (the function was removed and deployed again)
            }
            f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(io)?;
            offset += buf.len() as u64;
            out.write_all(&buf).map_err(io)?;
            out.flush().map_err(io)?;
        }
        if !follow || reg.get(name).is_err() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
