//! The values a template runs on, and how Go prints them.
//!
//! Docker's templates run on Go values: typed structs (whose fields print in declaration order,
//! `{ 3000}`), maps (printed and ranged in sorted key order, `map[a:b k:v]`), slices (`[A=1 B=2]`)
//! and nil pointers (`<nil>`), while a key a map lacks is Go's invalid value (`<no value>`).
//! berth's documents are JSON, so [`Value::from_json`] puts back what JSON loses: which objects
//! are maps and which are structs, the field order of the structs Docker's templates print, and
//! which nulls are nil slices (`[]`) or nil maps (`map[]`). Rows of list commands are structs of
//! strings with Docker's methods (`.Label "k"`), built with [`Value::row`].

use std::collections::BTreeMap;

/// A Go value as a template sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's invalid value: what a missing map key or an empty `{{template}}` dot evaluates to.
    Missing,
    /// A nil pointer or interface.
    Nil,
    /// A nil slice (`true`) or map (`false`) of Docker's structs: it prints as an empty one
    /// (`[]`, `map[]`) but is `null` in JSON.
    NilOf(bool),
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Keys are kept sorted, as Go prints and ranges maps.
    Map(BTreeMap<String, Value>),
    Struct(Box<Struct>),
}

/// A Go struct: fields in declaration order, and the one-string-argument methods it has.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Struct {
    /// Go's type as errors name it (`*formatter.ContainerContext`) when the struct is a list
    /// row; `None` for an inspect document's structs, whose unknown fields are reported as
    /// Docker's raw-JSON fallback reports them (`map has no entry for key "X"`).
    pub type_name: Option<String>,
    pub fields: Vec<(String, Value)>,
    /// Methods taking one string that look it up in a map (`.Label "k"`): name and map.
    pub lookups: Vec<(String, BTreeMap<String, String>)>,
}

impl Struct {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn lookup(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.lookups.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Objects of Docker's inspect documents that are Go maps, by the key they sit under, or that
/// key after the one above it (`LogConfig.Config`: a container's `Config` is a struct; `.Status`:
/// a volume's, at the top). Every other object is a struct.
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "ExposedPorts",
    "Volumes",
    "Ports",
    "Networks",
    "PortBindings",
    "Options",
    "GraphDriver.Data",
    "Sysctls",
    "StorageOpt",
    "Tmpfs",
    "DriverOpts",
    "Containers",
    "Annotations",
    ".Status",
    "AuxiliaryAddresses",
    "LogConfig.Config",
];

/// Fields of Docker's structs that are slices: a null one is Go's nil slice and prints `[]`.
/// `Ports{}` is a value of the `Ports` map (`map[80/tcp:[]]`).
const LIST_FIELDS: &[&str] = &[
    "Args",
    "Env",
    "Cmd",
    "Entrypoint",
    "Binds",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "Links",
    "Aliases",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "Ulimits",
    "GroupAdd",
    "VolumesFrom",
    "Mounts",
    "OnBuild",
    "SecondaryIPAddresses",
    "SecondaryIPv6Addresses",
    "DNSNames",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "Log",
    "Shell",
    "ExecIDs",
    "Test",
    "ConsoleSize",
    "MaskedPaths",
    "ReadonlyPaths",
    "Ports{}",
    "PortBindings{}",
    "IPAM.Config",
];

/// Fields of Docker's structs that are booleans, integers, or pointers (nil when unset); the
/// zero value of a listed field berth's document leaves out (see [`zero`]).
const BOOL_FIELDS: &[&str] = &[
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "ArgsEscaped",
    "NetworkDisabled",
    "RW",
    "HairpinMode",
    "AutoRemove",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
];
const INT_FIELDS: &[&str] = &[
    "Pid",
    "ExitCode",
    "FailingStreak",
    "MaximumRetryCount",
    "IPPrefixLen",
    "GlobalIPv6PrefixLen",
    "LinkLocalIPv6PrefixLen",
    "GwPriority",
    "Interval",
    "Timeout",
    "StartPeriod",
    "StartInterval",
    "Retries",
    "OomScoreAdj",
    "ShmSize",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "BlkioWeight",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "MemoryReservation",
    "MemorySwap",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
];
const POINTER_FIELDS: &[&str] =
    &["Health", "Healthcheck", "IPAMConfig", "StopTimeout", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Init"];

/// The Go zero value of a field of Docker's structs, by its name (a string when not listed).
fn zero(name: &str, parent: &str) -> Value {
    let qualified = format!("{parent}.{name}");
    let is = |list: &[&str]| list.contains(&name) || list.contains(&qualified.as_str());
    if is(POINTER_FIELDS) {
        Value::Nil
    } else if let Some((_, order)) = FIELD_ORDER.iter().find(|(k, _)| *k == name) {
        // A struct: each of its fields zero.
        let fields = order.iter().map(|f| (f.to_string(), zero(f, name))).collect();
        Value::Struct(Box::new(Struct { type_name: None, fields, lookups: Vec::new() }))
    } else if is(LIST_FIELDS) {
        Value::NilOf(true)
    } else if is(MAP_FIELDS) {
        Value::NilOf(false)
    } else if is(BOOL_FIELDS) {
        Value::Bool(false)
    } else if is(INT_FIELDS) {
        Value::Int(0)
    } else {
        Value::Str(String::new())
    }
}

/// The declaration order of the fields of Docker's structs that templates print whole, by the
/// key they sit under (`Mounts[]`: an element of `Mounts`; `Networks{}`: a value of the map).
/// A listed field the document leaves out is its zero value; fields not listed follow in the
/// document's order.
const FIELD_ORDER: &[(&str, &[&str])] = &[
    (
        "State",
        &[
            "Status",
            "Running",
            "Paused",
            "Restarting",
            "OOMKilled",
            "Dead",
            "Pid",
            "ExitCode",
            "Error",
            "StartedAt",
            "FinishedAt",
            "Health",
        ],
    ),
    ("Health", &["Status", "FailingStreak", "Log"]),
    ("Log[]", &["Start", "End", "ExitCode", "Output"]),
    ("Mounts[]", &["Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation"]),
    ("Ports{}[]", &["HostIp", "HostPort"]),
    ("PortBindings{}[]", &["HostIp", "HostPort"]),
    ("RestartPolicy", &["Name", "MaximumRetryCount"]),
    ("LogConfig", &["Type", "Config"]),
    ("GraphDriver", &["Data", "Name"]),
    ("Healthcheck", &["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]),
    (
        "Networks{}",
        &[
            "IPAMConfig",
            "Links",
            "Aliases",
            "MacAddress",
            "DriverOpts",
            "GwPriority",
            "NetworkID",
            "EndpointID",
            "Gateway",
            "IPAddress",
            "IPPrefixLen",
            "IPv6Gateway",
            "GlobalIPv6Address",
            "GlobalIPv6PrefixLen",
            "DNSNames",
        ],
    ),
    (
        "Config",
        &[
            "Hostname",
            "Domainname",
            "User",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "ExposedPorts",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "Env",
            "Cmd",
            "Healthcheck",
            "ArgsEscaped",
            "Image",
            "Volumes",
            "WorkingDir",
            "Entrypoint",
            "NetworkDisabled",
            "MacAddress",
            "OnBuild",
            "Labels",
            "StopSignal",
            "StopTimeout",
            "Shell",
        ],
    ),
    (
        "NetworkSettings",
        &[
            "Bridge",
            "SandboxID",
            "HairpinMode",
            "LinkLocalIPv6Address",
            "LinkLocalIPv6PrefixLen",
            "Ports",
            "SandboxKey",
            "SecondaryIPAddresses",
            "SecondaryIPv6Addresses",
            "EndpointID",
            "Gateway",
            "GlobalIPv6Address",
            "GlobalIPv6PrefixLen",
            "IPAddress",
            "IPPrefixLen",
            "IPv6Gateway",
            "MacAddress",
            "Networks",
        ],
    ),
    (
        "HostConfig",
        &[
            "Binds",
            "ContainerIDFile",
            "LogConfig",
            "NetworkMode",
            "PortBindings",
            "RestartPolicy",
            "AutoRemove",
            "VolumeDriver",
            "VolumesFrom",
            "ConsoleSize",
            "Annotations",
            "CapAdd",
            "CapDrop",
            "CgroupnsMode",
            "Dns",
            "DnsOptions",
            "DnsSearch",
            "ExtraHosts",
            "GroupAdd",
            "IpcMode",
            "Cgroup",
            "Links",
            "OomScoreAdj",
            "PidMode",
            "Privileged",
            "PublishAllPorts",
            "ReadonlyRootfs",
            "SecurityOpt",
            "StorageOpt",
            "Tmpfs",
            "UTSMode",
            "UsernsMode",
            "ShmSize",
            "Sysctls",
            "Runtime",
            "Isolation",
            "CpuShares",
            "Memory",
            "NanoCpus",
            "CgroupParent",
            "BlkioWeight",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps",
            "CpuPeriod",
            "CpuQuota",
            "CpuRealtimePeriod",
            "CpuRealtimeRuntime",
            "CpusetCpus",
            "CpusetMems",
            "Devices",
            "DeviceCgroupRules",
            "DeviceRequests",
            "MemoryReservation",
            "MemorySwap",
            "MemorySwappiness",
            "OomKillDisable",
            "PidsLimit",
            "Ulimits",
            "CpuCount",
            "CpuPercent",
            "IOMaximumIOps",
            "IOMaximumBandwidth",
            "MaskedPaths",
            "ReadonlyPaths",
            "Init",
        ],
    ),
    ("IPAM", &["Driver", "Options", "Config"]),
    ("IPAM.Config[]", &["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"]),
];

impl Value {
    /// A Docker inspect document (or any JSON) as Docker's typed structs would hold it.
    pub fn from_json(v: &serde_json::Value) -> Value {
        shape(v, "", "")
    }

    /// A list row: its fields (Docker's methods without arguments) as strings, and the
    /// one-argument lookups (`Label`) it has.
    pub fn row(
        type_name: &str,
        fields: impl IntoIterator<Item = (String, String)>,
        lookups: Vec<(String, BTreeMap<String, String>)>,
    ) -> Value {
        Value::Struct(Box::new(Struct {
            type_name: Some(type_name.to_string()),
            fields: fields.into_iter().map(|(k, v)| (k, Value::Str(v))).collect(),
            lookups,
        }))
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Go's truth (`if`, `with`, `and`, `or`, `not`): zero values and empty things are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Nil | Value::NilOf(_) => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// Go's type name, as errors and `%T` print it. `raw` names the types of Docker's
    /// raw-JSON fallback (numbers are `json.Number`, objects `map[string]interface {}`).
    pub fn type_name(&self, raw: bool) -> String {
        match self {
            Value::Missing | Value::Nil => "<nil>".into(),
            Value::NilOf(true) if raw => "[]interface {}".into(),
            Value::NilOf(true) => "[]string".into(),
            Value::NilOf(false) if raw => "map[string]interface {}".into(),
            Value::NilOf(false) => "map[string]string".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) if raw => "json.Number".into(),
            Value::Float(_) if raw => "json.Number".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::List(_) if raw => "[]interface {}".into(),
            Value::List(l) if l.iter().all(|v| matches!(v, Value::Str(_))) => "[]string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) if raw => "map[string]interface {}".into(),
            Value::Map(m) if m.values().all(|v| matches!(v, Value::Str(_))) => "map[string]string".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Struct(s) => s.type_name.clone().unwrap_or_else(|| "map[string]interface {}".into()),
        }
    }

    /// Go's `fmt.Sprint` of the value as an action prints it: `<no value>` for an invalid
    /// value, `<nil>` for nil, `[a b]`, `map[k:v]`, `{f1 f2}`.
    pub fn go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out);
        out
    }

    fn write_go(&self, out: &mut String) {
        match self {
            Value::Missing => out.push_str("<no value>"),
            Value::Nil => out.push_str("<nil>"),
            Value::NilOf(true) => out.push_str("[]"),
            Value::NilOf(false) => out.push_str("map[]"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_nested(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_nested(out);
                }
                out.push(']');
            }
            Value::Struct(s) => {
                out.push('{');
                for (i, (_, v)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_nested(out);
                }
                out.push('}');
            }
        }
    }

    /// Inside a slice, map or struct an invalid value is a nil interface: `<nil>`.
    fn write_nested(&self, out: &mut String) {
        match self {
            Value::Missing => out.push_str("<nil>"),
            other => other.write_go(out),
        }
    }

    /// Go's `encoding/json` of the value, as Docker's `json` function writes it (no HTML
    /// escaping): struct fields in order, map keys sorted.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Missing | Value::Nil | Value::NilOf(_) => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Float(f) => out.push_str(&json_float(*f)),
            Value::Str(s) => out.push_str(&json_string(s)),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Map(m) => write_json_object(m.iter().map(|(k, v)| (k.as_str(), v)), out),
            Value::Struct(s) => write_json_object(s.fields.iter().map(|(k, v)| (k.as_str(), v)), out),
        }
    }
}

fn write_json_object<'a>(fields: impl Iterator<Item = (&'a str, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        v.write_json(out);
    }
    out.push('}');
}

/// Go's JSON string: serde_json's escaping, plus the line and paragraph separators Go escapes.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default().replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029")
}

/// Go's `%v` of a float64, `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that
/// read back, in exponent form when the exponent is below -4 or at least 6 (`1e+06`, `123456`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` float: plain digits unless the exponent is below -6 or at least 21.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    format!("{f}")
}

fn shape(v: &serde_json::Value, key: &str, parent: &str) -> Value {
    use serde_json::Value as J;
    let qualified = format!("{parent}.{key}");
    let is = |list: &[&str]| list.contains(&key) || list.contains(&qualified.as_str());
    match v {
        J::Null if is(LIST_FIELDS) => Value::NilOf(true),
        J::Null if is(MAP_FIELDS) => Value::NilOf(false),
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => {
            let elem = format!("{}[]", if qualified == "IPAM.Config" { "IPAM.Config" } else { key });
            Value::List(a.iter().map(|x| shape(x, &elem, key)).collect())
        }
        J::Object(o) if is(MAP_FIELDS) => {
            let elem = format!("{key}{{}}");
            Value::Map(o.iter().map(|(k, x)| (k.clone(), shape(x, &elem, key))).collect())
        }
        J::Object(o) => {
            let order = FIELD_ORDER.iter().find(|(k, _)| *k == key).map(|(_, o)| *o).unwrap_or(&[]);
            let mut fields: Vec<(String, Value)> = Vec::with_capacity(o.len());
            // A field of Docker's struct that the document leaves out is its zero value
            // (Docker's typed struct has it), not a missing key.
            for name in order {
                let v = match o.get(*name) {
                    Some(x) => shape(x, name, key),
                    None => zero(name, key),
                };
                fields.push((name.to_string(), v));
            }
            for (name, x) in o {
                if !order.contains(&name.as_str()) {
                    fields.push((name.clone(), shape(x, name, key)));
                }
            }
            Value::Struct(Box::new(Struct { type_name: None, fields, lookups: Vec::new() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_prints_floats_as_strconv_g() {
        for (f, want) in [
            (1.5, "1.5"),
            (1000.0, "1000"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (2.5e-7, "2.5e-07"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (-3.0, "-3"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn documents_take_docker_shapes() {
        let doc = json!({
            "NetworkSettings": {"Ports": {"3000/tcp": [{"HostPort": "3000", "HostIp": ""}], "80/tcp": null}},
            "Mounts": [{"Source": "/tmp", "Destination": "/data", "Type": "bind", "Mode": "", "RW": true, "Propagation": "rslave", "Name": "", "Driver": ""}],
            "Config": {"Env": ["A=1", "B=2"], "Cmd": null, "Labels": {"z": "1", "a": "2"}},
            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}, "RestartPolicy": {"MaximumRetryCount": 0, "Name": "no"}},
            "State": {"Health": null},
        });
        let v = Value::from_json(&doc);
        let get = |path: &[&str]| {
            let mut cur = v.clone();
            for p in path {
                cur = match cur {
                    Value::Struct(s) => s.field(p).cloned().unwrap(),
                    Value::Map(m) => m.get(*p).cloned().unwrap(),
                    other => panic!("{other:?}"),
                };
            }
            cur.go_string()
        };
        assert_eq!(get(&["NetworkSettings", "Ports"]), "map[3000/tcp:[{ 3000}] 80/tcp:[]]");
        assert_eq!(get(&["Mounts"]), "[{bind  /tmp /data   true rslave}]");
        assert_eq!(get(&["Config", "Env"]), "[A=1 B=2]");
        assert_eq!(get(&["Config", "Cmd"]), "[]");
        assert_eq!(get(&["Config", "Labels"]), "map[a:2 z:1]");
        assert_eq!(get(&["HostConfig", "LogConfig"]), "{json-file map[]}");
        assert_eq!(get(&["HostConfig", "RestartPolicy"]), "{no 0}");
        assert_eq!(get(&["State", "Health"]), "<nil>");
        assert_eq!(
            Value::from_json(&doc["Mounts"]).to_json(),
            r#"[{"Destination":"/data","Driver":"","Mode":"","Name":"","Propagation":"rslave","RW":true,"Source":"/tmp","Type":"bind"}]"#,
            "no key above: JSON order"
        );
        let mounts = match &v {
            Value::Struct(s) => s.field("Mounts").unwrap().to_json(),
            _ => unreachable!(),
        };
        assert_eq!(
            mounts,
            r#"[{"Type":"bind","Name":"","Source":"/tmp","Destination":"/data","Driver":"","Mode":"","RW":true,"Propagation":"rslave"}]"#
        );
    }
}
