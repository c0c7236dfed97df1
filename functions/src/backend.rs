//! What the gateway routes a request to: a [`Backend`], one per deployed function.
//!
//! The gateway knows nothing of how a function runs. A wasm function's backend makes a fresh
//! instance per request (`berth_runtime_wasm::http`), a native function's forwards the request
//! to a pool of containers (`native`). Both take and give `http` requests whose bodies are
//! [`Body`]: a boxed `http_body::Body` of `Bytes` chunks, so request and response bodies stream
//! through the gateway in both directions without being buffered, and an error in the middle of
//! a body (a client gone, a guest that trapped after its headers) ends the stream as an error.
//! The trait is object safe (boxed futures, no `async_trait`), so the gateway keeps its routes
//! as `Arc<dyn Backend>`.

use std::future::Future;
use std::pin::Pin;

/// A streaming HTTP body: request bodies from the gateway, response bodies from a backend.
/// The error is `std::io::Error` (a `hyper::Error` or a guest's `ErrorCode` converted to it).
pub type Body = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// A boxed, sendable future: what the [`Backend`] methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One deployed function as the gateway sees it.
pub trait Backend: Send + Sync + 'static {
    /// Serves one request. Failures are responses too: 500 for a guest that trapped, 502 for
    /// an instance that crashed, 504 for a timeout; the gateway only adds its own headers.
    fn handle(&self, req: http::Request<Body>) -> BoxFuture<http::Response<Body>>;
    /// Instances running now (wasm: requests in flight; native: containers), for `function ls`
    /// and the metrics.
    fn instances(&self) -> usize;
    /// Stops taking requests and ends when those in flight are done (native: stops its
    /// containers).
    fn shutdown(&self) -> BoxFuture<()>;
    /// Instances started because a request needed one (native: containers started; wasm: 0,
    /// every request's instance is fresh by design), for `function ls` and the metrics.
    fn cold_starts(&self) -> u64 {
        0
    }
}

/// A body of one chunk (or none): error pages and small replies.
pub fn full(data: impl Into<bytes::Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(data.into()).map_err(|never| match never {}).boxed()
}

/// A plain-text response with `status`, as the gateway's own error pages are.
pub fn text_response(status: http::StatusCode, text: impl Into<String>) -> http::Response<Body> {
    let mut text = text.into();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut r = http::Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Marks a response that waited for an instance to start (a native function's cold start), in
/// its extensions: the gateway counts them.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart;
