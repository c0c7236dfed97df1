//! The model printed as `docker compose config` prints it: YAML (go-yaml's style: two-space
//! indents, `- ` items, double quotes only where a plain scalar would read back as something
//! else) or JSON (two-space indents), keys in Compose's order — a service's and each long
//! form's keys in the order of compose-go's structs, user-named maps sorted.

use super::keys::{order, SERVICE_KEYS};
use serde_json::Value;

/// The keys of `m` in print order: the known ones in `order`, then the rest (extensions,
/// user-named keys) sorted. A bind mount's `create_host_path: true` is the default Compose
/// leaves out (the model keeps it, for its readers).
fn keys<'a>(m: &'a serde_json::Map<String, Value>, path: &[&str]) -> Vec<&'a String> {
    let default_bind = matches!(path, ["services", _, "volumes", _, "bind"]);
    let mut ks: Vec<&String> =
        m.keys().filter(|k| !(default_bind && *k == "create_host_path" && m[*k] == Value::Bool(true))).collect();
    if let Some(o) = order(path) {
        ks.sort_by_key(|k| (o.iter().position(|x| x == k).unwrap_or(usize::MAX), (*k).clone()));
    }
    ks
}

/// The model as YAML.
pub fn to_yaml(v: &Value) -> String {
    let printed = printable(v);
    let v = &printed;
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => block_map(v, &mut Vec::new(), 0, &mut out),
        _ => {
            out.push_str(&inline(v, 0));
            out.push('\n');
        }
    }
    out
}

/// The model as JSON, as `docker compose config --format json`: top-level keys sorted (Compose
/// marshals a map there), services in struct order, `command`/`entrypoint` always present.
pub fn to_json(v: &Value) -> String {
    let printed = printable(v);
    let v = &printed;
    let mut out = String::new();
    json_value(v, &mut Vec::new(), 0, &mut out);
    out.push('\n');
    out
}

/// The model with the values Compose prints in another form than it holds them: a secret's
/// or config's `mode` (a number) as an octal string, `"0440"`.
fn printable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(services) = v.get_mut("services").and_then(Value::as_object_mut) {
        for s in services.values_mut() {
            for at in ["/secrets", "/configs", "/build/secrets"] {
                if let Some(refs) = s.pointer_mut(at) {
                    octal_modes(refs);
                }
            }
        }
    }
    v
}

fn octal_modes(refs: &mut Value) {
    for r in refs.as_array_mut().into_iter().flatten() {
        if let Some(n) = r.get("mode").and_then(Value::as_i64) {
            r["mode"] = Value::String(format!("0{n:o}"));
        }
    }
}

fn json_value<'a>(v: &'a Value, path: &mut Vec<&'a str>, ind: usize, out: &mut String) {
    let pad = |n: usize| "  ".repeat(n);
    match v {
        Value::Object(m) if !keys(m, path).is_empty() => {
            let mut ks = if path.is_empty() {
                let mut k: Vec<&String> = m.keys().collect();
                k.sort();
                k
            } else {
                keys(m, path)
            };
            let service = path.len() == 2 && path[0] == "services";
            let extra: Vec<&'static str> = if service {
                ["command", "entrypoint"].into_iter().filter(|k| !m.contains_key(*k)).collect()
            } else {
                Vec::new()
            };
            let mut all: Vec<(&str, Option<&Value>)> = ks.drain(..).map(|k| (k.as_str(), m.get(k))).collect();
            for e in extra {
                all.push((e, None));
            }
            if service {
                all.sort_by_key(|(k, _)| SERVICE_KEYS.iter().position(|x| x == k).unwrap_or(usize::MAX));
            }
            out.push_str("{\n");
            for (i, (k, x)) in all.iter().enumerate() {
                out.push_str(&pad(ind + 1));
                out.push_str(&go_json(&Value::String(k.to_string())));
                out.push_str(": ");
                match x {
                    Some(x) => {
                        path.push(k);
                        json_value(x, path, ind + 1, out);
                        path.pop();
                    }
                    None => out.push_str("null"),
                }
                if i + 1 < all.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(ind));
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(ind + 1));
                path.push("*");
                json_value(x, path, ind + 1, out);
                path.pop();
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(ind));
            out.push(']');
        }
        // Empty, or only defaults Compose leaves out.
        Value::Object(_) => out.push_str("{}"),
        v => out.push_str(&go_json(v)),
    }
}

/// A JSON scalar as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    if !v.is_string() {
        return text;
    }
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn block_map<'a>(v: &'a Value, path: &mut Vec<&'a str>, ind: usize, out: &mut String) {
    let Value::Object(m) = v else { return };
    for k in keys(m, path) {
        let x = &m[k];
        out.push_str(&"  ".repeat(ind));
        out.push_str(&scalar_str(k));
        out.push(':');
        path.push(k);
        block_child(x, path, ind, out);
        path.pop();
    }
}

/// The value after `key:` (inline, or on the next lines, indented).
fn block_child<'a>(x: &'a Value, path: &mut Vec<&'a str>, ind: usize, out: &mut String) {
    match x {
        Value::Object(o) if !keys(o, path).is_empty() => {
            out.push('\n');
            block_map(x, path, ind + 1, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_seq(x, path, ind + 1, out);
        }
        Value::String(s) if s.contains('\n') => {
            out.push_str(&literal(s, ind + 1));
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(x, ind));
            out.push('\n');
        }
    }
}

fn block_seq<'a>(v: &'a Value, path: &mut Vec<&'a str>, ind: usize, out: &mut String) {
    let Value::Array(a) = v else { return };
    for x in a {
        out.push_str(&"  ".repeat(ind));
        out.push('-');
        path.push("*");
        match x {
            Value::Object(o) if !keys(o, path).is_empty() => {
                // The first key goes on the dash's line, the others under it.
                let mut first = String::new();
                block_map(x, path, ind + 1, &mut first);
                out.push(' ');
                out.push_str(first.trim_start());
            }
            Value::Array(i) if !i.is_empty() => {
                out.push('\n');
                block_seq(x, path, ind + 1, out);
            }
            Value::String(s) if s.contains('\n') => out.push_str(&literal(s, ind + 1)),
            _ => {
                out.push(' ');
                out.push_str(&inline(x, ind));
                out.push('\n');
            }
        }
        path.pop();
    }
}

fn literal(s: &str, ind: usize) -> String {
    let (head, body) = match s.strip_suffix('\n') {
        Some(b) if !b.ends_with('\n') => (" |", b),
        _ => (" |-", s),
    };
    let mut out = head.to_string();
    out.push('\n');
    for l in body.split('\n') {
        if !l.is_empty() {
            out.push_str(&"  ".repeat(ind));
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

fn inline(v: &Value, _ind: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// YAML 1.1's sexagesimal numbers (`12:30`), which go-yaml quotes for YAML 1.1 readers.
fn base60(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (s, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = s.split(':');
    let head = parts.next().unwrap_or("");
    let mut rest = parts.peekable();
    rest.peek().is_some()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && rest.all(|p| {
            !p.is_empty()
                && p.len() <= 2
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
        && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// A string plain when it reads back as the same string, else double-quoted.
fn scalar_str(s: &str) -> String {
    let reads_as_other = {
        let r = super::yaml::parse(&format!("k: {s}\n"));
        !matches!(r, Ok(d) if d.value.get("k") == Some(&Value::String(s.to_string())))
    };
    let special = s.is_empty()
        || base60(s)
        || s.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
        ]) && !(s.starts_with('-')
            && s.len() > 1
            && !s[1..].starts_with(' ')
            && s != "---"
            && s.parse::<f64>().is_err())
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control())
        || matches!(
            s,
            "y" | "Y"
                | "n"
                | "N"
                | "yes"
                | "Yes"
                | "YES"
                | "no"
                | "No"
                | "NO"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
        );
    if special || reads_as_other {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_in_compose_order() {
        let m = json!({
            "services": {"web": {
                "image": "nginx", "command": ["echo", "hi there"], "build": {"dockerfile": "Dockerfile", "context": "/p"},
                "ports": [{"published": "8080", "target": 80, "protocol": "tcp", "mode": "ingress"}],
                "environment": {"B": "2", "A": "yes", "C": null, "D": ""},
                "networks": {"default": null},
            }},
            "name": "demo",
            "networks": {"default": {"name": "demo_default"}},
        });
        assert_eq!(
            to_yaml(&m),
            "name: demo\nservices:\n  web:\n    build:\n      context: /p\n      dockerfile: Dockerfile\n    command:\n      - echo\n      - hi there\n    environment:\n      A: \"yes\"\n      B: \"2\"\n      C: null\n      D: \"\"\n    image: nginx\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp\nnetworks:\n  default:\n    name: demo_default\n"
        );
        assert!(to_json(&json!({"a": "x && y <z>"})).contains(r#""a": "x \u0026\u0026 y \u003cz\u003e""#));
        let j = to_json(&m);
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["services"]["web"]["entrypoint"], Value::Null);
        assert!(j.starts_with("{\n  \"name\": \"demo\",\n  \"networks\""), "{j}");
    }

    #[test]
    fn yaml_reads_back() {
        let m = json!({"a": ["-x", "- y", "1.5", "true", "a: b", "#c", "multi\nline\n", "~", "*", "12:30", "0400"]});
        let y = to_yaml(&m);
        let back = super::super::yaml::parse(&y).unwrap().value;
        assert_eq!(back, m);
        assert!(y.contains("- \"12:30\"\n") && y.contains("- \"0400\"\n"), "{y}");
        assert!(to_yaml(&json!({"p": "8080:80", "u": "1000:1000"})).contains("p: 8080:80\nu: 1000:1000\n"));
    }
}
