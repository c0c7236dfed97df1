#!/usr/bin/env bash
# Wasm start benchmark: `berth run --rm` of a hello module (cold: compiling; cached: the
# compiled-code cache warm) against `wasmtime run` of the same module when a wasmtime CLI is on
# PATH, and against a native `berth run --rm busybox true`.
# Usage: bench/wasm.sh [RUNS]   (writes bench/results/wasm.md and .json)
# BERTH=path/to/berth uses that binary instead of building the release one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
if [ -z "${BERTH:-}" ]; then
  cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
  BERTH=$CARGO_TARGET_DIR/release/berth
fi
W=$(mktemp -d /tmp/berth-bench-wasm.XXXXXX)
cleanup() { "$BERTH" --root "$W/root" rm -f $("$BERTH" --root "$W/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
B="$BERTH --root $W/root"

python3 "$here/examples/wasm/hello-wat/build.py" "$W/hello.wasm"
$B wasm package "$W/hello.wasm" -t hello >/dev/null
$B import --change 'CMD ["sh"]' /var/cache/berth-fixtures/busybox-rootfs.tar busybox >/dev/null
$B run --rm hello >/dev/null   # fills the compiled-code cache

peers=()
if command -v wasmtime >/dev/null; then
  wasmtime compile -o "$W/hello.cwasm" "$W/hello.wasm"
  peers+=("wasmtime run -C cache=n $W/hello.wasm" "wasmtime run --allow-precompiled $W/hello.cwasm")
fi
hyperfine -N --runs "$runs" --warmup 3 --export-json "$W/cached.json" \
  -n "berth run --rm hello (cached)" "$B run --rm hello" \
  "${peers[@]}" \
  -n "berth run --rm busybox true" "$B run --rm busybox true"
hyperfine -N --runs "$runs" --export-json "$W/cold.json" --prepare "rm -rf $W/root/wasm-cache/compiled" \
  -n "berth run --rm hello (cold: compiles)" "$B run --rm hello"
mkdir -p "$here/bench/results"
python3 "$here/bench/table.py" "$W/cached.json" > "$here/bench/results/wasm.md"
python3 - "$W/cold.json" >> "$here/bench/results/wasm.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"\ncold start (compile every time): {r['command']}: {r['mean']*1000:.1f} ms ± {r['stddev']*1000:.1f}")
PY
cp "$W/cached.json" "$here/bench/results/wasm.json"
cat "$here/bench/results/wasm.md"
