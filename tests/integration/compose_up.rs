//! `berth compose`: a multi-service project of native and wasm services, real containers on a
//! project network, talking by name. A web service built from a Dockerfile (`build:`, busybox
//! httpd with a CGI app) writes rows to a "db" service (busybox httpd over a named volume,
//! with a healthcheck it passes only once it serves) and counts in a "cache" service, and
//! calls a wasm TCP server (`tcp-server.wasm`, wasi:sockets) by name; the wasm service
//! publishes a port the test reaches on 127.0.0.1. Then the bad inputs: an image that does
//! not exist, a service that exits non-zero under `up --wait`, and an `up` killed with
//! SIGKILL halfway, after which `up` and `down` converge with nothing left over.

use berth_tests::{busybox_root, fixtures_dir, free_port, Berth};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A compose project directory beside a berth root.
struct Proj<'a> {
    b: &'a Berth,
    dir: PathBuf,
}

impl Proj<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.b.cmd();
        c.current_dir(&self.dir).arg("compose").args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("spawn berth compose")
    }
    /// Asserts success; stdout and stderr.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        let (out, err) =
            (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(o.status.success(), "compose {args:?} failed ({}):\nstdout: {out}\nstderr: {err}", o.status);
        (out, err)
    }
    fn write(&self, name: &str, text: &str) {
        let p = self.dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if !name.ends_with(".yaml") && !name.ends_with("Dockerfile") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    /// Container id by service (running ones).
    fn ids(&self) -> Vec<(String, String)> {
        let (out, _) = self.ok(&["ps", "--format", "json"]);
        let mut v: Vec<(String, String)> = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|j| (j["Name"].as_str().unwrap().to_string(), j["ID"].as_str().unwrap().to_string()))
            .collect();
        v.sort();
        v
    }
}

fn project<'a>(b: &'a Berth, name: &str) -> Proj<'a> {
    let dir = b.root().join("projects").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    Proj { b, dir }
}

/// The wasm server's image. Its compiled code is shared by the tests through one directory
/// (keyed by the module's digest and wasmtime's version, so any root may use it): compiling
/// the 18 MB component takes a debug build about a minute.
fn tcp_image(b: &Berth) {
    let shared = std::env::temp_dir().join("berth-test-wasm-compiled");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(b.root().join("wasm-cache")).unwrap();
    let link = b.root().join("wasm-cache/compiled");
    if !link.exists() {
        std::os::unix::fs::symlink(&shared, &link).unwrap();
    }
    let module = fixtures_dir().join("wasm/tcp-server.wasm");
    b.ok(&["wasm", "package", module.to_str().unwrap(), "-t", "tcp"]);
}

/// An HTTP GET from the host.
fn http_get(port: u16, path: &str) -> String {
    let t = Instant::now();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                return out;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(120), "nothing answers on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const APP_COMPOSE: &str = r#"
name: shop
services:
  web:
    build:
      context: ./web
    environment:
      DB_URL: http://db:5432
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
      hello:
        condition: service_started
  db:
    image: busybox
    # Serves only after a delay: web must not start before the healthcheck passes.
    command: ["sh", "-c", "echo db starting; sleep 2; echo db ready; exec httpd -f -p 5432 -h /srv"]
    volumes:
      - dbdata:/data
      - ./db:/srv:ro
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:5432/cgi-bin/ping"]
      interval: 500ms
      retries: 30
  cache:
    image: busybox
    environment:
      FLAVOUR: plain
    command: ["httpd", "-f", "-p", "6379", "-h", "/srv"]
    volumes:
      - ./cache:/srv:ro
  hello:
    image: tcp
    environment:
      PORT: "8080"
    ports:
      - "127.0.0.1:@PORT@:8080"
volumes:
  dbdata:
"#;

/// The app: web's CGI reads and writes db and cache by service name, and calls the wasm
/// service by name.
fn write_app(p: &Proj<'_>, port: u16) {
    p.write("compose.yaml", &APP_COMPOSE.replace("@PORT@", &port.to_string()));
    p.write(
        "web/Dockerfile",
        "FROM busybox\nCOPY start.sh /start.sh\nCOPY app /www/cgi-bin/app\nCMD [\"/start.sh\"]\n",
    );
    // At start the db must already answer (that is what service_healthy promises).
    p.write(
        "web/start.sh",
        "#!/bin/sh\nif wget -qO- $DB_URL/cgi-bin/ping; then echo 'web: db answered at start'; else echo 'web: db NOT ready at start'; fi\nexec httpd -f -p 80 -h /www\n",
    );
    p.write(
        "web/app",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n\
         echo \"rows: $(wget -qO- \"$DB_URL/cgi-bin/q?$QUERY_STRING\" | tr '\\n' ' ')\"\n\
         echo \"hits: $(wget -qO- http://cache:6379/cgi-bin/incr)\"\n\
         echo \"wasm: $(wget -qO- http://hello:8080/)\"\n",
    );
    p.write("db/cgi-bin/ping", "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho pong\n");
    p.write(
        "db/cgi-bin/q",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n[ -n \"$QUERY_STRING\" ] && echo \"$QUERY_STRING\" >> /data/rows\ncat /data/rows 2>/dev/null\n",
    );
    p.write(
        "cache/cgi-bin/incr",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nn=$(( $(cat /tmp/n 2>/dev/null || echo 0) + 1 ))\necho $n > /tmp/n\necho $n\n",
    );
}

/// Asks web (from inside the project network: web publishes nothing) for the app's page.
fn app(p: &Proj<'_>, query: &str) -> String {
    let url = format!("http://web/cgi-bin/app?{query}");
    let (out, _) = p.ok(&["exec", "-T", "db", "wget", "-qO-", &url]);
    out
}

/// What a test run may leave behind on the host, counted.
#[derive(Debug, PartialEq)]
struct Leftovers {
    containers: usize,
    networks: usize,
    veths: usize,
    volumes: usize,
    mounts: usize,
}

/// The containers and networks a test has seen, to name the veths they may leave (berth names
/// a container's veth on a network after both ids; other tests' veths are not ours to count).
#[derive(Default)]
struct Seen {
    containers: BTreeSet<String>,
    networks: BTreeSet<String>,
}

impl Seen {
    fn look(&mut self, b: &Berth) {
        self.containers.extend(b.ok(&["ps", "-aq", "--no-trunc"]).lines().map(String::from));
        for n in b.ok(&["network", "ls", "--format", "{{.Name}}"]).lines() {
            self.networks.insert(b.ok(&["network", "inspect", "-f", "{{.Id}}", n]).trim().to_string());
        }
    }
    fn veths(&self) -> usize {
        use sha2::{Digest, Sha256};
        let ours: BTreeSet<String> = self
            .containers
            .iter()
            .flat_map(|c| self.networks.iter().map(move |n| format!("{c} {n}")))
            .map(|s| format!("veth{}", &hex::encode(Sha256::digest(s.as_bytes()))[..7]))
            .collect();
        let ip = Command::new("ip").args(["-br", "link"]).output().unwrap();
        String::from_utf8_lossy(&ip.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| ours.contains(n.split('@').next().unwrap_or("")))
            .count()
    }
}

fn leftovers(b: &Berth, seen: &Seen) -> Leftovers {
    let lines = |s: String| s.lines().filter(|l| !l.trim().is_empty()).count();
    let root = b.root().display().to_string();
    Leftovers {
        containers: lines(b.ok(&["ps", "-aq"])),
        networks: lines(b.ok(&["network", "ls", "-q"])),
        veths: seen.veths(),
        volumes: lines(b.ok(&["volume", "ls", "-q"])),
        mounts: std::fs::read_to_string("/proc/mounts").unwrap().lines().filter(|l| l.contains(&root)).count(),
    }
}

#[test]
#[ignore = "needs root"]
fn a_native_and_wasm_app_talks_by_name_and_converges() {
    let b = busybox_root();
    tcp_image(&b);
    let p = project(&b, "shop");
    let port = free_port();
    write_app(&p, port);
    let mut seen = Seen::default();
    let before = leftovers(&b, &seen);

    let (_, err) = p.ok(&["up", "-d"]);
    seen.look(&b);
    for line in [
        "Network shop_default  Created",
        "Volume \"shop_dbdata\"  Created",
        "Image shop-web  Built",
        "Container shop-db-1  Healthy",
        "Container shop-web-1  Started",
    ] {
        assert!(err.contains(line), "no {line:?} in:\n{err}");
    }
    // Start order: db healthy before web was even created.
    let healthy = err.find("Container shop-db-1  Healthy").unwrap();
    assert!(err.find("Container shop-web-1  Creating").unwrap() > healthy, "{err}");
    let t = Instant::now();
    let logs = loop {
        let (logs, _) = p.ok(&["logs", "--no-color", "web"]);
        if logs.contains("web: ") || t.elapsed() > Duration::from_secs(20) {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(logs.contains("web-1  | web: db answered at start"), "{logs}");

    // web reads and writes db, counts in cache, calls the wasm service: all by name.
    let page = app(&p, "row1");
    assert!(page.contains("rows: row1"), "{page}");
    assert!(page.contains("hits: 1"), "{page}");
    assert!(page.contains("wasm: hello from berth wasm tcp"), "{page}");
    // The wasm service's published port, from the host.
    assert!(http_get(port, "/").contains("hello from berth wasm tcp"));

    // ps --format json: one object per line, every service running.
    let (ps, _) = p.ok(&["ps", "--format", "json"]);
    let services: BTreeSet<String> = ps
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .inspect(|j| assert_eq!(j["State"], "running", "{j}"))
        .map(|j| j["Service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(services, ["cache", "db", "hello", "web"].map(String::from).into_iter().collect());
    // Compose's labels, so the plain CLI finds the project.
    let labelled = b.ok(&["ps", "-q", "--filter", "label=com.docker.compose.project=shop"]);
    assert_eq!(labelled.lines().count(), 4);

    // A second `up` leaves every container as it is.
    let ids = p.ids();
    let (_, err) = p.ok(&["up", "-d"]);
    seen.look(&b);
    assert!(err.contains("Container shop-web-1  Running"), "{err}");
    assert_eq!(p.ids(), ids);

    // Editing one service's environment recreates only that service.
    let edited =
        std::fs::read_to_string(p.dir.join("compose.yaml")).unwrap().replace("FLAVOUR: plain", "FLAVOUR: spicy");
    p.write("compose.yaml", &edited);
    let (_, err) = p.ok(&["up", "-d"]);
    seen.look(&b);
    assert!(err.contains("Container shop-cache-1  Recreated"), "{err}");
    let after = p.ids();
    for ((n1, i1), (n2, i2)) in ids.iter().zip(&after) {
        assert_eq!(n1, n2);
        assert_eq!(i1 != i2, n1 == "shop-cache-1", "{n1}: {i1} -> {i2}");
    }
    let (env, _) = p.ok(&["exec", "-T", "cache", "sh", "-c", "echo $FLAVOUR"]);
    assert_eq!(env.trim(), "spicy");

    // logs -f: every service's lines with its prefix, following.
    let mut follow = p.cmd(&["logs", "-f", "--no-color"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    while let Some(Ok(l)) = lines.next() {
        got.push(l);
        if got.iter().any(|l| l.starts_with("db-1 ") && l.contains("| db ready"))
            && got.iter().any(|l| l.starts_with("hello-1 "))
        {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(got.iter().any(|l| l.starts_with("db-1") && l.contains(" | db ready")), "{got:?}");
    assert!(got.iter().all(|l| l.contains(" | ")), "{got:?}");

    // --scale web=3: three replicas, all behind the one name.
    let (_, err) = p.ok(&["up", "-d", "--scale", "web=3"]);
    seen.look(&b);
    assert!(err.contains("Container shop-web-3  Started"), "{err}");
    let (ns, _) = p.ok(&["exec", "-T", "db", "nslookup", "web"]);
    let addrs = ns.lines().filter(|l| l.starts_with("Address") && !l.contains("127.0.0.11")).count();
    assert_eq!(addrs, 3, "{ns}");

    // run --rm: a one-off container on the project network, removed afterwards.
    let (out, _) = p.ok(&["run", "--rm", "--no-deps", "web", "wget", "-qO-", "http://db:5432/cgi-bin/q"]);
    assert!(out.contains("row1"), "{out}");
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 6, "the one-off container was not removed");

    // down + up: the named volume keeps the rows; down -v removes it.
    p.ok(&["down"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.ok(&["volume", "ls", "-q"]).contains("shop_dbdata"));
    p.ok(&["up", "-d"]);
    seen.look(&b);
    assert!(app(&p, "row2").contains("rows: row1 row2"));
    p.ok(&["down", "-v"]);
    p.ok(&["up", "-d"]);
    seen.look(&b);
    let page = app(&p, "");
    assert!(!page.contains("row1"), "down -v kept the rows: {page}");
    let (_, err) = p.ok(&["down", "-v", "--rmi", "local"]);
    assert!(err.contains("Network shop_default  Removed"), "{err}");
    assert_eq!(leftovers(&b, &seen), before);
}

#[test]
#[ignore = "needs root"]
fn bad_images_failing_services_and_a_killed_up_leave_nothing() {
    let b = busybox_root();
    let p = project(&b, "bad");
    let mut seen = Seen::default();
    let before = leftovers(&b, &seen);

    // An image that does not exist (its registry, on loopback, refuses): an error naming it,
    // and nothing created.
    p.write("compose.yaml", "services:\n  a:\n    image: 127.0.0.1:1/nope/missing:1\n");
    let o = p.run(&["up", "-d"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("127.0.0.1:1/nope/missing:1"), "{err}");
    assert_eq!(leftovers(&b, &seen), before, "a failed pull created something");

    // A service exiting non-zero under `up --wait`: non-zero.
    p.write("compose.yaml", "services:\n  ok:\n    image: busybox\n    command: sleep 100\n  fails:\n    image: busybox\n    command: sh -c 'exit 3'\n");
    let o = p.run(&["up", "--wait"]);
    seen.look(&b);
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad-fails-1") && err.contains("exited (3)"), "{err}");
    p.ok(&["down"]);
    assert_eq!(leftovers(&b, &seen), before);

    // SIGKILL halfway (while `up` waits for a slow healthcheck), then `up` and `down`.
    p.write(
        "compose.yaml",
        "services:\n  slow:\n    image: busybox\n    command: sh -c 'sleep 3; touch /tmp/ok; exec sleep 100'\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/tmp/ok\"]\n      interval: 500ms\n      retries: 20\n  a:\n    image: busybox\n    command: sleep 100\n    depends_on:\n      slow:\n        condition: service_healthy\n  b:\n    image: busybox\n    command: sleep 100\n    networks: [back]\n    volumes: [v:/v]\nnetworks:\n  back: {}\nvolumes:\n  v: {}\n",
    );
    let mut up = p.cmd(&["up", "-d"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(up.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("Waiting") {}
    up.kill().unwrap(); // SIGKILL
    up.wait().unwrap();
    seen.look(&b);
    assert!(b.ok(&["ps", "-aq"]).lines().count() >= 1, "the kill came too late to be halfway");
    let (_, err) = p.ok(&["up", "-d"]);
    seen.look(&b);
    assert!(err.contains("Container bad-a-1  Started"), "{err}");
    assert_eq!(b.ok(&["ps", "-q"]).lines().count(), 3);
    p.ok(&["down", "-v"]);
    assert_eq!(leftovers(&b, &seen), before);
    assert!(!Path::new(&b.root().join("compose/bad")).exists());
}

const REAL_COMPOSE: &str = r#"
name: real
services:
  web:
    build:
      context: ./app
      target: web
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
      hello:
        condition: service_started
  db:
    build:
      context: ./app
      target: db
    volumes:
      - pgdata:/var/lib/postgresql
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 60
  cache:
    build:
      context: ./app
      target: cache
  hello:
    image: tcp
    environment:
      PORT: "8080"
volumes:
  pgdata:
"#;

const REAL_DOCKERFILE: &str = r#"FROM debian:bookworm-slim AS base
ENV DEBIAN_FRONTEND=noninteractive
RUN --mount=type=bind,source=repo,target=/repo \
    rm -f /etc/apt/sources.list.d/debian.sources && \
    echo 'deb [trusted=yes] file:/repo ./' > /etc/apt/sources.list && apt-get update -q

FROM base AS db
RUN --mount=type=bind,source=repo,target=/repo \
    apt-get install -y -q --no-install-recommends postgresql && \
    echo "listen_addresses='*'" >> /etc/postgresql/15/main/postgresql.conf && \
    echo "host all all 0.0.0.0/0 trust" >> /etc/postgresql/15/main/pg_hba.conf
USER postgres
CMD ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=/etc/postgresql/15/main/postgresql.conf"]

FROM base AS cache
RUN --mount=type=bind,source=repo,target=/repo apt-get install -y -q --no-install-recommends redis-server
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]

FROM base AS web
RUN --mount=type=bind,source=repo,target=/repo \
    apt-get install -y -q --no-install-recommends postgresql-client redis-tools busybox-static
COPY start.sh /start.sh
COPY app /www/cgi-bin/app
CMD ["/start.sh"]
"#;

/// Debian's postgresql and redis-server, a web service built from a Dockerfile that talks to
/// both by name with their own clients (psql, redis-cli), and the wasm service by name.
#[test]
#[ignore = "needs root"]
fn real_postgres_redis_web_and_wasm_by_name() {
    let base = fixtures_dir().join("debian-bookworm-slim-rootfs.tar");
    let repo = fixtures_dir().join("compose-repo");
    if !base.exists() || !repo.join("Packages").exists() {
        eprintln!("skipping: needs the Debian fixtures and compose-repo (scripts/setup.sh)");
        return;
    }
    let b = busybox_root();
    b.ok(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "CMD [\"bash\"]",
        base.to_str().unwrap(),
        "debian:bookworm-slim",
    ]);
    tcp_image(&b);
    let p = project(&b, "real");
    p.write("compose.yaml", REAL_COMPOSE);
    p.write("app/Dockerfile", REAL_DOCKERFILE);
    let dst = p.dir.join("app/repo");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&repo).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    // At start, postgres must accept connections (service_healthy): web creates its table then.
    p.write(
        "app/start.sh",
        "#!/bin/sh\nif psql -h db -U postgres -qAt -c 'CREATE TABLE IF NOT EXISTS rows (id serial primary key, v text)'; \
         then echo 'web: postgres accepted connections at start'; else echo 'web: postgres refused at start'; fi\n\
         exec busybox httpd -f -p 80 -h /www\n",
    );
    p.write(
        "app/app",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n\
         [ -n \"$QUERY_STRING\" ] && psql -h db -U postgres -qAt -c \"INSERT INTO rows(v) VALUES ('$QUERY_STRING')\" >/dev/null\n\
         echo \"rows: $(psql -h db -U postgres -qAt -c 'SELECT v FROM rows ORDER BY id' | tr '\\n' ' ')\"\n\
         echo \"hits: $(redis-cli -h cache INCR hits)\"\n\
         echo \"wasm: $(busybox wget -qO- http://hello:8080/)\"\n",
    );
    let mut seen = Seen::default();
    let before = leftovers(&b, &seen);
    let (_, err) = p.ok(&["up", "-d"]);
    seen.look(&b);
    let healthy = err.find("Container real-db-1  Healthy").unwrap_or_else(|| panic!("{err}"));
    assert!(err.find("Container real-web-1  Creating").unwrap() > healthy, "{err}");
    let get = |q: &str| -> String {
        let url = format!("http://127.0.0.1/cgi-bin/app?{q}");
        p.ok(&["exec", "-T", "web", "busybox", "wget", "-qO-", &url]).0
    };
    // web serves once its start script has talked to postgres (and said so in its log).
    let started = || {
        let t = Instant::now();
        let logs = loop {
            let (logs, _) = p.ok(&["logs", "--no-color", "web"]);
            if logs.contains("web: ") || t.elapsed() > Duration::from_secs(30) {
                break logs;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(logs.contains("web-1  | web: postgres accepted connections at start"), "{logs}");
        std::thread::sleep(Duration::from_millis(300));
    };
    started();
    let page = get("alpha");
    assert!(page.contains("rows: alpha"), "{page}");
    assert!(page.contains("hits: 1"), "{page}");
    assert!(page.contains("wasm: hello from berth wasm tcp"), "{page}");
    // Rows survive down + up (the named volume), and are gone after down -v.
    p.ok(&["down"]);
    p.ok(&["up", "-d"]);
    seen.look(&b);
    started();
    let page = get("beta");
    assert!(page.contains("rows: alpha beta"), "{page}");
    assert!(page.contains("hits: 1"), "redis keeps nothing across down: {page}");
    p.ok(&["down", "-v"]);
    p.ok(&["up", "-d"]);
    seen.look(&b);
    started();
    let page = get("");
    assert!(!page.contains("alpha"), "{page}");
    p.ok(&["down", "-v"]);
    assert_eq!(leftovers(&b, &seen), before);
}
