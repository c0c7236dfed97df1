//! berth's OCI distribution client: the HTTP half of `pull`, `push` and `login`.
//!
//! One [`RegistryClient`] holds one connection pool, the credentials it has looked up, and the
//! Bearer tokens it has been granted, so a pull or push pays for connection setup and token
//! exchange once, not per blob. Authentication follows the registry's lead: a request goes out
//! anonymous (or with what worked before for that registry); a `401` with a
//! `WWW-Authenticate: Bearer realm=..,service=..,scope=..` challenge makes the client fetch a
//! token from `realm` (with Basic credentials from Docker's `config.json` if there are any,
//! see [`super::auth`]) and retry; a `Basic` challenge makes it retry with the credentials.
//! Tokens are cached per registry and scope until `expires_in` (default 60 s) runs out, and a
//! registry that challenged once gets its token up front from then on.
//!
//! Scheme: plain HTTP for loopback registries (`localhost`, `127.0.0.0/8`, `::1`) and for
//! registries declared insecure, HTTPS for everything else. Insecure registries come from the
//! global `--insecure-registry HOST[:PORT]` flag and from berth's config file
//! `<root>/config.json`, which is Docker's `daemon.json` shape:
//!
//! ```json
//! { "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"] }
//! ```
//!
//! An entry matches a registry's `host:port`, its host, or (as an IPv4 CIDR) its address.
//!
//! Nothing fetched is trusted before it is checked: manifests against the digest asked for
//! (or the registry's `Docker-Content-Digest`), blobs against their descriptor's digest and
//! size as they stream into the store's ingest (see [`RegistryClient::fetch_blob`]).

use super::auth::{Credentials, DockerConfig};
use crate::{media, Digest, Error, Reference, Result};
use berth_store::Store;
use futures::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use berth_oci::media::MAX_MANIFEST_SIZE;
/// Blobs up to this size are uploaded from memory; bigger ones stream from the file.
const SMALL_BLOB: u64 = 4 << 20;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A repository on a registry: the unit of access control and of every endpoint path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repo {
    /// The registry as a reference names it (`docker.io`, `127.0.0.1:5000`).
    pub domain: String,
    /// The repository path (`library/busybox`).
    pub repository: String,
}

impl Repo {
    pub fn new(domain: &str, repository: &str) -> Repo {
        Repo { domain: domain.to_string(), repository: repository.to_string() }
    }

    pub fn of(r: &Reference) -> Repo {
        Repo::new(r.domain(), r.repository())
    }

    fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)
    }
}

/// A manifest or index as fetched and verified.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a cross-repository mount request gave.
#[derive(Debug)]
pub enum Mount {
    /// The registry linked the blob: nothing to upload.
    Mounted,
    /// The registry did not mount but opened an upload session at this URL.
    Upload(Url),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

struct Token {
    value: String,
    expires: Instant,
}

struct Inner {
    http: reqwest::Client,
    insecure: Vec<String>,
    docker_config_dir: Option<PathBuf>,
    /// Credentials per registry domain: looked up once, or set by `login`.
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    /// The challenge each registry answered with, so later requests authenticate up front.
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), Token>>,
    /// Token fetches go one at a time, so concurrent transfers that all miss the cache
    /// share one token instead of each asking for their own.
    token_fetch: tokio::sync::Mutex<()>,
    token_requests: AtomicU64,
}

/// A registry client; cheap to clone (clones share the pool, credentials and tokens).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

impl RegistryClient {
    /// A client that speaks plain HTTP to loopback registries and to `insecure_registries`.
    pub fn new(insecure_registries: &[String]) -> Result<RegistryClient> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300))
            .tcp_nodelay(true)
            // Proxies from the environment as usual, but never for loopback registries.
            .no_proxy()
            .proxy(
                reqwest::Proxy::custom(|url| {
                    let host = url.host_str()?;
                    if is_loopback_domain(host) {
                        return None;
                    }
                    let var = |n: &str| {
                        std::env::var(n)
                            .ok()
                            .or_else(|| std::env::var(n.to_ascii_uppercase()).ok())
                            .filter(|v| !v.is_empty())
                    };
                    let p = if url.scheme() == "https" { var("https_proxy") } else { var("http_proxy") };
                    p.or_else(|| var("all_proxy")).and_then(|p| Url::parse(&p).ok())
                })
                .no_proxy(reqwest::NoProxy::from_env()),
            )
            .build()
            .map_err(|e| Error::Other(format!("building the HTTP client: {e}")))?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                insecure: insecure_registries.iter().map(|s| normalize_insecure(s)).collect(),
                docker_config_dir: None,
                creds: Mutex::new(HashMap::new()),
                challenges: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                token_fetch: tokio::sync::Mutex::new(()),
                token_requests: AtomicU64::new(0),
            }),
        })
    }

    /// A client for the engine at `state_root`: `extra_insecure` (the `--insecure-registry`
    /// flags) plus the `insecure-registries` of `<root>/config.json`.
    pub fn for_root(state_root: &Path, extra_insecure: &[String]) -> Result<RegistryClient> {
        let mut insecure = extra_insecure.to_vec();
        insecure.extend(config_insecure_registries(state_root)?);
        Self::new(&insecure)
    }

    /// Reads credentials from `<dir>/config.json` instead of `DOCKER_CONFIG`/`~/.docker`.
    /// Only valid before the client is first cloned.
    pub fn with_docker_config_dir(mut self, dir: impl Into<PathBuf>) -> RegistryClient {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.docker_config_dir = Some(dir.into());
        }
        self
    }

    /// Uses `creds` for `domain` (instead of the stored ones) from now on.
    pub fn set_credentials(&self, domain: &str, creds: Option<Credentials>) {
        self.inner.creds.lock().unwrap().insert(domain.to_string(), creds);
        self.inner.tokens.lock().unwrap().retain(|(d, _), _| d != domain);
    }

    /// How many token requests this client has made (tests check the cache with it).
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// Whether `domain` is spoken to over plain HTTP.
    pub fn is_insecure(&self, domain: &str) -> bool {
        is_loopback_domain(domain) || self.inner.insecure.iter().any(|e| insecure_entry_matches(e, domain))
    }

    /// `scheme://host/v2/` for a registry domain.
    pub fn base_url(&self, domain: &str) -> Result<Url> {
        let host =
            if domain == berth_oci::reference::DEFAULT_DOMAIN { berth_oci::reference::DOCKER_HUB_API } else { domain };
        let scheme = if self.is_insecure(domain) { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{host}/v2/"))
            .map_err(|e| Error::Registry { registry: domain.into(), message: format!("invalid registry address: {e}") })
    }

    fn url(&self, repo: &Repo, rest: &str) -> Result<Url> {
        let base = self.base_url(&repo.domain)?;
        base.join(&format!("{}/{rest}", repo.repository))
            .map_err(|e| Error::Registry { registry: repo.domain.clone(), message: format!("invalid URL: {e}") })
    }

    // ---- authentication -----------------------------------------------------------------

    fn credentials(&self, domain: &str) -> Option<Credentials> {
        if let Some(c) = self.inner.creds.lock().unwrap().get(domain) {
            return c.clone();
        }
        let loaded = match &self.inner.docker_config_dir {
            Some(d) => DockerConfig::load_from(d),
            None => DockerConfig::load(),
        }
        .and_then(|c| c.credentials(domain));
        let creds = match loaded {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("reading credentials for {domain}: {e}");
                None
            }
        };
        self.inner.creds.lock().unwrap().insert(domain.to_string(), creds.clone());
        creds
    }

    /// The `Authorization` header for a request, from what the registry asked for before.
    async fn authorization(&self, domain: &str, scopes: &[String], fresh: bool) -> Result<Option<String>> {
        let challenge = self.inner.challenges.lock().unwrap().get(domain).cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials(domain).and_then(|c| match c {
                Credentials::Basic { username, password } => Some(basic_header(&username, &password)),
                Credentials::IdentityToken { .. } => None,
            })),
            Some(Challenge::Bearer { realm, service }) => {
                let key = (domain.to_string(), scopes.join(" "));
                let cached = || {
                    let tokens = self.inner.tokens.lock().unwrap();
                    tokens.get(&key).filter(|t| Instant::now() < t.expires).map(|t| format!("Bearer {}", t.value))
                };
                if !fresh {
                    if let Some(t) = cached() {
                        return Ok(Some(t));
                    }
                }
                let _one_at_a_time = self.inner.token_fetch.lock().await;
                if !fresh {
                    if let Some(t) = cached() {
                        return Ok(Some(t));
                    }
                }
                let (value, ttl) = self.fetch_token(domain, &realm, service.as_deref(), scopes).await?;
                // Renew a little early so a token does not expire in flight.
                let margin = (ttl / 10).min(Duration::from_secs(10));
                self.inner
                    .tokens
                    .lock()
                    .unwrap()
                    .insert(key, Token { value: value.clone(), expires: Instant::now() + ttl - margin });
                Ok(Some(format!("Bearer {value}")))
            }
        }
    }

    /// The token flow: GET (or, with an identity token, POST) the realm for a token.
    async fn fetch_token(
        &self,
        domain: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<(String, Duration)> {
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
        let creds = self.credentials(domain);
        let realm_url = Url::parse(realm).map_err(|e| Error::Registry {
            registry: domain.into(),
            message: format!("invalid token realm {realm:?} in the registry's challenge: {e}"),
        })?;
        let req = match &creds {
            Some(Credentials::IdentityToken { token, .. }) => {
                let mut form: Vec<(&str, String)> = vec![
                    ("grant_type", "refresh_token".into()),
                    ("refresh_token", token.clone()),
                    ("client_id", "berth".into()),
                ];
                if let Some(s) = service {
                    form.push(("service", s.into()));
                }
                if !scopes.is_empty() {
                    form.push(("scope", scopes.join(" ")));
                }
                self.inner.http.post(realm_url.clone()).form(&form)
            }
            _ => {
                let mut url = realm_url.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if let Some(c) = &creds {
                        q.append_pair("account", c.username());
                    }
                }
                let rb = self.inner.http.get(url);
                match &creds {
                    Some(Credentials::Basic { username, password }) => rb.basic_auth(username, Some(password)),
                    _ => rb,
                }
            }
        };
        let what = format!("token request to {}", realm_url.as_str());
        let resp = req.send().await.map_err(|e| net_error(domain, &what, &e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized(match creds {
                Some(_) => format!("incorrect username or password ({what} was refused: {status})"),
                None => format!("authentication required: {what} was refused ({status}); try `berth login {domain}`"),
            }));
        }
        if !status.is_success() {
            return Err(Error::Registry { registry: domain.into(), message: format!("{what} failed: {status}") });
        }
        let body = read_limited(resp, 1 << 20).await.map_err(|e| match e {
            ReadError::TooBig => Error::malformed(format!("token from {realm}"), "larger than 1 MiB"),
            ReadError::Http(e) => net_error(domain, &what, &e),
            ReadError::Stalled(e) => e,
        })?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::malformed(format!("token from {realm}"), e))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))
            .ok_or_else(|| {
                Error::malformed(format!("token from {realm}"), "neither `token` nor `access_token` in it")
            })?;
        let ttl = v.get("expires_in").and_then(|e| e.as_u64()).filter(|s| *s > 0).unwrap_or(60);
        Ok((token.to_string(), Duration::from_secs(ttl)))
    }

    /// Sends a request built by `build` (called again for the retry), answering one
    /// authentication challenge. Returns the final response whatever its status.
    async fn send<F>(&self, domain: &str, scopes: &[String], what: &str, build: F) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> Result<RequestBuilder>,
    {
        let mut auth = self.authorization(domain, scopes, false).await?;
        let mut retried = false;
        loop {
            let mut rb = build(&self.inner.http)?;
            if let Some(a) = &auth {
                rb = rb.header(AUTHORIZATION, a);
            }
            let resp = rb.send().await.map_err(|e| net_error(domain, what, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            let Some((challenge, challenge_scope)) = parse_challenge(resp.headers()) else { return Ok(resp) };
            self.inner.challenges.lock().unwrap().insert(domain.to_string(), challenge);
            let mut scopes = scopes.to_vec();
            if let Some(s) = challenge_scope {
                for s in s.split(' ').filter(|s| !s.is_empty()) {
                    if !scope_covered(s, &scopes) {
                        scopes.push(s.to_string());
                    }
                }
            }
            let next = self.authorization(domain, &scopes, true).await?;
            if next.is_none() || next == auth {
                return Ok(resp);
            }
            auth = next;
            retried = true;
        }
    }

    // ---- endpoints ----------------------------------------------------------------------

    /// `GET /v2/`: checks the registry answers and accepts our credentials.
    pub async fn ping(&self, domain: &str) -> Result<()> {
        let url = self.base_url(domain)?;
        let what = format!("login attempt to {url}");
        let resp = self.send(domain, &[], &what, |c| Ok(c.get(url.clone()))).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized(format!(
                "{what} failed with status: 401 Unauthorized{}",
                if self.credentials(domain).is_some() { " (incorrect username or password)" } else { "" }
            ))),
            s => Err(Error::Registry { registry: domain.into(), message: format!("{what} failed with status: {s}") }),
        }
    }

    /// Checks `creds` against the registry (`GET /v2/`, through the token flow if asked) and
    /// keeps using them for `domain` if they work.
    pub async fn login(&self, domain: &str, creds: Credentials) -> Result<()> {
        let before = self.inner.creds.lock().unwrap().get(domain).cloned();
        self.set_credentials(domain, Some(creds));
        let r = self.ping(domain).await;
        if r.is_err() {
            match before {
                Some(b) => self.set_credentials(domain, b),
                None => {
                    self.inner.creds.lock().unwrap().remove(domain);
                }
            }
        }
        r
    }

    /// Fetches a manifest or index by tag or digest and verifies it: against the digest
    /// asked for, else against `Docker-Content-Digest` when the registry sends one.
    pub async fn get_manifest(&self, repo: &Repo, reference: &str) -> Result<FetchedManifest> {
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let what = manifest_what(repo, reference);
        let scopes = [repo.pull_scope()];
        let send =
            self.send(&repo.domain, &scopes, &what, |c| Ok(c.get(url.clone()).header(ACCEPT, media::MANIFEST_ACCEPT)));
        let resp = Stall::new().guard(&repo.domain, &what, send).await??;
        if !resp.status().is_success() {
            return Err(error_for(resp, repo, &what).await);
        }
        let header_digest = header_str(resp.headers(), DOCKER_CONTENT_DIGEST);
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
        let bytes = read_limited(resp, MAX_MANIFEST_SIZE).await.map_err(|e| match e {
            ReadError::TooBig => Error::malformed(&what, format!("larger than {MAX_MANIFEST_SIZE} bytes")),
            ReadError::Http(e) => body_error(repo, &what, &e),
            ReadError::Stalled(e) => e,
        })?;
        let digest = Digest::of(&bytes);
        let expected = match reference.parse::<Digest>() {
            Ok(d) => Some(d.to_string()),
            Err(_) => header_digest.filter(|h| h.starts_with("sha256:")),
        };
        if let Some(exp) = expected {
            if exp != digest.as_str() {
                return Err(berth_oci::Error::DigestMismatch {
                    expected: format!("{exp} ({what})"),
                    actual: digest.to_string(),
                }
                .into());
            }
        }
        let media_type =
            manifest_media_type(&bytes, content_type.as_deref()).map_err(|r| Error::malformed(&what, r))?;
        Ok(FetchedManifest { bytes: bytes.to_vec(), media_type, digest })
    }

    /// `HEAD` a manifest: its digest if the repository has it, None if it does not. `push`
    /// asks for push access up front (one token for the whole push).
    pub async fn head_manifest(&self, repo: &Repo, reference: &str, push: bool) -> Result<Option<Digest>> {
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let what = manifest_what(repo, reference);
        let scopes = [if push { repo.push_scope() } else { repo.pull_scope() }];
        let resp = self
            .send(&repo.domain, &scopes, &what, |c| Ok(c.head(url.clone()).header(ACCEPT, media::MANIFEST_ACCEPT)))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(header_str(resp.headers(), DOCKER_CONTENT_DIGEST).and_then(|d| d.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_for(resp, repo, &what).await),
        }
    }

    /// `HEAD` a blob: whether the repository has it.
    pub async fn blob_exists(&self, repo: &Repo, digest: &Digest, push: bool) -> Result<bool> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let what = format!("blob {digest} in {repo}");
        let scopes = [if push { repo.push_scope() } else { repo.pull_scope() }];
        let resp = self.send(&repo.domain, &scopes, &what, |c| Ok(c.head(url.clone()))).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(error_for(resp, repo, &what).await),
        }
    }

    /// Streams a blob into the store, checking size and digest before it is committed.
    /// `on_bytes` is told how many bytes arrived, as they arrive.
    pub async fn fetch_blob(
        &self,
        repo: &Repo,
        digest: &Digest,
        size: u64,
        store: &Store,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<()> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let what = format!("blob {digest} from {repo}");
        let scopes = [repo.pull_scope()];
        store.check_free_space(size, &what)?;
        let mut stall = Stall::new();
        let resp = stall
            .guard(&repo.domain, &what, self.send(&repo.domain, &scopes, &what, |c| Ok(c.get(url.clone()))))
            .await??;
        if !resp.status().is_success() {
            return Err(error_for(resp, repo, &what).await);
        }
        let mut ing = store.ingest(Some((digest.clone(), Some(size))))?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = stall.next(&repo.domain, &what, &mut body).await? {
            let chunk = chunk.map_err(|e| Error::Registry {
                registry: repo.domain.clone(),
                message: format!("{what}: body truncated after {} of {size} bytes: {}", ing.written(), error_chain(&e)),
            })?;
            // Stop early rather than fill the disk for a registry that sends too much.
            if ing.written() + chunk.len() as u64 > size {
                return Err(berth_oci::Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: size,
                    actual: ing.written() + chunk.len() as u64,
                }
                .into());
            }
            ing.write_all(&chunk).map_err(|e| Error::io(store.tmp_dir(), e))?;
            on_bytes(chunk.len() as u64);
        }
        if ing.written() < size {
            return Err(Error::Registry {
                registry: repo.domain.clone(),
                message: format!("{what}: body truncated after {} of {size} bytes", ing.written()),
            });
        }
        // fsync and rename off the async threads.
        let committed = tokio::task::spawn_blocking(move || ing.commit())
            .await
            .map_err(|e| Error::Other(format!("committing {digest}: {e}")))?;
        committed.map(|_| ()).map_err(|e| match e {
            berth_store::Error::Oci(berth_oci::Error::DigestMismatch { expected, actual }) => {
                berth_oci::Error::DigestMismatch { expected: format!("{expected} (blob from {repo})"), actual }.into()
            }
            other => other.into(),
        })
    }

    /// Opens an upload session (`POST /blobs/uploads/`) for `digest`; returns its URL.
    pub async fn start_upload(&self, repo: &Repo, digest: &Digest) -> Result<Url> {
        let url = self.url(repo, "blobs/uploads/")?;
        let what = format!("upload of {digest} to {repo}");
        let scopes = [repo.push_scope()];
        let resp =
            self.send(&repo.domain, &scopes, &what, |c| Ok(c.post(url.clone()).header(CONTENT_LENGTH, "0"))).await?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            return Err(error_for(resp, repo, &what).await);
        }
        location(&resp, repo, &what)
    }

    /// Asks the registry to link `digest` from repository `from` of the same registry.
    /// A refused mount is not an error: it becomes an ordinary upload session.
    pub async fn mount_blob(&self, repo: &Repo, digest: &Digest, from: &str) -> Result<Mount> {
        let mut url = self.url(repo, "blobs/uploads/")?;
        url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", from);
        let what = format!("mount of {digest} from {} into {repo}", Repo::new(&repo.domain, from));
        let scopes = [repo.push_scope(), Repo::new(&repo.domain, from).pull_scope()];
        let resp =
            self.send(&repo.domain, &scopes, &what, |c| Ok(c.post(url.clone()).header(CONTENT_LENGTH, "0"))).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(location(&resp, repo, &what)?)),
            s => {
                tracing::debug!("{what}: {s}; uploading instead");
                Ok(Mount::Upload(self.start_upload(repo, digest).await?))
            }
        }
    }

    /// Completes an upload session with the whole blob in one `PUT ?digest=`: from memory
    /// for small blobs, streamed from the file for big ones (never buffered whole).
    pub async fn put_blob(
        &self,
        repo: &Repo,
        session: Url,
        digest: &Digest,
        size: u64,
        path: &Path,
        on_bytes: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<()> {
        let mut url = session;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let what = format!("upload of {digest} to {repo}");
        let scopes = [repo.push_scope()];
        let small = if size <= SMALL_BLOB {
            Some(bytes::Bytes::from(tokio::fs::read(path).await.map_err(|e| Error::io(path, e))?))
        } else {
            None
        };
        let resp = self
            .send(&repo.domain, &scopes, &what, |c| {
                let body = match &small {
                    Some(b) => {
                        on_bytes(b.len() as u64);
                        reqwest::Body::from(b.clone())
                    }
                    None => {
                        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                        let cb = on_bytes.clone();
                        let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(f), 1 << 20)
                            .inspect(move |c| {
                                if let Ok(c) = c {
                                    cb(c.len() as u64)
                                }
                            });
                        reqwest::Body::wrap_stream(stream)
                    }
                };
                Ok(c.request(Method::PUT, url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size.to_string())
                    .body(body))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(error_for(resp, repo, &what).await);
        }
        if let Some(d) = header_str(resp.headers(), DOCKER_CONTENT_DIGEST) {
            if d != digest.as_str() {
                return Err(berth_oci::Error::DigestMismatch {
                    expected: digest.to_string(),
                    actual: format!("{d} ({what})"),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Uploads a manifest or index under `reference` (a tag or its digest) with its own
    /// media type; returns the digest the registry stored it under.
    pub async fn put_manifest(&self, repo: &Repo, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let what = format!("manifest push of {}", manifest_what(repo, reference).trim_start_matches("manifest for "));
        let scopes = [repo.push_scope()];
        let body = bytes::Bytes::copy_from_slice(bytes);
        let resp = self
            .send(&repo.domain, &scopes, &what, |c| {
                Ok(c.put(url.clone()).header(CONTENT_TYPE, media_type).body(body.clone()))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(error_for(resp, repo, &what).await);
        }
        let ours = Digest::of(bytes);
        if let Some(d) = header_str(resp.headers(), DOCKER_CONTENT_DIGEST) {
            if d != ours.as_str() {
                return Err(berth_oci::Error::DigestMismatch {
                    expected: ours.to_string(),
                    actual: format!("{d} ({what})"),
                }
                .into());
            }
        }
        Ok(ours)
    }
}

/// `<root>/config.json`'s `insecure-registries` (a missing file means none).
pub fn config_insecure_registries(state_root: &Path) -> Result<Vec<String>> {
    let p = state_root.join("config.json");
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(p.display().to_string(), e))?;
    Ok(v.get("insecure-registries")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}

fn manifest_what(repo: &Repo, reference: &str) -> String {
    let sep = if reference.contains(':') { "@" } else { ":" };
    format!("manifest for {repo}{sep}{reference}")
}

fn basic_header(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

fn location(resp: &Response, repo: &Repo, what: &str) -> Result<Url> {
    let loc = header_str(resp.headers(), LOCATION.as_str()).ok_or_else(|| Error::Registry {
        registry: repo.domain.clone(),
        message: format!("{what}: the registry sent no Location for the upload session"),
    })?;
    resp.url().join(&loc).map_err(|e| Error::Registry {
        registry: repo.domain.clone(),
        message: format!("{what}: invalid upload Location {loc:?}: {e}"),
    })
}

fn is_loopback_domain(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p))
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() && (h.ends_with(']') || !h.contains(':')) =>
        {
            h
        }
        _ => domain,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.parse::<std::net::Ipv6Addr>().map(|ip| ip.is_loopback()).unwrap_or(false)
        || host.parse::<std::net::Ipv4Addr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// `http://host:port/` -> `host:port`, but a CIDR (`10.0.0.0/8`) stays one.
fn normalize_insecure(s: &str) -> String {
    let t = s.trim();
    let t = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://")).unwrap_or(t);
    match t.split_once('/') {
        Some((net, bits)) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => format!("{net}/{bits}"),
        _ => super::auth::normalize_server(t),
    }
}

fn insecure_entry_matches(entry: &str, domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    if entry == domain {
        return true;
    }
    let host = domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(&domain);
    if entry == host {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        if let (Ok(net), Ok(bits), Ok(ip)) =
            (net.parse::<std::net::Ipv4Addr>(), bits.parse::<u32>(), host.parse::<std::net::Ipv4Addr>())
        {
            if bits <= 32 {
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                return u32::from(net) & mask == u32::from(ip) & mask;
            }
        }
    }
    false
}

/// Parses `WWW-Authenticate` (Bearer preferred over Basic); returns the challenge and the
/// scope it names, if any.
fn parse_challenge(h: &HeaderMap) -> Option<(Challenge, Option<String>)> {
    let mut basic = None;
    for v in h.get_all(WWW_AUTHENTICATE) {
        let Ok(v) = v.to_str() else { continue };
        let v = v.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
        let params = parse_auth_params(rest);
        if scheme.eq_ignore_ascii_case("bearer") {
            let realm = params.get("realm")?.clone();
            return Some((
                Challenge::Bearer { realm, service: params.get("service").cloned() },
                params.get("scope").cloned(),
            ));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            basic = Some((Challenge::Basic, None));
        }
    }
    basic
}

/// Whether scope `s` (`repository:name:pull`) is granted by one of `ours` (same resource,
/// a superset of its actions): then the challenge asks for nothing new, and the token stays
/// cached under our own scope key.
fn scope_covered(s: &str, ours: &[String]) -> bool {
    let split = |x: &str| {
        x.rsplit_once(':').map(|(res, acts)| (res.to_string(), acts.split(',').map(str::to_string).collect::<Vec<_>>()))
    };
    let Some((res, acts)) = split(s) else { return ours.iter().any(|o| o == s) };
    ours.iter().any(|o| match split(o) {
        Some((r, a)) => r == res && acts.iter().all(|x| a.contains(x) || a.iter().any(|y| y == "*")),
        None => false,
    })
}

/// `key="quoted, with commas",key2=token` -> map (keys lower-cased).
fn parse_auth_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = s[i..].chars().next().expect("in bounds");
                val.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            out.insert(key, val);
        }
    }
    out
}

/// Decides what kind of document a manifest body is: its `mediaType` field, else the
/// `Content-Type`, else its shape. Refuses schema 1 and anything that is not JSON.
fn manifest_media_type(bytes: &[u8], content_type: Option<&str>) -> std::result::Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    if obj.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err(
            "Docker schema 1 manifests are not supported (deprecated by Docker); re-push it as schema 2 or OCI".into(),
        );
    }
    let ct = content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
    let mt = obj
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .or_else(|| ct.filter(|c| media::is_index(c) || media::is_manifest(c)))
        .or_else(|| {
            if obj.contains_key("manifests") {
                Some(media::OCI_INDEX.to_string())
            } else if obj.contains_key("config") || obj.contains_key("layers") {
                Some(media::OCI_MANIFEST.to_string())
            } else {
                None
            }
        })
        .ok_or("neither a manifest nor an index (no mediaType, config, layers or manifests)")?;
    if !media::is_index(&mt) && !media::is_manifest(&mt) {
        return Err(format!("unsupported manifest media type {mt:?}"));
    }
    Ok(mt)
}

enum ReadError {
    TooBig,
    Http(reqwest::Error),
    /// The body stalled (see [`Stall`]).
    Stalled(Error),
}

impl From<reqwest::Error> for ReadError {
    fn from(e: reqwest::Error) -> Self {
        ReadError::Http(e)
    }
}

async fn read_limited(resp: Response, limit: usize) -> std::result::Result<Vec<u8>, ReadError> {
    let mut out = Vec::with_capacity(resp.content_length().unwrap_or(0).min(limit as u64) as usize);
    let what = format!("the response from {}", resp.url());
    let domain = resp.url().host_str().unwrap_or_default().to_string();
    let mut body = resp.bytes_stream();
    let mut stall = Stall::new();
    while let Some(chunk) = stall.next(&domain, &what, &mut body).await.map_err(ReadError::Stalled)? {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(ReadError::TooBig);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The stall deadline of a transfer: at least [`STALL_MIN_BYTES`] must arrive in every window
/// of `BERTH_PULL_STALL_TIMEOUT` seconds (default [`STALL_TIMEOUT`]), headers included, or
/// the transfer fails. The HTTP client's read timeout alone restarts at every byte, so a
/// registry trickling a byte every few minutes would hold a pull (and the store lock) forever.
/// This is git's `http.lowSpeedLimit`/`lowSpeedTime` (curl's low-speed limit); Docker and
/// containerd have no such deadline of their own and rely on the connection's timeouts.
struct Stall {
    window: Duration,
    start: Instant,
    bytes: u64,
}

/// Default window of [`Stall`], in seconds.
pub const STALL_TIMEOUT: u64 = 60;
/// Bytes a transfer must move per stall window (a few bytes a second keep nothing alive).
const STALL_MIN_BYTES: u64 = 1024;

impl Stall {
    fn new() -> Stall {
        let secs = std::env::var("BERTH_PULL_STALL_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(STALL_TIMEOUT as f64);
        Stall { window: Duration::from_secs_f64(secs), start: Instant::now(), bytes: 0 }
    }

    fn error(&self, domain: &str, what: &str) -> Error {
        Error::Registry {
            registry: domain.to_string(),
            message: format!(
                "{what}: stalled: {} bytes in the last {:.0?} (at least {STALL_MIN_BYTES} needed; BERTH_PULL_STALL_TIMEOUT sets the window)",
                self.bytes, self.window
            ),
        }
    }

    /// Awaits `f` within what is left of the current window.
    async fn guard<T>(&mut self, domain: &str, what: &str, f: impl std::future::Future<Output = T>) -> Result<T> {
        let left = self.window.saturating_sub(self.start.elapsed());
        tokio::time::timeout(left, f).await.map_err(|_| self.error(domain, what))
    }

    /// The next chunk of `body`, counting it; fails once a window ends with too little.
    async fn next<S, T, E>(
        &mut self,
        domain: &str,
        what: &str,
        body: &mut S,
    ) -> Result<Option<std::result::Result<T, E>>>
    where
        S: futures::Stream<Item = std::result::Result<T, E>> + Unpin,
        T: AsRef<[u8]>,
    {
        loop {
            if self.start.elapsed() >= self.window {
                if self.bytes < STALL_MIN_BYTES {
                    return Err(self.error(domain, what));
                }
                (self.start, self.bytes) = (Instant::now(), 0);
            }
            let left = self.window.saturating_sub(self.start.elapsed());
            match tokio::time::timeout(left, body.next()).await {
                Ok(item) => {
                    if let Some(Ok(c)) = &item {
                        self.bytes += c.as_ref().len() as u64;
                    }
                    return Ok(item);
                }
                Err(_) => continue,
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

/// A request that got no answer, said as Docker (Go's net package) says it: `dial tcp
/// 127.0.0.1:5999: connect: connection refused`, not as the HTTP client's chain of wrappers.
fn net_error(domain: &str, what: &str, e: &reqwest::Error) -> Error {
    let why = dial_error(e).unwrap_or_else(|| error_chain(e));
    Error::Registry { registry: domain.to_string(), message: format!("{what}: {why}") }
}

/// Go's words for a failed connection, when `e` is one.
fn dial_error(e: &reqwest::Error) -> Option<String> {
    use std::io::ErrorKind as K;
    if !e.is_connect() {
        return None;
    }
    let url = e.url()?;
    let host = url.host_str()?;
    let addr = format!("{host}:{}", url.port_or_known_default()?);
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut io = None;
    let mut dns = false;
    while let Some(x) = src {
        dns |= x.to_string().contains("dns error");
        io = io.or_else(|| x.downcast_ref::<std::io::Error>());
        src = x.source();
    }
    if dns {
        return Some(format!("dial tcp: lookup {host}: no such host"));
    }
    let io = io?;
    let words = match io.kind() {
        K::ConnectionRefused => "connection refused".to_string(),
        K::ConnectionReset => "connection reset by peer".to_string(),
        K::TimedOut => "i/o timeout".to_string(),
        K::HostUnreachable => "no route to host".to_string(),
        K::NetworkUnreachable => "network is unreachable".to_string(),
        _ => {
            let t = io.to_string();
            let t = t.split(" (os error").next().unwrap_or_default();
            let mut c = t.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
    };
    Some(format!("dial tcp {addr}: connect: {words}"))
}

fn body_error(repo: &Repo, what: &str, e: &reqwest::Error) -> Error {
    Error::Registry {
        registry: repo.domain.clone(),
        message: format!("{what}: reading the body failed: {}", error_chain(e)),
    }
}

/// Turns an error response into an error that says what was asked and what the registry said.
async fn error_for(resp: Response, repo: &Repo, what: &str) -> Error {
    let status = resp.status();
    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
    let (code, message) = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.as_array()?.first()?.clone();
            Some((
                e.get("code").and_then(|c| c.as_str()).unwrap_or_default().to_string(),
                e.get("message").and_then(|c| c.as_str()).unwrap_or_default().to_string(),
            ))
        })
        .unwrap_or_default();
    let said = if code.is_empty() {
        String::new()
    } else {
        let words = code.to_ascii_lowercase().replace('_', " ");
        if message.is_empty() || message == words {
            format!(": {words}")
        } else {
            format!(": {words}: {message}")
        }
    };
    let registry = repo.domain.clone();
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized(format!("authentication required: {what}{said}")),
        StatusCode::FORBIDDEN => Error::Registry {
            registry,
            message: format!("{what}: denied: requested access to the resource is denied{said}"),
        },
        StatusCode::NOT_FOUND if code == "NAME_UNKNOWN" => Error::Registry {
            registry,
            message: format!(
                "{what}: repository {repo} not found: name unknown{}",
                if message.is_empty() || message == "name unknown" { String::new() } else { format!(": {message}") }
            ),
        },
        StatusCode::NOT_FOUND if code.is_empty() && what.starts_with("manifest for") => {
            Error::Registry { registry, message: format!("{what} not found: manifest unknown") }
        }
        StatusCode::NOT_FOUND => Error::Registry {
            registry,
            message: format!("{what} not found{}", if said.is_empty() { " (404 Not Found)".to_string() } else { said }),
        },
        s => Error::Registry { registry, message: format!("{what} failed: {s}{said}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let mut h = HeaderMap::new();
        h.append(
            WWW_AUTHENTICATE,
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
                .parse()
                .unwrap(),
        );
        let (c, scope) = parse_challenge(&h).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(scope.as_deref(), Some("repository:samalba/my-app:pull,push"));
        let mut h = HeaderMap::new();
        h.append(WWW_AUTHENTICATE, r#"Basic realm="x""#.parse().unwrap());
        assert_eq!(parse_challenge(&h).unwrap().0, Challenge::Basic);
    }

    #[test]
    fn insecure_registries_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = RegistryClient::for_root(dir.path(), &["flag.example".into()]).unwrap();
        assert!(c.is_insecure("flag.example:5000") && !c.is_insecure("file.example"));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"insecure-registries": ["file.example", "192.168.0.0/16"]}"#,
        )
        .unwrap();
        let c = RegistryClient::for_root(dir.path(), &[]).unwrap();
        assert!(c.is_insecure("file.example") && c.is_insecure("192.168.7.1:5000"));
        assert_eq!(c.base_url("file.example").unwrap().scheme(), "http");
        std::fs::write(dir.path().join("config.json"), "{oops").unwrap();
        assert!(RegistryClient::for_root(dir.path(), &[]).is_err());
    }

    #[test]
    fn scopes_cover() {
        let ours = vec!["repository:a/b:pull,push".to_string()];
        assert!(scope_covered("repository:a/b:pull", &ours));
        assert!(scope_covered("repository:a/b:push,pull", &ours));
        assert!(!scope_covered("repository:a/c:pull", &ours));
        assert!(!scope_covered("registry:catalog:*", &ours));
    }

    #[test]
    fn schemes() {
        let c =
            RegistryClient::new(&["registry.lan:5000".into(), "10.0.0.0/8".into(), "plain.example".into()]).unwrap();
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.5:80"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("registry.lan:5000"));
        assert!(!c.is_insecure("registry.lan:5001"));
        assert!(c.is_insecure("10.1.2.3:5000"));
        assert!(c.is_insecure("plain.example:443"));
        assert!(!c.is_insecure("quay.io"));
        assert_eq!(c.base_url("docker.io").unwrap().as_str(), "https://registry-1.docker.io/v2/");
        assert_eq!(c.base_url("127.0.0.1:5000").unwrap().as_str(), "http://127.0.0.1:5000/v2/");
    }

    #[test]
    fn classifies_manifests() {
        assert_eq!(manifest_media_type(br#"{"schemaVersion":2,"manifests":[]}"#, None).unwrap(), media::OCI_INDEX);
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"config":{}}"#, Some(media::DOCKER_MANIFEST)).unwrap(),
            media::DOCKER_MANIFEST
        );
        assert!(manifest_media_type(br#"{"schemaVersion":1}"#, None).unwrap_err().contains("schema 1"));
        assert!(manifest_media_type(b"{nope", None).is_err());
    }
}
