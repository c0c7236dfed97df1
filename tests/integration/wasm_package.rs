//! `berth wasm package` from WebAssembly text: a `.wat` module or component is converted as
//! `wasm-tools parse` would (the same bytes the `wat` crate makes) and stored like its binary;
//! the wasi:sockets server example (`examples/wasm-server/server.wat`) packaged that way is
//! reached through `-p` and answers with what `-e` and `-v` gave it; a file that is neither binary nor text wasm is refused with exit 125,
//! a message naming it, and the store untouched.

use berth_tests::Berth;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn example(rel: &str) -> PathBuf {
    berth_tests::manifest_dir().join("..").join(rel)
}

fn image_inspect(b: &Berth, name: &str) -> Value {
    serde_json::from_str::<Value>(&b.ok(&["image", "inspect", name])).unwrap()[0].clone()
}

/// The blob holding the image's only layer.
fn only_layer(b: &Berth, name: &str) -> (Value, Vec<u8>) {
    let i = image_inspect(b, name);
    let layers = i["Layers"].as_array().expect("Layers").clone();
    assert_eq!(layers.len(), 1, "{i}");
    let digest = layers[0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let blob = std::fs::read(b.root().join("content/blobs/sha256").join(digest)).unwrap();
    (layers[0].clone(), blob)
}

#[test]
#[ignore = "needs root"]
fn a_wat_module_is_packaged_as_its_binary_and_runs() {
    berth_tests::require_root();
    let b = Berth::new();
    let src = example("examples/wasm/wat/hello.wat");
    b.ok(&["wasm", "package", src.to_str().unwrap(), "-t", "hello-wat"]);
    let (layer, blob) = only_layer(&b, "hello-wat");
    assert_eq!(blob, wat::parse_file(&src).unwrap(), "the layer is the converted binary");
    assert_eq!(layer["mediaType"], "application/wasm");
    assert_eq!(layer["annotations"]["org.opencontainers.image.title"], "hello.wasm");
    assert_eq!(image_inspect(&b, "hello-wat")["OCIConfig"]["os"], "wasip1");

    let o = b.run(&["run", "--rm", "hello-wat"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from wat\n");
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));

    // Text in a file of any name, as `wasm-tools parse` takes it.
    let dir = tempfile::tempdir().unwrap();
    let noext = dir.path().join("guest");
    std::fs::copy(&src, &noext).unwrap();
    b.ok(&["wasm", "package", noext.to_str().unwrap(), "-t", "hello-noext"]);
    assert_eq!(only_layer(&b, "hello-noext").1, blob);
}

/// `curl -i` of `/` on 127.0.0.1:`port`, as the demo reaches it; `None` while nothing answers.
fn curl(port: u16) -> Option<String> {
    let o = std::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "5", &format!("http://127.0.0.1:{port}/")])
        .output()
        .expect("curl");
    Some(String::from_utf8_lossy(&o.stdout).into_owned()).filter(|r| o.status.success() && !r.is_empty())
}

/// The body of the reply of a server container published on 127.0.0.1:`port`.
fn body_through(port: u16) -> String {
    let t = Instant::now();
    let reply = loop {
        if let Some(r) = curl(port) {
            break r;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no reply through -p 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply:?}");
    reply.split_once("\r\n\r\n").expect("a header").1.to_string()
}

#[test]
#[ignore = "needs root"]
fn the_server_example_is_packaged_from_text_and_answers_through_p_with_its_env_and_volume() {
    berth_tests::require_root();
    let b = Berth::new();
    let src = example("examples/wasm-server/server.wat");
    b.ok(&["wasm", "package", src.to_str().unwrap(), "-t", "wasm-server"]);
    let i = image_inspect(&b, "wasm-server");
    assert_eq!(i["OCIConfig"]["os"], "wasip2", "a component: {i}");
    assert_eq!(only_layer(&b, "wasm-server").0["annotations"]["org.opencontainers.image.title"], "server.wasm");

    // -e WHO and a volume at /data show in the reply.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("greeting"), "hi from the test\n").unwrap();
    let port = berth_tests::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let vol = format!("{}:/data", data.path().display());
    b.ok(&["run", "-d", "--name", "wsrv", "-e", "WHO=test", "-v", &vol, "-p", &publish, "wasm-server"]);
    let want = "hello from wasm on port 8080\nWHO=test\n/data/greeting: hi from the test\n";
    assert_eq!(body_through(port), want);

    // Without them, the first line only.
    let port = berth_tests::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    b.ok(&["run", "-d", "--name", "wsrv2", "-p", &publish, "wasm-server"]);
    assert_eq!(body_through(port), "hello from wasm on port 8080\n");

    b.ok(&["rm", "-f", "wsrv", "wsrv2"]);
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn neither_binary_nor_text_wasm_is_refused_and_stores_nothing() {
    let b = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("script.sh", b"#!/bin/sh\necho hi\n", "valid WebAssembly text"),
        ("bad.wat", b"(module (func (export \"_start\") (i32.bogus)))", "valid WebAssembly text"),
        ("random.bin", &[0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0x00, 0x80], "not UTF-8"),
    ];
    for (name, content, why) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let o = b.run(&["wasm", "package", f.to_str().unwrap(), "-t", "nope"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(f.to_str().unwrap()), "{name}: names the file: {stderr}");
        assert!(stderr.contains("not a WebAssembly module or component"), "{name}: {stderr}");
        assert!(stderr.contains(why), "{name}: {stderr}");
    }
    let missing = dir.path().join("missing.wat");
    let o = b.run(&["wasm", "package", missing.to_str().unwrap(), "-t", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.wat"));

    assert_eq!(b.blob_count(), 0, "nothing stored");
    assert!(!b.run(&["image", "inspect", "nope"]).status.success());
}
