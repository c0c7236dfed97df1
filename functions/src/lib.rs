//! Function hosting: `berth serve` runs an HTTP gateway in front of functions, and `berth
//! function deploy|ls|inspect|logs|rm` manages them.
//!
//! Two kinds behind one gateway. A wasm function is a `wasi:http/proxy` component: compiled
//! once, pre-instantiated, and every request gets a fresh, isolated instance with its own
//! memory, CPU and wall-clock limits (the serving itself lives in `berth-runtime-wasm`, the one
//! crate that links wasmtime). A native function is an ordinary image listening on `$PORT`: it
//! runs as berth containers, started on the first request, scaled out under load and stopped
//! when idle, as Knative and Cloud Run do. Deployed functions are records under the state root,
//! so a running gateway picks up deploys and removals without a restart.

#![forbid(unsafe_code)]

pub mod backend;
mod error;
pub mod gateway;
pub mod manage;
pub mod metrics;
pub mod native;
pub mod spec;
pub mod wasm;

pub use backend::{Backend, Body};
pub use error::{Error, Result};
pub use spec::{FunctionSpec, Kind, Registry};
