//! The examples of Docker's documentation ("Format command and log output", `docker inspect`,
//! `docker ps --format`) and Go's `text/template` semantics. Expected outputs and errors were
//! printed by Docker's CLI on a dockerd for the same container (busybox, a user network,
//! `-p 127.0.0.1:3000:80`, `-v /tmp:/data`, labels `k=v` and `a=b`, `-e A=1`).

use super::*;
use serde_json::json;

fn container() -> Value {
    Value::from_json(&json!({
        "Id": "8a461a19b45734c172e991b01abc101eb4fb0179e3e00f01edccff8d8a1230c5",
        "Path": "sleep",
        "Args": ["1000"],
        "Name": "/c1",
        "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false,
                  "Dead": false, "Pid": 19322, "ExitCode": 0, "Error": "", "StartedAt": "2026-12-07T23:50:13.55111681Z",
                  "FinishedAt": "0001-01-01T00:00:00Z", "Health": null},
        "HostConfig": {"Binds": ["/tmp:/data"], "Dns": null, "Memory": 0,
                       "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                       "LogConfig": {"Type": "json-file", "Config": {}}},
        "Mounts": [{"Type": "bind", "Name": "", "Source": "/tmp", "Destination": "/data", "Driver": "", "Mode": "",
                    "RW": true, "Propagation": "rslave"}],
        "Config": {"Env": ["A=1"], "Cmd": ["sleep", "1000"], "Labels": {"k": "v", "a": "b"}, "Image": "bb:latest"},
        "NetworkSettings": {
            "Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3000"}]},
            "Networks": {"tn": {"IPAMConfig": null, "Links": null, "Aliases": ["8a461a19b457"], "NetworkID": "8633ea98",
                                "Gateway": "172.18.0.1", "IPAddress": "172.18.0.2", "IPPrefixLen": 16}}
        }
    }))
}

fn inspect(t: &str) -> Result<String, Error> {
    Template::parse(t)?.execute(&container(), true)
}

fn ok(t: &str) -> String {
    inspect(t).unwrap_or_else(|e| panic!("{t}: {e}"))
}

fn err(t: &str) -> String {
    inspect(t).expect_err(t).message
}

#[test]
fn docker_documentation_examples() {
    let cases: &[(&str, &str)] = &[
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.18.0.2"),
        ("{{.NetworkSettings.Ports}}", "map[80/tcp:[{127.0.0.1 3000}]]"),
        ("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}", " 80/tcp -> 3000 "),
        ("{{.Mounts}}", "[{bind  /tmp /data   true rslave}]"),
        ("{{range .Mounts}}{{.Source}}{{end}}", "/tmp"),
        (
            "{{.State}}",
            "{running true false false false false 19322 0  2026-12-07T23:50:13.55111681Z 0001-01-01T00:00:00Z <nil>}",
        ),
        ("{{.Config.Env}}", "[A=1]"),
        ("{{.Config.Labels}}", "map[a:b k:v]"),
        (r#"{{index .Config.Labels "k"}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}"#, "v||<no value>"),
        ("{{.HostConfig.RestartPolicy}}", "{no 0}"),
        ("{{.HostConfig.LogConfig}}", "{json-file map[]}"),
        ("{{.State.Health}}", "<nil>"),
        ("{{.HostConfig.Binds}}|{{.HostConfig.Dns}}|{{.Config.Cmd}}", "[/tmp:/data]|[]|[sleep 1000]"),
        ("{{json .Config.Labels}} {{json .Mounts}}", r#"{"a":"b","k":"v"} [{"Type":"bind","Name":"","Source":"/tmp","Destination":"/data","Driver":"","Mode":"","RW":true,"Propagation":"rslave"}]"#),
        (r#"{{if eq .State.Status "running"}}up{{end}}"#, "up"),
        (r#"{{len .Config.Env}} {{slice .Id 0 5}} {{printf "%5.2f|%-10s|%x|%q|%v" 3.14159 "ab" 255 "q" .Config.Env}}"#, "1 8a461  3.14|ab        |ff|\"q\"|[A=1]"),
        ("{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}", "A=1"),
        (r#"{{range .Config.Env}}{{if eq . "A=1"}}{{break}}{{end}}{{.}}{{end}}"#, ""),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
        (r#"{{define "t"}}[{{.}}]{{end}}{{template "t" .Name}}{{block "b" .Id}}{{len .}}{{end}}"#, "[/c1]64"),
        (r#"{{html "<a&>"}} {{js "a'b<"}} {{urlquery "a b&c"}}"#, r"&lt;a&amp;&gt; a\'b\u003C a+b%26c"),
        ("{{'a'}} {{0x10}} {{1e3}} {{1.5}} {{-3}}", "97 16 1000 1.5 -3"),
        ("{{.State.Pid}} {{.Config.Env | len}} {{printf \"%v\" .State.Pid}} {{.HostConfig.Memory}} {{1e6}} {{2.5e-7}} {{0.1}}", "19322 1 19322 0 1e+06 2.5e-07 0.1"),
        (r#"{{and 0 .Nope}} {{or 1 .Nope}}"#, "0 1"),
        (r#"{{.Name | upper}} {{title "hello world"}} {{split .Config.Image ":"}} {{truncate .Id 5}} {{pad .Path 2 3}}|"#, "/C1 Hello World [bb latest] 8a461   sleep   |"),
        (r#"{{join .Config.Cmd " , "}}"#, "sleep , 1000"),
        ("{{json .Config.Env}}", r#"["A=1"]"#),
        // A null slice or map of Docker's structs prints empty but is null in JSON.
        ("{{.HostConfig.Dns}} {{json .HostConfig.Dns}} {{len .HostConfig.Dns}} {{range .HostConfig.Dns}}x{{else}}none{{end}}", "[] null 0 none"),
        // Fields of Docker's structs berth's document leaves out are zero.
        ("{{.HostConfig.CpuShares}} {{.HostConfig.Privileged}} {{.HostConfig.PidsLimit}} {{.HostConfig.CapAdd}} {{.Config.Healthcheck}} {{.Config.User}}|", "0 false <nil> [] <nil> |"),
        ("{{.NetworkSettings.Networks.tn.DNSNames}} {{.NetworkSettings.Networks.tn.MacAddress}}|", "[] |"),
        ("{{.HostConfig.Sysctls}} {{json .HostConfig.Sysctls}} {{index .HostConfig.Sysctls \"x\"}}|", "map[] null |"),
        ("{{.Name}}\\t{{.Path}}", "/c1\\tsleep"),
    ];
    for (t, want) in cases {
        assert_eq!(ok(t), *want, "{t}");
    }
}

#[test]
fn docker_errors() {
    let cases: &[(&str, &str)] = &[
        ("{{.Nope}}", r#"template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#),
        ("{{.Config.Nope}}", r#"template: :1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope""#),
        ("{{.Id", "template: :1: unclosed action"),
        (
            "{{index .Id 99}}",
            r#"template: :1:2: executing "" at <index .Id 99>: error calling index: index out of range: 99"#,
        ),
        ("{{.Id.a.b}}", r#"template: :1:5: executing "" at <.Id.a.b>: can't evaluate field a in type interface {}"#),
        ("{{$x}}", r#"template: :1: undefined variable "$x""#),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        (r#"{{template "x"}}"#, r#"template: :1:11: executing "" at <{{template "x"}}>: template "x" not defined"#),
        (
            r#"{{index .Config.Labels 1}}"#,
            r#"template: :1:2: executing "" at <index .Config.Labels 1>: error calling index: value has type int; should be string"#,
        ),
        (
            "{{ .Config.Env | join }}",
            r#"template: :1:17: executing "" at <join>: wrong number of args for join: want 2 got 1"#,
        ),
        ("{{if}}x{{end}}", "template: :1: missing value for if"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{if .Id}}x", "template: :1: unexpected EOF"),
        ("{{\"unterminated}}", "template: :1: unterminated quoted string"),
        ("{{'x}}", "template: :1: unterminated character constant"),
        ("{{nofunc .Id}}", r#"template: :1: function "nofunc" not defined"#),
        ("{{nil}}", r#"template: :1:2: executing "" at <nil>: nil is not a command"#),
        (
            "{{range .Id}}{{end}}",
            r#"template: :1:8: executing "" at <.Id>: range can't iterate over 8a461a19b45734c172e991b01abc101eb4fb0179e3e00f01edccff8d8a1230c5"#,
        ),
        (
            "{{.State.Health.Status}}",
            r#"template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status"#,
        ),
        (
            "{{eq .Id}}",
            r#"template: :1:2: executing "" at <eq .Id>: error calling eq: missing argument for comparison"#,
        ),
        (
            "{{eq .Id 1}}",
            r#"template: :1:2: executing "" at <eq .Id 1>: error calling eq: incompatible types for comparison"#,
        ),
        ("{{json}}", r#"template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0"#),
        ("{{upper 1}}", r#"template: :1:8: executing "" at <1>: expected string; found 1"#),
        (
            "{{upper .State.Pid}}",
            r#"template: :1:14: executing "" at <.State.Pid>: wrong type for value; expected string; got json.Number"#,
        ),
        ("{{.Id | .Name}}", r#"template: :1:8: executing "" at <.Name>: Name is not a method but has arguments"#),
        ("{{(1) 2}}", r#"template: :1:2: executing "" at <(1) 2>: can't give argument to non-function 1"#),
        ("{{1 | 2}}", "template: :1: non executable command in pipeline stage 2"),
        ("{{@}}", r#"template: :1: unexpected "@" in command"#),
        ("{{.Id \u{1F600}}}", "template: :1: unrecognized character in action: U+1F600 '\u{1F600}'"),
        ("{{/* x */ .Id}}", "template: :1: comment ends before closing delimiter"),
        ("{{/* x", "template: :1: unclosed comment"),
        ("{{range $a, $b, $c := .Config.Env}}{{end}}", "template: :1: too many declarations in range"),
        ("x\n{{.Id}}\n{{.Nope}}", r#"template: :3:2: executing "" at <.Nope>: map has no entry for key "Nope""#),
    ];
    for (t, want) in cases {
        assert_eq!(err(t), *want, "{t}");
    }
    assert!(Template::parse("{{.Id").unwrap_err().parse);
    assert!(!inspect("{{.Nope}}").unwrap_err().parse);
}

#[test]
fn go_semantics() {
    let list = |xs: &[&str]| Value::List(xs.iter().map(|x| Value::str(*x)).collect());
    let data = Value::from_json(&json!({
        "Items": ["a", "b", "c"],
        "Empty": [],
        "Labels": {"b": 2, "a": 1},
        "Nested": {"Inner": {"X": 1}},
        "F": 1.5,
        "T": true,
    }));
    let run = |t: &str| Template::parse(t).and_then(|t| t.execute(&data, false)).unwrap_or_else(|e| panic!("{t}: {e}"));
    let cases: &[(&str, &str)] = &[
        // range over slices and maps (keys sorted), else, break, continue, variables.
        ("{{range .Items}}{{.}}{{end}}", "abc"),
        ("{{range $i, $v := .Items}}{{$i}}={{$v}} {{end}}", "0=a 1=b 2=c "),
        ("{{range $v := .Items}}{{$v}}{{end}}", "abc"),
        ("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}", "a:1;b:2;"),
        ("{{range .Empty}}x{{else}}empty{{end}}", "empty"),
        (r#"{{range .Items}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}"#, "ac"),
        (r#"{{range .Items}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}"#, "a"),
        ("{{$n := 0}}{{range .Items}}{{$n = .}}{{end}}{{$n}}", "c"),
        ("{{range .Items}}{{$.T}}{{end}}", "truetruetrue"),
        // if / else if / else, with / else with.
        (r#"{{if .Empty}}1{{else if .Labels.missing}}2{{else if .T}}3{{else}}4{{end}}"#, "3"),
        ("{{with .Nested.Inner}}{{.X}}{{end}}", "1"),
        ("{{with .Empty}}x{{else with .Items}}{{len .}}{{else}}none{{end}}", "3"),
        ("{{with $x := .F}}{{$x}}{{end}}", "1.5"),
        // Pipes, parentheses, chains on parenthesised pipelines.
        (r#"{{.Items | len | printf "%03d"}}"#, "003"),
        ("{{(index .Items 1) | upper}}", "B"),
        ("{{(.Nested).Inner.X}}", "1"),
        (r#"{{index .Labels "a"}} {{index .Nested "Inner" | printf "%v"}}"#, "1 {1}"),
        ("{{slice .Items 1}} {{slice .Items 1 2}} {{slice \"hello\" 1 3}}", "[b c] [b] el"),
        // Comparisons and logic: short-circuit, multi-argument eq.
        (
            r#"{{eq "b" "a" "b"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}"#,
            "true true true true true false",
        ),
        ("{{and 1 2}} {{and 1 0 2}} {{or 0 \"\"}} {{or 0 3}} {{not .Empty}}", "2 0  3 true"),
        (r#"{{and .Empty (index .Empty 5)}}"#, "[]"),
        (r#"{{or .T (index .Empty 5)}}"#, "true"),
        // Printing: print/println spacing, numbers, nil and missing.
        (r#"{{print 1 2 "a" "b" 3}}|{{println "x" 1}}|{{print nil}}"#, "1 2ab3|x 1\n|<nil>"),
        ("{{.Labels.nope}} {{index .Labels \"nope\"}}", "<no value> <nil>"),
        ("{{.F}} {{.T}} {{.Labels}} {{.Nested}}", "1.5 true map[a:1 b:2] {{1}}"),
        // Trim markers, comments, raw strings.
        ("a  {{- .T -}}  b", "atrueb"),
        ("a {{- /* c */ -}} b", "ab"),
        ("{{`raw \\n`}}", "raw \\n"),
        ("{{\"esc\\t\\u00e9\"}}", "esc\té"),
        // Multi-line actions (Go 1.16).
        ("{{if\n.T}}y{{end}}", "y"),
    ];
    for (t, want) in cases {
        assert_eq!(run(t), *want, "{t}");
    }
    assert_eq!(list(&["a"]).go_string(), "[a]");
    // A network's IPAM config prints as Docker's structs (`docker network inspect`).
    let net = Value::from_json(
        &json!({"IPAM": {"Driver": "default", "Config": [{"Gateway": "172.22.0.1", "Subnet": "172.22.0.0/16"}]}}),
    );
    let t = Template::parse("{{.IPAM.Config}}").unwrap();
    assert_eq!(t.execute(&net, true).unwrap(), "[{172.22.0.0/16  172.22.0.1 map[]}]");
}

#[test]
fn rows_and_headers() {
    let row = |names: &str| {
        Value::row(
            "*formatter.ContainerContext",
            [("ID".to_string(), "abc".to_string()), ("Names".to_string(), names.to_string())],
            vec![("Label".into(), [("k".to_string(), "v".to_string())].into())],
        )
    };
    let run = |t: &str| Template::parse(t).and_then(|t| t.execute(&row("c1"), false));
    assert_eq!(run(r#"{{.Names}} {{.Label "k"}}|{{.Label "zz"}}|{{"k" | .Label}}"#).unwrap(), "c1 v||v");
    assert_eq!(run("{{json .}}").unwrap(), r#"{"ID":"abc","Names":"c1"}"#);
    let e = |t: &str| run(t).unwrap_err().message;
    assert_eq!(
        e("{{.Nope}}"),
        r#"template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"#
    );
    assert_eq!(
        e("{{.Label}}"),
        r#"template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0"#
    );
    assert_eq!(
        e(r#"{{.Label "a" "b"}}"#),
        r#"template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 2"#
    );
    assert_eq!(
        e("{{.Names .ID}}"),
        r#"template: :1:2: executing "" at <.Names>: wrong number of args for Names: want 0 got 1"#
    );
    assert_eq!(
        e("{{.Names.a.b}}"),
        r#"template: :1:8: executing "" at <.Names.a.b>: can't evaluate field a in type string"#
    );
    assert_eq!(
        e("{{range .Names}}{{end}}"),
        r#"template: :1:8: executing "" at <.Names>: range can't iterate over c1"#
    );
    let header = |f: &str| f.to_ascii_uppercase();
    let t = Template::parse(r#"{{.ID}}\t{{upper .Names}}\t{{.Label "com.x.my-label"}}"#).unwrap();
    assert_eq!(t.execute_header(&header).unwrap(), r"ID\tNAMES\tmy label");
}
