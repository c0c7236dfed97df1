//! berth's embedded registry: an OCI distribution-spec v1.1 server (pull, push, content
//! discovery and management), so one machine can host images with nothing else installed.
//!
//! Repository names may contain slashes, so there are no axum routes: one fallback handler
//! parses `/v2/...` paths itself (the trailing `blobs/…`, `manifests/…`, `tags/list`,
//! `referrers/…` segments say what is asked for). Bodies are streamed straight into the
//! upload's file on a blocking thread while being hashed, so a blob is read from the socket
//! once, written once and renamed into place; nothing holds a whole layer in memory. Storage
//! details are in [`storage`].

pub mod storage;

use crate::{Digest, Error, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub use storage::Storage;

/// Largest manifest accepted (see [`berth_oci::media::MAX_MANIFEST_SIZE`]); bigger ones get 413.
pub use berth_oci::media::MAX_MANIFEST_SIZE;
const API_VERSION: &str = "registry/2.0";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Shared state of a running registry.
pub struct Registry {
    storage: Storage,
    /// Live upload sessions: running hash and size, serialized by their own lock.
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
}

struct Session {
    hasher: Sha256,
    size: u64,
}

impl Registry {
    /// Opens (creating) the storage directory.
    pub fn open(storage: &Path) -> Result<Arc<Registry>> {
        Ok(Arc::new(Registry { storage: Storage::open(storage)?, sessions: Mutex::new(HashMap::new()) }))
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// The registry as an axum router (for embedding, e.g. in tests).
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new().fallback(entry).with_state(registry)
}

/// Serves `registry` on `listener` until `shutdown` resolves (then finishes in-flight requests).
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr().ok();
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Other(format!("registry server on {addr:?}: {e}")))
}

// ---- errors --------------------------------------------------------------------------------

/// An error response in the spec's `{"errors":[{code,message,detail}]}` shape (boxed: it
/// travels through every handler's `Result`).
#[derive(Debug)]
struct ApiError(Box<ApiErrorBody>);

#[derive(Debug)]
struct ApiErrorBody {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<Value>,
    headers: HeaderMap,
}

impl std::ops::Deref for ApiError {
    type Target = ApiErrorBody;
    fn deref(&self) -> &ApiErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorBody {
        &mut self.0
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(ApiErrorBody {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: HeaderMap::new(),
        }))
    }
    fn detail(mut self, d: Value) -> ApiError {
        self.detail = Some(d);
        self
    }
    fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("registry: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let mut err = json!({"code": e.code, "message": e.message});
        if let Some(d) = e.detail {
            err["detail"] = d;
        }
        let body = serde_json::to_vec(&json!({ "errors": [err] })).expect("json");
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = e.status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut().extend(e.headers);
        r
    }
}

type ApiResult = std::result::Result<Response, ApiError>;

/// Runs blocking storage work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(e)),
    }
}

// ---- routing -------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

/// Maps a (percent-decoded) request path onto an API endpoint. The name is not validated here.
fn parse_route(path: &str) -> Option<Route> {
    if path == "/v2/" || path == "/v2" {
        return Some(Route::Base);
    }
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| (n > k).then(|| segs[..n - k].join("/"));
    let last = segs[n - 1].to_string();
    if n >= 3 && segs[n - 2] == "tags" && last == "list" {
        return Some(Route::Tags(name(2)?));
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let nm = name(3)?;
        return Some(if last.is_empty() { Route::UploadStart(nm) } else { Route::Upload(nm, last) });
    }
    if n >= 3 && segs[n - 2] == "blobs" && last == "uploads" {
        return Some(Route::UploadStart(name(2)?));
    }
    if n >= 3 && !last.is_empty() {
        match segs[n - 2] {
            "blobs" => return Some(Route::Blob(name(2)?, last)),
            "manifests" => return Some(Route::Manifest(name(2)?, last)),
            "referrers" => return Some(Route::Referrers(name(2)?, last)),
            _ => {}
        }
    }
    None
}

/// The spec's repository name grammar (one implementation, the reference parser's).
pub use berth_oci::reference::{valid_repository as valid_name, valid_tag};

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hexval = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for kv in q.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        m.entry(percent_decode(k, true)).or_insert_with(|| percent_decode(v, true));
    }
    m
}

/// Every request comes here: logs it, dispatches it and adds the API version header.
async fn entry(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut resp = match dispatch(reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if method == Method::HEAD && resp.status().as_u16() >= 400 {
        *resp.body_mut() = Body::empty();
    }
    resp.headers_mut().insert("Docker-Distribution-API-Version", HeaderValue::from_static(API_VERSION));
    tracing::debug!(
        %method, %uri, status = resp.status().as_u16(), elapsed_ms = start.elapsed().as_millis() as u64,
        "registry request"
    );
    resp
}

async fn dispatch(reg: Arc<Registry>, req: Request) -> ApiResult {
    let path = percent_decode(req.uri().path(), false);
    let q = query_params(req.uri().query());
    let Some(route) = parse_route(&path) else {
        return Err(ApiError::not_found("NAME_UNKNOWN", format!("unknown API endpoint {path}")));
    };
    let name = match &route {
        Route::Base | Route::Catalog => None,
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(n.clone()),
    };
    if let Some(n) = &name {
        if !valid_name(n) {
            return Err(
                ApiError::bad("NAME_INVALID", format!("invalid repository name {n:?}")).detail(json!({"name": n}))
            );
        }
    }
    let m = req.method().clone();
    let is_get = m == Method::GET || m == Method::HEAD;
    let head = m == Method::HEAD;
    match route {
        Route::Base if is_get => Ok(json_response(StatusCode::OK, &json!({}), None)),
        Route::Catalog if is_get => catalog(&reg, &q),
        Route::Tags(n) if is_get => tags_list(&reg, &n, &q),
        Route::Manifest(n, r) if is_get => get_manifest(&reg, &n, &r, head).await,
        Route::Manifest(n, r) if m == Method::PUT => put_manifest(&reg, &n, &r, req).await,
        Route::Manifest(n, r) if m == Method::DELETE => delete_manifest(&reg, &n, &r).await,
        Route::Blob(n, d) if is_get => get_blob(&reg, &n, &d, head, req.headers()).await,
        Route::Blob(n, d) if m == Method::DELETE => delete_blob(&reg, &n, &d).await,
        Route::UploadStart(n) if m == Method::POST => start_upload(&reg, &n, &q, req).await,
        Route::Upload(n, u) if is_get => upload_status(&reg, &n, &u).await,
        Route::Upload(n, u) if m == Method::PATCH => patch_upload(&reg, &n, &u, req).await,
        Route::Upload(n, u) if m == Method::PUT => put_upload(&reg, &n, &u, &q, req).await,
        Route::Upload(n, u) if m == Method::DELETE => delete_upload(&reg, &n, &u).await,
        Route::Referrers(n, d) if is_get => referrers(&reg, &n, &d, &q),
        _ => {
            Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", format!("{m} is not supported on {path}")))
        }
    }
}

fn json_response(status: StatusCode, v: &Value, content_type: Option<&str>) -> Response {
    let body = serde_json::to_vec(v).expect("json");
    let ct = content_type.unwrap_or("application/json");
    Response::builder().status(status).header(header::CONTENT_TYPE, ct).body(Body::from(body)).expect("valid response")
}

fn empty(status: StatusCode) -> axum::http::response::Builder {
    Response::builder().status(status)
}

fn finish(b: axum::http::response::Builder) -> Response {
    b.header(header::CONTENT_LENGTH, "0").body(Body::empty()).expect("valid response")
}

fn parse_digest(s: &str) -> std::result::Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|e| ApiError::bad("DIGEST_INVALID", format!("invalid digest {s:?}: {e}")).detail(json!({"digest": s})))
}

/// Parses `n` and `last` for the paginated lists; `n` absent means everything.
fn paginate(items: Vec<String>, q: &HashMap<String, String>) -> std::result::Result<(Vec<String>, bool), ApiError> {
    let n = match q.get("n") {
        None => None,
        Some(v) => {
            Some(v.parse::<usize>().map_err(|_| ApiError::bad("UNSUPPORTED", format!("invalid page size n={v:?}")))?)
        }
    };
    let mut items: Vec<String> = match q.get("last") {
        Some(last) => items.into_iter().filter(|t| t.as_str() > last.as_str()).collect(),
        None => items,
    };
    let more = matches!(n, Some(n) if items.len() > n);
    if let Some(n) = n {
        items.truncate(n);
    }
    let more = more && !items.is_empty();
    Ok((items, more))
}

fn next_link(path: &str, n: &str, last: &str) -> String {
    format!("<{path}?n={n}&last={last}>; rel=\"next\"")
}

fn catalog(reg: &Registry, q: &HashMap<String, String>) -> ApiResult {
    let (repos, more) = paginate(reg.storage.catalog(), q)?;
    let mut r = json_response(StatusCode::OK, &json!({ "repositories": repos }), None);
    if more {
        let link = next_link("/v2/_catalog", &q["n"], repos.last().expect("non-empty page"));
        r.headers_mut().insert(header::LINK, HeaderValue::from_str(&link).expect("ascii link"));
    }
    Ok(r)
}

fn tags_list(reg: &Registry, name: &str, q: &HashMap<String, String>) -> ApiResult {
    let Some(tags) = reg.storage.tags(name) else {
        return Err(ApiError::not_found("NAME_UNKNOWN", format!("repository {name} not known to registry"))
            .detail(json!({"name": name})));
    };
    let (tags, more) = paginate(tags, q)?;
    let mut r = json_response(StatusCode::OK, &json!({ "name": name, "tags": tags }), None);
    if more {
        let link = next_link(&format!("/v2/{name}/tags/list"), &q["n"], tags.last().expect("non-empty page"));
        r.headers_mut().insert(header::LINK, HeaderValue::from_str(&link).expect("ascii link"));
    }
    Ok(r)
}

// ---- manifests -----------------------------------------------------------------------------

/// Resolves a tag or digest reference in `name`; `Ok(None)` when it names nothing.
fn resolve(reg: &Registry, name: &str, reference: &str) -> std::result::Result<Option<Digest>, ApiError> {
    if reference.contains(':') {
        Ok(Some(parse_digest(reference)?))
    } else if valid_tag(reference) {
        Ok(reg.storage.resolve_tag(name, reference))
    } else {
        Err(ApiError::bad("MANIFEST_INVALID", format!("invalid tag {reference:?}")).detail(json!({"tag": reference})))
    }
}

fn manifest_unknown(name: &str, reference: &str) -> ApiError {
    ApiError::not_found("MANIFEST_UNKNOWN", format!("manifest unknown: {name}:{reference}"))
        .detail(json!({"name": name, "reference": reference}))
}

async fn get_manifest(reg: &Arc<Registry>, name: &str, reference: &str, head: bool) -> ApiResult {
    let d = resolve(reg, name, reference)?.ok_or_else(|| manifest_unknown(name, reference))?;
    let rec = reg.storage.manifest(name, &d).ok_or_else(|| manifest_unknown(name, reference))?;
    let b = empty(StatusCode::OK)
        .header(header::CONTENT_TYPE, rec.media_type.as_str())
        .header("Docker-Content-Digest", d.as_str())
        .header(header::ETAG, format!("\"{d}\""));
    if head {
        return Ok(b.header(header::CONTENT_LENGTH, rec.size).body(Body::empty()).expect("valid response"));
    }
    let st = reg.storage.clone();
    let d2 = d.clone();
    let bytes = blocking(move || st.read_manifest(&d2)).await?;
    Ok(b.body(Body::from(bytes)).expect("valid response"))
}

/// What a pushed manifest refers to, and how it presents itself.
#[derive(Debug)]
struct ParsedManifest {
    media_type: String,
    /// Blobs that must be in the repository: (digest, size).
    blobs: Vec<(Digest, u64)>,
    /// Manifests (of an index) that must be in the repository.
    manifests: Vec<(Digest, u64)>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<Value>,
}

/// Media types whose documents berth knows the structure of.
fn known_kind(mt: &str) -> Option<&'static str> {
    match mt {
        berth_oci::media::OCI_MANIFEST | berth_oci::media::DOCKER_MANIFEST => Some("manifest"),
        berth_oci::media::OCI_INDEX | berth_oci::media::DOCKER_LIST => Some("index"),
        _ => None,
    }
}

fn parse_descriptor(v: &Value, what: &str) -> std::result::Result<(Digest, u64, Option<String>), ApiError> {
    let invalid = |why: &str| ApiError::bad("MANIFEST_INVALID", format!("manifest invalid: {what}: {why}"));
    let o = v.as_object().ok_or_else(|| invalid("descriptor is not an object"))?;
    let ds = o.get("digest").and_then(Value::as_str).ok_or_else(|| invalid("missing digest"))?;
    let d: Digest = ds.parse().map_err(|e| invalid(&format!("{e}")))?;
    let size = o.get("size").and_then(Value::as_u64).ok_or_else(|| invalid("missing or invalid size"))?;
    let mt = match o.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("mediaType is not a string")),
    };
    Ok((d, size, mt))
}

/// Validates a pushed manifest. `header_type` is the request's Content-Type, if meaningful.
fn parse_manifest(bytes: &[u8], header_type: Option<&str>) -> std::result::Result<ParsedManifest, ApiError> {
    let invalid = |why: String| ApiError::bad("MANIFEST_INVALID", format!("manifest invalid: {why}"));
    let v: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| invalid("not a JSON object".into()))?;
    let body_type = match o.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(invalid("mediaType is not a string".into())),
    };
    if let (Some(h), Some(b)) = (header_type, body_type) {
        if h != b {
            return Err(invalid(format!("Content-Type {h} does not match the manifest's mediaType {b}")));
        }
    }
    let media_type = match header_type.or(body_type) {
        Some(t) => t.to_string(),
        None if o.contains_key("manifests") => OCI_INDEX.to_string(),
        None if o.contains_key("config") => berth_oci::media::OCI_MANIFEST.to_string(),
        None => return Err(invalid("no media type: set Content-Type or mediaType".into())),
    };
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(invalid("Docker schema 1 manifests are not supported".into()));
    }
    let kind = known_kind(&media_type);
    if kind.is_some() && o.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2".into()));
    }
    let mut pm = ParsedManifest {
        media_type,
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: o.get("artifactType").and_then(Value::as_str).map(String::from),
        annotations: o.get("annotations").filter(|a| a.is_object()).cloned(),
    };
    match o.get("config") {
        Some(c) => {
            let (d, size, mt) = parse_descriptor(c, "config")?;
            if kind == Some("manifest") && mt.is_none() {
                return Err(invalid("config descriptor has no mediaType".into()));
            }
            // An image that every client would refuse to pull (and would cost each one its
            // config's size in memory per command) is refused at the door.
            if kind == Some("manifest") {
                berth_oci::media::check_config_size(size, "config").map_err(|e| invalid(e.to_string()))?;
            }
            if pm.artifact_type.is_none() {
                pm.artifact_type = mt;
            }
            pm.blobs.push((d, size));
        }
        None if kind == Some("manifest") => return Err(invalid("missing config".into())),
        None => {}
    }
    for (field, is_manifest) in [("layers", false), ("blobs", false), ("manifests", true)] {
        let Some(list) = o.get(field) else {
            if (kind == Some("manifest") && field == "layers") || (kind == Some("index") && field == "manifests") {
                return Err(invalid(format!("missing {field}")));
            }
            continue;
        };
        let list = list.as_array().ok_or_else(|| invalid(format!("{field} is not an array")))?;
        for (i, item) in list.iter().enumerate() {
            let (d, size, _) = parse_descriptor(item, &format!("{field}[{i}]"))?;
            // Foreign (non-distributable) layers live elsewhere, at their `urls`.
            let foreign = item.get("urls").and_then(Value::as_array).is_some_and(|u| !u.is_empty());
            if is_manifest {
                pm.manifests.push((d, size));
            } else if !foreign {
                pm.blobs.push((d, size));
            }
        }
    }
    if let Some(s) = o.get("subject") {
        pm.subject = Some(parse_descriptor(s, "subject")?.0);
    }
    Ok(pm)
}

async fn read_limited(body: Body, limit: usize) -> std::result::Result<Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    let mut s = body.into_data_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad("MANIFEST_INVALID", format!("reading the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifest is larger than {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn put_manifest(reg: &Arc<Registry>, name: &str, reference: &str, req: Request) -> ApiResult {
    let tag = if reference.contains(':') {
        None
    } else if valid_tag(reference) {
        Some(reference.to_string())
    } else {
        return Err(
            ApiError::bad("MANIFEST_INVALID", format!("invalid tag {reference:?}")).detail(json!({"tag": reference}))
        );
    };
    let want = if tag.is_none() { Some(parse_digest(reference)?) } else { None };
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        if len > MAX_MANIFEST_SIZE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifest is larger than {MAX_MANIFEST_SIZE} bytes"),
            ));
        }
    }
    let header_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !matches!(t.as_str(), "" | "application/json" | "application/octet-stream" | "text/plain"));
    let bytes = read_limited(req.into_body(), MAX_MANIFEST_SIZE).await?;
    let d = Digest::of(&bytes);
    if let Some(w) = &want {
        if w != &d {
            return Err(ApiError::bad("DIGEST_INVALID", format!("manifest digest is {d}, not {w}"))
                .detail(json!({"expected": w.as_str(), "actual": d.as_str()})));
        }
    }
    let pm = parse_manifest(&bytes, header_type.as_deref())?;
    for (bd, size) in &pm.blobs {
        match reg.storage.repo_blob_size(name, bd) {
            None => {
                return Err(ApiError::bad("MANIFEST_BLOB_UNKNOWN", format!("blob unknown to {name}: {bd}"))
                    .detail(json!({"digest": bd.as_str()})))
            }
            Some(s) if s != *size => {
                return Err(ApiError::bad(
                    "MANIFEST_INVALID",
                    format!("manifest invalid: descriptor of {bd} says {size} bytes, the blob has {s}"),
                ))
            }
            Some(_) => {}
        }
    }
    for (md, size) in &pm.manifests {
        match reg.storage.manifest(name, md) {
            None => {
                return Err(ApiError::bad("MANIFEST_BLOB_UNKNOWN", format!("manifest unknown to {name}: {md}"))
                    .detail(json!({"digest": md.as_str()})))
            }
            Some(r) if r.size != *size => {
                return Err(ApiError::bad(
                    "MANIFEST_INVALID",
                    format!("manifest invalid: descriptor of {md} says {size} bytes, the manifest has {}", r.size),
                ))
            }
            Some(_) => {}
        }
    }
    let referrer = pm.subject.as_ref().map(|s| {
        let mut desc = json!({"mediaType": pm.media_type, "digest": d.as_str(), "size": bytes.len()});
        if let Some(at) = &pm.artifact_type {
            desc["artifactType"] = json!(at);
        }
        if let Some(a) = &pm.annotations {
            desc["annotations"] = a.clone();
        }
        (s.clone(), desc)
    });
    let (st, n, d2, mt, tag2) = (reg.storage.clone(), name.to_string(), d.clone(), pm.media_type.clone(), tag.clone());
    blocking(move || st.put_manifest(&n, &bytes, &d2, &mt, tag2.as_deref(), referrer.as_ref().map(|(s, v)| (s, v))))
        .await?;
    tracing::debug!(repo = name, digest = %d, tag = ?tag, media_type = pm.media_type, "registry: manifest stored");
    let mut b = empty(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{d}"))
        .header("Docker-Content-Digest", d.as_str());
    if let Some(s) = &pm.subject {
        b = b.header("OCI-Subject", s.as_str());
    }
    Ok(finish(b))
}

async fn delete_manifest(reg: &Arc<Registry>, name: &str, reference: &str) -> ApiResult {
    let st = reg.storage.clone();
    let n = name.to_string();
    let found = if reference.contains(':') {
        let d = parse_digest(reference)?;
        blocking(move || {
            let subject = st
                .read_manifest(&d)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("subject")?.get("digest")?.as_str()?.parse::<Digest>().ok());
            st.delete_manifest(&n, &d, subject.as_ref())
        })
        .await?
    } else if valid_tag(reference) {
        let t = reference.to_string();
        blocking(move || st.delete_tag(&n, &t)).await?
    } else {
        return Err(ApiError::bad("MANIFEST_INVALID", format!("invalid tag {reference:?}")));
    };
    if !found {
        return Err(manifest_unknown(name, reference));
    }
    Ok(finish(empty(StatusCode::ACCEPTED)))
}

fn referrers(reg: &Registry, name: &str, digest: &str, q: &HashMap<String, String>) -> ApiResult {
    let d = parse_digest(digest)?;
    let mut list = reg.storage.referrers(name, &d);
    let filter = q.get("artifactType").filter(|s| !s.is_empty());
    if let Some(at) = filter {
        list.retain(|desc| desc.get("artifactType").and_then(Value::as_str) == Some(at.as_str()));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list});
    let mut r = json_response(StatusCode::OK, &index, Some(OCI_INDEX));
    if filter.is_some() {
        r.headers_mut().insert("OCI-Filters-Applied", HeaderValue::from_static("artifactType"));
    }
    Ok(r)
}

// ---- blobs ---------------------------------------------------------------------------------

fn blob_unknown(d: &str) -> ApiError {
    ApiError::not_found("BLOB_UNKNOWN", format!("blob unknown to registry: {d}")).detail(json!({"digest": d}))
}

/// Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against a blob of `size` bytes.
/// `Some(Err(()))` means unsatisfiable; `None` means no usable range (serve everything).
fn parse_range(h: &str, size: u64) -> Option<std::result::Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 =
            if b.is_empty() { size.saturating_sub(1) } else { b.parse::<u64>().ok()?.min(size.saturating_sub(1)) };
        if start >= size || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(r))
}

async fn get_blob(reg: &Arc<Registry>, name: &str, digest: &str, head: bool, headers: &HeaderMap) -> ApiResult {
    let d = parse_digest(digest)?;
    let size = reg.storage.repo_blob_size(name, &d).ok_or_else(|| blob_unknown(digest))?;
    let b = empty(StatusCode::OK)
        .header("Docker-Content-Digest", d.as_str())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{d}\""))
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if head {
        return Ok(b.header(header::CONTENT_LENGTH, size).body(Body::empty()).expect("valid response"));
    }
    let path = reg.storage.blob_path(&d);
    let mut f = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => blob_unknown(digest),
        _ => ApiError::internal(Error::io(&path, e)),
    })?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|h| parse_range(h, size));
    let (b, start, len) = match range {
        None => (b, 0, size),
        Some(Err(())) => {
            let mut e =
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UNKNOWN", "requested range not satisfiable");
            e.headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return Err(e);
        }
        Some(Ok((s, e))) => (
            b.status(StatusCode::PARTIAL_CONTENT).header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}")),
            s,
            e - s + 1,
        ),
    };
    if start > 0 {
        f.seek(SeekFrom::Start(start)).await.map_err(|e| ApiError::internal(Error::io(&path, e)))?;
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 << 10);
    Ok(b.header(header::CONTENT_LENGTH, len).body(Body::from_stream(stream)).expect("valid response"))
}

async fn delete_blob(reg: &Arc<Registry>, name: &str, digest: &str) -> ApiResult {
    let d = parse_digest(digest)?;
    let (st, n) = (reg.storage.clone(), name.to_string());
    if !blocking(move || st.unlink_layer(&n, &d)).await? {
        return Err(blob_unknown(digest));
    }
    Ok(finish(empty(StatusCode::ACCEPTED)))
}

// ---- uploads -------------------------------------------------------------------------------

fn upload_headers(name: &str, uuid: &str, size: u64, status: StatusCode) -> axum::http::response::Builder {
    empty(status)
        .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{uuid}"))
        .header(header::RANGE, format!("0-{}", size.saturating_sub(1)))
        .header("Docker-Upload-UUID", uuid)
}

fn upload_unknown(uuid: &str) -> ApiError {
    ApiError::not_found("BLOB_UPLOAD_UNKNOWN", format!("blob upload unknown to registry: {uuid}"))
        .detail(json!({"uuid": uuid}))
}

fn blob_created(name: &str, d: &Digest) -> Response {
    finish(
        empty(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{name}/blobs/{d}"))
            .header("Docker-Content-Digest", d.as_str()),
    )
}

/// Why a body could not be appended to an upload.
enum AppendError {
    /// The client's body broke off or disagreed with its Content-Range.
    Body(String),
    Io(Error),
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> ApiError {
        match e {
            AppendError::Body(m) => ApiError::bad("BLOB_UPLOAD_INVALID", m),
            AppendError::Io(e) => ApiError::internal(e),
        }
    }
}

/// Streams `body` onto the end of the upload file at `offset`, hashing as it goes. On any
/// failure the file is cut back to `offset`, so a failed chunk leaves the session as it was.
async fn append_body(
    body: Body,
    path: PathBuf,
    offset: u64,
    hasher: Sha256,
    expect_len: Option<u64>,
) -> std::result::Result<(Sha256, u64), AppendError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let p = path.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<(Sha256, u64)> {
        let mut f = std::fs::OpenOptions::new().write(true).open(&p).map_err(|e| Error::io(&p, e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(&p, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut h = hasher;
        let mut n = 0u64;
        while let Some(b) = rx.blocking_recv() {
            w.write_all(&b).map_err(|e| Error::io(&p, e))?;
            h.update(&b);
            n += b.len() as u64;
        }
        w.flush().map_err(|e| Error::io(&p, e))?;
        Ok((h, n))
    });
    let mut stream = body.into_data_stream();
    let mut body_err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                if tx.send(b).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                body_err = Some(AppendError::Body(format!("reading the request body: {e}")));
                break;
            }
        }
    }
    drop(tx);
    let written = match writer.await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(AppendError::Io(e)),
        Err(e) => Err(AppendError::Io(Error::Other(e.to_string()))),
    };
    let result = match (body_err, written) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e),
        (None, Ok((h, n))) => match expect_len {
            Some(want) if want != n => {
                Err(AppendError::Body(format!("Content-Range announced {want} bytes, the body had {n}")))
            }
            _ => Ok((h, n)),
        },
    };
    if result.is_err() {
        let _ = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(offset))
        })
        .await;
    }
    result
}

/// Looks up (or revives after a restart) the session `uuid` of repository `name`, locked.
async fn session(
    reg: &Arc<Registry>,
    name: &str,
    uuid: &str,
) -> std::result::Result<tokio::sync::OwnedMutexGuard<Session>, ApiError> {
    let (repo, size) = reg.storage.upload_info(uuid).ok_or_else(|| upload_unknown(uuid))?;
    if repo != name {
        return Err(upload_unknown(uuid));
    }
    let existing = reg.sessions.lock().expect("sessions lock").get(uuid).cloned();
    let s = match existing {
        Some(s) => s,
        None => {
            let (st, u) = (reg.storage.clone(), uuid.to_string());
            let hasher = blocking(move || st.hash_upload(&u)).await?;
            let fresh = Arc::new(tokio::sync::Mutex::new(Session { hasher, size }));
            reg.sessions.lock().expect("sessions lock").entry(uuid.to_string()).or_insert(fresh).clone()
        }
    };
    let g = s.lock_owned().await;
    // A concurrent request may have finished or cancelled the upload while we waited.
    if reg.storage.upload_info(uuid).is_none() {
        return Err(upload_unknown(uuid));
    }
    Ok(g)
}

fn forget_session(reg: &Registry, uuid: &str) {
    reg.sessions.lock().expect("sessions lock").remove(uuid);
}

/// Parses `Content-Range: <start>-<end>` (also tolerating `bytes ` / `bytes=` and `/<total>`).
fn parse_content_range(h: &str) -> Option<(u64, u64)> {
    let s = h.trim();
    let s = s.strip_prefix("bytes").map(|r| r.trim_start_matches([' ', '='])).unwrap_or(s);
    let s = s.split('/').next()?;
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (b >= a).then_some((a, b))
}

/// Checks a chunk's Content-Range against the session; returns the expected body length.
fn check_range(headers: &HeaderMap, name: &str, uuid: &str, size: u64) -> std::result::Result<Option<u64>, ApiError> {
    let Some(h) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let not_satisfiable = |why: String| {
        let mut e = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", why);
        let r = finish(upload_headers(name, uuid, size, StatusCode::RANGE_NOT_SATISFIABLE));
        for k in [header::LOCATION, header::RANGE] {
            if let Some(v) = r.headers().get(&k) {
                e.headers.insert(k, v.clone());
            }
        }
        e.headers.insert("Docker-Upload-UUID", HeaderValue::from_str(uuid).expect("uuid is ascii"));
        e
    };
    let hs = h.to_str().unwrap_or("");
    let (start, end) =
        parse_content_range(hs).ok_or_else(|| not_satisfiable(format!("invalid Content-Range {hs:?}")))?;
    if start != size {
        return Err(not_satisfiable(format!("chunk starts at {start}, the upload has {size} bytes")));
    }
    let len = end - start + 1;
    if let Some(cl) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        if cl != len {
            return Err(not_satisfiable(format!("Content-Range covers {len} bytes but Content-Length is {cl}")));
        }
    }
    Ok(Some(len))
}

async fn start_upload(reg: &Arc<Registry>, name: &str, q: &HashMap<String, String>, req: Request) -> ApiResult {
    if let Some(m) = q.get("mount") {
        if let Ok(d) = m.parse::<Digest>() {
            let from = q.get("from").filter(|f| !f.is_empty());
            let mountable = match from {
                Some(f) => valid_name(f) && reg.storage.has_layer(f, &d),
                // Automatic mount: the blob is anywhere in this registry.
                None => reg.storage.blob_size(&d).is_some(),
            } || reg.storage.has_layer(name, &d);
            if mountable {
                let (st, n, d2) = (reg.storage.clone(), name.to_string(), d.clone());
                if blocking(move || st.link_layer(&n, &d2)).await? {
                    tracing::debug!(repo = name, from = ?from, digest = %d, "registry: blob mounted");
                    return Ok(blob_created(name, &d));
                }
            }
        }
    }
    let want = q.get("digest").map(|d| parse_digest(d)).transpose()?;
    let (st, n) = (reg.storage.clone(), name.to_string());
    let uuid = blocking(move || st.new_upload(&n)).await?;
    let Some(want) = want else {
        return Ok(finish(upload_headers(name, &uuid, 0, StatusCode::ACCEPTED).header("OCI-Chunk-Min-Length", "0")));
    };
    // Monolithic upload: the whole blob is this request's body.
    let path = reg.storage.upload_data(&uuid);
    let r = append_body(req.into_body(), path, 0, Sha256::new(), None).await;
    let (h, _) = match r {
        Ok(v) => v,
        Err(e) => {
            reg.storage.cancel_upload(&uuid);
            return Err(e.into());
        }
    };
    commit(reg, name, &uuid, h, &want).await
}

/// Verifies an upload against `want` and stores it; on mismatch the upload is discarded.
async fn commit(reg: &Arc<Registry>, name: &str, uuid: &str, h: Sha256, want: &Digest) -> ApiResult {
    let got = Digest::from_hasher(h);
    if &got != want {
        reg.storage.cancel_upload(uuid);
        forget_session(reg, uuid);
        return Err(ApiError::bad("DIGEST_INVALID", format!("uploaded content has digest {got}, not {want}"))
            .detail(json!({"expected": want.as_str(), "actual": got.as_str()})));
    }
    let (st, n, u, d) = (reg.storage.clone(), name.to_string(), uuid.to_string(), want.clone());
    let r = blocking(move || st.commit_upload(&u, &n, &d)).await;
    forget_session(reg, uuid);
    r?;
    tracing::debug!(repo = name, digest = %want, "registry: blob stored");
    Ok(blob_created(name, want))
}

async fn upload_status(reg: &Arc<Registry>, name: &str, uuid: &str) -> ApiResult {
    let g = session(reg, name, uuid).await?;
    Ok(finish(upload_headers(name, uuid, g.size, StatusCode::NO_CONTENT)))
}

async fn patch_upload(reg: &Arc<Registry>, name: &str, uuid: &str, req: Request) -> ApiResult {
    let mut g = session(reg, name, uuid).await?;
    let expect = check_range(req.headers(), name, uuid, g.size)?;
    let path = reg.storage.upload_data(uuid);
    let (h, n) = append_body(req.into_body(), path, g.size, g.hasher.clone(), expect).await?;
    g.hasher = h;
    g.size += n;
    Ok(finish(upload_headers(name, uuid, g.size, StatusCode::ACCEPTED)))
}

async fn put_upload(
    reg: &Arc<Registry>,
    name: &str,
    uuid: &str,
    q: &HashMap<String, String>,
    req: Request,
) -> ApiResult {
    let want = match q.get("digest") {
        Some(d) => parse_digest(d)?,
        None => return Err(ApiError::bad("DIGEST_INVALID", "closing an upload needs ?digest=")),
    };
    let mut g = session(reg, name, uuid).await?;
    let expect = check_range(req.headers(), name, uuid, g.size)?;
    let has_body = expect.is_some_and(|n| n > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if has_body {
        let path = reg.storage.upload_data(uuid);
        let (h, n) = append_body(req.into_body(), path, g.size, g.hasher.clone(), expect).await?;
        g.hasher = h;
        g.size += n;
    }
    let h = g.hasher.clone();
    let r = commit(reg, name, uuid, h, &want).await;
    drop(g);
    r
}

async fn delete_upload(reg: &Arc<Registry>, name: &str, uuid: &str) -> ApiResult {
    let g = session(reg, name, uuid).await?;
    reg.storage.cancel_upload(uuid);
    forget_session(reg, uuid);
    drop(g);
    Ok(finish(empty(StatusCode::NO_CONTENT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| parse_route(p);
        assert_eq!(r("/v2/"), Some(Route::Base));
        assert_eq!(r("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(r("/v2/a/b/c/tags/list"), Some(Route::Tags("a/b/c".into())));
        assert_eq!(r("/v2/a/manifests/latest"), Some(Route::Manifest("a".into(), "latest".into())));
        assert_eq!(r("/v2/a/blobs/manifests/v1"), Some(Route::Manifest("a/blobs".into(), "v1".into())));
        assert_eq!(r("/v2/x/blobs/sha256:abc"), Some(Route::Blob("x".into(), "sha256:abc".into())));
        assert_eq!(r("/v2/x/y/blobs/uploads/"), Some(Route::UploadStart("x/y".into())));
        assert_eq!(r("/v2/x/blobs/uploads"), Some(Route::UploadStart("x".into())));
        assert_eq!(r("/v2/x/blobs/uploads/u-1"), Some(Route::Upload("x".into(), "u-1".into())));
        assert_eq!(r("/v2/x/referrers/sha256:a"), Some(Route::Referrers("x".into(), "sha256:a".into())));
        assert_eq!(r("/v2/manifests/latest"), None);
        assert_eq!(r("/v1/x"), None);
    }

    #[test]
    fn names_and_tags() {
        for ok in ["a", "a/b/c", "library/busybox", "a.b_c__d---e", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "a//b", "/a", "a/", "a..b", "a___b", "_a", "a-", "a/.b", "../x", &"a".repeat(256)] {
            assert!(!valid_name(bad), "{bad}");
        }
        for ok in ["latest", "_x", "V1.0-rc_2", &"t".repeat(128)] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"t".repeat(129)] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("items=1-2", 100), None);
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 10-19/*"), Some((10, 19)));
        assert_eq!(parse_content_range("bytes=10-19"), Some((10, 19)));
        assert_eq!(parse_content_range("9-1"), None);
        assert_eq!(percent_decode("sha256%3Aab+c", false), "sha256:ab+c");
        assert_eq!(percent_decode("a+b%2", true), "a b%2");
    }

    #[test]
    fn manifest_validation() {
        let d = Digest::of(b"x");
        let m = json!({"schemaVersion": 2, "mediaType": berth_oci::media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.example+json", "digest": d.as_str(), "size": 1},
            "layers": [], "subject": {"mediaType": berth_oci::media::OCI_MANIFEST, "digest": d.as_str(), "size": 1}});
        let pm = parse_manifest(m.to_string().as_bytes(), None).unwrap();
        assert_eq!(pm.media_type, berth_oci::media::OCI_MANIFEST);
        assert_eq!(pm.artifact_type.as_deref(), Some("application/vnd.example+json"));
        assert_eq!(pm.subject, Some(d.clone()));
        assert_eq!(pm.blobs, vec![(d.clone(), 1)]);
        let e = parse_manifest(m.to_string().as_bytes(), Some(OCI_INDEX)).unwrap_err();
        assert_eq!(e.code, "MANIFEST_INVALID");
        assert_eq!(parse_manifest(b"{not json", None).unwrap_err().code, "MANIFEST_INVALID");
        let no_layers = json!({"schemaVersion": 2, "mediaType": berth_oci::media::OCI_MANIFEST,
            "config": {"mediaType": "a", "digest": d.as_str(), "size": 1}});
        assert_eq!(parse_manifest(no_layers.to_string().as_bytes(), None).unwrap_err().code, "MANIFEST_INVALID");
    }
}
