//! Where a bridge start's cost goes, in-process: times the network work of a container start
//! and removal (`Engine::attach` and `detach`) on the default bridge against a `--network none`
//! namespace, without containers or the CLI around it. Not a pass/fail test: bench/attach.sh
//! runs it (as root) and writes its table to bench/results/attach.md (docs/benchmarks.md).
//!
//! The modes alternate so that drift in the machine's load hits both alike, and medians are
//! reported. `BERTH_TIMING_PAUSE_MS` pauses between rounds (the kernel destroys a released
//! namespace asynchronously; back to back, the next start competes with that work).

#![forbid(unsafe_code)]

use berth_tests::net::{attach, cid, on, Root};
use std::time::{Duration, Instant};

fn main() {
    if !berth_tests::is_root() {
        eprintln!("attach_detach: needs root (network namespaces, veths, bridges)");
        std::process::exit(1);
    }
    let r = Root::new();
    let e = &r.engine;
    attach(e, &cid('9'), "warm", on("bridge")).unwrap();
    e.detach(&cid('9')).unwrap();
    let pause = std::env::var("BERTH_TIMING_PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let modes = ["none", "bridge"];
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(vec![], vec![]); modes.len()];
    for i in 0..40 {
        for (m, mode) in modes.iter().enumerate() {
            let id = format!("{:064x}", i * 2 + m + 1000);
            let t = Instant::now();
            attach(e, &id, "t", on(mode)).unwrap();
            times[m].0.push(t.elapsed());
            let t = Instant::now();
            e.detach(&id).unwrap();
            times[m].1.push(t.elapsed());
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!("| network (pause {pause} ms between rounds) | attach, median | detach, median | rounds |");
    println!("| --- | --- | --- | --- |");
    for (m, mode) in modes.iter().enumerate() {
        let (a, d) = &mut times[m];
        println!("| {mode} | {:?} | {:?} | {} |", median(a), median(d), a.len());
    }
}
