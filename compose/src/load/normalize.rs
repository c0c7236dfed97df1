//! Short syntax to long syntax, types checked, paths made absolute: one service (or one
//! top-level resource) at a time, in the form `docker compose config` prints it.
//!
//! Each rule is Compose v2's (compose-go's transform and normalize steps): ports become
//! `{mode, host_ip, target, published, protocol}` objects (ranges expanded), volumes
//! `{type, source, target, read_only, bind|volume|tmpfs}`, `depends_on` a map with `condition`
//! and `required`, `command`/`entrypoint` strings lists split as a shell would, a string
//! health check `["CMD-SHELL", …]`, durations Go's `1m30s`, byte sizes their count of bytes
//! as a string, lists of `KEY=VALUE` maps. A value of the wrong type is an error naming its
//! dotted path ([`Bad`]); a key Compose does not know is a warning.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::keys::SERVICE_KEYS;

/// An error about one key: its dotted path and what is wrong.
#[derive(Debug)]
pub struct Bad {
    pub path: String,
    pub msg: String,
}

pub type R<T> = Result<T, Bad>;

pub fn bad<T>(path: &str, msg: impl Into<String>) -> R<T> {
    Err(Bad { path: path.to_string(), msg: msg.into() })
}

/// What the rules need: the directory relative paths are resolved against, the
/// interpolation environment (for `environment: [KEY]` and `~`), and where warnings go.
pub struct Ctx<'a> {
    pub base: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub warnings: &'a mut Vec<String>,
    /// Uninterpolated (`config --no-interpolate`): a value still holding a `$` that does not
    /// parse is kept as written, as Compose keeps it.
    pub lenient: bool,
}

const BOOL_KEYS: &[&str] =
    &["init", "read_only", "privileged", "tty", "stdin_open", "oom_kill_disable", "use_api_socket", "attach"];
const INT_KEYS: &[&str] = &[
    "scale",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "mem_swappiness",
    "oom_score_adj",
    "pids_limit",
];
const BYTE_KEYS: &[&str] = &["mem_limit", "mem_reservation", "memswap_limit", "shm_size"];
const STRING_KEYS: &[&str] = &[
    "image",
    "pull_policy",
    "container_name",
    "hostname",
    "domainname",
    "user",
    "working_dir",
    "restart",
    "stop_signal",
    "platform",
    "network_mode",
    "ipc",
    "pid",
    "uts",
    "cgroup",
    "cgroup_parent",
    "isolation",
    "runtime",
    "userns_mode",
    "mac_address",
    "volume_driver",
    "cpuset",
    "log_driver",
    "net",
    "credential_spec_file",
];
const LIST_KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "profiles",
    "external_links",
    "links",
    "security_opt",
    "device_cgroup_rules",
    "group_add",
    "volumes_from",
    "dns_opt",
];
const STRING_OR_LIST_KEYS: &[&str] = &["dns", "dns_search", "tmpfs"];
const MAP_KEYS: &[&str] = &["labels", "annotations", "sysctls", "storage_opt", "log_opt"];

/// Normalises one service definition in place (`at` is `services.NAME`).
pub fn service(svc: &mut Value, at: &str, cx: &mut Ctx) -> R<()> {
    if svc.is_null() {
        *svc = json!({});
    }
    let Some(m) = svc.as_object_mut() else {
        return bad(at, format!("{at} must be a mapping"));
    };
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let p = format!("{at}.{k}");
        let v = m.get_mut(&k).expect("key listed above");
        if is_marker(v) {
            // `!reset`/`!override` values are normalised inside their marker.
            let inner = v.as_object_mut().and_then(|o| o.values_mut().next()).expect("marker object");
            if !(inner.is_null() || inner.as_array().is_some_and(Vec::is_empty)) {
                field(&k, inner, &p, cx)?;
            }
            continue;
        }
        if k.starts_with("x-") {
            continue;
        }
        if !SERVICE_KEYS.contains(&k.as_str()) {
            cx.warnings.push(format!("{at}: unknown key {k:?} ignored"));
            m.remove(&k);
            continue;
        }
        let v = m.get_mut(&k).expect("key listed above");
        if v.is_null() && !matches!(k.as_str(), "command" | "entrypoint" | "networks") {
            m.remove(&k);
            continue;
        }
        let raw = cx.lenient.then(|| v.clone());
        if let Err(e) = field(&k, v, &p, cx) {
            match raw {
                Some(raw) if raw.to_string().contains('$') => *v = raw,
                _ => return Err(e),
            }
        }
    }
    if m.get("pull_policy").and_then(Value::as_str) == Some("if_not_present") {
        m.insert("pull_policy".into(), "missing".into());
    }
    Ok(())
}

/// True for a `!reset`/`!override` marker object.
pub fn is_marker(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.len() == 1 && o.keys().next().is_some_and(|k| k.starts_with('\u{0}')))
}

fn field(k: &str, v: &mut Value, p: &str, cx: &mut Ctx) -> R<()> {
    match k {
        _ if BOOL_KEYS.contains(&k) => *v = Value::Bool(to_bool(v, p)?),
        _ if INT_KEYS.contains(&k) => *v = Value::from(to_int(v, p)?),
        _ if BYTE_KEYS.contains(&k) => *v = bytes(v, p)?,
        _ if STRING_KEYS.contains(&k) => {
            let text = to_str(v, p)?;
            check_enum(k, &text, p)?;
            *v = Value::String(text);
        }
        _ if LIST_KEYS.contains(&k) => *v = Value::Array(str_list(v, p)?),
        _ if STRING_OR_LIST_KEYS.contains(&k) => {
            if v.is_string() {
                *v = Value::Array(vec![v.take()]);
            }
            *v = Value::Array(str_list(v, p)?);
        }
        _ if MAP_KEYS.contains(&k) => *v = Value::Object(kv_map(v, p, None)?),
        "cpus" => *v = cpus(v, p)?,
        "build" => build(v, p, cx)?,
        "command" | "entrypoint" => *v = command(v, p)?,
        "environment" => *v = Value::Object(kv_map(v, p, Some(cx.env))?),
        "env_file" => *v = env_file(v, p, cx)?,
        "ports" => {
            *v = ports(v, p)?;
            for (i, port) in v.as_array().into_iter().flatten().enumerate() {
                for f in ["protocol", "mode"] {
                    if let Some(x) = port.get(f).and_then(Value::as_str) {
                        check_enum(f, x, &format!("{p}.{i}.{f}"))?;
                    }
                }
            }
        }
        "expose" => {
            *v = Value::Array(str_list(v, p)?);
        }
        "volumes" => *v = volumes(v, p, cx)?,
        "networks" => *v = networks(v, p)?,
        "depends_on" => *v = depends_on(v, p)?,
        "healthcheck" => healthcheck(v, p)?,
        "stop_grace_period" => *v = Value::String(duration(v, p)?),
        "extra_hosts" => *v = extra_hosts(v, p)?,
        "ulimits" => ulimits(v, p)?,
        "secrets" | "configs" => *v = file_refs(v, p)?,
        "deploy" => deploy(v, p)?,
        "extends" => {
            if v.is_string() {
                *v = json!({ "service": v.take() });
            }
            let Some(e) = v.as_object_mut() else {
                return bad(p, format!("{p} must be a string or a mapping"));
            };
            if let Some(f) = e.get("file").and_then(Value::as_str) {
                let abs = resolve(cx.base, f, cx.env);
                e.insert("file".into(), Value::String(abs));
            }
        }
        "logging" => {
            if let Some(o) = v.get_mut("options") {
                *o = Value::Object(kv_map(o, &format!("{p}.options"), None)?);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The values Compose accepts for the keys that take one of a few words.
fn check_enum(k: &str, v: &str, p: &str) -> R<()> {
    let ok = match k {
        "restart" => {
            matches!(v, "no" | "always" | "unless-stopped" | "on-failure")
                || v.strip_prefix("on-failure:").is_some_and(|n| n.parse::<u32>().is_ok())
        }
        "pull_policy" => {
            matches!(v, "always" | "never" | "missing" | "build" | "if_not_present" | "daily" | "weekly")
                || v.strip_prefix("every_").is_some_and(|d| parse_duration(d).is_some())
        }
        "protocol" => matches!(v, "tcp" | "udp" | "sctp"),
        "mode" => matches!(v, "host" | "ingress"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        bad(p, format!("{p}: invalid value {v:?}"))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn to_bool(v: &Value, p: &str) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "no" | "n" | "off" | "0" => Ok(false),
            _ => bad(p, format!("{p} must be a boolean, not {s:?}")),
        },
        _ => bad(p, format!("{p} must be a boolean, not {}", type_name(v))),
    }
}

fn to_int(v: &Value, p: &str) -> R<i64> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().unwrap_or(0)),
        _ => bad(p, format!("{p} must be an integer, not {}", describe(v))),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        _ => type_name(v).to_string(),
    }
}

fn to_str(v: &Value, p: &str) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => bad(p, format!("{p} must be a string, not {}", type_name(v))),
    }
}

/// `v` as a list, or the error saying it must be one.
fn list<'a>(v: &'a Value, p: &str) -> R<&'a Vec<Value>> {
    match v.as_array() {
        Some(a) => Ok(a),
        None => bad(p, format!("{p} must be a list, not {}", type_name(v))),
    }
}

fn str_list(v: &Value, p: &str) -> R<Vec<Value>> {
    let a = list(v, p)?;
    a.iter().enumerate().map(|(i, x)| to_str(x, &format!("{p}.{i}")).map(Value::String)).collect()
}

/// A map of `KEY: value` from a map or a list of `KEY=VALUE`. With `env`, a key with no value
/// takes it from the environment (null when unset), as `environment` and `build.args` do;
/// without, it is the empty string, as labels are.
pub fn kv_map(v: &Value, p: &str, env: Option<&BTreeMap<String, String>>) -> R<Map<String, Value>> {
    let unset = |k: &str| match env {
        Some(e) => e.get(k).map_or(Value::Null, |s| Value::String(s.clone())),
        None => Value::String(String::new()),
    };
    let mut out = Map::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let val = match x {
                    Value::Null => unset(k),
                    Value::Object(_) | Value::Array(_) => {
                        return bad(&format!("{p}.{k}"), format!("{p}.{k} must be a string, number, boolean or null"))
                    }
                    _ => Value::String(to_str(x, p)?),
                };
                out.insert(k.clone(), val);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let s = to_str(x, &format!("{p}.{i}"))?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), Value::String(val.to_string())),
                    None => out.insert(s.clone(), unset(&s)),
                };
            }
        }
        _ => return bad(p, format!("{p} must be a mapping or a list, not {}", type_name(v))),
    }
    Ok(out)
}

/// Lexically cleaned, as Go's `filepath.Clean`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// A path of the file relative to `base` made absolute (`~` is `$HOME`).
pub fn resolve(base: &Path, p: &str, env: &BTreeMap<String, String>) -> String {
    let expanded = if p == "~" || p.starts_with("~/") {
        let home = env.get("HOME").cloned().unwrap_or_else(|| "/root".into());
        format!("{home}{}", &p[1..])
    } else {
        p.to_string()
    };
    clean(&base.join(expanded)).to_string_lossy().into_owned()
}

fn is_remote(ctx: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/", "ssh://"].iter().any(|p| ctx.starts_with(p))
        || ctx.contains("://")
}

fn build(v: &mut Value, p: &str, cx: &mut Ctx) -> R<()> {
    if let Value::String(s) = v {
        *v = json!({ "context": s.clone() });
    }
    let Some(b) = v.as_object_mut() else {
        return bad(p, format!("{p} must be a string or a mapping, not {}", type_name(v)));
    };
    let ctx = match b.get("context") {
        None | Some(Value::Null) => ".".to_string(),
        Some(c) => to_str(c, &format!("{p}.context"))?,
    };
    let ctx = if is_remote(&ctx) { ctx } else { resolve(cx.base, &ctx, cx.env) };
    b.insert("context".into(), Value::String(ctx));
    if !b.contains_key("dockerfile") && !b.contains_key("dockerfile_inline") {
        b.insert("dockerfile".into(), "Dockerfile".into());
    }
    if let Some(a) = b.get_mut("args") {
        // An argument with no value and no such variable is left out (the Dockerfile's
        // default applies), where `environment` keeps it as null.
        let mut args = kv_map(a, &format!("{p}.args"), Some(cx.env))?;
        args.retain(|_, v| !v.is_null());
        *a = Value::Object(args);
    }
    if let Some(a) = b.get_mut("labels") {
        *a = Value::Object(kv_map(a, &format!("{p}.labels"), None)?);
    }
    for k in ["cache_from", "cache_to", "tags", "platforms"] {
        if let Some(a) = b.get_mut(k) {
            *a = Value::Array(str_list(a, &format!("{p}.{k}"))?);
        }
    }
    if let Some(s) = b.get_mut("secrets") {
        *s = file_refs(s, &format!("{p}.secrets"))?;
    }
    if let Some(s) = b.get_mut("shm_size") {
        *s = bytes(s, &format!("{p}.shm_size"))?;
    }
    if let Some(s) = b.get_mut("extra_hosts") {
        *s = extra_hosts(s, &format!("{p}.extra_hosts"))?;
    }
    Ok(())
}

fn command(v: &Value, p: &str) -> R<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => match shlex::split(s) {
            Some(words) => Ok(Value::Array(words.into_iter().map(Value::String).collect())),
            None => bad(p, format!("{p}: unbalanced quotes in {s:?}")),
        },
        Value::Array(_) => Ok(Value::Array(str_list(v, p)?)),
        _ => bad(p, format!("{p} must be a string or a list, not {}", type_name(v))),
    }
}

fn env_file(v: &Value, p: &str, cx: &mut Ctx) -> R<Value> {
    let items: Vec<Value> = match v {
        Value::String(_) => vec![v.clone()],
        Value::Array(a) => a.clone(),
        _ => return bad(p, format!("{p} must be a string or a list, not {}", type_name(v))),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let ip = format!("{p}.{i}");
        let (path, required, format) = match it {
            Value::String(s) => (s.clone(), true, None),
            Value::Object(o) => {
                let Some(path) = o.get("path") else {
                    return bad(&ip, format!("{ip}.path is required"));
                };
                let req = match o.get("required") {
                    Some(r) => to_bool(r, &format!("{ip}.required"))?,
                    None => true,
                };
                (to_str(path, &format!("{ip}.path"))?, req, o.get("format").cloned())
            }
            _ => return bad(&ip, format!("{ip} must be a string or a mapping")),
        };
        let mut e = json!({ "path": resolve(cx.base, &path, cx.env), "required": required });
        if let Some(f) = format {
            e["format"] = f;
        }
        out.push(e);
    }
    Ok(Value::Array(out))
}

fn port_num(s: &str, p: &str) -> R<(u32, u32)> {
    let parse = |x: &str| x.trim().parse::<u32>().ok().filter(|n| *n <= 65535).ok_or(());
    let r = match s.split_once('-') {
        Some((a, b)) => parse(a).and_then(|a| parse(b).map(|b| (a, b))),
        None => parse(s).map(|a| (a, a)),
    };
    match r {
        Ok((a, b)) if a <= b => Ok((a, b)),
        _ => bad(p, format!("{p}: invalid port {s:?}")),
    }
}

/// One short-syntax port (`[[IP:](HOST|RANGE):](PORT|RANGE)[/PROTO]`) in its long forms.
pub fn parse_port(spec: &str, p: &str) -> R<Vec<Value>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, pr)) => (r, pr.to_string()),
        None => (spec, "tcp".to_string()),
    };
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        match r.split_once("]:") {
            Some((ip, rest)) => (Some(ip.to_string()), rest),
            None => return bad(p, format!("{p}: invalid port {spec:?}")),
        }
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0].to_string()), &rest[parts[0].len() + 1..]),
            _ => return bad(p, format!("{p}: invalid port {spec:?}")),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    let (c0, c1) = port_num(container, p)?;
    let host = match host {
        Some("") | None => None,
        Some(h) => Some(port_num(h, p)?),
    };
    let mk = |target: u32, published: Option<String>| {
        let mut e = json!({ "mode": "ingress", "target": target, "protocol": proto });
        if let Some(ip) = &ip {
            if !ip.is_empty() {
                e["host_ip"] = Value::String(ip.clone());
            }
        }
        if let Some(pb) = published {
            e["published"] = Value::String(pb);
        }
        e
    };
    let mut out = Vec::new();
    match host {
        None => (c0..=c1).for_each(|t| out.push(mk(t, None))),
        Some((h0, h1)) if c0 == c1 => {
            let pb = if h0 == h1 { h0.to_string() } else { format!("{h0}-{h1}") };
            out.push(mk(c0, Some(pb)));
        }
        Some((h0, h1)) => {
            if h1 - h0 != c1 - c0 {
                return bad(p, format!("{p}: port ranges don't match in {spec:?}"));
            }
            (c0..=c1).for_each(|t| out.push(mk(t, Some((h0 + t - c0).to_string()))));
        }
    }
    Ok(out)
}

fn ports(v: &Value, p: &str) -> R<Value> {
    let a = list(v, p)?;
    let mut out = Vec::new();
    for (i, it) in a.iter().enumerate() {
        let ip = format!("{p}.{i}");
        match it {
            Value::Number(_) | Value::String(_) => out.extend(parse_port(&to_str(it, &ip)?, &ip)?),
            Value::Object(o) => {
                let mut e = o.clone();
                let Some(t) = o.get("target") else {
                    return bad(&ip, format!("{ip}.target is required"));
                };
                e.insert("target".into(), Value::from(to_int(t, &format!("{ip}.target"))?));
                if let Some(pb) = o.get("published") {
                    e.insert("published".into(), Value::String(to_str(pb, &format!("{ip}.published"))?));
                }
                e.entry("protocol").or_insert_with(|| "tcp".into());
                e.entry("mode").or_insert_with(|| "ingress".into());
                out.push(Value::Object(e));
            }
            _ => return bad(&ip, format!("{ip} must be a string, a number or a mapping")),
        }
    }
    Ok(Value::Array(out))
}

fn is_path(s: &str) -> bool {
    s.starts_with('.') || s.starts_with('/') || s.starts_with('~')
}

fn volumes(v: &Value, p: &str, cx: &mut Ctx) -> R<Value> {
    let a = list(v, p)?;
    let mut out = Vec::new();
    for (i, it) in a.iter().enumerate() {
        let ip = format!("{p}.{i}");
        let mut e = match it {
            Value::String(s) => short_volume(s, &ip)?,
            Value::Object(o) => {
                let mut e = o.clone();
                let Some(ty) = o.get("type").and_then(Value::as_str) else {
                    return bad(&ip, format!("{ip}.type is required"));
                };
                if !["bind", "volume", "tmpfs", "npipe", "cluster", "image"].contains(&ty) {
                    return bad(&ip, format!("{ip}.type: invalid mount type {ty:?}"));
                }
                if let Some(ro) = o.get("read_only") {
                    e.insert("read_only".into(), Value::Bool(to_bool(ro, &format!("{ip}.read_only"))?));
                }
                if let Some(size) = o.get("tmpfs").and_then(|t| t.get("size")) {
                    let b = bytes(size, &format!("{ip}.tmpfs.size"))?;
                    e["tmpfs"]["size"] = b;
                }
                e
            }
            _ => return bad(&ip, format!("{ip} must be a string or a mapping")),
        };
        if e.get("type").and_then(Value::as_str) == Some("bind") && !e.contains_key("source") {
            return bad(&ip, format!("{ip}.source is required for a bind mount"));
        }
        if e.get("type").and_then(Value::as_str) == Some("bind") {
            // `create_host_path` defaults to true wherever `bind` is given (compose-go's
            // default); the printer leaves the default out, as Compose prints it.
            if let Some(b) = e.get_mut("bind").and_then(Value::as_object_mut) {
                b.entry("create_host_path").or_insert(Value::Bool(true));
            }
            if let Some(src) = e.get("source").and_then(Value::as_str) {
                let abs = resolve(cx.base, src, cx.env);
                e.insert("source".into(), Value::String(abs));
            }
        }
        if let Some(t) = e.get("target").and_then(Value::as_str) {
            let t = clean(Path::new(t)).to_string_lossy().into_owned();
            e.insert("target".into(), Value::String(t));
        } else {
            return bad(&ip, format!("{ip}.target is required"));
        }
        out.push(Value::Object(e));
    }
    Ok(Value::Array(out))
}

fn short_volume(s: &str, p: &str) -> R<Map<String, Value>> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => (None, *d, None),
        [a, b] => (Some(*a), *b, None),
        [a, b, m] => (Some(*a), *b, Some(*m)),
        _ => return bad(p, format!("{p}: invalid volume specification {s:?}")),
    };
    if dst.is_empty() || src == Some("") {
        return bad(p, format!("{p}: invalid volume specification {s:?}"));
    }
    let mut e = Map::new();
    let bind = src.is_some_and(is_path);
    e.insert("type".into(), if bind { "bind" } else { "volume" }.into());
    if let Some(src) = src {
        e.insert("source".into(), src.into());
    }
    e.insert("target".into(), dst.into());
    let mut sub = Map::new();
    if bind {
        sub.insert("create_host_path".into(), true.into());
    }
    for o in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => {
                e.insert("read_only".into(), true.into());
            }
            "rw" => {}
            "z" | "Z" if bind => {
                sub.insert("selinux".into(), o.into());
            }
            "nocopy" if !bind => {
                sub.insert("nocopy".into(), true.into());
            }
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" if bind => {
                sub.insert("propagation".into(), o.into());
            }
            _ => return bad(p, format!("{p}: invalid volume mode {o:?} in {s:?}")),
        }
    }
    e.insert(if bind { "bind" } else { "volume" }.into(), Value::Object(sub));
    Ok(e)
}

fn networks(v: &Value, p: &str) -> R<Value> {
    match v {
        Value::Null => Ok(json!({})),
        Value::Array(_) => Ok(Value::Object(
            str_list(v, p)?.into_iter().map(|n| (n.as_str().unwrap_or_default().to_string(), Value::Null)).collect(),
        )),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let np = format!("{p}.{k}");
                let mut x = x.clone();
                if let Some(o) = x.as_object_mut() {
                    if let Some(a) = o.get("aliases") {
                        o.insert("aliases".into(), Value::Array(str_list(a, &format!("{np}.aliases"))?));
                    }
                    for key in ["ipv4_address", "ipv6_address"] {
                        if let Some(a) = o.get(key) {
                            o.insert(key.into(), Value::String(to_str(a, &format!("{np}.{key}"))?));
                        }
                    }
                } else if !x.is_null() {
                    return bad(&np, format!("{np} must be a mapping or null"));
                }
                out.insert(k.clone(), x);
            }
            Ok(Value::Object(out))
        }
        _ => bad(p, format!("{p} must be a list or a mapping, not {}", type_name(v))),
    }
}

const CONDITIONS: &[&str] = &["service_started", "service_healthy", "service_completed_successfully"];

fn depends_on(v: &Value, p: &str) -> R<Value> {
    let mut out = Map::new();
    match v {
        Value::Array(_) => {
            for n in str_list(v, p)? {
                out.insert(
                    n.as_str().unwrap_or_default().to_string(),
                    json!({"condition": "service_started", "required": true}),
                );
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let dp = format!("{p}.{k}");
                let mut d = match x {
                    Value::Null => Map::new(),
                    Value::Object(o) => o.clone(),
                    _ => return bad(&dp, format!("{dp} must be a mapping")),
                };
                let cond = match d.get("condition") {
                    Some(c) => to_str(c, &format!("{dp}.condition"))?,
                    None => "service_started".into(),
                };
                if !CONDITIONS.contains(&cond.as_str()) {
                    return bad(
                        &format!("{dp}.condition"),
                        format!("{dp}.condition must be one of {}, not {cond:?}", CONDITIONS.join(", ")),
                    );
                }
                d.insert("condition".into(), Value::String(cond));
                let req = match d.get("required") {
                    Some(r) => to_bool(r, &format!("{dp}.required"))?,
                    None => true,
                };
                d.insert("required".into(), Value::Bool(req));
                match d.get("restart") {
                    Some(r) if to_bool(r, &format!("{dp}.restart"))? => {
                        d.insert("restart".into(), true.into());
                    }
                    _ => {
                        d.remove("restart");
                    }
                }
                out.insert(k.clone(), Value::Object(d));
            }
        }
        _ => return bad(p, format!("{p} must be a list or a mapping, not {}", type_name(v))),
    }
    Ok(Value::Object(out))
}

fn healthcheck(v: &mut Value, p: &str) -> R<()> {
    let Some(h) = v.as_object_mut() else {
        return bad(p, format!("{p} must be a mapping, not {}", type_name(v)));
    };
    if let Some(t) = h.get_mut("test") {
        *t = match &*t {
            Value::String(s) => json!(["CMD-SHELL", s]),
            Value::Array(_) => Value::Array(str_list(t, &format!("{p}.test"))?),
            _ => return bad(&format!("{p}.test"), format!("{p}.test must be a string or a list")),
        };
    }
    for k in ["interval", "timeout", "start_period", "start_interval"] {
        if let Some(d) = h.get_mut(k) {
            *d = Value::String(duration(d, &format!("{p}.{k}"))?);
        }
    }
    if let Some(r) = h.get_mut("retries") {
        *r = Value::from(to_int(r, &format!("{p}.retries"))?);
    }
    if let Some(d) = h.get_mut("disable") {
        *d = Value::Bool(to_bool(d, &format!("{p}.disable"))?);
    }
    Ok(())
}

/// Parses a Go-style duration (`1h2m3.5s`, `500ms`; a bare number is seconds) to nanoseconds.
pub fn parse_duration(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some((n * 1e9) as i128);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    Some(total.round() as i128)
}

/// Go's `time.Duration.String()`.
pub fn go_duration(ns: i128) -> String {
    fn frac(v: i128, unit: i128) -> String {
        let int = v / unit;
        let mut f = format!("{:0w$}", v % unit, w = unit.to_string().len() - 1);
        while f.ends_with('0') {
            f.pop();
        }
        if f.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{f}")
        }
    }
    if ns == 0 {
        return "0s".into();
    }
    let (sign, ns) = if ns < 0 { ("-", -ns) } else { ("", ns) };
    let body = if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", frac(ns, 1_000))
    } else if ns < 1_000_000_000 {
        format!("{}ms", frac(ns, 1_000_000))
    } else {
        let h = ns / 3_600_000_000_000;
        let m = (ns / 60_000_000_000) % 60;
        let s = ns % 60_000_000_000;
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{}s", frac(s, 1_000_000_000)));
        out
    };
    format!("{sign}{body}")
}

fn duration(v: &Value, p: &str) -> R<String> {
    let s = to_str(v, p)?;
    match parse_duration(&s) {
        Some(ns) => Ok(go_duration(ns)),
        None => bad(p, format!("{p}: invalid duration {s:?}")),
    }
}

/// A byte size (`512m`, `1g`, `1024`, `1.5k`) as compose-go prints it: the count as a string.
fn bytes(v: &Value, p: &str) -> R<Value> {
    let s = to_str(v, p)?;
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim().trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return bad(p, format!("{p}: invalid size {s:?}")),
    };
    match num.parse::<f64>() {
        Ok(n) => Ok(Value::String(format!("{}", (n * mult) as i64))),
        Err(_) => bad(p, format!("{p}: invalid size {s:?}")),
    }
}

fn cpus(v: &Value, p: &str) -> R<Value> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        // Go prints a whole float as an integer (`cpus: 2`, not `2.0`).
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Value::from(f as i64)),
        Some(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Ok(Value::Number(n)),
            None => bad(p, format!("{p} must be a number, not {}", describe(v))),
        },
        None => bad(p, format!("{p} must be a number, not {}", describe(v))),
    }
}

fn extra_hosts(v: &Value, p: &str) -> R<Value> {
    let mut list: Vec<String> = match v {
        Value::Array(_) => str_list(v, p)?
            .into_iter()
            .map(|s| {
                let s = s.as_str().unwrap_or_default().to_string();
                // `host:ip` and `host=ip` are the same entry; Compose prints `host=ip`.
                match s.split_once('=') {
                    Some(_) => s,
                    None => match s.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => s,
                    },
                }
            })
            .collect(),
        Value::Object(m) => {
            let mut l = Vec::new();
            for (k, x) in m {
                match x {
                    Value::Array(ips) => {
                        for ip in ips {
                            l.push(format!("{k}={}", to_str(ip, p)?));
                        }
                    }
                    _ => l.push(format!("{k}={}", to_str(x, p)?)),
                }
            }
            l
        }
        _ => return bad(p, format!("{p} must be a list or a mapping, not {}", type_name(v))),
    };
    list.sort();
    Ok(Value::Array(list.into_iter().map(Value::String).collect()))
}

fn ulimits(v: &mut Value, p: &str) -> R<()> {
    let Some(m) = v.as_object_mut() else {
        return bad(p, format!("{p} must be a mapping, not {}", type_name(v)));
    };
    for (k, x) in m.iter_mut() {
        let up = format!("{p}.{k}");
        match x {
            Value::Object(o) => {
                for f in ["soft", "hard"] {
                    let Some(n) = o.get(f) else {
                        return bad(&up, format!("{up}.{f} is required"));
                    };
                    let n = to_int(n, &format!("{up}.{f}"))?;
                    o.insert(f.into(), n.into());
                }
            }
            _ => *x = Value::from(to_int(x, &up)?),
        }
    }
    Ok(())
}

fn file_refs(v: &Value, p: &str) -> R<Value> {
    let a = list(v, p)?;
    let mut out = Vec::new();
    for (i, it) in a.iter().enumerate() {
        let ip = format!("{p}.{i}");
        match it {
            Value::String(s) => out.push(json!({ "source": s })),
            Value::Object(o) => {
                if !o.contains_key("source") {
                    return bad(&ip, format!("{ip}.source is required"));
                }
                let mut o = o.clone();
                if let Some(m) = o.get("mode") {
                    // A string is octal (`"0440"`); a YAML number already is the mode (go-yaml
                    // reads `0440` as octal). The model holds the number (as compose-go does);
                    // the printer writes it as Compose prints it, `"0440"`.
                    let n = match m {
                        Value::String(s) => i64::from_str_radix(s.trim_start_matches("0o"), 8)
                            .map_err(|_| Bad { path: ip.clone(), msg: format!("{ip}.mode: invalid mode {s:?}") })?,
                        _ => to_int(m, &format!("{ip}.mode"))?,
                    };
                    o.insert("mode".into(), n.into());
                }
                for k in ["uid", "gid"] {
                    if let Some(x) = o.get(k) {
                        o.insert(k.into(), Value::String(to_str(x, &format!("{ip}.{k}"))?));
                    }
                }
                out.push(Value::Object(o));
            }
            _ => return bad(&ip, format!("{ip} must be a string or a mapping")),
        }
    }
    Ok(Value::Array(out))
}

fn deploy(v: &mut Value, p: &str) -> R<()> {
    let Some(d) = v.as_object_mut() else {
        return bad(p, format!("{p} must be a mapping, not {}", type_name(v)));
    };
    if let Some(r) = d.get_mut("replicas") {
        *r = Value::from(to_int(r, &format!("{p}.replicas"))?);
    }
    if let Some(l) = d.get_mut("labels") {
        *l = Value::Object(kv_map(l, &format!("{p}.labels"), None)?);
    }
    if let Some(res) = d.get_mut("resources").and_then(Value::as_object_mut) {
        for (k, r) in res.iter_mut() {
            let rp = format!("{p}.resources.{k}");
            let Some(r) = r.as_object_mut() else {
                return bad(&rp, format!("{rp} must be a mapping"));
            };
            if let Some(c) = r.get_mut("cpus") {
                *c = cpus(c, &format!("{rp}.cpus"))?;
            }
            if let Some(m) = r.get_mut("memory") {
                *m = bytes(m, &format!("{rp}.memory"))?;
            }
            if let Some(n) = r.get_mut("pids") {
                *n = Value::from(to_int(n, &format!("{rp}.pids"))?);
            }
        }
    }
    if let Some(rp) = d.get_mut("restart_policy").and_then(Value::as_object_mut) {
        for k in ["delay", "window"] {
            if let Some(x) = rp.get_mut(k) {
                *x = Value::String(duration(x, &format!("{p}.restart_policy.{k}"))?);
            }
        }
        if let Some(x) = rp.get_mut("max_attempts") {
            *x = Value::from(to_int(x, &format!("{p}.restart_policy.max_attempts"))?);
        }
    }
    Ok(())
}

/// Normalises a top-level `networks`, `volumes`, `secrets` or `configs` section (not the
/// names: they need the project's name, given later).
pub fn resources(kind: &str, v: &mut Value, cx: &mut Ctx) -> R<()> {
    if v.is_null() {
        *v = json!({});
    }
    let Some(m) = v.as_object_mut() else {
        return bad(kind, format!("{kind} must be a mapping, not {}", type_name(v)));
    };
    for (k, r) in m.iter_mut() {
        let rp = format!("{kind}.{k}");
        if k.starts_with("x-") {
            continue;
        }
        if r.is_null() {
            *r = json!({});
        }
        let Some(o) = r.as_object_mut() else {
            return bad(&rp, format!("{rp} must be a mapping or null"));
        };
        if let Some(ext) = o.get("external").cloned() {
            // Compose file format v3's `external: {name: N}` is `name: N, external: true`.
            match ext {
                Value::Object(e) => {
                    if let Some(n) = e.get("name") {
                        o.insert("name".into(), n.clone());
                    }
                    o.insert("external".into(), true.into());
                }
                x => {
                    let b = to_bool(&x, &format!("{rp}.external"))?;
                    o.insert("external".into(), b.into());
                }
            }
        }
        for flag in ["internal", "attachable", "enable_ipv6", "enable_ipv4"] {
            if let Some(x) = o.get(flag) {
                let b = to_bool(x, &format!("{rp}.{flag}"))?;
                o.insert(flag.into(), b.into());
            }
        }
        if let Some(l) = o.get_mut("labels") {
            *l = Value::Object(kv_map(l, &format!("{rp}.labels"), None)?);
        }
        if matches!(kind, "secrets" | "configs") {
            if let Some(f) = o.get("file").and_then(Value::as_str) {
                let abs = resolve(cx.base, f, cx.env);
                o.insert("file".into(), Value::String(abs));
            }
        }
        if let Some(n) = o.get("name") {
            let n = to_str(n, &format!("{rp}.name"))?;
            o.insert("name".into(), Value::String(n));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(svc: Value) -> R<Value> {
        let env = BTreeMap::from([("HOME".to_string(), "/home/u".to_string()), ("FROM_ENV".into(), "e".into())]);
        let mut w = Vec::new();
        let mut cx = Ctx { base: Path::new("/p"), env: &env, warnings: &mut w, lenient: false };
        let mut s = svc;
        service(&mut s, "services.web", &mut cx)?;
        Ok(s)
    }

    #[test]
    fn ports_short_to_long() {
        let s = norm(json!({"ports": [80, "8080:80", "127.0.0.1:53:53/udp", "[::1]:81:81", "9000-9001:90-91", "7000-7005:70", "3000-3001"]})).unwrap();
        assert_eq!(
            s["ports"],
            json!([
                {"mode": "ingress", "target": 80, "protocol": "tcp"},
                {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
                {"mode": "ingress", "host_ip": "127.0.0.1", "target": 53, "published": "53", "protocol": "udp"},
                {"mode": "ingress", "host_ip": "::1", "target": 81, "published": "81", "protocol": "tcp"},
                {"mode": "ingress", "target": 90, "published": "9000", "protocol": "tcp"},
                {"mode": "ingress", "target": 91, "published": "9001", "protocol": "tcp"},
                {"mode": "ingress", "target": 70, "published": "7000-7005", "protocol": "tcp"},
                {"mode": "ingress", "target": 3000, "protocol": "tcp"},
                {"mode": "ingress", "target": 3001, "protocol": "tcp"},
            ])
        );
        let e = norm(json!({"ports": 80})).unwrap_err();
        assert_eq!(e.path, "services.web.ports");
        assert!(e.msg.contains("must be a list"), "{}", e.msg);
        assert!(norm(json!({"ports": ["80:70000"]})).is_err());
    }

    #[test]
    fn volumes_short_to_long() {
        let s = norm(json!({"volumes": ["./data:/data:ro", "db:/var/lib/db", "/anon", "~/x:/x:rw,z", {"type": "tmpfs", "target": "/t/", "tmpfs": {"size": "1m"}}]})).unwrap();
        assert_eq!(
            s["volumes"],
            json!([
                {"type": "bind", "source": "/p/data", "target": "/data", "read_only": true, "bind": {"create_host_path": true}},
                {"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}},
                {"type": "volume", "target": "/anon", "volume": {}},
                {"type": "bind", "source": "/home/u/x", "target": "/x", "bind": {"create_host_path": true, "selinux": "z"}},
                {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1048576"}},
            ])
        );
    }

    #[test]
    fn commands_lists_and_maps() {
        let s = norm(json!({
            "command": "sh -c 'echo \"a b\"'",
            "entrypoint": ["/bin/x", 1],
            "build": ".",
            "environment": ["A=1", "FROM_ENV", "NOPE"],
            "labels": {"a": 1, "b": null},
            "depends_on": ["db"],
            "networks": ["front"],
            "healthcheck": {"test": "true", "interval": "90s", "timeout": "1.5s", "start_period": "0s"},
            "stop_grace_period": "1m",
            "mem_limit": "512m",
            "shm_size": 1024,
            "cpus": "0.5",
            "init": "true",
            "ulimits": {"nofile": {"soft": 1, "hard": "2"}, "nproc": 65535},
            "secrets": ["s", {"source": "t", "target": "/x", "mode": "0440"}],
            "extra_hosts": ["b:1.2.3.4", "a=::1"],
            "pull_policy": "if_not_present",
            "x-custom": {"k": 1},
        }))
        .unwrap();
        assert_eq!(s["command"], json!(["sh", "-c", "echo \"a b\""]));
        assert_eq!(s["entrypoint"], json!(["/bin/x", "1"]));
        assert_eq!(s["build"], json!({"context": "/p", "dockerfile": "Dockerfile"}));
        assert_eq!(s["environment"], json!({"A": "1", "FROM_ENV": "e", "NOPE": null}));
        assert_eq!(s["labels"], json!({"a": "1", "b": ""}));
        assert_eq!(s["depends_on"], json!({"db": {"condition": "service_started", "required": true}}));
        assert_eq!(s["networks"], json!({"front": null}));
        assert_eq!(
            s["healthcheck"],
            json!({"test": ["CMD-SHELL", "true"], "interval": "1m30s", "timeout": "1.5s", "start_period": "0s"})
        );
        assert_eq!(s["stop_grace_period"], "1m0s");
        assert_eq!(s["mem_limit"], "536870912");
        assert_eq!(s["shm_size"], "1024");
        assert_eq!(s["cpus"], 0.5);
        assert_eq!(norm(json!({"cpus": "2"})).unwrap()["cpus"].to_string(), "2");
        assert_eq!(s["init"], true);
        assert_eq!(s["ulimits"], json!({"nofile": {"soft": 1, "hard": 2}, "nproc": 65535}));
        assert_eq!(s["secrets"], json!([{"source": "s"}, {"source": "t", "target": "/x", "mode": 288}]));
        assert_eq!(s["extra_hosts"], json!(["a=::1", "b=1.2.3.4"]));
        assert_eq!(s["pull_policy"], "missing");
        assert_eq!(s["x-custom"], json!({"k": 1}));
    }

    #[test]
    fn wrong_types_name_their_key() {
        for (svc, path) in [
            (json!({"depends_on": {"db": {"condition": "bogus"}}}), "services.web.depends_on.db.condition"),
            (json!({"environment": 3}), "services.web.environment"),
            (json!({"init": "maybe"}), "services.web.init"),
            (json!({"healthcheck": {"interval": "soon"}}), "services.web.healthcheck.interval"),
            (json!({"volumes": ["a:b:c:d"]}), "services.web.volumes.0"),
            (json!({"scale": "x"}), "services.web.scale"),
            (json!({"restart": "sometimes"}), "services.web.restart"),
            (json!({"volumes": [":/x"]}), "services.web.volumes.0"),
            (json!({"volumes": [{"type": "bind", "target": "/x"}]}), "services.web.volumes.0"),
            (json!({"deploy": {"resources": {"limits": 5}}}), "services.web.deploy.resources.limits"),
            (json!({"pull_policy": "hourly"}), "services.web.pull_policy"),
            (json!({"ports": ["80/icmp"]}), "services.web.ports.0.protocol"),
        ] {
            assert_eq!(norm(svc).unwrap_err().path, path);
        }
    }

    #[test]
    fn durations_print_as_go() {
        for (i, o) in [
            ("10s", "10s"),
            ("1h", "1h0m0s"),
            ("500ms", "500ms"),
            ("1m30s", "1m30s"),
            ("2.5s", "2.5s"),
            ("0", "0s"),
            ("90", "1m30s"),
        ] {
            assert_eq!(go_duration(parse_duration(i).unwrap()), o, "{i}");
        }
    }
}
