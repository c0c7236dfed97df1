//! Registry credentials, kept where Docker keeps them: `~/.docker/config.json`.
//!
//! berth reads Docker's file as it is (so `docker login` credentials work for berth and the
//! other way round): `$DOCKER_CONFIG/config.json` if `DOCKER_CONFIG` is set, else
//! `$HOME/.docker/config.json`. Credentials live under `auths.<server>.auth` as base64
//! `user:password` (or `username`/`password`, or an OAuth2 `identitytoken`). A `credHelpers`
//! entry for the server or a global `credsStore` sends lookups, stores and erases to the
//! `docker-credential-<name>` helper instead, as Docker does. Docker Hub's key is
//! `https://index.docker.io/v1/`. Writes change only the one entry, keep every other key of
//! the file, and replace the file atomically with mode 0600 (it holds secrets).

use crate::{Error, Result};
use base64::Engine as _;
use berth_oci::IoContext;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username and password, sent as Basic auth (to the registry or its token endpoint).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken { username: String, token: String },
}

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials::Basic { username: username.to_string(), password: password.to_string() }
    }

    pub fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => username,
        }
    }
}

impl std::fmt::Debug for Credentials {
    // Never print secrets, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.username())
    }
}

/// The directory holding Docker's `config.json`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}

/// The key a registry domain has in `auths`: Docker Hub's legacy URL for Docker Hub, the
/// domain (`host[:port]`) for everything else.
pub fn server_key(domain: &str) -> String {
    let host = normalize_server(domain);
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB_KEY.into(),
        _ => host,
    }
}

/// `https://host:port/v1/` -> `host:port`: how `auths` keys written by other tools compare.
pub fn normalize_server(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_ascii_lowercase()
}

/// Docker's `config.json` (whatever else it holds is kept as is).
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// Loads `<dir>/config.json`; a missing file is an empty config.
    pub fn load_from(dir: &Path) -> Result<DockerConfig> {
        let path = dir.join("config.json");
        let doc = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(Error::malformed(path.display().to_string(), "not a JSON object")),
                Err(e) => return Err(Error::malformed(path.display().to_string(), e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(DockerConfig { path, doc })
    }

    /// Loads the config from [`config_dir`].
    pub fn load() -> Result<DockerConfig> {
        Self::load_from(&config_dir())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper responsible for `key`, if any (`credHelpers`, then `credsStore`).
    fn helper_for(&self, key: &str) -> Option<String> {
        let host = normalize_server(key);
        if let Some(Value::Object(h)) = self.doc.get("credHelpers") {
            for (k, v) in h {
                if normalize_server(k) == host || k == key {
                    return v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
                }
            }
        }
        self.doc.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// The `auths` entry for a key, matching keys other tools wrote with a scheme or path.
    fn auth_entry(&self, key: &str) -> Option<(&String, &Map<String, Value>)> {
        let auths = self.doc.get("auths")?.as_object()?;
        if let Some((k, Value::Object(e))) = auths.get_key_value(key) {
            return Some((k, e));
        }
        let want = normalize_server(key);
        auths.iter().find_map(|(k, v)| match v {
            Value::Object(e) if server_key(k) == server_key(&want) => Some((k, e)),
            _ => None,
        })
    }

    /// Credentials stored for a registry domain (`localhost:5000`, `docker.io`...).
    pub fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        let key = server_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            // A helper that is missing or fails must not break anonymous pulls: fall back to
            // the file's own entries.
            match helper_get(&helper, &key) {
                Ok(Some(c)) => return Ok(Some(c)),
                Ok(None) => {}
                Err(e) => tracing::warn!("credential helper {helper}: {e}"),
            }
        }
        let Some((k, e)) = self.auth_entry(&key) else { return Ok(None) };
        let field = |n: &str| e.get(n).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let (mut user, mut pass) = (field("username"), field("password"));
        if let Some(a) = field("auth") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|err| Error::malformed(format!("{}: auths.{k}.auth", self.path.display()), err))?;
            let s = String::from_utf8_lossy(&raw).into_owned();
            let (u, p) = s
                .split_once(':')
                .ok_or_else(|| Error::malformed(format!("{}: auths.{k}.auth", self.path.display()), "no ':' in it"))?;
            user = Some(u.to_string());
            pass = Some(p.to_string());
        }
        if let Some(token) = field("identitytoken") {
            return Ok(Some(Credentials::IdentityToken { username: user.unwrap_or_default(), token }));
        }
        Ok(match (user, pass) {
            (Some(u), Some(p)) => Some(Credentials::Basic { username: u, password: p }),
            _ => None,
        })
    }

    /// Stores credentials for a registry domain and writes the file.
    pub fn store(&mut self, domain: &str, creds: &Credentials) -> Result<()> {
        let key = server_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_store(&helper, &key, creds);
        }
        let mut entry = Map::new();
        match creds {
            Credentials::Basic { username, password } => {
                let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                entry.insert("auth".into(), Value::String(auth));
            }
            Credentials::IdentityToken { username, token } => {
                let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:"));
                entry.insert("auth".into(), Value::String(auth));
                entry.insert("identitytoken".into(), Value::String(token.clone()));
            }
        }
        let auths = self.doc.entry("auths").or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("just made an object");
        // Replace any spelling of this server's key (`http://host`, `host/v2/`) with ours.
        auths.retain(|k, _| server_key(k) != key);
        auths.insert(key, Value::Object(entry));
        self.save()
    }

    /// Removes a registry's credentials; returns whether there were any.
    pub fn remove(&mut self, domain: &str) -> Result<bool> {
        let key = server_key(domain);
        let mut found = false;
        if let Some(Value::Object(auths)) = self.doc.get_mut("auths") {
            let before = auths.len();
            auths.retain(|k, _| server_key(k) != key);
            found = auths.len() != before;
        }
        if let Some(helper) = self.helper_for(&key) {
            found |= helper_erase(&helper, &key)?;
        }
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).at(dir)?;
        let bytes =
            serde_json::to_vec_pretty(&Value::Object(self.doc.clone())).map_err(|e| Error::Other(e.to_string()))?;
        let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&bytes)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&self.path, e)
        })
    }
}

fn helper_cmd(helper: &str, verb: &str) -> Command {
    let mut c = Command::new(format!("docker-credential-{helper}"));
    c.arg(verb).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<std::process::Output> {
    let name = format!("docker-credential-{helper}");
    let mut child = helper_cmd(helper, verb).spawn().map_err(|e| Error::io(&name, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| Error::io(&name, e))?;
    }
    child.wait_with_output().map_err(|e| Error::io(&name, e))
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>> {
    let out = run_helper(helper, "get", key.as_bytes())?;
    if !out.status.success() {
        // Helpers say "credentials not found in native keychain" for an unknown server.
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::malformed(format!("output of docker-credential-{helper} get"), e))?;
    let user = v.get("Username").and_then(Value::as_str).unwrap_or_default().to_string();
    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(match user.as_str() {
        _ if secret.is_empty() => None,
        "<token>" => Some(Credentials::IdentityToken { username: String::new(), token: secret }),
        _ => Some(Credentials::Basic { username: user, password: secret }),
    })
}

fn helper_store(helper: &str, key: &str, creds: &Credentials) -> Result<()> {
    let (user, secret) = match creds {
        Credentials::Basic { username, password } => (username.as_str(), password.as_str()),
        Credentials::IdentityToken { token, .. } => ("<token>", token.as_str()),
    };
    let input = serde_json::json!({"ServerURL": key, "Username": user, "Secret": secret});
    let out = run_helper(helper, "store", input.to_string().as_bytes())?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "error storing credentials with docker-credential-{helper}: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    Ok(())
}

fn helper_erase(helper: &str, key: &str) -> Result<bool> {
    Ok(run_helper(helper, "erase", key.as_bytes())?.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_round_trip() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("https://index.docker.io/v1/"), DOCKER_HUB_KEY);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(server_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"http://127.0.0.1:5000":{"auth":"YTpi"}},"psFormat":"table {{.ID}}"}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load_from(dir.path()).unwrap();
        assert_eq!(c.credentials("127.0.0.1:5000").unwrap(), Some(Credentials::basic("a", "b")));
        c.store("127.0.0.1:5000", &Credentials::basic("u", "p:w")).unwrap();
        c.store("docker.io", &Credentials::basic("hub", "x")).unwrap();
        let c = DockerConfig::load_from(dir.path()).unwrap();
        assert_eq!(c.credentials("127.0.0.1:5000").unwrap(), Some(Credentials::basic("u", "p:w")));
        let raw: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "table {{.ID}}");
        assert_eq!(raw["auths"]["127.0.0.1:5000"]["auth"], "dTpwOnc=");
        assert!(raw["auths"].get("http://127.0.0.1:5000").is_none());
        assert!(raw["auths"].get(DOCKER_HUB_KEY).is_some());
        let mut c = DockerConfig::load_from(dir.path()).unwrap();
        assert!(c.remove("127.0.0.1:5000").unwrap());
        assert!(!c.remove("127.0.0.1:5000").unwrap());
        assert_eq!(DockerConfig::load_from(dir.path()).unwrap().credentials("127.0.0.1:5000").unwrap(), None);
    }
}
