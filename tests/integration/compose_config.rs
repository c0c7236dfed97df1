//! `berth compose config`: the resolved model against Debian's `docker-compose` 1.29 (the
//! Python Compose v1, whose `config` needs no daemon) for files exercising interpolation and
//! `.env`, several `-f` files, `extends`, anchors and merge keys, profiles, `env_file` and the
//! short syntaxes; and each bad input as a clear error that names the file, the line and the
//! key, with a non-zero exit and nothing created under the berth root.
//!
//! berth prints Compose v2's model; v1 prints its own. Both are brought to one JSON shape by
//! [`canon`], and each rule there is a v1 vs v2 difference, explained where it is applied.
//! Without `docker-compose` installed the differential is skipped, and says so.

use berth_tests::{have, Berth};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::process::Command;

/// The project name both tools are given (`-p`), so resource names are predictable.
const PROJECT: &str = "cfgdiff";

/// Writes `files` under a new temporary directory.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("compose-config-").tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// A command in `dir` with only `PATH`, `HOME` and `env` in its environment.
fn clean_env(mut c: Command, dir: &Path, env: &[(&str, &str)]) -> Command {
    c.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", "/root");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `berth compose <args> config --format json`.
fn berth_config(b: &Berth, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut c = clean_env(b.cmd(), dir, env);
    c.arg("compose").args(args).args(["config", "--format", "json"]);
    let o = c.output().unwrap();
    assert!(o.status.success(), "berth compose config {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `docker-compose <args> config`, its YAML read by the PyYAML docker-compose itself runs on.
fn v1_config(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut c = clean_env(Command::new("docker-compose"), dir, env);
    c.args(args).arg("config");
    let o = c.output().unwrap();
    assert!(o.status.success(), "docker-compose config {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let mut py = Command::new("python3")
        .args(["-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 yaml: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A duration in seconds (v1 prints `90s` where v2 prints Go's `1m30s`).
fn seconds(s: &str) -> f64 {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => panic!("duration {s:?}"),
            }
        };
        total += num.parse::<f64>().unwrap() * unit;
        num.clear();
    }
    total
}

/// A port as `IP:PUBLISHED:TARGET/PROTO` from either form. v2 prints every port long
/// (`published` a string); v1 prints the long form (`published` a number) for some and
/// `ip:host:container/proto` strings for others.
fn port(p: &Value) -> String {
    match p {
        Value::Object(o) => {
            let s = |k: &str| match o.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let proto = o.get("protocol").and_then(Value::as_str).unwrap_or("tcp");
            format!("{}:{}:{}/{proto}", s("host_ip"), s("published"), s("target"))
        }
        Value::String(s) => {
            let (rest, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
            let mut parts: Vec<&str> = rest.rsplitn(3, ':').collect();
            parts.resize(3, "");
            format!("{}:{}:{}/{proto}", parts[2], parts[1], parts[0])
        }
        other => panic!("port {other}"),
    }
}

/// A mount as `TYPE|SOURCE|TARGET|ro-or-rw` from either form (v1 prints short strings with an
/// explicit `:rw`, v2 the long form).
fn mount(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let ro = if o.get("read_only") == Some(&Value::Bool(true)) { "ro" } else { "rw" };
            format!("{}|{}|{}|{ro}", s("type"), s("source"), s("target"))
        }
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, dst, mode) = match parts.as_slice() {
                [d] => ("", *d, ""),
                [a, b] => (*a, *b, ""),
                [a, b, m] => (*a, *b, *m),
                _ => panic!("mount {s}"),
            };
            let ty = if src.starts_with('/') { "bind" } else { "volume" };
            let ro = if mode.split(',').any(|m| m == "ro") { "ro" } else { "rw" };
            format!("{ty}|{src}|{dst}|{ro}")
        }
        other => panic!("mount {other}"),
    }
}

/// Both outputs in one shape. Every rule is a difference between Compose v1 and v2:
fn canon(mut v: Value) -> Value {
    let top = v.as_object_mut().unwrap();
    // v1 prints the file format `version` (3.9); v2 prints the project `name` and has no
    // version. v1 drops top-level `x-` extensions; v2 keeps them.
    top.remove("version");
    top.remove("name");
    top.retain(|k, _| !k.starts_with("x-"));
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(Value::Object(section)) = top.get_mut(kind) else { continue };
        for (k, r) in section.iter_mut() {
            // v2 names every resource (`<project>_<key>`); v1 prints a name only when given.
            if let Some(o) = r.as_object_mut() {
                if o.get("name").and_then(Value::as_str) == Some(&format!("{PROJECT}_{k}")) {
                    o.remove("name");
                }
            }
        }
        // v2 declares the implicit `default` network its services join; v1 leaves it implicit.
        if kind == "networks" && section.get("default") == Some(&json!({})) {
            section.remove("default");
        }
        if section.is_empty() {
            top.remove(kind);
        }
    }
    if let Some(Value::Object(services)) = top.get_mut("services") {
        for s in services.values_mut() {
            service(s.as_object_mut().unwrap());
        }
    }
    v
}

fn service(s: &mut Map<String, Value>) {
    // v2 attaches each service to `default` explicitly (`networks: {default: null}`).
    if let Some(Value::Object(n)) = s.get_mut("networks") {
        n.remove("default");
        if n.is_empty() {
            s.remove("networks");
        }
    }
    for k in ["command", "entrypoint"] {
        match s.get(k) {
            // v2's JSON has `command: null`, `entrypoint: null` for every service.
            Some(Value::Null) => {
                s.remove(k);
            }
            // v1 keeps a string command as written; v2 splits it as a shell would.
            Some(Value::String(c)) => {
                let words = shlex::split(c).unwrap();
                s.insert(k.into(), json!(words));
            }
            _ => {}
        }
    }
    // v2 adds `required: true` (Compose 2.20) to every dependency; v1 has no such field.
    if let Some(Value::Object(d)) = s.get_mut("depends_on") {
        for dep in d.values_mut() {
            if let Some(o) = dep.as_object_mut() {
                if o.get("required") == Some(&Value::Bool(true)) {
                    o.remove("required");
                }
            }
        }
    }
    if let Some(Value::Object(h)) = s.get_mut("healthcheck") {
        // v1 keeps a string test as written; v2 makes it `["CMD-SHELL", test]`.
        if let Some(Value::String(t)) = h.get("test") {
            let t = json!(["CMD-SHELL", t]);
            h.insert("test".into(), t);
        }
        // v1 prints durations in its own unit (`90s`), v2 as Go does (`1m30s`).
        for k in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(Value::String(d)) = h.get(k) {
                let secs = seconds(d);
                h.insert(k.into(), json!(secs));
            }
        }
    }
    // Ports and mounts: v1 mixes short strings and long forms, v2 prints every one long.
    if let Some(Value::Array(p)) = s.get("ports") {
        let p: Vec<Value> = p.iter().map(|x| Value::String(port(x))).collect();
        s.insert("ports".into(), Value::Array(p));
    }
    if let Some(Value::Array(m)) = s.get("volumes") {
        // A mount an override replaces (same target) stays where it was in v2 (compose-go's
        // unicity rule); v1 moves it after the others. Mount order means nothing to Docker.
        let mut m: Vec<Value> = m.iter().map(|x| Value::String(mount(x))).collect();
        m.sort_by_key(|x| x.to_string());
        s.insert("volumes".into(), Value::Array(m));
    }
    // v1 prints an extra host as written (`host:ip`); v2 as `host=ip`, sorted.
    if let Some(Value::Array(h)) = s.get("extra_hosts") {
        let mut h: Vec<String> = h
            .iter()
            .filter_map(Value::as_str)
            .map(|e| if e.contains('=') { e.to_string() } else { e.replacen(':', "=", 1) })
            .collect();
        h.sort();
        s.insert("extra_hosts".into(), json!(h));
    }
    // v2 fills in the default `dockerfile: Dockerfile`.
    if let Some(Value::Object(b)) = s.get_mut("build") {
        if b.get("dockerfile").and_then(Value::as_str) == Some("Dockerfile") {
            b.remove("dockerfile");
        }
    }
}

/// One differential case: files, global arguments, environment.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// The active profiles (from `--profile` or `COMPOSE_PROFILES`).
    profiles: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "interpolation from .env and the process",
        files: &[
            (".env", "TAG=1.2\nFROM_DOTENV=dotenv\nOVERRIDDEN=dotenv\nEMPTY=\n# a comment\nexport EXPORTED=yes\n"),
            (
                "compose.yaml",
                r#"services:
  web:
    image: "busybox:${TAG}"
    container_name: c-$TAG
    environment:
      A: "${FROM_DOTENV}"
      B: "${OVERRIDDEN}"
      C: "${UNSET:-dflt}"
      D: "${EMPTY:-dflt}"
      E: "${EMPTY-kept}"
      F: "${UNSET-dflt2}"
      G: "${TAG:?tag needed}"
      H: "${EMPTY?set but empty is fine}"
      I: "$$literal"
      J: "pre-${TAG}-post $EXPORTED"
    labels:
      - "tag=${TAG}"
"#,
            ),
        ],
        args: &[],
        env: &[("OVERRIDDEN", "process")],
        profiles: &[],
    },
    Case {
        name: "several -f files",
        files: &[
            (
                "compose.yaml",
                r#"services:
  web:
    image: busybox
    command: ["sh", "-c", "sleep 1"]
    environment: {A: "1", B: "2"}
    ports: ["8080:80"]
    volumes: ["./a:/data", "cache:/cache"]
    labels: {x: "1"}
    dns: [1.1.1.1]
volumes:
  cache: {}
"#,
            ),
            (
                "more/override.yaml",
                r#"services:
  web:
    command: ["echo", "replaced"]
    environment: {B: "3", C: "4"}
    ports: ["9090:90"]
    volumes: ["./b:/data"]
    labels: {y: "2"}
  db:
    image: postgres
"#,
            ),
        ],
        args: &["-f", "compose.yaml", "-f", "more/override.yaml"],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "extends in the file and from another file",
        files: &[
            (
                "base/common.yml",
                "services:\n  app:\n    image: common:1\n    environment:\n      BASE: \"1\"\n    volumes:\n      - ./conf:/conf\n",
            ),
            (
                "compose.yaml",
                r#"services:
  db:
    extends:
      file: base/common.yml
      service: app
    environment:
      OWN: "2"
  web:
    image: web
    restart: always
    environment: {W: "1"}
  worker:
    extends:
      service: web
    environment: {K: "2"}
"#,
            ),
        ],
        args: &[],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "anchors, merge keys and extensions",
        files: &[(
            "compose.yaml",
            r#"x-defaults: &defaults
  image: busybox
  restart: unless-stopped
  environment: &env
    LOG: debug
    TZ: UTC
x-ports: &ports ["8081:80"]
services:
  a:
    <<: *defaults
    ports: *ports
  b:
    <<: *defaults
    image: alpine
    environment:
      <<: *env
      LOG: info
    x-note: kept
"#,
        )],
        args: &[],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "profiles from --profile",
        files: &[(
            "compose.yaml",
            r#"services:
  web:
    image: busybox
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: busybox
    profiles: [tools]
"#,
        )],
        args: &["--profile", "debug"],
        env: &[],
        profiles: &["debug"],
    },
    Case {
        name: "profiles from COMPOSE_PROFILES",
        files: &[(
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n  tools:\n    image: busybox\n    profiles: [tools]\n",
        )],
        args: &[],
        env: &[("COMPOSE_PROFILES", "tools")],
        profiles: &["tools"],
    },
    Case {
        name: "env_file into environment",
        files: &[
            ("common.env", "A=common\nB=common\n"),
            ("web.env", "B=web\nC=web\n"),
            (
                "compose.yaml",
                "services:\n  web:\n    image: busybox\n    env_file: [common.env, web.env]\n    environment:\n      C: own\n",
            ),
        ],
        args: &[],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "networks, volumes and secrets: named, external, aliases",
        files: &[
            ("s.txt", "s\n"),
            (
                "compose.yaml",
                r#"services:
  web:
    image: busybox
    networks:
      front:
        aliases: [www]
      back:
    volumes: [data:/data, logs:/logs]
    secrets: [token]
    restart: on-failure
    user: "1000"
    working_dir: /srv
    stop_signal: SIGTERM
    stop_grace_period: 30s
    cap_add: [NET_ADMIN]
    tty: true
    init: true
networks:
  front:
    driver: bridge
  back:
    external: true
    name: shared-back
volumes:
  data:
    name: my-data
  logs:
    external: true
secrets:
  token:
    file: ./s.txt
"#,
            ),
        ],
        args: &[],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "other service keys: labels, sysctls, ulimits, extra_hosts, tmpfs, dns, deploy",
        files: &[(
            "compose.yaml",
            r#"services:
  web:
    image: busybox
    hostname: web
    labels: [com.example.a=1, com.example.b=two]
    sysctls: [net.core.somaxconn=1024]
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    extra_hosts: ["db.local:10.0.0.2"]
    tmpfs: /run
    dns: 8.8.8.8
    cap_drop: [ALL]
    read_only: true
    privileged: false
    stdin_open: true
    expose: ["80"]
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 5s
      timeout: 3s
      retries: 2
      start_period: 10s
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5"}
"#,
        )],
        args: &[],
        env: &[],
        profiles: &[],
    },
    Case {
        name: "short forms",
        files: &[
            // v1 refuses a build context that does not exist; v2 leaves that to `build`.
            ("ctx/Dockerfile", "FROM scratch\n"),
            (
            "compose.yaml",
            r#"services:
  web:
    image: busybox
    build: ./ctx
    command: sh -c 'echo "a b" && sleep 1'
    entrypoint: /bin/sh -x
    ports:
      - "80"
      - "8080:80"
      - "127.0.0.1:5353:53/udp"
      - "9000-9001:9000-9001"
      - "3000-3001"
    volumes:
      - ./data:/data:ro
      - named:/n
      - /anon
      - /etc/hosts:/h:ro
    expose: ["7000"]
    depends_on: [db]
    healthcheck:
      test: wget -q -O- localhost
      interval: 1m30s
      timeout: 5s
      retries: 3
  db:
    image: busybox
volumes:
  named: {}
"#,
            ),
        ],
        args: &[],
        env: &[],
        profiles: &[],
    },
];

#[test]
fn config_matches_docker_compose_v1() {
    if !have("docker-compose") || !have("python3") {
        eprintln!("skipping: docker-compose (Compose v1) is not installed: the config differential did not run");
        return;
    }
    let b = Berth::new();
    for case in CASES {
        let dir = project(case.files);
        let mut args = vec!["-p", PROJECT];
        args.extend_from_slice(case.args);
        let ours = berth_config(&b, dir.path(), &args, case.env);
        let mut theirs = v1_config(dir.path(), &args, case.env);
        // v1's `config` prints the services of every profile (its `up` then starts only the
        // active ones); v2's prints only what `up` would start. The same rule, applied here.
        if let Some(Value::Object(services)) = theirs.get_mut("services") {
            services.retain(|_, s| match s.get("profiles").and_then(Value::as_array) {
                None => true,
                Some(p) => p.iter().any(|p| case.profiles.contains(&p.as_str().unwrap_or(""))),
            });
        }
        let (ours_c, theirs_c) = (canon(ours.clone()), canon(theirs.clone()));
        assert_eq!(
            ours_c, theirs_c,
            "{}: berth and docker-compose resolve differently\nberth (v2 shape): {ours:#}\ndocker-compose: {theirs:#}",
            case.name
        );
    }
}

/// What v1 cannot say: v2's `:+`/`+` forms and nested defaults, and the YAML form of the same
/// model as the JSON one.
#[test]
fn config_forms_only_v2_has() {
    let b = Berth::new();
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: \"busybox:${V:+set}${U+unset}${X:-${Y:-nested}}\"\n    volumes: [\"./d:/d\"]\n",
    )]);
    let m = berth_config(&b, dir.path(), &["-p", PROJECT], &[("V", "1")]);
    assert_eq!(m["services"]["web"]["image"], "busybox:setnested");
    assert_eq!(m["name"], PROJECT);
    assert_eq!(m["networks"]["default"]["name"], format!("{PROJECT}_default"));
    assert_eq!(m["services"]["web"]["command"], Value::Null);
    // Compose leaves the default `create_host_path: true` out.
    assert_eq!(m["services"]["web"]["volumes"][0]["bind"], json!({}));
    let mut c = clean_env(b.cmd(), dir.path(), &[("V", "1")]);
    let yaml = c.args(["compose", "-p", PROJECT, "config"]).output().unwrap();
    let yaml = String::from_utf8(yaml.stdout).unwrap();
    assert!(
        yaml.starts_with("name: cfgdiff\nservices:\n  web:\n    image: busybox:setnested\n    networks:\n      default: null\n    volumes:\n      - type: bind\n"),
        "{yaml}"
    );
    // `-f -`: the file from the standard input, the working directory the project's.
    let mut c = clean_env(b.cmd(), dir.path(), &[]);
    c.args(["compose", "-f", "-", "config", "--services"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"services:\n  fromstdin:\n    image: x\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "fromstdin\n");
    for (flag, want) in [("--services", "web\n"), ("--images", "busybox:setnested\n")] {
        let mut c = clean_env(b.cmd(), dir.path(), &[("V", "1")]);
        let o = c.args(["compose", "config", flag]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), want, "{flag}");
    }
}

/// The listing flags, `-q` and `-o`.
#[test]
fn config_flags() {
    let b = Berth::new();
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    build: .\n    depends_on: [db]\n    volumes: [data:/d]\n  db:\n    image: pg\n    profiles: [db, all]\n  tool:\n    image: t\n    profiles: [tools]\nvolumes:\n  data:\n  unused:\n",
    )]);
    let out = |args: &[&str]| {
        let o = clean_env(b.cmd(), dir.path(), &[]).args(["compose", "-p", "demo"]).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(out(&["--profile", "db", "config", "--services"]), "db\nweb\n", "dependencies first");
    assert_eq!(out(&["config", "--profiles"]), "all\ndb\ntools\n");
    assert_eq!(out(&["--profile", "db", "config", "--volumes"]), "data\n", "unused volumes are left out");
    assert_eq!(out(&["--profile", "db", "config", "--images"]), "pg\ndemo-web\n");
    assert_eq!(out(&["config", "tool", "--services"]), "tool\n", "a named service enables its profile");
    assert_eq!(out(&["--profile", "db", "config", "-q"]), "");
    let vars =
        project(&[("compose.yaml", "services:\n  web:\n    image: \"x:${TAG:-latest}\"\n    user: ${WHO:?who}\n")]);
    let o = clean_env(b.cmd(), vars.path(), &[]).args(["compose", "config", "--variables"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "NAME                REQUIRED            DEFAULT VALUE       ALTERNATE VALUE\nTAG                 false               latest              \nWHO                 true                                    \n"
    );
    let file = dir.path().join("out.json");
    assert_eq!(out(&["--profile", "db", "config", "--format", "json", "-o", file.to_str().unwrap()]), "");
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(m["services"]["web"]["build"]["context"], dir.path().display().to_string());
    assert_eq!(m["volumes"], json!({"data": {"name": "demo_data"}}));
    // A dependency the active profiles leave out is an error, as Compose gives it.
    let o = clean_env(b.cmd(), dir.path(), &[]).args(["compose", "config"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("service \"db\" is required by \"web\" but is disabled. Can be enabled by profiles [db, all]"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every entry under the berth root, to prove a failed command created nothing.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A bad input: what it is, its files, the texts its error must contain.
type BadCase = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str]);

#[test]
fn config_bad_inputs() {
    let b = Berth::new();
    let cases: &[BadCase] = &[
        ("YAML syntax", &[("compose.yaml", "services:\n  web:\n    image: [busybox\n")], &["compose.yaml:4:", "yaml:"]),
        (
            "wrong type",
            &[("compose.yaml", "services:\n  web:\n    image: busybox\n    ports: 80\n")],
            &["compose.yaml:4:", "services.web.ports must be a list"],
        ),
        (
            "depends_on an unknown service",
            &[("compose.yaml", "services:\n  web:\n    image: busybox\n    depends_on: [db]\n")],
            &["compose.yaml:4:", "services.web", "undefined service \"db\""],
        ),
        (
            "a dependency cycle",
            &[(
                "compose.yaml",
                "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            )],
            &["compose.yaml:", "dependency cycle detected: a -> b -> a"],
        ),
        (
            "${V:?msg} unset",
            &[("compose.yaml", "services:\n  web:\n    image: \"busybox:${TAG:?set TAG first}\"\n")],
            &["compose.yaml:3:", "services.web.image", "required variable TAG is missing a value: set TAG first"],
        ),
        (
            "the same host port twice",
            &[(
                "compose.yaml",
                "services:\n  a:\n    image: busybox\n    ports: [\"8080:80\"]\n  b:\n    image: busybox\n    ports: [\"127.0.0.1:8080:81\"]\n",
            )],
            &["compose.yaml:7:", "services \"a\" and \"b\" both publish host port 8080/tcp"],
        ),
        (
            "a missing required env_file",
            &[("compose.yaml", "services:\n  web:\n    image: busybox\n    env_file: [missing.env]\n")],
            &["compose.yaml:4:", "missing.env not found"],
        ),
        (
            "extends an unknown service",
            &[("compose.yaml", "services:\n  web:\n    extends: {service: nope}\n")],
            &["compose.yaml:3:", "services.web.extends", "service \"nope\" not found"],
        ),
        ("no compose file", &[("README", "nothing here\n")], &["no configuration file provided: not found"]),
    ];
    for (what, files, wants) in cases {
        let dir = project(files);
        let before = listing(b.root());
        let o = clean_env(b.cmd(), dir.path(), &[]).args(["compose", "config"]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(o.stdout.is_empty(), "{what}: printed {}", String::from_utf8_lossy(&o.stdout));
        for w in *wants {
            assert!(err.contains(w), "{what}: {err:?} lacks {w:?}");
        }
        if *what != "no compose file" {
            assert!(err.contains(&dir.path().display().to_string()), "{what}: {err} names no file");
        }
        assert_eq!(listing(b.root()), before, "{what}: something was created under the berth root");
    }

    // An unknown key is a warning, as Compose gives it, and the model is printed.
    let dir = project(&[("compose.yaml", "services:\n  web:\n    image: busybox\n    colour: blue\n")]);
    let o = clean_env(b.cmd(), dir.path(), &[]).args(["compose", "config", "--services"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "web\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("WARN[0000] services.web: unknown key \"colour\" ignored"));
}
