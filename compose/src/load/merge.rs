//! The compose-spec merge rules, for several `-f` files and for `extends`.
//!
//! Both sides are already in long syntax, so the rules are few: mappings merge key by key
//! (environment, labels, depends_on, networks, build, ...), scalars are replaced, and sequences
//! are appended — except `command`, `entrypoint` and `healthcheck.test`, which are replaced,
//! and the sequences Compose merges by a key: `volumes` by target, `secrets`/`configs` by
//! target (or source), `env_file` by path; the other sequences drop items the base already
//! has (ports, cap_add, dns, ...). `!reset` removes a key, `!override` replaces it whole.

use super::yaml::{OVERRIDE, RESET};
use serde_json::{Map, Value};

/// Merges `over` into `base`; `path` is the dotted path of `base` (`services.web`).
pub fn merge(base: &mut Value, over: Value, path: &str) {
    // Logging options merge only for the same driver (or where one side names none).
    if path.starts_with("services.") && path.ends_with(".logging") && path.matches('.').count() == 2 {
        let driver = |v: &Value| v.get("driver").cloned();
        if let (Some(a), Some(b)) = (driver(base), driver(&over)) {
            if a != b {
                *base = strip(over);
                return;
            }
        }
    }
    match (base, over) {
        (Value::Object(b), Value::Object(o)) if !is_marker_obj(&o) => merge_maps(b, o, path),
        (b @ Value::Array(_), Value::Array(o)) => merge_seqs(b, o, path),
        (b, o) => *b = strip(o),
    }
}

fn is_marker_obj(o: &Map<String, Value>) -> bool {
    o.len() == 1 && (o.contains_key(RESET) || o.contains_key(OVERRIDE))
}

fn merge_maps(b: &mut Map<String, Value>, o: Map<String, Value>, path: &str) {
    for (k, v) in o {
        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        if let Value::Object(m) = &v {
            if m.contains_key(RESET) && m.len() == 1 {
                b.remove(&k);
                continue;
            }
        }
        match b.get_mut(&k) {
            Some(e) => merge(e, v, &p),
            None => {
                b.insert(k, strip(v));
            }
        }
    }
}

/// The last two segments of a path, with service names and indexes generalised away:
/// `services.web.volumes` is `*.volumes`, `services.web.healthcheck.test` `healthcheck.test`.
fn tail(path: &str) -> (&str, &str) {
    let mut it = path.rsplit('.');
    let last = it.next().unwrap_or("");
    (it.next().unwrap_or(""), last)
}

fn merge_seqs(b: &mut Value, o: Vec<Value>, path: &str) {
    let in_service = path.starts_with("services.");
    let (parent, last) = tail(path);
    let replace = in_service
        && (matches!(last, "command" | "entrypoint") && path.matches('.').count() == 2
            || (parent == "healthcheck" && last == "test"));
    let Value::Array(items) = b else { return };
    if replace {
        *items = o.into_iter().map(strip).collect();
        return;
    }
    let key: Option<fn(&Value) -> Option<String>> = match last {
        "volumes" if in_service => Some(|v| str_at(v, "target")),
        "secrets" | "configs" if in_service => Some(|v| str_at(v, "target").or_else(|| str_at(v, "source"))),
        "env_file" if in_service => Some(|v| str_at(v, "path")),
        _ => None,
    };
    for v in o {
        let v = strip(v);
        let existing = match key {
            Some(f) => {
                let k = f(&v);
                items.iter().position(|e| k.is_some() && f(e) == k)
            }
            None => items.iter().position(|e| *e == v),
        };
        match existing {
            Some(i) => items[i] = v,
            None => items.push(v),
        }
    }
}

fn str_at(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// The value with every `!reset`/`!override` marker resolved: an override is its value, a
/// reset (with nothing under it to reset) the empty value it holds.
pub fn strip(v: Value) -> Value {
    match v {
        Value::Object(mut o) if is_marker_obj(&o) => {
            let inner = o.remove(RESET).or_else(|| o.remove(OVERRIDE)).unwrap_or(Value::Null);
            strip(inner)
        }
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, strip(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_spec_rules() {
        let mut base = json!({"services": {"web": {
            "image": "a", "command": ["x", "y"], "environment": {"A": "1", "B": "2"},
            "ports": [{"target": 80, "published": "80"}],
            "volumes": [{"type": "volume", "source": "v", "target": "/d"}, {"type": "volume", "source": "w", "target": "/e"}],
            "cap_add": ["NET_ADMIN"], "healthcheck": {"test": ["CMD", "a"], "retries": 3},
            "labels": {"l": "1"},
        }}});
        let over = json!({"services": {"web": {
            "image": "b", "command": ["z"], "environment": {"B": "3", "C": "4"},
            "ports": [{"target": 80, "published": "80"}, {"target": 81, "published": "81"}],
            "volumes": [{"type": "bind", "source": "/h", "target": "/d"}],
            "cap_add": ["NET_ADMIN", "SYS_TIME"], "healthcheck": {"test": ["CMD", "b"]},
            "labels": {RESET: null},
        }, "db": {"image": "pg"}}});
        merge(&mut base, over, "");
        assert_eq!(
            base,
            json!({"services": {"web": {
                "image": "b", "command": ["z"], "environment": {"A": "1", "B": "3", "C": "4"},
                "ports": [{"target": 80, "published": "80"}, {"target": 81, "published": "81"}],
                "volumes": [{"type": "bind", "source": "/h", "target": "/d"}, {"type": "volume", "source": "w", "target": "/e"}],
                "cap_add": ["NET_ADMIN", "SYS_TIME"], "healthcheck": {"test": ["CMD", "b"], "retries": 3},
            }, "db": {"image": "pg"}}})
        );
    }

    #[test]
    fn logging_merges_for_one_driver() {
        let mut base = json!({"services": {"w": {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}}}});
        merge(&mut base, json!({"services": {"w": {"logging": {"options": {"max-file": "2"}}}}}), "");
        assert_eq!(base["services"]["w"]["logging"]["options"], json!({"max-size": "1m", "max-file": "2"}));
        merge(&mut base, json!({"services": {"w": {"logging": {"driver": "syslog"}}}}), "");
        assert_eq!(base["services"]["w"]["logging"], json!({"driver": "syslog"}));
    }

    #[test]
    fn override_replaces_whole() {
        let mut base = json!({"services": {"web": {"environment": {"A": "1"}}}});
        merge(&mut base, json!({"services": {"web": {"environment": {OVERRIDE: {"B": "2"}}}}}), "");
        assert_eq!(base, json!({"services": {"web": {"environment": {"B": "2"}}}}));
    }
}
