//! Dockerfile instructions applied to an image config: `import --change`, `commit --change`.
//!
//! Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and
//! WORKDIR here, in exec (JSON array) or shell form, with `$VAR`/`${VAR}` expanded from the
//! config's environment for the instructions a Dockerfile expands them in. The container
//! config is edited as JSON so fields berth does not model (Docker's `OnBuild`) survive.

use crate::{Error, Result};
use serde_json::{json, Map, Value};

/// State carried across several changes (Docker resets CMD when ENTRYPOINT is set unless a
/// CMD was given in the same batch).
#[derive(Default)]
pub struct ChangeState {
    cmd_set: bool,
}

/// Applies each change to `config` (an image config's `config` object).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut st = ChangeState::default();
    for c in changes {
        apply_change(config, c, &mut st)?;
    }
    Ok(())
}

fn bad(change: &str, why: impl std::fmt::Display) -> Error {
    Error::Other(format!("invalid change {change:?}: {why}"))
}

/// Applies one Dockerfile instruction.
pub fn apply_change(config: &mut Map<String, Value>, change: &str, st: &mut ChangeState) -> Result<()> {
    let line = change.trim();
    let (kw, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let kw_upper = kw.to_ascii_uppercase();
    let env = env_of(config);
    match kw_upper.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(exec_or_shell(rest)));
            st.cmd_set = true;
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(exec_or_shell(rest)));
            if !st.cmd_set {
                config.remove("Cmd");
            }
        }
        "ENV" => {
            let pairs = key_values(rest, &env, "ENV").map_err(|e| bad(change, e))?;
            let mut list: Vec<String> = config
                .get("Env")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default();
            for (k, v) in pairs {
                let entry = format!("{k}={v}");
                match list
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()) || e.as_str() == k)
                {
                    Some(e) => *e = entry,
                    None => list.push(entry),
                }
            }
            config.insert("Env".into(), json!(list));
        }
        "LABEL" => {
            let pairs = key_values(rest, &env, "LABEL").map_err(|e| bad(change, e))?;
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in pairs {
                labels[k] = json!(v);
            }
        }
        "WORKDIR" => {
            let words = shell_words(rest, &env).map_err(|e| bad(change, e))?;
            let w = words.join(" ");
            if w.is_empty() {
                return Err(bad(change, "WORKDIR requires exactly one argument"));
            }
            let dir = if w.starts_with('/') {
                w
            } else {
                let cur = config.get("WorkingDir").and_then(|v| v.as_str()).unwrap_or("/");
                format!("{}/{}", cur.trim_end_matches('/'), w)
            };
            config.insert("WorkingDir".into(), json!(clean_path(&dir)));
        }
        "USER" => {
            let words = shell_words(rest, &env).map_err(|e| bad(change, e))?;
            if words.len() != 1 {
                return Err(bad(change, "USER requires exactly one argument"));
            }
            config.insert("User".into(), json!(words[0]));
        }
        "EXPOSE" => {
            let words = shell_words(rest, &env).map_err(|e| bad(change, e))?;
            if words.is_empty() {
                return Err(bad(change, "EXPOSE requires at least one argument"));
            }
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !ports.is_object() {
                *ports = json!({});
            }
            for w in words {
                for p in expand_port(&w).map_err(|e| bad(change, e))? {
                    ports[p] = json!({});
                }
            }
        }
        "VOLUME" => {
            let vols: Vec<String> = match parse_json_array(rest) {
                Some(v) => v,
                None => shell_words(rest, &env).map_err(|e| bad(change, e))?,
            };
            if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                return Err(bad(change, "VOLUME specified can not be an empty string"));
            }
            let m = config.entry("Volumes").or_insert_with(|| json!({}));
            if !m.is_object() {
                *m = json!({});
            }
            for v in vols {
                m[v] = json!({});
            }
        }
        "STOPSIGNAL" => {
            let words = shell_words(rest, &env).map_err(|e| bad(change, e))?;
            if words.len() != 1 {
                return Err(bad(change, "STOPSIGNAL requires exactly one argument"));
            }
            config.insert("StopSignal".into(), json!(words[0]));
        }
        "ONBUILD" => {
            let (tkw, trest) = match rest.find(char::is_whitespace) {
                Some(i) => (&rest[..i], rest[i..].trim()),
                None => (rest, ""),
            };
            let t = tkw.to_ascii_uppercase();
            match t.as_str() {
                "" => return Err(bad(change, "ONBUILD requires an instruction")),
                "ONBUILD" => return Err(bad(change, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")),
                "FROM" | "MAINTAINER" => return Err(bad(change, format!("{t} isn't allowed as an ONBUILD trigger"))),
                _ => {}
            }
            let trigger = if trest.is_empty() { t } else { format!("{t} {trest}") };
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            list.as_array_mut().expect("just made an array").push(json!(trigger));
        }
        "" => return Err(bad(change, "empty change")),
        _ => return Err(Error::Other(format!("{kw} is not a valid change command"))),
    }
    Ok(())
}

fn env_of(config: &Map<String, Value>) -> Vec<(String, String)> {
    config
        .get("Env")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `["a","b"]` as a list of strings, if the text is exactly that.
pub fn parse_json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Exec form stays as written; shell form runs under `/bin/sh -c` (Docker's Linux default).
pub fn exec_or_shell(s: &str) -> Vec<String> {
    match parse_json_array(s) {
        Some(v) => v,
        None => vec!["/bin/sh".into(), "-c".into(), s.to_string()],
    }
}

/// `ENV`/`LABEL` arguments: `k=v k2="v 2"`, or the legacy `k value with spaces` form.
fn key_values(rest: &str, env: &[(String, String)], what: &str) -> std::result::Result<Vec<(String, String)>, String> {
    if rest.is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    let first_word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if !rest[..first_word_end].contains('=') {
        // Legacy form: one key, the rest of the line is the value.
        let key = rest[..first_word_end].to_string();
        let value = shell_words(rest[first_word_end..].trim(), env)?.join(" ");
        if what == "ENV" && rest[first_word_end..].trim().is_empty() {
            return Err(format!("{what} names can not be blank / ENV requires a value"));
        }
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in shell_words(rest, env)? {
        let (k, v) = w.split_once('=').ok_or_else(|| format!("{what} expects key=value pairs, got {w:?}"))?;
        if k.is_empty() {
            return Err(format!("{what} names can not be blank"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Splits like a Dockerfile does: whitespace outside quotes separates words, quotes group,
/// backslash escapes, and `$VAR`/`${VAR}`/`${VAR:-default}`/`${VAR:+alt}` expand (not inside
/// single quotes).
pub fn shell_words(s: &str, env: &[(String, String)]) -> std::result::Result<Vec<String>, String> {
    let lookup = |k: &str| env.iter().rev().find(|(ek, _)| ek == k).map(|(_, v)| v.clone());
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
                continue;
            }
            (None, '\'') | (None, '"') => {
                quote = Some(c);
                in_word = true;
                i += 1;
                continue;
            }
            (Some(q), c) if c == q => {
                quote = None;
                i += 1;
                continue;
            }
            (Some('\''), c) => {
                cur.push(c);
                i += 1;
                continue;
            }
            (_, '\\') if i + 1 < chars.len() => {
                let n = chars[i + 1];
                // Inside double quotes only \" \\ \$ are escapes.
                if quote == Some('"') && !matches!(n, '"' | '\\' | '$') {
                    cur.push('\\');
                }
                cur.push(n);
                in_word = true;
                i += 2;
                continue;
            }
            (_, '$') if i + 1 < chars.len() => {
                in_word = true;
                if chars[i + 1] == '{' {
                    let end = chars[i..].iter().position(|&x| x == '}').ok_or("missing '}' in variable")? + i;
                    let inner: String = chars[i + 2..end].iter().collect();
                    let (name, modifier) = match inner.find(':') {
                        Some(p) => (&inner[..p], Some(&inner[p + 1..])),
                        None => (inner.as_str(), None),
                    };
                    let val = lookup(name);
                    let out = match modifier {
                        Some(m) if m.starts_with('-') => {
                            val.filter(|v| !v.is_empty()).unwrap_or_else(|| m[1..].to_string())
                        }
                        Some(m) if m.starts_with('+') => {
                            if val.is_some_and(|v| !v.is_empty()) {
                                m[1..].to_string()
                            } else {
                                String::new()
                            }
                        }
                        Some(m) => return Err(format!("unsupported modifier ({m}) in substitution")),
                        None => val.unwrap_or_default(),
                    };
                    cur.push_str(&out);
                    i = end + 1;
                } else {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                    if j == start {
                        cur.push('$');
                        i += 1;
                    } else {
                        let name: String = chars[start..j].iter().collect();
                        cur.push_str(&lookup(&name).unwrap_or_default());
                        i = j;
                    }
                }
                continue;
            }
            _ => {
                cur.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// EXPOSE words (`--change` and Dockerfiles alike): `80` -> `80/tcp`; `8000-8002/udp` -> three
/// ports.
pub(crate) fn expand_port(w: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match w.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (w, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid containerPort: {p}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut m = Map::new();
        apply_changes(&mut m, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Value::Object(m)
    }

    #[test]
    fn docker_forms() {
        let c = apply(&[
            r#"CMD ["sh"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV C $A-x",
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL a=b \"c d\"=e",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGTERM",
            "onbuild run echo hi",
        ]);
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Env"], json!(["A=1", "B=two words", "C=1-x"]));
        assert_eq!(c["WorkingDir"], json!("/app/sub"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
        assert_eq!(c["StopSignal"], json!("SIGTERM"));
        assert_eq!(c["OnBuild"], json!(["RUN echo hi"]));
    }

    #[test]
    fn shell_form_and_entrypoint_reset() {
        let c = apply(&["CMD echo hi", "ENTRYPOINT [\"/bin/app\"]"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/app"]));
        let mut m = Map::new();
        m.insert("Cmd".into(), json!(["old"]));
        apply_changes(&mut m, &["ENTRYPOINT top".to_string()]).unwrap();
        assert!(m.get("Cmd").is_none());
    }

    #[test]
    fn refuses_unknown() {
        let mut m = Map::new();
        let e = apply_changes(&mut m, &["RUN echo".to_string()]).unwrap_err().to_string();
        assert_eq!(e, "RUN is not a valid change command");
        assert!(apply_changes(&mut m, &["EXPOSE 99999".to_string()]).is_err());
    }
}
