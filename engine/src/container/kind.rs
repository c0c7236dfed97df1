//! Which runtime an image's containers would get, asked before any container exists:
//! `berth function deploy` records a function as wasm or native by the very dispatch rule a
//! container's create applies ([`super::wasm::decide`]), so a function and a `berth run` of
//! the same image never disagree.

use crate::{Engine, Result};
use berth_runtime::Kind;

impl Engine {
    /// The dispatch rule's answer for `image` (a reference or id) run with its own entrypoint,
    /// command and environment. Unpacks the image's layers when they are not yet.
    pub fn image_kind(&self, image: &str) -> Result<Kind> {
        let image = self.resolve_image(image)?;
        if image.is_wasm() {
            return Ok(Kind::Wasm);
        }
        let (args, env) = image_process(&super::wasm::image_config(&image));
        let layers = self.container_layers(&image)?;
        super::wasm::decide(&image, &args, &env, &berth_store::layerview::LayerView::new(&layers))
    }
}

/// The process an image's config names when run as it is: its entrypoint followed by its
/// command, and its environment (what the dispatch rule and a wasm function both read).
pub(super) fn image_process(cfg: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let strings = |k: &str| -> Vec<String> {
        cfg[k].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let mut args = strings("Entrypoint");
    args.extend(strings("Cmd"));
    (args, strings("Env"))
}
