//! The compiled-code cache: a module's or component's machine code, serialized by wasmtime,
//! under `<dir>/<sha256 of the wasm>-<compatibility hash>.cwasm`.
//!
//! Compiling is what makes a cold wasm start slow (tens of milliseconds for a small module,
//! seconds for a large one), so only the first start of a given binary pays for it. The key is
//! the binary's digest plus a hash of the wasmtime version and of every engine setting that
//! affects code generation ([`wasmtime::Engine::precompile_compatibility_hash`]), so another
//! wasmtime or another configuration never loads foreign code. Entries are written to a
//! temporary name and renamed, so a reader never sees half a file; wasmtime validates the header
//! (version, target, settings) when it loads one, and a cache entry that fails to load is
//! recompiled and replaced.

use sha2::{Digest as _, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// What a binary compiled to.
pub enum Compiled {
    Module(Module),
    Component(Component),
}

/// Where the cache entry of `bytes` lives under `dir`.
pub fn entry_path(engine: &Engine, dir: &Path, bytes: &[u8]) -> PathBuf {
    let digest = hex(&Sha256::digest(bytes));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads `bytes` compiled, from the cache in `dir` when there is a valid entry; otherwise
/// compiles and (best effort) stores the result. The bool says whether it came from the cache.
pub fn load(engine: &Engine, dir: Option<&Path>, bytes: &[u8]) -> wasmtime::Result<(Compiled, bool)> {
    let component = super::is_component(bytes);
    let entry = dir.map(|d| entry_path(engine, d, bytes));
    if let Some(p) = entry.as_deref().filter(|p| p.exists()) {
        // SAFETY: the file is one this cache wrote (atomically) for this exact binary and engine
        // configuration; wasmtime checks its header before using it.
        let loaded = unsafe {
            if component {
                Component::deserialize_file(engine, p).map(Compiled::Component)
            } else {
                Module::deserialize_file(engine, p).map(Compiled::Module)
            }
        };
        match loaded {
            Ok(c) => return Ok((c, true)),
            Err(e) => {
                tracing::warn!("wasm cache entry {} is unusable ({e}); recompiling", p.display());
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let (compiled, ser) = if component {
        let c = Component::new(engine, bytes)?;
        let s = entry.as_ref().and_then(|_| c.serialize().ok());
        (Compiled::Component(c), s)
    } else {
        let m = Module::new(engine, bytes)?;
        let s = entry.as_ref().and_then(|_| m.serialize().ok());
        (Compiled::Module(m), s)
    };
    if let (Some(p), Some(ser)) = (entry, ser) {
        store(&p, &ser);
    }
    Ok((compiled, false))
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
