//! The component a wasm function runs: the file a wasm image's process names, found in the
//! image's layers without any container (`berth serve` loads it once and instantiates it per
//! request), with the content key the compiled-code cache knows it by.

use crate::{Engine, Error, Result};

impl Engine {
    /// The binary a wasm image (any form the dispatch rule recognises) runs, and its cache key:
    /// the entrypoint (or the first wasm layer of an artifact without one) resolved through the
    /// image's `PATH` in its layers. Unpacks or materialises the layers when they are not yet.
    pub fn wasm_component(&self, image: &str) -> Result<berth_runtime_wasm::ModuleSource> {
        let img = self.resolve_image(image)?;
        let cfg = super::wasm::image_config(&img);
        let (args, env) = super::kind::image_process(&cfg);
        let cwd = cfg["WorkingDir"].as_str().filter(|s| !s.is_empty()).unwrap_or("/");
        let layers = if img.is_wasm() { self.wasm_image_layers(&img)? } else { self.container_layers(&img)? };
        super::wasm::find_module_source(self, &args, cwd, &env, &layers).ok_or_else(|| {
            Error::Other(format!(
                "image {image}: its entrypoint {:?} is not a plain file of its layers",
                args.first().map(String::as_str).unwrap_or_default()
            ))
        })
    }
}
