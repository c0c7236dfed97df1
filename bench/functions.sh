#!/usr/bin/env bash
# Function gateway benchmark (issue 16), side by side in one run: `berth serve` against
# `wasmtime serve` (the 48.0.8 CLI) on the same wasi:http components, with wrk at -c1 and -c32:
# requests per second and p50/p99 latency. Components: the small hand-written one of the tests
# (tests/integration/functions_wasm/http.wat: a counter, a body in three writes), the JavaScript
# and the Python fixtures. Also the per-request instantiation time of the small one, from the
# gateway's own metrics.
# Usage: bench/functions.sh [SECONDS]   (writes bench/results/functions.md)
# BERTH=path uses that binary instead of building the release one; WASMTIME=path picks the CLI
# (default /var/cache/berth-wasmtime-cli/bin/wasmtime, installed there with
# `cargo install wasmtime-cli --version 48.0.8 --locked --root /var/cache/berth-wasmtime-cli`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
if [ -z "${BERTH:-}" ]; then
  cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
  BERTH=$CARGO_TARGET_DIR/release/berth
fi
WASMTIME=${WASMTIME:-/var/cache/berth-wasmtime-cli/bin/wasmtime}
if [ ! -x "$WASMTIME" ]; then
  cargo install wasmtime-cli --version 48.0.8 --locked --root /var/cache/berth-wasmtime-cli >&2
fi
fixtures=${WASM_FIXTURES:-/var/cache/berth-fixtures/wasm}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-bench-functions.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
B="$BERTH --root $W/root"
export XDG_CACHE_HOME=$W/xdg

# The small component: the test's WAT with an empty behaviour.
sed 's/;;BEHAVE//; s/;;AUTHORITY/localhost/; s/;;AUTHLEN/9/' \
  "$here/tests/integration/functions_wasm/http.wat" > "$W/small.wat"
$B wasm package "$W/small.wat" -t small >/dev/null
$B wasm package "$fixtures/hello-http-js.wasm" -t js >/dev/null
$B wasm package "$fixtures/hello-http.wasm" -t py >/dev/null
cat > "$W/functions.yaml" <<YAML
functions:
  - name: small
    image: small
    route: /small
  - name: js
    image: js
    route: /js
  - name: py
    image: py
    route: /py
YAML
port=$((20000 + RANDOM % 10000)); mport=$((port + 1)); wport=$((port + 2))
$B serve --addr 127.0.0.1:$port --metrics-addr 127.0.0.1:$mport -f "$W/functions.yaml" > "$W/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q listening "$W/serve.log" && break; sleep 0.5; done
grep -q listening "$W/serve.log" || { cat "$W/serve.log" >&2; exit 1; }
# wasmtime serve takes the binary: the layer the gateway materialised is it.
small_wasm=$(find "$W/root/wasm-cache/layers" -name 'small.wasm' | head -1)

# wrk's latency distribution: req/s, p50 and p99 in ms.
measure() { # URL CONNS
  local out; out=$(wrk -t "$([ "$2" = 1 ] && echo 1 || echo 2)" -c "$2" -d "${secs}s" --latency "$1")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  [ -z "$non2xx" ] || echo "warning: $1: $non2xx non-2xx responses" >&2
  echo "$rps $(ms "$p50") $(ms "$p99")"
}
ms() { python3 -c "import re,sys; v,u=re.match(r'([\d.]+)(\w+)','$1').groups(); print(round(float(v)*{'us':0.001,'ms':1,'s':1000}[u],3))"; }

declare -A files=([small]="$small_wasm" [js]="$fixtures/hello-http-js.wasm" [py]="$fixtures/hello-http.wasm")
rows=()
for c in small js py; do
  curl -fsS "http://127.0.0.1:$port/$c/" >/dev/null
  "$WASMTIME" serve -S cli=y --addr 127.0.0.1:$wport "${files[$c]}" > "$W/wasmtime-$c.log" 2>&1 &
  wp=$!; pids+=($wp)
  for _ in $(seq 1200); do curl -fsS "http://127.0.0.1:$wport/" >/dev/null 2>&1 && break; sleep 0.5; done
  for conns in 1 32; do
    read -r brps bp50 bp99 < <(measure "http://127.0.0.1:$port/$c/" $conns)
    read -r wrps wp50 wp99 < <(measure "http://127.0.0.1:$wport/" $conns)
    rows+=("| $c | $conns | $brps | $bp50 | $bp99 | $wrps | $wp50 | $wp99 | $(python3 -c "print(f'{$brps/$wrps:.2f}x')") | $(python3 -c "print(f'{$bp99/$wp99:.2f}x')") |")
  done
  kill $wp; wait $wp 2>/dev/null || true
done
inst=$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk -F' ' '/berth_function_instantiation_seconds_sum\{function="small"\}/ {s=$2} /berth_function_instantiation_seconds_count\{function="small"\}/ {n=$2} END {if (n>0) printf "%.1f", s/n*1e6}')

out="$here/bench/results/functions.md"
mkdir -p "$(dirname "$out")"
{
  echo "| component | wrk -c | berth req/s | berth p50 ms | berth p99 ms | wasmtime serve req/s | wasmtime p50 ms | wasmtime p99 ms | throughput (berth/wasmtime) | p99 (berth/wasmtime) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Per-request instantiation of the small component (gateway metrics, mean): ${inst} µs."
} | tee "$out"
