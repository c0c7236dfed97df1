#!/usr/bin/env bash
# Where a bridge start's cost goes (issue 4), as root: the network library's attach and detach
# timed in-process (tests/benches/attach_detach.rs), the default bridge against a
# `--network none` namespace, medians of 40 alternating rounds. No containers, no traffic.
# Usage: bench/attach.sh [PAUSE_MS]   (pause between rounds, default 0; writes bench/results/attach.md)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
export BERTH_TIMING_PAUSE_MS=${1:-${BERTH_TIMING_PAUSE_MS:-0}}
[ "$(id -u)" = 0 ] || { echo "bench/attach.sh: needs root" >&2; exit 1; }
mkdir -p "$here/bench/results"
{
  cargo bench -q -p berth-tests --bench attach_detach --manifest-path "$here/Cargo.toml"
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$here/bench/results/attach.md"
cat "$here/bench/results/attach.md"
