//! The keys of the compose-spec's objects, in the order of compose-go's structs: what the
//! loader accepts (others are warned about and dropped) and the order `config` prints.

use serde_json::Value;

/// The service keys of the compose-spec, in the order `docker compose config` prints them.
pub const SERVICE_KEYS: &[&str] = &[
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "pre_start",
    "post_start",
    "pre_stop",
];

/// The top-level keys, in the order `docker compose config` prints them (`version` and
/// `include` are read, never printed).
pub const TOP_KEYS: &[&str] = &["name", "services", "networks", "volumes", "secrets", "configs", "models"];

const BUILD: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "provenance",
    "sbom",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "pull",
    "extra_hosts",
    "isolation",
    "network",
    "target",
    "secrets",
    "shm_size",
    "tags",
    "ulimits",
    "platforms",
    "privileged",
];
const PORT: &[&str] = &["name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"];
const VOLUME: &[&str] = &["type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image"];
const BIND: &[&str] = &["selinux", "propagation", "create_host_path", "recursive"];
const VOLUME_OPTS: &[&str] = &["labels", "nocopy", "subpath"];
const HEALTH: &[&str] = &["test", "timeout", "interval", "retries", "start_period", "start_interval", "disable"];
const DEPENDS: &[&str] = &["condition", "restart", "required"];
const NETWORK: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "attachable",
    "labels",
    "enable_ipv4",
    "enable_ipv6",
];
const VOLUME_TOP: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const FILE_OBJ: &[&str] =
    &["name", "file", "environment", "content", "external", "labels", "driver", "driver_opts", "template_driver"];
const FILE_REF: &[&str] = &["source", "target", "uid", "gid", "mode"];
const SERVICE_NET: &[&str] = &[
    "aliases",
    "driver_opts",
    "gw_priority",
    "interface_name",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
];
const DEPLOY: &[&str] = &[
    "mode",
    "replicas",
    "labels",
    "update_config",
    "rollback_config",
    "resources",
    "restart_policy",
    "placement",
    "endpoint_mode",
];
const RESOURCE: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];
const ULIMIT: &[&str] = &["single", "soft", "hard"];
const IPAM: &[&str] = &["driver", "config", "options"];
const POOL: &[&str] = &["subnet", "gateway", "ip_range", "aux_addresses"];
const ENV_FILE: &[&str] = &["path", "required", "format"];

/// The fields of the object at `path`, in the order Compose prints them (dotted, with names and indexes generalised), or
/// `None` for a user-named map (printed sorted).
pub fn order(path: &[&str]) -> Option<&'static [&'static str]> {
    let p: Vec<&str> = path.to_vec();
    Some(match p.as_slice() {
        [] => TOP_KEYS,
        ["services", _] => SERVICE_KEYS,
        ["services", _, "build"] => BUILD,
        ["services", _, "ports", _] => PORT,
        ["services", _, "volumes", _] => VOLUME,
        ["services", _, "volumes", _, "bind"] => BIND,
        ["services", _, "volumes", _, "volume"] => VOLUME_OPTS,
        ["services", _, "healthcheck"] => HEALTH,
        ["services", _, "depends_on", _] => DEPENDS,
        ["services", _, "networks", _] => SERVICE_NET,
        ["services", _, "secrets" | "configs", _] | ["services", _, "build", "secrets", _] => FILE_REF,
        ["services", _, "deploy"] => DEPLOY,
        ["services", _, "deploy", "resources", _] => RESOURCE,
        ["services", _, "ulimits", _] => ULIMIT,
        ["services", _, "env_file", _] => ENV_FILE,
        ["networks", _] => NETWORK,
        ["networks", _, "ipam"] => IPAM,
        ["networks", _, "ipam", "config", _] => POOL,
        ["volumes", _] => VOLUME_TOP,
        ["secrets" | "configs", _] => FILE_OBJ,
        _ => return None,
    })
}

/// Drops (with a warning each) the keys Compose does not know in the objects below a
/// service or a top-level resource; `x-` extensions are kept. `path` is the dotted path of
/// `v`, split.
pub fn strip_unknown(v: &mut Value, path: &mut Vec<String>, warn: &mut dyn FnMut(String)) {
    match v {
        Value::Object(m) => {
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            // The top level and a service's own keys are checked as they are read.
            if p.len() >= 2 && !(p.len() == 2 && p[0] == "services") {
                if let Some(known) = order(&p) {
                    let unknown: Vec<String> = m
                        .keys()
                        .filter(|k| !known.contains(&k.as_str()) && !k.starts_with("x-") && !k.starts_with('\u{0}'))
                        .cloned()
                        .collect();
                    for k in unknown {
                        warn(format!("{}: unknown key {k:?} ignored", p.join(".")));
                        m.remove(&k);
                    }
                }
            }
            for (k, x) in m.iter_mut() {
                if k.starts_with('\u{0}') {
                    strip_unknown(x, path, warn);
                    continue;
                }
                if k.starts_with("x-") {
                    continue;
                }
                path.push(k.clone());
                strip_unknown(x, path, warn);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                path.push(i.to_string());
                strip_unknown(x, path, warn);
                path.pop();
            }
        }
        _ => {}
    }
}
