//! The compiled-code cache: a module's or component's machine code, serialized by wasmtime,
//! under `<dir>/<key>-<compatibility hash>.cwasm`.
//!
//! Compiling is what makes a cold wasm start slow (tens of milliseconds for a small module,
//! seconds for a large one), so only the first start of a given binary pays for it. The key
//! names the binary's content: the engine passes one it already knows (the store digest of a
//! wasm layer, or the content address of an unpacked layer plus the path in it, see
//! [`super::ModuleSource`]), so a start reads neither nor hashes the binary, which for a 36 MB
//! guest costs more than the whole rest of the start; without one, the key is the binary's
//! SHA-256. The compatibility hash covers the wasmtime version and every engine setting that
//! affects code generation ([`wasmtime::Engine::precompile_compatibility_hash`]), so another
//! wasmtime or another configuration never loads foreign code. An entry is loaded with
//! `deserialize_file`, which maps it instead of reading it, after wasmtime's own header check
//! (version, target, settings); one that fails the check is recompiled and replaced. Entries
//! are written to a temporary name and renamed, without fsync: a cache entry lost in a crash
//! is only recompiled, and a torn one fails the header check.

use sha2::{Digest as _, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Engine, Module, Precompiled};

/// What a binary compiled to.
pub enum Compiled {
    Module(Module),
    Component(Component),
}

/// Where the cache entry for content `key` lives under `dir`.
pub fn entry_path(engine: &Engine, dir: &Path, key: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{key}-{:016x}.cwasm", h.finish()))
}

/// The content key of `bytes` when no one knows a better one: their SHA-256.
pub fn content_key(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads a valid cache entry for `key` in `dir`, if there is one.
#[allow(
    unsafe_code,
    reason = "wasmtime's deserialize_file is unsafe; berth-sys cannot wrap it without linking wasmtime"
)]
pub fn lookup(engine: &Engine, dir: &Path, key: &str) -> Option<Compiled> {
    let p = entry_path(engine, dir, key);
    // No separate existence check: a missing entry fails this open.
    let kind = match Engine::detect_precompiled_file(&p) {
        Ok(Some(k)) => k,
        Ok(None) | Err(_) => {
            if p.exists() {
                tracing::warn!("wasm cache entry {} is not precompiled code; recompiling", p.display());
                let _ = std::fs::remove_file(&p);
            }
            return None;
        }
    };
    // SAFETY: the file is one this cache wrote (atomically) for this key and engine
    // configuration; wasmtime checks its header (version, target, settings) before using it.
    let loaded = unsafe {
        match kind {
            Precompiled::Component => Component::deserialize_file(engine, &p).map(Compiled::Component),
            Precompiled::Module => Module::deserialize_file(engine, &p).map(Compiled::Module),
        }
    };
    match loaded {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("wasm cache entry {} is unusable ({e}); recompiling", p.display());
            let _ = std::fs::remove_file(&p);
            None
        }
    }
}

/// Compiles `bytes` and (best effort, when `dir` is set) stores the result under `key`.
pub fn compile(engine: &Engine, dir: Option<&Path>, key: &str, bytes: &[u8]) -> wasmtime::Result<Compiled> {
    let (compiled, ser) = if super::is_component(bytes) {
        let c = Component::new(engine, bytes)?;
        let s = dir.and_then(|_| c.serialize().ok());
        (Compiled::Component(c), s)
    } else {
        let m = Module::new(engine, bytes)?;
        let s = dir.and_then(|_| m.serialize().ok());
        (Compiled::Module(m), s)
    };
    if let (Some(d), Some(ser)) = (dir, ser) {
        store(&entry_path(engine, d, key), &ser);
    }
    Ok(compiled)
}

/// Loads `bytes` compiled, from the cache in `dir` when there is a valid entry; otherwise
/// compiles and (best effort) stores the result. The bool says whether it came from the cache.
pub fn load(engine: &Engine, dir: Option<&Path>, bytes: &[u8]) -> wasmtime::Result<(Compiled, bool)> {
    let key = content_key(bytes);
    if let Some(c) = dir.and_then(|d| lookup(engine, d, &key)) {
        return Ok((c, true));
    }
    compile(engine, dir, &key, bytes).map(|c| (c, false))
}

fn store(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".tmp-{}-{:x}", std::process::id(), rand_u32()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_ok() {
        return;
    }
    let _ = std::fs::remove_file(&tmp);
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
