//! Checks that need the whole, merged model: references between services and to top-level
//! resources, dependency cycles, and host ports published twice. `config` runs them as `up`
//! does, so a project `config` accepts is one `up` can start.

use super::normalize::{bad, R};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Validates the merged model; `warnings` gets the problems Compose only warns about.
/// `disabled` holds the services the active profiles leave out, with their profiles.
pub fn validate(model: &mut Value, disabled: &BTreeMap<String, Vec<String>>, warnings: &mut Vec<String>) -> R<()> {
    let empty = Map::new();
    let services = model.get("services").and_then(Value::as_object).unwrap_or(&empty).clone();
    let section = |k: &str| -> Vec<String> {
        model.get(k).and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    let (networks, volumes, secrets, configs) =
        (section("networks"), section("volumes"), section("secrets"), section("configs"));
    for (name, s) in &services {
        let at = format!("services.{name}");
        if s.get("image").is_none() && s.get("build").is_none() && s.get("provider").is_none() {
            return bad(&at, format!("service {name:?} has neither an image nor a build context specified"));
        }
        service_rules(name, s)?;
        if let Some(deps) = s.get("depends_on").and_then(Value::as_object) {
            for (d, spec) in deps {
                if services.contains_key(d) {
                    continue;
                }
                if let (Some(p), true) = (disabled.get(d), spec.get("required") != Some(&Value::Bool(false))) {
                    return bad(
                        &format!("{at}.depends_on.{d}"),
                        format!(
                            "service {d:?} is required by {name:?} but is disabled. Can be enabled by profiles [{}]",
                            p.join(", ")
                        ),
                    );
                }
                if spec.get("required") == Some(&Value::Bool(false)) {
                    warnings.push(format!(
                        "service {name:?} depends on undefined service {d:?}: ignored as it is not required"
                    ));
                    continue;
                }
                return bad(
                    &format!("{at}.depends_on.{d}"),
                    format!("service {name:?} depends on undefined service {d:?}"),
                );
            }
        }
        for (k, list) in [("networks", &networks)] {
            if let Some(m) = s.get(k).and_then(Value::as_object) {
                for n in m.keys() {
                    if !list.contains(n) {
                        return bad(
                            &format!("{at}.{k}.{n}"),
                            format!("service {name:?} refers to undefined network {n}"),
                        );
                    }
                }
            }
        }
        if let Some(vs) = s.get("volumes").and_then(Value::as_array) {
            for (i, v) in vs.iter().enumerate() {
                if v.get("type").and_then(Value::as_str) != Some("volume") {
                    continue;
                }
                if let Some(src) = v.get("source").and_then(Value::as_str) {
                    if !volumes.iter().any(|x| x == src) {
                        return bad(
                            &format!("{at}.volumes.{i}"),
                            format!("service {name:?} refers to undefined volume {src}"),
                        );
                    }
                }
            }
        }
        for (k, list) in [("secrets", &secrets), ("configs", &configs)] {
            if let Some(vs) = s.get(k).and_then(Value::as_array) {
                for (i, v) in vs.iter().enumerate() {
                    if let Some(src) = v.get("source").and_then(Value::as_str) {
                        if !list.iter().any(|x| x == src) {
                            let kind = k.trim_end_matches('s');
                            return bad(
                                &format!("{at}.{k}.{i}"),
                                format!("service {name:?} refers to undefined {kind} {src}"),
                            );
                        }
                    }
                }
            }
        }
        for k in ["network_mode", "ipc", "pid"] {
            if let Some(other) = s.get(k).and_then(Value::as_str).and_then(|m| m.strip_prefix("service:")) {
                if !services.contains_key(other) {
                    return bad(
                        &format!("{at}.{k}"),
                        format!("service {name:?} refers to undefined service {other:?} in {k}"),
                    );
                }
            }
        }
    }
    // Drop the optional dependencies on services that are not there, as Compose does.
    if let Some(ss) = model.get_mut("services").and_then(Value::as_object_mut) {
        for s in ss.values_mut() {
            if let Some(d) = s.get_mut("depends_on").and_then(Value::as_object_mut) {
                d.retain(|k, _| services.contains_key(k));
            }
        }
    }
    cycles(&services)?;
    container_names(&services)?;
    ports(&services)
}

/// Two services with the same `container_name`, which Compose refuses before creating anything.
fn container_names(services: &Map<String, Value>) -> R<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, s) in services {
        if let Some(c) = s.get("container_name").and_then(Value::as_str) {
            if let Some(other) = seen.insert(c, name) {
                return bad(
                    &format!("services.{name}.container_name"),
                    format!("services {other:?} and {name:?} have the same container name {c:?}"),
                );
            }
        }
    }
    Ok(())
}

/// The rules compose-go's consistency check has for one service on its own.
fn service_rules(name: &str, s: &Value) -> R<()> {
    let at = format!("services.{name}");
    let int = |v: Option<&Value>| v.and_then(Value::as_i64);
    let build = s.get("build");
    if build.is_some_and(|b| b.get("dockerfile").is_some() && b.get("dockerfile_inline").is_some()) {
        return bad(
            &format!("{at}.build"),
            format!("service {name:?} declares mutually exclusive dockerfile and dockerfile_inline"),
        );
    }
    if s.get("network_mode").is_some() && s.get("networks").is_some() {
        return bad(
            &format!("{at}.network_mode"),
            format!("service {name} declares mutually exclusive `network_mode` and `networks`"),
        );
    }
    let scale = int(s.get("scale"));
    let replicas = int(s.pointer("/deploy/replicas"));
    if let (Some(a), Some(b)) = (scale, replicas) {
        if a != b {
            return bad(
                &format!("{at}.scale"),
                format!("{at}.scale: can't set distinct values on 'scale' and 'deploy.replicas'"),
            );
        }
    }
    for (k, v) in [("scale", scale), ("deploy.replicas", replicas)] {
        if v.is_some_and(|n| n < 0) {
            return bad(&format!("{at}.{k}"), format!("{at}.{k}: must be greater than or equal to 0"));
        }
    }
    let pairs = [
        ("cpus", "/deploy/resources/limits/cpus", "deploy.resources.limits.cpus"),
        ("mem_limit", "/deploy/resources/limits/memory", "deploy.resources.limits.memory"),
        ("mem_reservation", "/deploy/resources/reservations/memory", "deploy.resources.reservations.memory"),
        ("pids_limit", "/deploy/resources/limits/pids", "deploy.resources.limits.pids"),
    ];
    for (k, ptr, long) in pairs {
        if let (Some(a), Some(b)) = (s.get(k), s.pointer(ptr)) {
            if a != b {
                return bad(&format!("{at}.{k}"), format!("{at}.{k}: can't set distinct values on '{k}' and '{long}'"));
            }
        }
    }
    if s.get("container_name").is_some() && scale.or(replicas).is_some_and(|n| n > 1) {
        let attr = if scale.is_some() { "scale" } else { "deploy.replicas" };
        return bad(
            &format!("{at}.container_name"),
            format!("{at}.container_name: can't set container_name and {attr} as container name must be unique"),
        );
    }
    // No two mounts on one target (tmpfs entries and volumes alike).
    let mut mounts: BTreeMap<String, String> = BTreeMap::new();
    let tmpfs = s.get("tmpfs").and_then(Value::as_array).into_iter().flatten();
    let tmpfs_targets = tmpfs.filter_map(Value::as_str).map(|t| t.split(':').next().unwrap_or(t).to_string());
    let volume_targets = s
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.get("target").and_then(Value::as_str).unwrap_or("").to_string());
    let kinds =
        tmpfs_targets.map(|t| ("tmpfs", t)).enumerate().chain(volume_targets.map(|t| ("volumes", t)).enumerate());
    for (i, (kind, target)) in kinds {
        let loc = format!("{at}.{kind}.{i}");
        if let Some(other) = mounts.insert(target.clone(), loc.clone()) {
            return bad(&loc, format!("{loc}: target {target} already mounted as {other}"));
        }
    }
    Ok(())
}

/// Depth-first search for a cycle in `depends_on` (and `network_mode: service:`).
fn cycles(services: &Map<String, Value>) -> R<()> {
    fn deps(s: &Value) -> Vec<String> {
        let mut d: Vec<String> =
            s.get("depends_on").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        if let Some(o) = s.get("network_mode").and_then(Value::as_str).and_then(|m| m.strip_prefix("service:")) {
            d.push(o.to_string());
        }
        d
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        n: &str,
        services: &Map<String, Value>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> R<()> {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.to_string());
                return bad(
                    &format!("services.{}.depends_on", stack.last().map_or(n, |s| s.as_str())),
                    format!("dependency cycle detected: {}", cycle.join(" -> ")),
                );
            }
            Mark::New => {}
        }
        marks.insert(n.to_string(), Mark::Active);
        stack.push(n.to_string());
        if let Some(s) = services.get(n) {
            for d in deps(s) {
                if services.contains_key(&d) {
                    visit(&d, services, marks, stack)?;
                }
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for n in services.keys() {
        visit(n, services, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// Two services (or two entries) publishing the same host port on the same address.
fn ports(services: &Map<String, Value>) -> R<()> {
    // (host ip, port, protocol) -> the service and its port entry's path
    let mut seen: BTreeMap<(String, u32, String), (String, String)> = BTreeMap::new();
    for (name, s) in services {
        let Some(ps) = s.get("ports").and_then(Value::as_array) else {
            continue;
        };
        for (i, p) in ps.iter().enumerate() {
            let Some(published) = p.get("published").and_then(Value::as_str) else {
                continue;
            };
            let (a, b) = match published.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                None => {
                    let n = published.parse().unwrap_or(0);
                    (n, n)
                }
            };
            if a == 0 {
                continue;
            }
            let ip = match p.get("host_ip").and_then(Value::as_str).unwrap_or("") {
                "" | "0.0.0.0" | "::" => "0.0.0.0".to_string(),
                ip => ip.to_string(),
            };
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("tcp").to_string();
            let at = format!("services.{name}.ports.{i}");
            for port in a..=b {
                let clash = seen.iter().find(|((sip, sport, sproto), _)| {
                    *sport == port && *sproto == proto && (*sip == ip || sip == "0.0.0.0" || ip == "0.0.0.0")
                });
                if let Some((_, (other, _))) = clash {
                    let what = if *other == *name {
                        format!("service {name:?} publishes host port {port}/{proto} twice")
                    } else {
                        format!("services {other:?} and {name:?} both publish host port {port}/{proto}")
                    };
                    return bad(&at, what);
                }
                seen.insert((ip.clone(), port, proto.clone()), (name.clone(), at.clone()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(services: Value) -> R<Value> {
        let mut m = json!({"services": services, "networks": {"default": {}}});
        validate(&mut m, &BTreeMap::new(), &mut Vec::new())?;
        Ok(m)
    }

    #[test]
    fn unknown_dependency_and_cycle() {
        let e = check(json!({"web": {"image": "a", "depends_on": {"db": {"required": true}}}})).unwrap_err();
        assert_eq!(e.path, "services.web.depends_on.db");
        assert!(e.msg.contains("undefined service \"db\""), "{}", e.msg);
        let m = check(json!({"web": {"image": "a", "depends_on": {"db": {"required": false}}}})).unwrap();
        assert_eq!(m["services"]["web"]["depends_on"], json!({}));
        let e = check(json!({
            "a": {"image": "a", "depends_on": {"b": {}}},
            "b": {"image": "a", "depends_on": {"c": {}}},
            "c": {"image": "a", "depends_on": {"a": {}}},
        }))
        .unwrap_err();
        assert!(e.msg.contains("dependency cycle detected: a -> b -> c -> a"), "{}", e.msg);
    }

    #[test]
    fn host_port_twice() {
        let e = check(json!({
            "a": {"image": "a", "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}]},
            "b": {"image": "a", "ports": [{"target": 81, "published": "8080", "protocol": "tcp", "host_ip": "127.0.0.1"}]},
        }))
        .unwrap_err();
        assert_eq!(e.path, "services.b.ports.0");
        assert!(e.msg.contains("both publish host port 8080/tcp"), "{}", e.msg);
        // Another protocol or another address is no clash.
        check(json!({
            "a": {"image": "a", "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "host_ip": "127.0.0.2"}]},
            "b": {"image": "a", "ports": [{"target": 80, "published": "8080", "protocol": "udp"}, {"target": 80, "published": "8080", "protocol": "tcp", "host_ip": "127.0.0.1"}]},
        }))
        .unwrap();
    }

    #[test]
    fn one_service_rules() {
        for (svc, want) in [
            (json!({"image": "a", "scale": 2, "deploy": {"replicas": 3}}), "distinct values on 'scale'"),
            (json!({"image": "a", "scale": -1}), "services.a.scale: must be greater"),
            (json!({"image": "a", "scale": 2, "container_name": "x"}), "can't set container_name and scale"),
            (
                json!({"image": "a", "network_mode": "host", "networks": {"n": null}}),
                "mutually exclusive `network_mode`",
            ),
            (
                json!({"image": "a", "tmpfs": ["/t"], "volumes": [{"type": "volume", "target": "/t"}]}),
                "services.a.volumes.0: target /t already mounted as services.a.tmpfs.0",
            ),
            (
                json!({"image": "a", "mem_limit": "1", "deploy": {"resources": {"limits": {"memory": "2"}}}}),
                "distinct values on 'mem_limit'",
            ),
        ] {
            let e = check(json!({ "a": svc })).unwrap_err();
            assert!(e.msg.contains(want), "{want}: {}", e.msg);
        }
    }

    #[test]
    fn undefined_references() {
        let e = check(json!({"a": {"image": "a", "networks": {"front": null}}})).unwrap_err();
        assert!(e.msg.contains("undefined network front"), "{}", e.msg);
        let e = check(json!({"a": {"image": "a", "volumes": [{"type": "volume", "source": "v", "target": "/v"}]}}))
            .unwrap_err();
        assert!(e.msg.contains("undefined volume v"), "{}", e.msg);
        let e = check(json!({"a": {}})).unwrap_err();
        assert!(e.msg.contains("neither an image nor a build"), "{}", e.msg);
    }
}
