//! The loader end to end, over compose files written to a temporary directory.

use super::*;
use serde_json::json;

struct Proj {
    dir: tempfile::TempDir,
}

impl Proj {
    fn new(files: &[(&str, &str)]) -> Proj {
        let dir = tempfile::Builder::new().prefix("Demo.App").tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Proj { dir }
    }

    fn opts(&self) -> LoadOptions {
        LoadOptions {
            cwd: self.dir.path().to_path_buf(),
            environ: BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]),
            ..Default::default()
        }
    }

    fn path(&self, p: &str) -> String {
        self.dir.path().join(p).to_string_lossy().into_owned()
    }

    fn load(&self) -> Result<Loaded> {
        load(&self.opts())
    }

    fn err(&self) -> String {
        match self.load() {
            Ok(l) => panic!("loaded: {}", l.model),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn discovery_override_and_project_name() {
    let p = Proj::new(&[
        ("compose.yaml", "services:\n  web:\n    image: a\n"),
        ("compose.override.yml", "services:\n  web:\n    image: b\n"),
        ("docker-compose.yml", "services:\n  other:\n    image: x\n"),
        ("sub/dir/.keep", ""),
    ]);
    let mut o = p.opts();
    o.cwd = p.dir.path().join("sub/dir");
    let l = load(&o).unwrap();
    assert_eq!(l.config_files, [PathBuf::from(p.path("compose.yaml")), PathBuf::from(p.path("compose.override.yml"))]);
    assert_eq!(l.model["services"]["web"]["image"], "b");
    assert!(l.model["services"].get("other").is_none());
    // The directory's name, normalised as Compose v2 does (`Demo.AppXYZ` → `demoappxyz`).
    let dirname = p.dir.path().file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(l.name, normalize_project_name(&dirname));
    assert!(l.name.starts_with("demoapp"));
    assert_eq!(l.model["networks"]["default"]["name"], format!("{}_default", l.name));
    assert_eq!(l.model["services"]["web"]["networks"], json!({"default": null}));

    let empty = tempfile::tempdir().unwrap();
    let mut o = p.opts();
    o.cwd = empty.path().to_path_buf();
    let e = load(&o).unwrap_err();
    assert_eq!(e.to_string(), "no configuration file provided: not found");
    assert!(matches!(e, Error::NotFound(_)));
}

#[test]
fn names_from_flag_env_and_file() {
    let p = Proj::new(&[(
        "compose.yaml",
        "name: From${SUFFIX:-file}\nservices:\n  web:\n    image: a\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n    volumes: [data:/d]\nvolumes:\n  data:\n  ext:\n    external: true\n",
    )]);
    let l = p.load().unwrap();
    assert_eq!(l.name, "fromfile");
    assert_eq!(l.model["services"]["web"]["container_name"], "fromfile-web", "the name is known to interpolation");
    let mut o = p.opts();
    o.environ.insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(&o).unwrap().name, "fromenv");
    o.project_name = Some("flag".into());
    let l = load(&o).unwrap();
    assert_eq!(l.name, "flag");
    assert_eq!(l.model["name"], "flag");
    assert_eq!(l.model["volumes"], json!({"data": {"name": "flag_data"}}));
    o.project_name = Some("Bad Name".into());
    assert!(load(&o).unwrap_err().to_string().contains("invalid project name"));
}

#[test]
fn interpolation_from_dotenv_and_process() {
    let p = Proj::new(&[
        (".env", "TAG=1.0\nPORT=8080\nONLY_FILE=f\n"),
        (
            "compose.yaml",
            "services:\n  web:\n    image: \"repo:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      A: ${ONLY_FILE}\n      B: ${MISSING:-dflt}\n      C: $$HOME\n      D: ${UNSET}\n",
        ),
    ]);
    let mut o = p.opts();
    o.environ.insert("PORT".into(), "9090".into());
    let l = load(&o).unwrap();
    let web = &l.model["services"]["web"];
    assert_eq!(web["image"], "repo:1.0");
    assert_eq!(web["ports"][0]["published"], "9090", "the process environment wins");
    assert_eq!(web["environment"], json!({"A": "f", "B": "dflt", "C": "$HOME", "D": ""}));
    assert!(l.warnings.iter().any(|w| w.contains("\"UNSET\" variable is not set")), "{:?}", l.warnings);
    assert_eq!(l.environment["TAG"], "1.0");
}

#[test]
fn required_variable_names_file_line_and_key() {
    let p = Proj::new(&[("compose.yaml", "services:\n  web:\n    image: x\n    user: ${WHO:?who runs it}\n")]);
    let e = p.err();
    assert!(e.contains("compose.yaml:4:"), "{e}");
    assert!(e.contains("services.web.user"), "{e}");
    assert!(e.contains("required variable WHO is missing a value: who runs it"), "{e}");
}

#[test]
fn several_files_merge() {
    let p = Proj::new(&[
        ("a.yaml", "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: [\"80:80\"]\n    volumes: [\"./a:/data\"]\n"),
        ("o/b.yaml", "services:\n  web:\n    command: z\n    environment: {B: 3}\n    ports: [\"81:81\"]\n    volumes: [\"./b:/data\"]\n  db:\n    image: pg\n"),
    ]);
    let mut o = p.opts();
    o.files = vec!["a.yaml".into(), "o/b.yaml".into()];
    let l = load(&o).unwrap();
    let web = &l.model["services"]["web"];
    assert_eq!(web["command"], json!(["z"]));
    assert_eq!(web["environment"], json!({"A": "1", "B": "3"}));
    assert_eq!(web["ports"].as_array().unwrap().len(), 2);
    // Relative paths of every -f file are against the project directory (the first file's).
    assert_eq!(
        web["volumes"],
        json!([{"type": "bind", "source": p.path("b"), "target": "/data", "bind": {"create_host_path": true}}])
    );
    assert_eq!(l.model["services"]["db"]["image"], "pg");
}

#[test]
fn extends_same_file_and_other_file() {
    let p = Proj::new(&[
        ("base/common.yaml", "services:\n  app:\n    image: base\n    build: .\n    environment: {X: 1}\n"),
        (
            "compose.yaml",
            "services:\n  web:\n    extends: {file: base/common.yaml, service: app}\n    environment: {Y: 2}\n  worker:\n    extends: web\n    command: run\n",
        ),
    ]);
    let l = p.load().unwrap();
    let s = &l.model["services"];
    assert_eq!(s["web"]["environment"], json!({"X": "1", "Y": "2"}));
    assert_eq!(s["web"]["build"]["context"], p.path("base"), "relative to the extended file");
    assert_eq!(s["worker"]["environment"], json!({"X": "1", "Y": "2"}));
    assert_eq!(s["worker"]["command"], json!(["run"]));
    assert!(s["worker"].get("extends").is_none());

    let p = Proj::new(&[("compose.yaml", "services:\n  web:\n    image: a\n    extends: nope\n")]);
    let e = p.err();
    assert!(e.contains("compose.yaml:4:") && e.contains("service \"nope\" not found"), "{e}");
}

#[test]
fn include_brings_a_project_in() {
    let p = Proj::new(&[
        ("db/.env", "DBIMG=postgres:16\n"),
        (
            "db/compose.yaml",
            "services:\n  db:\n    image: ${DBIMG}\n    volumes: [./init:/init, data:/var/lib]\nvolumes:\n  data:\n",
        ),
        ("compose.yaml", "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: w\n    depends_on: [db]\n"),
    ]);
    let l = p.load().unwrap();
    let s = &l.model["services"];
    assert_eq!(s["db"]["image"], "postgres:16");
    assert_eq!(s["db"]["volumes"][0]["source"], p.path("db/init"));
    assert_eq!(l.model["volumes"]["data"]["name"], format!("{}_data", l.name));
}

#[test]
fn profiles() {
    let p = Proj::new(&[("compose.yaml", "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [dbg]\n  tools:\n    image: c\n    profiles: [tools]\n    depends_on: [web]\n")]);
    let keys = |l: &Loaded| l.model["services"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&p.load().unwrap()), ["web"]);
    let mut o = p.opts();
    o.profiles = vec!["dbg".into()];
    assert_eq!(keys(&load(&o).unwrap()), ["debug", "web"]);
    let mut o = p.opts();
    o.environ.insert("COMPOSE_PROFILES".into(), "tools,dbg".into());
    assert_eq!(keys(&load(&o).unwrap()), ["debug", "tools", "web"]);
    // A named service: its profiles are enabled, and only it and its dependencies are kept.
    assert_eq!(keys(&load_for(&p.opts(), &["tools".into()]).unwrap()), ["tools", "web"]);
    assert_eq!(keys(&load_for(&p.opts(), &["debug".into()]).unwrap()), ["debug"]);
    assert!(load_for(&p.opts(), &["nope".into()]).unwrap_err().to_string().contains("no such service: nope"));
    // A dependency's profiles are not enabled for it.
    let p = Proj::new(&[(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    depends_on: [db]\n  db:\n    image: b\n    profiles: [dev]\n",
    )]);
    let e = p.err();
    assert!(
        e.contains("service \"db\" is required by \"web\" but is disabled. Can be enabled by profiles [dev]"),
        "{e}"
    );
}

#[test]
fn env_file_into_environment() {
    let p = Proj::new(&[
        ("web.env", "A=from-file\nB=from-file\nC=${TAG}\n"),
        (".env", "TAG=t\n"),
        ("compose.yaml", "services:\n  web:\n    image: a\n    env_file: [web.env, {path: missing.env, required: false}]\n    environment: {B: own}\n"),
    ]);
    let l = p.load().unwrap();
    let web = &l.model["services"]["web"];
    assert_eq!(web["environment"], json!({"A": "from-file", "B": "own", "C": "t"}));
    assert!(web.get("env_file").is_none());

    let p = Proj::new(&[("compose.yaml", "services:\n  web:\n    image: a\n    env_file: nope.env\n")]);
    let e = p.err();
    assert!(e.contains("compose.yaml:4:") && e.contains("nope.env not found"), "{e}");
}

#[test]
fn bad_inputs_name_file_line_and_key() {
    for (text, want) in [
        ("services:\n  web:\n    image: [a\n", "compose.yaml:4: yaml:"),
        ("services:\n  web:\n    image: a\n    ports: 80\n", "compose.yaml:4: services.web.ports must be a list"),
        (
            "services:\n  web:\n    image: a\n    depends_on: [db]\n",
            "compose.yaml:4: services.web.depends_on.db: service \"web\" depends on undefined service \"db\"",
        ),
        (
            "services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: a\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a",
        ),
        (
            "services:\n  a:\n    image: a\n    ports: [\"8080:80\"]\n  b:\n    image: a\n    ports: [\"8080:81\"]\n",
            "compose.yaml:7: services.b.ports.0: services \"a\" and \"b\" both publish host port 8080/tcp",
        ),
    ] {
        let p = Proj::new(&[("compose.yaml", text)]);
        let e = p.err();
        assert!(e.contains(want), "{text}: {e}");
        assert!(e.contains(&p.path("compose.yaml")), "{e}");
    }
}

#[test]
fn an_empty_file_is_an_error() {
    let p = Proj::new(&[("compose.yaml", "# nothing\n")]);
    assert_eq!(p.err(), "empty compose file");
}

#[test]
fn unknown_keys_warn() {
    let p = Proj::new(&[(
        "compose.yaml",
        "version: '3'\nfoo: 1\nservices:\n  web:\n    image: a\n    bogus: 1\n    x-mine: 2\n    healthcheck: {test: [CMD, x], intervall: 1s}\n    ports: [{target: 80, publish: 8080}]\nnetworks:\n  n:\n    drvier: bridge\nx-top: {a: 1}\n",
    )]);
    let l = p.load().unwrap();
    assert!(l.warnings.iter().any(|w| w.contains("\"bogus\"")), "{:?}", l.warnings);
    assert!(l.warnings.iter().any(|w| w.contains("\"foo\"")), "{:?}", l.warnings);
    assert!(l.warnings.iter().any(|w| w.contains("`version` is obsolete")), "{:?}", l.warnings);
    assert_eq!(l.model["services"]["web"]["x-mine"], 2);
    assert_eq!(l.model["x-top"], json!({"a": 1}));
    assert!(l.model["services"]["web"].get("bogus").is_none());
    for w in [
        "services.web.healthcheck: unknown key \"intervall\"",
        "services.web.ports.0: unknown key \"publish\"",
        "networks.n: unknown key \"drvier\"",
    ] {
        assert!(l.warnings.iter().any(|x| x.contains(w)), "{w}: {:?}", l.warnings);
    }
    assert_eq!(l.model["services"]["web"]["healthcheck"], json!({"test": ["CMD", "x"]}));
}

#[test]
fn reset_and_override_tags() {
    let p = Proj::new(&[
        ("compose.yaml", "services:\n  web:\n    image: a\n    ports: [\"80:80\"]\n    environment: {A: 1}\n"),
        ("compose.override.yaml", "services:\n  web:\n    ports: !reset []\n    environment: !override {B: 2}\n"),
    ]);
    let l = p.load().unwrap();
    assert!(l.model["services"]["web"].get("ports").is_none());
    assert_eq!(l.model["services"]["web"]["environment"], json!({"B": "2"}));
}

#[test]
fn compose_file_from_environment_and_dotenv() {
    let p = Proj::new(&[
        ("one.yaml", "services:\n  a:\n    image: a\n"),
        ("two.yaml", "services:\n  b:\n    image: b\n"),
        (".env", "COMPOSE_FILE=one.yaml;two.yaml\nCOMPOSE_PATH_SEPARATOR=;\n"),
    ]);
    let l = p.load().unwrap();
    assert_eq!(l.config_files, [PathBuf::from(p.path("one.yaml")), PathBuf::from(p.path("two.yaml"))]);
    let mut o = p.opts();
    o.environ.insert("COMPOSE_FILE".into(), "two.yaml".into());
    assert_eq!(load(&o).unwrap().config_files, [PathBuf::from(p.path("two.yaml"))]);
}

#[test]
fn cycles_and_conflicts() {
    let p = Proj::new(&[("compose.yaml", "services:\n  a:\n    extends: b\n  b:\n    extends: a\n")]);
    assert!(p.err().contains("extends cycle"), "{}", p.err());
    let p = Proj::new(&[
        ("compose.yaml", "include: [sub/compose.yaml]\nservices:\n  a:\n    image: a\n"),
        ("sub/compose.yaml", "include: [../compose.yaml]\nservices:\n  b:\n    image: b\n"),
    ]);
    assert!(p.err().contains("include or extends cycle"), "{}", p.err());
    let p = Proj::new(&[
        ("compose.yaml", "include: [sub/compose.yaml]\nservices:\n  a:\n    image: a\n"),
        ("sub/compose.yaml", "services:\n  a:\n    image: other\n    environment: {X: '1'}\n"),
    ]);
    // Defined on both sides: the including file's definition merges over the imported one.
    let a = &p.load().unwrap().model["services"]["a"];
    assert_eq!((a["image"].as_str(), &a["environment"]), (Some("a"), &json!({"X": "1"})));
    let p = Proj::new(&[(
        "compose.yaml",
        "services:\n  a:\n    image: a\n    container_name: x\n  b:\n    image: a\n    container_name: x\n",
    )]);
    assert!(p.err().contains("same container name \"x\""), "{}", p.err());
}

#[test]
fn implicit_dependencies_as_compose_adds_them() {
    let p = Proj::new(&[(
        "compose.yaml",
        "services:\n  db:\n    image: a\n  side:\n    image: a\n    network_mode: service:db\n  data:\n    image: a\n    volumes_from: [db:ro]\n",
    )]);
    let l = p.load().unwrap();
    let s = &l.model["services"];
    assert_eq!(
        s["side"]["depends_on"],
        json!({"db": {"condition": "service_started", "required": true, "restart": true}})
    );
    assert_eq!(s["data"]["depends_on"], json!({"db": {"condition": "service_started", "required": true}}));
    assert!(s["side"].get("networks").is_none(), "network_mode: no networks");
}

/// Every service and top-level key the issue lists, in each of its forms, loads without a
/// warning (the one dependency on a profile-disabled optional service aside).
#[test]
fn every_listed_key_is_accepted() {
    let p = Proj::new(&[("s.txt", ""), ("c.txt", ""), ("web.env", "E=1\n"), ("compose.yaml", FULL)]);
    let l = p.load().unwrap();
    assert_eq!(l.warnings, ["service \"web\" depends on undefined service \"job\": ignored as it is not required"]);
    let web = &l.model["services"]["web"];
    assert_eq!(web["secrets"][1]["mode"], 0o400);
    assert!(print::to_yaml(&l.model).contains("        mode: \"0400\"\n"));
    assert!(print::to_json(&l.model).contains("\"mode\": \"0400\""));
    assert_eq!(web["deploy"]["resources"]["limits"], json!({"cpus": 1.5, "memory": "268435456", "pids": 100}));
    assert_eq!(web["networks"]["front"], json!({"aliases": ["w", "www"], "ipv4_address": "172.28.0.10"}));
    assert_eq!(web["environment"], json!({"A": "1", "E": "1"}));
    assert!(web.get("profiles").is_none(), "empty lists are left out");
    assert_eq!(l.model["services"]["side"]["depends_on"]["web"]["restart"], true);
    assert_eq!(l.model["networks"]["front"]["ipam"]["config"][0]["subnet"], "172.28.0.0/16");
    assert!(l.model["networks"].get("outside").is_none(), "unused resources are left out");
    assert_eq!(l.model["secrets"]["s"]["file"], p.path("s.txt"));
}

const FULL: &str = r#"name: full
services:
  web:
    image: web:1
    build:
      context: ./app
      dockerfile: Dockerfile.dev
      args: {V: "1"}
      target: prod
      labels: [a=b]
      secrets: [s]
    command: ["run"]
    entrypoint: /entry.sh
    environment: [A=1]
    env_file:
      - path: web.env
        required: true
    ports:
      - target: 80
        published: "8080-8081"
        host_ip: 127.0.0.1
        protocol: udp
    expose: [80, "81/udp"]
    volumes:
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64m}
      - type: volume
        source: data
        target: /data
        read_only: true
        volume: {nocopy: true}
    networks:
      front:
        aliases: [w, www]
        ipv4_address: 172.28.0.10
    depends_on:
      db: {condition: service_healthy, restart: true}
      job: {condition: service_completed_successfully, required: false}
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
      timeout: 2s
      retries: 5
      start_period: 1s
      start_interval: 500ms
    restart: on-failure:3
    container_name: the-web
    hostname: web
    user: "1000:1000"
    working_dir: /app
    labels: {l: v}
    init: true
    read_only: true
    tmpfs: /run
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: false
    extra_hosts: ["h:1.2.3.4"]
    dns: 8.8.8.8
    sysctls: [net.core.somaxconn=1024]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    stdin_open: true
    tty: true
    shm_size: 1g
    mem_limit: 256m
    cpus: 1.5
    deploy:
      replicas: 1
      resources:
        limits: {cpus: "1.5", memory: 256M, pids: 100}
    secrets:
      - s
      - source: s
        target: /etc/s
        mode: 0400
    configs:
      - source: c
        target: /etc/c
    platform: linux/amd64
    pull_policy: always
    profiles: []
  side:
    image: busybox
    network_mode: service:web
  db:
    image: postgres
    scale: 1
    network_mode: host
  job:
    image: busybox
    network_mode: none
    profiles: [jobs]
  wasm:
    image: ghcr.io/x/wasm:1
    platform: wasi/wasm
networks:
  front:
    driver: bridge
    internal: true
    ipam:
      config:
        - subnet: 172.28.0.0/16
  outside:
    external: true
    name: the-outside
volumes:
  data:
    labels: [x=y]
  ext:
    external: true
secrets:
  s:
    file: ./s.txt
  e:
    environment: HOME
configs:
  c:
    file: ./c.txt
"#;

#[test]
fn uninterpolated_keeps_what_does_not_parse() {
    let p = Proj::new(&[(
        "compose.yaml",
        "services:\n  web:\n    image: \"a:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    init: ${INIT}\n",
    )]);
    let l = load_uninterpolated(&p.opts()).unwrap();
    let web = &l.model["services"]["web"];
    assert_eq!(web["image"], "a:${TAG}");
    assert_eq!(web["ports"], json!(["${PORT}:80"]));
    assert_eq!(web["init"], "${INIT}");
}

#[test]
fn whole_model_errors_point_into_the_override() {
    let p = Proj::new(&[
        ("compose.yaml", "services:\n  a:\n    image: a\n    ports: [\"8080:80\"]\n  b:\n    image: b\n"),
        ("compose.override.yaml", "\nservices:\n  b:\n    ports: [\"8080:81\"]\n"),
    ]);
    let e = p.err();
    assert!(e.contains(&format!("{}:4:", p.path("compose.override.yaml"))), "{e}");
}

#[test]
fn documents_of_one_file_merge() {
    let p = Proj::new(&[(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    environment: {A: '1'}\n---\nservices:\n  web:\n    environment: {B: '2'}\n",
    )]);
    let l = p.load().unwrap();
    assert_eq!(l.model["services"]["web"]["environment"], json!({"A": "1", "B": "2"}));
}

#[test]
fn env_files_from_flag_and_compose_env_files() {
    let p = Proj::new(&[
        (".env", "V=dotenv\n"),
        ("a.env", "V=a\n"),
        ("b.env", "V=b\n"),
        ("compose.yaml", "services:\n  web:\n    image: \"x:${V}\"\n"),
    ]);
    let image = |o: &LoadOptions| load(o).unwrap().model["services"]["web"]["image"].clone();
    assert_eq!(image(&p.opts()), "x:dotenv");
    let mut o = p.opts();
    o.environ.insert("COMPOSE_ENV_FILES".into(), "a.env,b.env".into());
    assert_eq!(image(&o), "x:b", "the last file wins");
    o.env_files = vec!["a.env".into()];
    assert_eq!(image(&o), "x:a", "--env-file before COMPOSE_ENV_FILES");
    o.env_files = vec!["missing.env".into()];
    assert!(load(&o).unwrap_err().to_string().contains("missing.env not found"));
}
