//! WebAssembly containers: every wasm image form through a registry and `berth run`, the probe
//! guest's view (args, env, preopens, exit code, stdout/stderr), the lifecycle through the same
//! shim as native containers, the foreground fast path (a socket-free guest run by the CLI
//! itself, still a container to `ps`/`inspect`/`logs`/`stop`/`kill`), a `wasi:sockets` guest
//! reached through `-p` and by name from a native container, the compiled-code cache, and every
//! bad input the issue names.
//!
//! Guests are WAT compiled with the `wat` crate; images are built straight into a store with
//! the engine's own `Store` (or with `berth wasm package`), pushed, and pulled into a fresh root.

use berth_engine::store::Store;
use berth_engine::{media, Digest};
use berth_tests::{Berth, BerthRegistry, DistributionRegistry};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// A WASI preview 1 guest that prints `arg:<a>` per argument and `env:<kv>` per variable on
/// stdout, `to stderr` on stderr, writes `out.txt` in the directory preopened at `/data`, and
/// exits 7 (6: no `/data` preopen; 5: `/data/out.txt` could not be created).
const PROBE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "arg:env:\n")
  (data (i32.const 32) "/data")
  (data (i32.const 40) "out.txt")
  (data (i32.const 48) "written by wasm\n")
  (data (i32.const 64) "to stderr\n")
  (func $print (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $n))
  (func $list (param $prefix i32) (param $count i32) (param $ptrs i32) (local $i i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $s (i32.load (i32.add (local.get $ptrs) (i32.mul (local.get $i) (i32.const 4)))))
      (call $print (i32.const 1) (local.get $prefix) (i32.const 4))
      (call $print (i32.const 1) (local.get $s) (call $strlen (local.get $s)))
      (call $print (i32.const 1) (i32.const 24) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  (func (export "_start") (local $fd i32) (local $found i32)
    (drop (call $args_sizes_get (i32.const 300) (i32.const 304)))
    (drop (call $args_get (i32.const 1024) (i32.const 8192)))
    (call $list (i32.const 16) (i32.load (i32.const 300)) (i32.const 1024))
    (drop (call $environ_sizes_get (i32.const 300) (i32.const 304)))
    (drop (call $environ_get (i32.const 32768) (i32.const 40960)))
    (call $list (i32.const 20) (i32.load (i32.const 300)) (i32.const 32768))
    (call $print (i32.const 2) (i32.const 64) (i32.const 10))
    (local.set $fd (i32.const 3))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $fd) (i32.const 16)))
      (if (i32.eqz (call $fd_prestat_get (local.get $fd) (i32.const 100)))
        (then
          (if (i32.eq (i32.load (i32.const 104)) (i32.const 5))
            (then
              (drop (call $fd_prestat_dir_name (local.get $fd) (i32.const 112) (i32.const 5)))
              (if (i32.and (i32.eq (i32.load (i32.const 112)) (i32.load (i32.const 32)))
                           (i32.eq (i32.load8_u (i32.const 116)) (i32.load8_u (i32.const 36))))
                (then (local.set $found (local.get $fd)) (br $done)))))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br $l)))
    (if (i32.eqz (local.get $found)) (then (call $proc_exit (i32.const 6))))
    (if (call $path_open (local.get $found) (i32.const 0) (i32.const 40) (i32.const 7) (i32.const 9)
                         (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 200))
      (then (call $proc_exit (i32.const 5))))
    (call $print (i32.load (i32.const 200)) (i32.const 48) (i32.const 16))
    (call $proc_exit (i32.const 7)))
)
"#;

/// Prints `tick` once, then spins forever (stop must interrupt it).
const SPIN: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "tick\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $l (br $l))))
"#;

/// Prints `hello`, exits 3.
const HELLO3: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 3))))
"#;

/// Grows its memory one page at a time until growth fails, then traps (like an allocator
/// aborting).
const GROW: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
"#;

/// Overwrites its own binary, `/app.wasm`, in its rootfs (the first preopen, fd 3), then exits 0
/// (5: the open failed).
const SELF_WRITE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "app.wasm")
  (data (i32.const 32) "overwritten\n")
  (func (export "_start")
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 8) (i32.const 9)
                         (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 200))
      (then (call $proc_exit (i32.const 5))))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.load (i32.const 200)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 0))))
"#;

const TRAP: &str = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;

const MISSING_IMPORT: &str = r#"
(module
  (import "env" "host_magic" (func $m))
  (memory (export "memory") 1)
  (func (export "_start") (call $m)))
"#;

/// A `wasi:cli/command` component (no imports) whose `run` returns ok (`DISC` 0) or err (1).
const COMPONENT: &str = r#"
(component
  (core module $m (func (export "run") (result i32) i32.const DISC))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $runi (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $runi)))
"#;

/// A `wasi:cli/command` component that listens with `wasi:sockets` on 0.0.0.0:8080 and answers
/// every connection with a one-line HTTP/1.0 reply (`hello from wasm tcp`), forever: the
/// smallest guest that needs a network.
pub(crate) const TCP_SERVER: &str = r#"
(component $C
  (import "wasi:io/error@0.2.0" (instance $ioerr (export "error" (type (sub resource)))))
  (alias export $ioerr "error" (type $error))
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type $p (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow $p))))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (alias outer $C $error (type $e0))
    (export "error" (type $e (eq $e0)))
    (type $se0 (variant (case "last-operation-failed" (own $e)) (case "closed")))
    (export "stream-error" (type $se (eq $se0)))
    (export "input-stream" (type $is (sub resource)))
    (export "output-stream" (type $os (sub resource)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8)) (result (result (error $se)))))))
  (alias export $streams "input-stream" (type $input-stream))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:sockets/network@0.2.0" (instance $network (export "network" (type (sub resource)))))
  (alias export $network "network" (type $network-t))
  (import "wasi:sockets/instance-network@0.2.0" (instance $inet
    (alias outer $C $network-t (type $n0))
    (export "network" (type $n (eq $n0)))
    (export "instance-network" (func (result (own $n))))))
  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (alias outer $C $network-t (type $n0))
    (export "network" (type $n (eq $n0)))
    (alias outer $C $pollable (type $p0))
    (export "pollable" (type $p (eq $p0)))
    (alias outer $C $input-stream (type $is0))
    (export "input-stream" (type $is (eq $is0)))
    (alias outer $C $output-stream (type $os0))
    (export "output-stream" (type $os (eq $os0)))
    (type $ec0 (enum "unknown" "access-denied" "not-supported" "invalid-argument" "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress" "would-block" "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use" "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted" "datagram-too-large" "name-unresolvable" "temporary-resolver-failure" "permanent-resolver-failure"))
    (export "error-code" (type $ec (eq $ec0)))
    (type $a40 (record (field "port" u16) (field "address" (tuple u8 u8 u8 u8))))
    (export "ipv4-socket-address" (type $a4 (eq $a40)))
    (type $a60 (record (field "port" u16) (field "flow-info" u32)
      (field "address" (tuple u16 u16 u16 u16 u16 u16 u16 u16)) (field "scope-id" u32)))
    (export "ipv6-socket-address" (type $a6 (eq $a60)))
    (type $sa0 (variant (case "ipv4" $a4) (case "ipv6" $a6)))
    (export "ip-socket-address" (type $sa (eq $sa0)))
    (export "tcp-socket" (type $s (sub resource)))
    (export "[method]tcp-socket.start-bind"
      (func (param "self" (borrow $s)) (param "network" (borrow $n)) (param "local-address" $sa) (result (result (error $ec)))))
    (export "[method]tcp-socket.finish-bind" (func (param "self" (borrow $s)) (result (result (error $ec)))))
    (export "[method]tcp-socket.start-listen" (func (param "self" (borrow $s)) (result (result (error $ec)))))
    (export "[method]tcp-socket.finish-listen" (func (param "self" (borrow $s)) (result (result (error $ec)))))
    (export "[method]tcp-socket.accept"
      (func (param "self" (borrow $s)) (result (result (tuple (own $s) (own $is) (own $os)) (error $ec)))))
    (export "[method]tcp-socket.subscribe" (func (param "self" (borrow $s)) (result (own $p))))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))
  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $create
    (alias outer $C $tcp-socket (type $s0))
    (export "tcp-socket" (type $s (eq $s0)))
    (type $ec0 (enum "unknown" "access-denied" "not-supported" "invalid-argument" "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress" "would-block" "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use" "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted" "datagram-too-large" "name-unresolvable" "temporary-resolver-failure" "permanent-resolver-failure"))
    (export "error-code" (type $ec (eq $ec0)))
    (type $fam0 (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type $fam (eq $fam0)))
    (export "create-tcp-socket" (func (param "address-family" $fam) (result (result (own $s) (error $ec)))))))

  (core module $Mem (memory (export "mem") 1))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "mem" (core memory $m))
  (core func $instance-network (canon lower (func $inet "instance-network")))
  (core func $create-socket (canon lower (func $create "create-tcp-socket") (memory $m)))
  (core func $start-bind (canon lower (func $tcp "[method]tcp-socket.start-bind") (memory $m)))
  (core func $finish-bind (canon lower (func $tcp "[method]tcp-socket.finish-bind") (memory $m)))
  (core func $start-listen (canon lower (func $tcp "[method]tcp-socket.start-listen") (memory $m)))
  (core func $finish-listen (canon lower (func $tcp "[method]tcp-socket.finish-listen") (memory $m)))
  (core func $accept (canon lower (func $tcp "[method]tcp-socket.accept") (memory $m)))
  (core func $subscribe (canon lower (func $tcp "[method]tcp-socket.subscribe")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush") (memory $m)))
  (core func $drop-socket (canon resource.drop $tcp-socket))
  (core func $drop-input (canon resource.drop $input-stream))
  (core func $drop-output (canon resource.drop $output-stream))
  (core func $drop-pollable (canon resource.drop $pollable))

  (core module $Main
    (import "m" "mem" (memory 1))
    (import "w" "instance-network" (func $instance-network (result i32)))
    (import "w" "create-socket" (func $create-socket (param i32 i32)))
    (import "w" "start-bind" (func $start-bind (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "w" "finish-bind" (func $finish-bind (param i32 i32)))
    (import "w" "start-listen" (func $start-listen (param i32 i32)))
    (import "w" "finish-listen" (func $finish-listen (param i32 i32)))
    (import "w" "accept" (func $accept (param i32 i32)))
    (import "w" "subscribe" (func $subscribe (param i32) (result i32)))
    (import "w" "block" (func $block (param i32)))
    (import "w" "write" (func $write (param i32 i32 i32 i32)))
    (import "w" "drop-socket" (func $drop-socket (param i32)))
    (import "w" "drop-input" (func $drop-input (param i32)))
    (import "w" "drop-output" (func $drop-output (param i32)))
    (import "w" "drop-pollable" (func $drop-pollable (param i32)))
    (data (i32.const 1024) "HTTP/1.0 200 OK\0d\0aContent-Length: 20\0d\0a\0d\0ahello from wasm tcp\0a")
    ;; Scratch for results at 0; a failed step ends the guest with an error.
    (func $ok (result i32) (i32.eqz (i32.load8_u (i32.const 0))))
    (func (export "run") (result i32) (local $net i32) (local $sock i32) (local $p i32)
      (local.set $net (call $instance-network))
      (call $create-socket (i32.const 0) (i32.const 0))
      (if (i32.eqz (call $ok)) (then (return (i32.const 1))))
      (local.set $sock (i32.load (i32.const 4)))
      (call $start-bind (local.get $sock) (local.get $net)
        (i32.const 0) (i32.const 8080) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
      (if (i32.eqz (call $ok)) (then (return (i32.const 1))))
      (call $finish-bind (local.get $sock) (i32.const 0))
      (if (i32.eqz (call $ok)) (then (return (i32.const 1))))
      (call $start-listen (local.get $sock) (i32.const 0))
      (if (i32.eqz (call $ok)) (then (return (i32.const 1))))
      (call $finish-listen (local.get $sock) (i32.const 0))
      (if (i32.eqz (call $ok)) (then (return (i32.const 1))))
      (loop $serve
        (local.set $p (call $subscribe (local.get $sock)))
        (call $block (local.get $p))
        (call $drop-pollable (local.get $p))
        (call $accept (local.get $sock) (i32.const 0))
        (if (call $ok) (then
          (call $write (i32.load (i32.const 12)) (i32.const 1024) (i32.const 59) (i32.const 64))
          (call $drop-output (i32.load (i32.const 12)))
          (call $drop-input (i32.load (i32.const 8)))
          (call $drop-socket (i32.load (i32.const 4)))))
        (br $serve))
      (i32.const 0)))
  (core instance $main (instantiate $Main
    (with "m" (instance (export "mem" (memory $m))))
    (with "w" (instance
      (export "instance-network" (func $instance-network))
      (export "create-socket" (func $create-socket))
      (export "start-bind" (func $start-bind))
      (export "finish-bind" (func $finish-bind))
      (export "start-listen" (func $start-listen))
      (export "finish-listen" (func $finish-listen))
      (export "accept" (func $accept))
      (export "subscribe" (func $subscribe))
      (export "block" (func $block))
      (export "write" (func $write))
      (export "drop-socket" (func $drop-socket))
      (export "drop-input" (func $drop-input))
      (export "drop-output" (func $drop-output))
      (export "drop-pollable" (func $drop-pollable))))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $runi (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $runi)))
"#;

fn wasm(wat_text: &str) -> Vec<u8> {
    wat::parse_str(wat_text).expect("valid wat")
}

fn tar_gz(files: &[(&str, &[u8], u32)]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *content).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), Digest::of(&raw))
}

/// Stores an image: `layers` are (blob, media type, diff id, title).
fn store_image(
    root: &Path,
    name: &str,
    config_type: &str,
    config: Value,
    layers: &[(Vec<u8>, &str, Option<Digest>, &str)],
) {
    let store = Store::open(root).unwrap();
    let mut descs = Vec::new();
    let mut config = config;
    let mut diff_ids = Vec::new();
    for (blob, mt, diff, title) in layers {
        let (d, size) = store.put_blob(blob, None).unwrap();
        let mut desc = json!({"mediaType": mt, "digest": d.as_str(), "size": size});
        if !title.is_empty() {
            desc["annotations"] = json!({"org.opencontainers.image.title": title});
        }
        descs.push(desc);
        if let Some(id) = diff {
            diff_ids.push(id.to_string());
        }
    }
    if !diff_ids.is_empty() {
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    }
    let cdesc = store.put_json(config_type, &config).unwrap();
    let manifest = json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": cdesc, "layers": descs});
    let mdesc = store.put_json(media::OCI_MANIFEST, &manifest).unwrap();
    store.set_ref(name, &mdesc).unwrap();
}

fn out(o: &std::process::Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

/// Pushes `name` from `a`, pulls it into a fresh root and returns that root.
fn through_registry(a: &Berth, name: &str) -> Berth {
    a.ok(&["push", name]);
    let b = Berth::new();
    b.ok(&["pull", name]);
    b
}

/// Runs the probe with args, -e, --env-file, a bind mount and -w; checks what it saw.
fn check_probe(b: &Berth, image: &str, image_env: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let envfile = data.path().join("env.list");
    std::fs::write(&envfile, "FROM_FILE=yes\n").unwrap();
    let vol = format!("{}:/data", data.path().display());
    let o = b.run(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "--env-file",
        envfile.to_str().unwrap(),
        "-v",
        &vol,
        "-w",
        "/data",
        image,
        "one",
        "two words",
    ]);
    let (stdout, stderr, code) = out(&o);
    assert_eq!(code, 7, "stdout: {stdout}\nstderr: {stderr}");
    let args: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("arg:")).collect();
    assert_eq!(&args[1..], ["one", "two words"], "{stdout}");
    assert!(stdout.lines().any(|l| l == "env:GREETING=hi there"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "env:FROM_FILE=yes"), "{stdout}");
    if let Some(e) = image_env {
        assert!(stdout.lines().any(|l| l == format!("env:{e}")), "{stdout}");
    }
    assert!(!stdout.contains("to stderr"), "{stdout}");
    assert!(stderr.contains("to stderr"), "{stderr}");
    assert_eq!(std::fs::read_to_string(data.path().join("out.txt")).unwrap(), "written by wasm\n");

    // :ro is honoured: the guest cannot create the file.
    std::fs::remove_file(data.path().join("out.txt")).unwrap();
    let ro = format!("{}:/data:ro", data.path().display());
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "-v", &ro, image]));
    assert_eq!(code, 5, "{stderr}");
    assert!(!data.path().join("out.txt").exists());
    // Without the mount there is no /data.
    let (_, _, code) = out(&b.run(&["run", "--rm", image]));
    assert_eq!(code, 6);
}

#[test]
#[ignore = "needs root"]
fn cncf_artifact_packaged_pushed_pulled_and_run() {
    berth_tests::require_root();
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.wasm");
    std::fs::write(&file, wasm(PROBE)).unwrap();
    let name = format!("{}/wasm/probe:cncf", reg.host());
    a.ok(&["wasm", "package", file.to_str().unwrap(), "-t", &name]);
    let b = through_registry(&a, &name);
    let inspect: Value = serde_json::from_str(&b.ok(&["image", "inspect", &name])).unwrap();
    let _ = inspect;
    // The manifest is the CNCF layout.
    let store = Store::open(b.root()).unwrap();
    let desc = store.get_ref(&name).unwrap().unwrap();
    let m: Value =
        serde_json::from_slice(&store.read_blob(&desc.digest().to_string().parse().unwrap()).unwrap()).unwrap();
    assert_eq!(m["config"]["mediaType"], media::WASM_CONFIG_V0);
    assert_eq!(m["layers"][0]["mediaType"], media::WASM_LAYER);
    let cfg: Value =
        serde_json::from_slice(&store.read_blob(&m["config"]["digest"].as_str().unwrap().parse().unwrap()).unwrap())
            .unwrap();
    assert_eq!(cfg["architecture"], "wasm");
    assert_eq!(cfg["os"], "wasip1");
    assert_eq!(cfg["layerDigests"][0], m["layers"][0]["digest"]);
    check_probe(&b, &name, None);

    // The decision is recorded and shown.
    let id = b.ok(&["create", &name]).trim().to_string();
    let i: Value = serde_json::from_str(&b.ok(&["inspect", &id])).unwrap();
    assert_eq!(i[0]["Runtime"], "wasm", "{i}");
    assert_eq!(i[0]["Platform"], "wasi", "{i}");
    b.ok(&["rm", &id]);
}

#[test]
#[ignore = "needs root"]
fn oci_image_with_wasm_architecture_and_wasm_layers() {
    berth_tests::require_root();
    let reg = BerthRegistry::start();
    let a = Berth::new();
    let name = format!("{}/wasm/probe:oci", reg.host());
    let config = json!({"architecture": "wasm", "os": "wasip1", "config": {"Env": ["IMAGE_ENV=from-image"], "Entrypoint": ["/probe.wasm"]}});
    store_image(
        a.root(),
        &name,
        media::OCI_CONFIG,
        config,
        &[(wasm(PROBE), media::WASM_COMPONENT_LAYER, None, "probe.wasm")],
    );
    let b = through_registry(&a, &name);
    check_probe(&b, &name, Some("IMAGE_ENV=from-image"));
}

#[test]
#[ignore = "needs root"]
fn wasi_wasm_image_with_tar_layers_and_a_wasm_entrypoint() {
    berth_tests::require_root();
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let name = format!("{}/wasm/probe:wasi", reg.host());
    let (blob, diff) = tar_gz(&[("app/probe.wasm", &wasm(PROBE), 0o755)]);
    let config = json!({"architecture": "wasm", "os": "wasi", "config": {"Entrypoint": ["/app/probe.wasm"], "Env": ["IMAGE_ENV=tar"]}});
    store_image(a.root(), &name, media::OCI_CONFIG, config, &[(blob, media::OCI_LAYER_GZIP, Some(diff), "")]);
    let b = through_registry(&a, &name);
    check_probe(&b, &name, Some("IMAGE_ENV=tar"));
}

#[test]
#[ignore = "needs root"]
fn linux_rootfs_image_whose_entrypoint_is_wasm() {
    berth_tests::require_root();
    let reg = DistributionRegistry::start();
    let a = Berth::new();
    let name = format!("{}/wasm/probe:rootfs", reg.host());
    // No extension, found through PATH: only the magic bytes say wasm.
    let (blob, diff) = tar_gz(&[("usr/bin/probe", &wasm(PROBE), 0o755)]);
    let config =
        json!({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["probe"], "Env": ["PATH=/usr/bin"]}});
    store_image(a.root(), &name, media::OCI_CONFIG, config, &[(blob, media::OCI_LAYER_GZIP, Some(diff), "")]);
    let b = through_registry(&a, &name);
    check_probe(&b, &name, Some("PATH=/usr/bin"));
    let id = b.ok(&["create", &name]).trim().to_string();
    let i: Value = serde_json::from_str(&b.ok(&["inspect", &id])).unwrap();
    assert_eq!(i[0]["Runtime"], "wasm", "{i}");
    b.ok(&["rm", &id]);
}

/// The dispatch rule's third step refuses an entrypoint that is neither ELF, `#!` nor wasm, with
/// Docker's exit code for a command that cannot run, and leaves no container behind.
#[test]
#[ignore = "needs root"]
fn entrypoint_neither_elf_script_nor_wasm_is_refused_with_126() {
    berth_tests::require_root();
    let b = Berth::new();
    let name = "localhost:5000/notexec:1";
    let (blob, diff) = tar_gz(&[("usr/bin/notes", b"just text, no #! line\n", 0o755)]);
    let config =
        json!({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["notes"], "Env": ["PATH=/usr/bin"]}});
    store_image(b.root(), name, media::OCI_CONFIG, config, &[(blob, media::OCI_LAYER_GZIP, Some(diff), "")]);
    for cmd in [&["run", "--rm", "--pull", "never", name][..], &["create", "--pull", "never", name][..]] {
        let o = b.run(cmd);
        assert_eq!(o.status.code(), Some(126), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("exec /usr/bin/notes: exec format error"), "{err}");
    }
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "no container is left");
    let left: Vec<_> =
        std::fs::read_dir(b.root().join("containers")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// Packages a guest as `name` in `b`.
pub(crate) fn package(b: &Berth, name: &str, wat_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.wasm");
    std::fs::write(&file, wasm(wat_text)).unwrap();
    b.ok(&["wasm", "package", file.to_str().unwrap(), "-t", name]);
}

fn inspect(b: &Berth, c: &str) -> Value {
    serde_json::from_str::<Value>(&b.ok(&["inspect", c])).unwrap()[0].clone()
}

#[test]
#[ignore = "needs root"]
fn lifecycle_detach_logs_stop_wait_restart_rm() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "spin", SPIN);
    package(&b, "hello3", HELLO3);

    // -d, logs, stop of a spinning guest (its process ends at the signal, well within the
    // timeout).
    let id = b.ok(&["run", "-d", "--name", "spinner", "spin"]).trim().to_string();
    let t = Instant::now();
    while !b.ok(&["logs", "spinner"]).contains("tick") {
        assert!(t.elapsed() < Duration::from_secs(10), "no output");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(b.ok(&["ps"]).contains("spinner"));
    let t = Instant::now();
    b.ok(&["stop", "-t", "20", "spinner"]);
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
    let i = inspect(&b, &id);
    assert_eq!(i["State"]["ExitCode"], 143, "{i}");
    assert_eq!(i["State"]["Running"], false);
    b.ok(&["rm", "spinner"]);

    // kill
    b.ok(&["run", "-d", "--name", "killme", "spin"]);
    b.ok(&["kill", "killme"]);
    assert_eq!(b.ok(&["wait", "killme"]).trim(), "137");
    b.ok(&["rm", "killme"]);

    // wait gives the guest's exit code; logs keep its output.
    b.ok(&["run", "-d", "--name", "hi3", "hello3"]);
    assert_eq!(b.ok(&["wait", "hi3"]).trim(), "3");
    assert_eq!(b.ok(&["logs", "hi3"]), "hello\n");
    b.ok(&["rm", "hi3"]);

    // Restart policy: on-failure:2 restarts the failing guest twice.
    b.ok(&["run", "-d", "--name", "restarter", "--restart", "on-failure:2", "hello3"]);
    let t = Instant::now();
    loop {
        let i = inspect(&b, "restarter");
        if i["RestartCount"] == 2 && i["State"]["Running"] == false && i["State"]["Restarting"] == false {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{i}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.ok(&["logs", "restarter"]).matches("hello").count(), 3);
    b.ok(&["rm", "-f", "restarter"]);

    // Foreground: exit code and output straight through.
    let (stdout, _, code) = out(&b.run(&["run", "--rm", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3));
}

#[test]
#[ignore = "needs root"]
fn compiled_code_is_cached_per_module() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "hello3", HELLO3);
    let cache = b.root().join("wasm-cache/compiled");
    let (_, _, code) = out(&b.run(&["run", "--rm", "hello3"]));
    assert_eq!(code, 3);
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mtime = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();
    let (_, _, code) = out(&b.run(&["run", "--rm", "hello3"]));
    assert_eq!(code, 3);
    assert_eq!(std::fs::metadata(&entries[0]).unwrap().modified().unwrap(), mtime, "recompiled");
    // A damaged entry is not trusted: it is recompiled and replaced.
    std::fs::write(&entries[0], b"garbage").unwrap();
    let (stdout, _, code) = out(&b.run(&["run", "--rm", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3));
    assert!(std::fs::metadata(&entries[0]).unwrap().len() > 100);
}

#[test]
#[ignore = "needs root"]
fn memory_limit_caps_guest_memory() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "grow", GROW);
    let (_, stderr, code) = out(&b.run(&["run", "--name", "grower", "--memory", "16m", "grow"]));
    assert_eq!(code, 137, "{stderr}");
    assert!(stderr.contains("out of memory"), "{stderr}");
    let i = inspect(&b, "grower");
    assert_eq!(i["State"]["OOMKilled"], true, "{i}");
    b.ok(&["rm", "grower"]);
    // The same through the shim (detached).
    b.ok(&["run", "-d", "--name", "grower", "--memory", "16m", "grow"]);
    assert_eq!(b.ok(&["wait", "grower"]).trim(), "137");
    let i = inspect(&b, "grower");
    assert_eq!(i["State"]["OOMKilled"], true, "{i}");
    b.ok(&["rm", "grower"]);
}

#[test]
#[ignore = "needs root"]
fn bad_inputs_fail_clearly_and_leave_the_store_alone() {
    berth_tests::require_root();
    let b = Berth::new();
    // A guest trap: 134, like the wasmtime CLI.
    package(&b, "trap", TRAP);
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "trap"]));
    assert_eq!(code, 134, "{stderr}");
    assert!(stderr.contains("trap"), "{stderr}");

    // A module importing what the host lacks: refused at start (126), naming the import.
    package(&b, "missing", MISSING_IMPORT);
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "missing"]));
    assert_eq!(code, 126, "{stderr}");
    assert!(stderr.contains("host_magic"), "{stderr}");

    // A corrupt module behind a wasm entrypoint (magic right, body garbage).
    let mut corrupt = b"\0asm\x01\0\0\0".to_vec();
    corrupt.extend_from_slice(&[0xff; 64]);
    let (blob, diff) = tar_gz(&[("app.wasm", &corrupt, 0o755)]);
    store_image(
        b.root(),
        "docker.io/library/corrupt:latest",
        media::OCI_CONFIG,
        json!({"architecture": "wasm", "os": "wasi", "config": {"Entrypoint": ["/app.wasm"]}}),
        &[(blob, media::OCI_LAYER_GZIP, Some(diff), "")],
    );
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "corrupt"]));
    assert_eq!(code, 126, "{stderr}");
    assert!(stderr.contains("invalid WebAssembly"), "{stderr}");

    // A non-wasm file in a wasm-typed layer: refused at create (125), the blob untouched.
    let text = b"#!/bin/sh\necho not wasm\n".to_vec();
    store_image(
        b.root(),
        "docker.io/library/notwasm:latest",
        media::OCI_CONFIG,
        json!({"architecture": "wasm", "os": "wasip1"}),
        &[(text.clone(), media::WASM_LAYER, None, "app.wasm")],
    );
    let blobs = b.blob_count();
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "notwasm"]));
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("not a WebAssembly module"), "{stderr}");
    assert_eq!(b.blob_count(), blobs);
    let d = Digest::of(&text);
    assert_eq!(std::fs::read(Store::open(b.root()).unwrap().blob_path(&d)).unwrap(), text);
    assert!(b.ok(&["ps", "-a", "-q"]).trim().is_empty(), "no container left behind");

    // Through the shim (detached), the same codes: a trap ends the container with 134, a
    // missing import refuses the start with 126 and leaves it created.
    b.ok(&["run", "-d", "--name", "trap-d", "trap"]);
    assert_eq!(b.ok(&["wait", "trap-d"]).trim(), "134");
    let logs = b.run(&["logs", "trap-d"]);
    assert!(String::from_utf8_lossy(&logs.stderr).contains("trap"), "{logs:?}");
    let (_, stderr, code) = out(&b.run(&["run", "-d", "--name", "missing-d", "missing"]));
    assert_eq!(code, 126, "{stderr}");
    assert!(stderr.contains("host_magic"), "{stderr}");
    assert_eq!(inspect(&b, "missing-d")["State"]["Status"], "created");
    b.ok(&["rm", "trap-d", "missing-d"]);

    // Packaging a non-wasm file is refused.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.wasm");
    std::fs::write(&f, b"hello").unwrap();
    let err = b.fails(&["wasm", "package", f.to_str().unwrap(), "-t", "x"]);
    assert!(err.contains("not a WebAssembly"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn preview2_component_runs_as_a_command() {
    berth_tests::require_root();
    let b = Berth::new();
    let dir = tempfile::tempdir().unwrap();
    for (disc, name) in [("0", "comp-ok"), ("1", "comp-err")] {
        let bytes = wasm(&COMPONENT.replace("DISC", disc));
        assert_eq!(&bytes[4..8], b"\x0d\0\x01\0", "a component");
        let f = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&f, bytes).unwrap();
        b.ok(&["wasm", "package", f.to_str().unwrap(), "-t", name]);
    }
    let store = Store::open(b.root()).unwrap();
    let desc = store.get_ref("docker.io/library/comp-ok:latest").unwrap().unwrap();
    let m: Value =
        serde_json::from_slice(&store.read_blob(&desc.digest().to_string().parse().unwrap()).unwrap()).unwrap();
    let cfg: Value =
        serde_json::from_slice(&store.read_blob(&m["config"]["digest"].as_str().unwrap().parse().unwrap()).unwrap())
            .unwrap();
    assert_eq!(cfg["os"], "wasip2");
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "comp-ok"]));
    assert_eq!(code, 0, "{stderr}");
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "comp-err"]));
    assert_eq!(code, 1, "{stderr}");
}

#[test]
#[ignore = "needs root"]
fn cpus_puts_the_guest_in_a_cpu_limited_cgroup() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "spin", SPIN);
    let id = b.ok(&["run", "-d", "--cpus", "0.5", "spin"]).trim().to_string();
    let pid = inspect(&b, &id)["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = cg.lines().find(|l| l.contains(&format!("berth/{id}"))).unwrap_or_else(|| panic!("{cg}"));
    let rel = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let quota = if v2 {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{rel}/cpu.max")).unwrap()
    } else {
        std::fs::read_to_string(format!("/sys/fs/cgroup/cpu,cpuacct/{rel}/cpu.cfs_quota_us"))
            .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/{rel}/cpu.cfs_quota_us")))
            .unwrap()
    };
    assert!(quota.starts_with("50000"), "{quota}");
    b.ok(&["rm", "-f", &id]);
}

/// The inode of a namespace file (what `/proc/<pid>/ns/net` links to).
fn ns_inode(p: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().ino()
}

#[test]
#[ignore = "needs root"]
fn guest_lives_in_the_network_namespace_the_network_code_made() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "spin", SPIN);
    let id = b.ok(&["run", "-d", "spin"]).trim().to_string();
    let i = inspect(&b, &id);
    let pid = i["State"]["Pid"].as_i64().unwrap();
    let key = i["NetworkSettings"]["SandboxKey"].as_str().unwrap().to_string();
    assert!(!key.is_empty(), "{i}");
    let guest = ns_inode(&format!("/proc/{pid}/ns/net"));
    assert_eq!(guest, ns_inode(&key), "the guest joined the container's netns");
    assert_ne!(guest, ns_inode("/proc/self/ns/net"));
    b.ok(&["rm", "-f", &id]);

    // --network none: a namespace of its own, not the host's.
    let id = b.ok(&["run", "-d", "--network", "none", "spin"]).trim().to_string();
    let pid = inspect(&b, &id)["State"]["Pid"].as_i64().unwrap();
    assert_ne!(ns_inode(&format!("/proc/{pid}/ns/net")), ns_inode("/proc/self/ns/net"));
    b.ok(&["rm", "-f", &id]);
}

#[test]
#[ignore = "needs root"]
fn wasm_container_writes_a_volume_a_native_container_reads() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("busybox");
    package(&b, "probe", PROBE);
    let (stdout, stderr, code) = out(&b.run(&["run", "--rm", "-v", "shared:/data", "probe"]));
    assert_eq!(code, 7, "{stdout}{stderr}");
    let read = b.ok(&["run", "--rm", "--network", "none", "-v", "shared:/data", "busybox", "cat", "/data/out.txt"]);
    assert_eq!(read, "written by wasm\n");
}

/// Waits until `f` holds, for at most `secs` seconds.
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root"]
fn foreground_guest_runs_in_the_cli_and_is_a_container_like_any_other() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "spin", SPIN);
    package(&b, "hello3", HELLO3);

    // A socket-free guest in the foreground runs in the CLI process: no shim, no namespace.
    let child = b.cmd().args(["run", "--name", "fg", "spin"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut child = berth_tests::ChildGuard(child);
    let cli = child.0.id() as i64;
    wait_until(20, "the guest's output in its log", || b.run(&["logs", "fg"]).stdout == b"tick\n");
    let i = inspect(&b, "fg");
    assert_eq!(i["State"]["Running"], true, "{i}");
    assert_eq!(i["State"]["Pid"], cli, "the CLI is the container's process: {i}");
    assert_eq!(ns_inode(&format!("/proc/{cli}/ns/net")), ns_inode("/proc/self/ns/net"), "no network setup");
    assert!(b.ok(&["ps"]).contains(" fg\n"), "running in ps");
    assert_eq!(std::fs::read_dir(b.root().join("containers")).unwrap().count(), 1);

    // stop (from "another terminal") interrupts the spinning guest; the CLI exits with 143.
    let t = Instant::now();
    b.ok(&["stop", "-t", "20", "fg"]);
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(stdout, "tick\n");
    let i = inspect(&b, "fg");
    assert_eq!((i["State"]["Status"].as_str(), i["State"]["ExitCode"].as_i64()), (Some("exited"), Some(143)), "{i}");
    assert_eq!(i["State"]["Pid"], 0);
    assert_eq!(b.ok(&["wait", "fg"]).trim(), "143");
    b.ok(&["rm", "fg"]);

    // --rm: stopped and gone; kill -9 of the CLI (its supervisor) is reconciled like a dead shim.
    let child =
        b.cmd().args(["run", "--rm", "--name", "fg2", "spin"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut child = berth_tests::ChildGuard(child);
    wait_until(20, "fg2 running", || {
        b.run(&["inspect", "fg2"]).status.success() && inspect(&b, "fg2")["State"]["Running"] == true
    });
    b.ok(&["stop", "fg2"]);
    assert_eq!(child.0.wait().unwrap().code(), Some(143));
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty(), "--rm removed it");
    let child = b.cmd().args(["run", "--name", "fg3", "spin"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let _child = berth_tests::ChildGuard(child);
    wait_until(20, "fg3 running", || {
        b.run(&["inspect", "fg3"]).status.success() && inspect(&b, "fg3")["State"]["Running"] == true
    });
    b.ok(&["kill", "fg3"]);
    assert_eq!(b.ok(&["wait", "fg3"]).trim(), "137");
    assert_eq!(inspect(&b, "fg3")["State"]["Running"], false);
    b.ok(&["rm", "fg3"]);
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());

    // Output and exit code straight through, and the log written as for a shim's container.
    let (stdout, _, code) = out(&b.run(&["run", "--name", "hi", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3));
    assert_eq!(b.ok(&["logs", "hi"]), "hello\n");
    assert_eq!(inspect(&b, "hi")["State"]["ExitCode"], 3);
    b.ok(&["rm", "hi"]);
}

#[test]
#[ignore = "needs root"]
fn socket_guest_is_reached_through_p_and_by_name_from_a_native_container() {
    berth_tests::require_root();
    let b = Berth::new();
    b.import_busybox("busybox");
    package(&b, "tcpwasm", TCP_SERVER);

    // -p: the guest listens in the namespace the network code made, reached from the host.
    let port = berth_tests::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let id = b.ok(&["run", "-d", "--name", "wsrv", "-p", &publish, "tcpwasm"]).trim().to_string();
    let reply = berth_tests::http_get(format!("127.0.0.1:{port}").parse().unwrap());
    assert!(reply.starts_with("HTTP/1.0 200 OK") && reply.ends_with("\r\n\r\nhello from wasm tcp\n"), "{reply:?}");
    let i = inspect(&b, &id);
    let pid = i["State"]["Pid"].as_i64().unwrap();
    assert_ne!(ns_inode(&format!("/proc/{pid}/ns/net")), ns_inode("/proc/self/ns/net"), "a socket guest has its netns");
    b.ok(&["rm", "-f", "wsrv"]);

    // A native busybox reaches the wasm container by name on a user network.
    b.ok(&["network", "create", "wasm-mixed"]);
    b.ok(&["run", "-d", "--name", "wnet", "--network", "wasm-mixed", "tcpwasm"]);
    let mut got = String::new();
    wait_until(30, "busybox's wget of http://wnet:8080/", || {
        let o = b.run(&["run", "--rm", "--network", "wasm-mixed", "busybox", "wget", "-qO-", "http://wnet:8080/"]);
        got = String::from_utf8_lossy(&o.stdout).into_owned();
        o.status.success()
    });
    assert_eq!(got, "hello from wasm tcp\n");
    b.ok(&["rm", "-f", "wnet"]);
    b.ok(&["network", "rm", "wasm-mixed"]);
}

#[test]
#[ignore = "needs root"]
fn a_guest_writing_its_rootfs_changes_only_its_own_container() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "selfwrite", SELF_WRITE);
    let blobs: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(b.root().join("content/blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    let (_, stderr, code) = out(&b.run(&["run", "--name", "w1", "selfwrite"]));
    assert_eq!(code, 0, "{stderr}");
    // Its own copy of the binary changed: started again, it has no module to run (and the
    // compiled code cached for the image's module is not taken for it).
    let o = b.run(&["start", "-a", "w1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(126), "{stderr}");
    assert!(stderr.contains("not a WebAssembly module"), "{stderr}");
    // The store is untouched, and a new container of the image runs as before.
    for (p, bytes) in &blobs {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{}", p.display());
    }
    let (_, stderr, code) = out(&b.run(&["run", "--rm", "selfwrite"]));
    assert_eq!(code, 0, "{stderr}");
    b.ok(&["rm", "w1"]);
}

#[test]
#[ignore = "needs root"]
fn a_guest_that_cannot_name_files_runs_without_a_rootfs_until_one_is_needed() {
    berth_tests::require_root();
    let b = Berth::new();
    package(&b, "hello3", HELLO3);
    // fd_write and proc_exit only: no preopen to find, no path to open. The foreground run
    // makes no rootfs and writes no bundle; the record is what `ps`/`inspect`/`logs` read.
    let (stdout, stderr, code) = out(&b.run(&["run", "--name", "nofs", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3), "{stderr}");
    let i = inspect(&b, "nofs");
    let dir = b.root().join("containers").join(i["Id"].as_str().unwrap());
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let log = format!("{}-json.log", i["Id"].as_str().unwrap());
    let mut want = vec![log.as_str(), "config.v2.json", "state.json"];
    want.sort();
    assert_eq!(files, want, "{}", dir.display());
    assert_eq!(b.ok(&["logs", "nofs"]), "hello\n");

    // `cp` makes the rootfs when first asked: the image's file is there.
    let host = tempfile::tempdir().unwrap();
    let dest = host.path().join("copied.wasm");
    b.ok(&["cp", "nofs:/app.wasm", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read(&dest).unwrap(), wasm(HELLO3));

    // Started again (through the shim: attach runs it there), its bundle is made from the
    // record; the guest runs as before.
    let o = b.run(&["start", "-a", "nofs"]);
    assert_eq!(
        (o.stdout.as_slice(), o.status.code()),
        (&b"hello\n"[..], Some(3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(dir.join("config.json").is_file());
    assert_eq!(b.ok(&["logs", "nofs"]), "hello\nhello\n");
    b.ok(&["rm", "nofs"]);
    assert!(!dir.exists());
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
}

#[test]
#[ignore = "needs root"]
fn a_finished_rm_run_leaves_a_spare_record_that_the_next_run_reuses_clean() {
    berth_tests::require_root();
    use std::os::unix::fs::MetadataExt;
    let b = Berth::new();
    package(&b, "hello3", HELLO3);
    let spares = b.root().join("spare");
    let spare_inodes = || -> Vec<u64> {
        std::fs::read_dir(&spares)
            .map(|r| r.flatten().map(|e| e.metadata().unwrap().ino()).collect())
            .unwrap_or_default()
    };
    // An inline --rm run's directory (record + log) becomes a spare instead of being deleted.
    let (stdout, _, code) = out(&b.run(&["run", "--rm", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3));
    let kept = spare_inodes();
    assert_eq!(kept.len(), 1);
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());

    // The next run takes it: same directory inode, nothing of the last owner left.
    let (stdout, _, code) = out(&b.run(&["run", "--name", "again", "hello3"]));
    assert_eq!((stdout.as_str(), code), ("hello\n", 3));
    assert!(spare_inodes().is_empty());
    let i = inspect(&b, "again");
    let id = i["Id"].as_str().unwrap();
    let dir = b.root().join("containers").join(id);
    assert_eq!(std::fs::metadata(&dir).unwrap().ino(), kept[0], "the spare was reused");
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let log = format!("{id}-json.log");
    let mut want = vec![log.as_str(), "config.v2.json", "state.json"];
    want.sort();
    assert_eq!(files, want);
    assert_eq!(b.ok(&["logs", "again"]), "hello\n", "the old log was emptied");
    assert_eq!((i["Name"].as_str(), i["State"]["ExitCode"].as_i64()), (Some("/again"), Some(3)), "{i}");
    b.ok(&["rm", "again"]);

    // A few are kept, no more; none is a container.
    for _ in 0..6 {
        assert_eq!(out(&b.run(&["run", "--rm", "hello3"])).2, 3);
    }
    assert!((1..=4).contains(&spare_inodes().len()), "{:?}", spare_inodes());
    assert!(b.ok(&["ps", "-aq"]).trim().is_empty());
}
