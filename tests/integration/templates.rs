//! `inspect -f`, `ps --format` and `images --format` run Go templates as Docker does, on a
//! real container: ranges over maps (the networks a container is on), Go's printing of maps,
//! slices and structs, Docker's functions and row methods (`.Label "k"`), and Docker's
//! messages and exit codes for a template that does not parse or fails. The expected texts are
//! what Docker 20.10's CLI printed for the same templates on the same kind of container.

use berth_tests::{busybox_root, free_port, Berth};

/// Runs berth; returns (exit code, stdout, stderr).
fn run(b: &Berth, args: &[&str]) -> (i32, String, String) {
    let o = b.run(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root"]
fn templates_on_a_container_on_a_user_network() {
    let b = busybox_root();
    b.ok(&["network", "create", "tn"]);
    let port = free_port().to_string();
    let publish = format!("127.0.0.1:{port}:80");
    let tmp = tempfile::tempdir().unwrap();
    let bind = format!("{}:/data", tmp.path().display());
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "tn",
        "-p",
        &publish,
        "-v",
        &bind,
        "-l",
        "k=v",
        "-l",
        "a=b",
        "-e",
        "A=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let f = |t: &str| b.ok(&["inspect", "-f", t, "c1"]);

    // The issue's case: a range over the networks map, not `<no value>`s.
    let ip = f("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    let ip = ip.trim();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip:?}");
    assert_eq!(f("{{.NetworkSettings.Networks.tn.IPAddress}}").trim(), ip);
    assert_eq!(
        f("{{range $name, $n := .NetworkSettings.Networks}}{{$name}}={{$n.IPAddress}}{{end}}").trim(),
        format!("tn={ip}")
    );
    // Go's printing of a map of slices of structs, and Docker's documented port template.
    assert_eq!(f("{{.NetworkSettings.Ports}}"), format!("map[80/tcp:[{{127.0.0.1 {port}}}]]\n"));
    assert_eq!(
        f("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}"),
        format!(" 80/tcp -> {port} \n")
    );
    assert_eq!(f("{{.Config.Labels}}"), "map[a:b k:v]\n");
    assert_eq!(f("{{.Config.Env}}"), "[A=1]\n");
    assert_eq!(
        f(r#"{{index .Config.Labels "k"}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}"#),
        "v||<no value>\n"
    );
    assert_eq!(f("{{json .Config.Labels}}"), "{\"a\":\"b\",\"k\":\"v\"}\n");
    assert_eq!(
        f("{{range .Mounts}}{{.Source}}->{{.Destination}}{{end}}"),
        format!("{}->/data\n", tmp.path().display())
    );
    assert!(
        f("{{.Mounts}}").starts_with(&format!("[{{bind  {} /data   true ", tmp.path().display())),
        "{}",
        f("{{.Mounts}}")
    );
    assert_eq!(f(r#"{{if eq .State.Status "running"}}up{{else}}down{{end}} {{.State.Running}}"#), "up true\n");
    assert_eq!(f("{{.HostConfig.RestartPolicy}} {{.State.Health}} {{.HostConfig.CpuShares}}"), "{no 0} <nil> 0\n");
    assert_eq!(
        f(r#"{{.Name | upper}} {{title "hello world"}} {{truncate .Id 5}} {{len .Id}}"#),
        format!("/C1 Hello World {} 64\n", &id[..5])
    );
    assert_eq!(f(r#"{{printf "%-4s|%5.2f|%x" "ab" 3.14159 255}}"#), "ab  | 3.14|ff\n");
    assert_eq!(f(r#"{{range .Config.Cmd}}{{if eq . "1000"}}{{break}}{{end}}{{.}} {{end}}"#), "sleep \n");

    // ps and images rows with Docker's methods.
    let ps = |t: &str| b.ok(&["ps", "--format", t]);
    assert_eq!(ps(r#"table {{.Names}}\t{{.Label "k"}}"#), "NAMES     k\nc1        v\n");
    assert_eq!(ps(r#"{{.Names}}|{{.Label "a"}}|{{.Label "zz"}}|{{.Labels}}"#), "c1|b||a=b,k=v\n");
    assert_eq!(
        ps(r#"{{truncate .ID 5}}|{{pad .Names 2 3}}|{{split .Image ":"}}"#),
        format!("{}|  c1   |[busybox]\n", &id[..5])
    );
    let images = b.ok(&["images", "--format", r#"{{.Repository}}:{{.Tag}} [{{.Label "x"}}]"#]);
    assert_eq!(images, "busybox:latest []\n");

    // A template that does not parse: Docker's message and exit code (64 for inspect).
    let (code, out, err) = run(&b, &["inspect", "-f", "{{.Id", "c1"]);
    assert_eq!((code, out.as_str(), err.trim()), (64, "", "template parsing error: template: :1: unclosed action"));
    let (code, _, err) = run(&b, &["ps", "--format", "{{.Names"]);
    assert_eq!((code, err.trim()), (1, "failed to parse template: template: :1: unclosed action"));
    let (code, _, err) = run(&b, &["images", "--format", "{{.Nope"]);
    assert_eq!((code, err.trim()), (1, "template parsing error: template: :1: unclosed action"));
    let (code, _, err) = run(&b, &["inspect", "-f", "{{$x}}", "c1"]);
    assert_eq!((code, err.trim()), (64, r#"template parsing error: template: :1: undefined variable "$x""#));
    // A template that fails on a value.
    // Docker tries every object, prints what printed (a lone newline when nothing did) and
    // then the errors.
    let (code, out, err) = run(&b, &["inspect", "-f", "{{.Nope}}", "c1", "c1"]);
    let nope = r#"template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#;
    assert_eq!((code, out.as_str(), err.trim()), (1, "\n", format!("{nope}\n{nope}").as_str()));
    let (code, _, err) = run(&b, &["inspect", "-f", "{{index .Id 99}}", "c1"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            r#"template parsing error: template: :1:2: executing "" at <index .Id 99>: error calling index: index out of range: 99"#
        )
    );
    let (code, _, err) = run(&b, &["ps", "--format", "{{.Nope}}"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            r#"failed to execute template: template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"#
        )
    );
    let (code, _, err) = run(&b, &["images", "--format", "{{range .Tag}}{{end}}"]);
    assert_eq!(
        (code, err.trim()),
        (1, r#"template parsing error: template: :1:8: executing "" at <.Tag>: range can't iterate over latest"#)
    );
    b.ok(&["rm", "-f", "c1"]);
    b.ok(&["network", "rm", "tn"]);
}

#[test]
#[ignore = "needs root"]
fn templates_on_a_container_without_network() {
    let b = busybox_root();
    b.ok(&["run", "-d", "--name", "c2", "--network", "none", "busybox", "sleep", "1000"]);
    // Docker prints the same for a `--network none` container.
    assert_eq!(
        b.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}[{{.IPAddress}}]{{end}} {{.NetworkSettings.Ports}} {{.Mounts}} {{.Config.Cmd}}", "c2"]),
        "[] map[] [] [sleep 1000]\n"
    );
    b.ok(&["rm", "-f", "c2"]);
}
