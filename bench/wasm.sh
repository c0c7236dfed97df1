#!/usr/bin/env bash
# Wasm start benchmark, side by side in one run (issue 6): `berth run --rm` of a hello module
# (cached compiled code; cold, compiling every start) against the wasmtime 48 CLI running the same
# module (compiling every time, from its own cache, precompiled .cwasm), against a native
# `berth run --rm --network none busybox true`; and the heavy guest, CRuby `puts 1`, through berth
# (cached) and through wasmtime (cached, precompiled).
# Usage: bench/wasm.sh [RUNS]   (writes bench/results/wasm.md and wasm.json)
# BERTH=path/to/berth uses that binary instead of building the release one; WASMTIME=path picks
# the CLI (default: on PATH, else /opt/wasmtime-cli/bin/wasmtime); WASM_FIXTURES=dir holds (or
# gets, built by examples/wasm/build-wasm-fixtures.sh from PyPI/npm) ruby.wasm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
if [ -z "${BERTH:-}" ]; then
  cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
  BERTH=$CARGO_TARGET_DIR/release/berth
fi
WASMTIME=${WASMTIME:-$(command -v wasmtime || echo /opt/wasmtime-cli/bin/wasmtime)}
[ -x "$WASMTIME" ] || WASMTIME=
fixtures=${WASM_FIXTURES:-/var/cache/berth-fixtures/wasm}
if [ ! -s "$fixtures/ruby.wasm" ]; then
  BERTH_WASM_CHECK=0 "$here/examples/wasm/build-wasm-fixtures.sh" "$fixtures" >&2
fi
W=$(mktemp -d /tmp/berth-bench-wasm.XXXXXX)
cleanup() { "$BERTH" --root "$W/root" rm -f $("$BERTH" --root "$W/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
B="$BERTH --root $W/root"
# The wasmtime CLI's own compile cache, private to this run.
export XDG_CACHE_HOME=$W/xdg

python3 "$here/examples/wasm/hello-wat/build.py" "$W/hello.wasm"
$B wasm package "$W/hello.wasm" -t hello >/dev/null
$B wasm package "$fixtures/ruby.wasm" -t ruby >/dev/null
$B import --change 'CMD ["sh"]' /var/cache/berth-fixtures/busybox-rootfs.tar busybox >/dev/null
$B run --rm hello >/dev/null                  # fills the compiled-code cache
$B run --rm ruby -e 'puts 1' >/dev/null       # compiles CRuby once (tens of seconds)

hello_peers=() ruby_peers=()
if [ -n "$WASMTIME" ]; then
  "$WASMTIME" compile -o "$W/hello.cwasm" "$W/hello.wasm"
  "$WASMTIME" compile -o "$W/ruby.cwasm" "$fixtures/ruby.wasm"
  "$WASMTIME" run "$W/hello.wasm" >/dev/null
  "$WASMTIME" run "$fixtures/ruby.wasm" -e 'puts 1' >/dev/null   # fills its cache
  hello_peers=(
    -n "wasmtime run --allow-precompiled hello.cwasm" "$WASMTIME run --allow-precompiled $W/hello.cwasm"
    -n "wasmtime run hello.wasm (its cache)" "$WASMTIME run $W/hello.wasm"
    -n "wasmtime run -C cache=n hello.wasm (compiles)" "$WASMTIME run -C cache=n $W/hello.wasm"
  )
  ruby_peers=(
    -n "wasmtime run --allow-precompiled ruby.cwasm -e 'puts 1'" "$WASMTIME run --allow-precompiled $W/ruby.cwasm -e 'puts 1'"
    -n "wasmtime run ruby.wasm -e 'puts 1' (its cache)" "$WASMTIME run $fixtures/ruby.wasm -e 'puts 1'"
  )
fi
hyperfine -N --runs "$runs" --warmup 3 --export-json "$W/hello.json" \
  -n "berth run --rm hello (cached)" "$B run --rm hello" \
  "${hello_peers[@]}" \
  -n "berth run --rm --network none busybox true" "$B run --rm --network none busybox true"
cold_peer=()
[ -z "$WASMTIME" ] || cold_peer=(-n "wasmtime run -C cache=n hello.wasm (compiles)" "$WASMTIME run -C cache=n $W/hello.wasm")
hyperfine -N --runs "$runs" --warmup 1 --export-json "$W/cold.json" --prepare "rm -rf $W/root/wasm-cache/compiled" \
  -n "berth run --rm hello (cold: compiles)" "$B run --rm hello" "${cold_peer[@]}"
hyperfine -N --runs "$(( runs < 20 ? runs : 20 ))" --warmup 2 --export-json "$W/ruby.json" \
  -n "berth run --rm ruby -e 'puts 1' (cached)" "$B run --rm ruby -e 'puts 1'" \
  "${ruby_peers[@]}"
mkdir -p "$here/bench/results"
{
  echo "peer: $([ -n "$WASMTIME" ] && "$WASMTIME" --version || echo "no wasmtime CLI"); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  python3 "$here/bench/table.py" "$W/hello.json" "$W/cold.json" "$W/ruby.json"
} > "$here/bench/results/wasm.md"
python3 - "$W"/hello.json "$W"/cold.json "$W"/ruby.json > "$here/bench/results/wasm.json" <<'PY'
import json, sys
print(json.dumps({"results": [r for p in sys.argv[1:] for r in json.load(open(p))["results"]]}, indent=1))
PY
cat "$here/bench/results/wasm.md"
