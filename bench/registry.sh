#!/usr/bin/env bash
# Push/pull benchmark, berth against skopeo, side by side against the same local distribution
# registry (Debian's docker-registry). Image: busybox plus one 64 MiB random layer.
#   push          into an empty registry
#   re-push       everything already there
#   pull-empty    into an empty store
#   pull-base     with the busybox layer already present
# Usage: bench/registry.sh [RUNS]   (writes bench/results/registry.md and .json)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
bash "$here/scripts/setup.sh"
cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=$CARGO_TARGET_DIR/release/berth
W=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
R=127.0.0.1:$port
cat > "$W/reg.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $W/registry}
  delete: {enabled: true}
http: {addr: $R}
YML
docker-registry serve "$W/reg.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done

# The source image as an OCI layout, made with umoci: layer 1 busybox, layer 2 64 MiB random.
umoci init --layout "$W/src" >/dev/null
umoci new --image "$W/src:base"
umoci unpack --image "$W/src:base" "$W/bundle" >/dev/null
tar -xf /var/cache/berth-fixtures/busybox-rootfs.tar -C "$W/bundle/rootfs"
umoci repack --image "$W/src:base" "$W/bundle"
head -c 64M /dev/urandom > "$W/bundle/rootfs/random.bin"
umoci repack --image "$W/src:bench" "$W/bundle"
umoci gc --layout "$W/src"
sk="skopeo copy -q --src-tls-verify=false --dest-tls-verify=false"

# berth's stores: one holding the bench image, one holding only the base layer.
$sk oci:"$W/src:bench" docker://$R/seed/bench:1
$sk oci:"$W/src:base" docker://$R/seed/base:1
"$B" --root "$W/store" pull -q $R/seed/bench:1 >/dev/null
"$B" --root "$W/store" tag $R/seed/bench:1 $R/bench/berth:1
"$B" --root "$W/base-root" pull -q $R/seed/base:1 >/dev/null
$sk oci:"$W/src:base" oci:"$W/base-oci:bench"

wipe_registry="rm -rf $W/registry/docker"
hyperfine --runs "$runs" --warmup 1 --export-json "$W/push.json" \
  --prepare "$wipe_registry" -n "berth push" "$B --root $W/store push -q $R/bench/berth:1" \
  --prepare "$wipe_registry" -n "skopeo copy (push)" "$sk oci:$W/src:bench docker://$R/bench/skopeo:1"
hyperfine --runs "$runs" --warmup 2 --export-json "$W/repush.json" \
  -n "berth push (all present)" "$B --root $W/store push -q $R/bench/berth:1" \
  -n "skopeo copy (all present)" "$sk oci:$W/src:bench docker://$R/bench/skopeo:1"
hyperfine --runs "$runs" --warmup 1 --export-json "$W/pull.json" \
  --prepare "rm -rf $W/p1" -n "berth pull (empty store)" "$B --root $W/p1 pull -q $R/bench/berth:1" \
  --prepare "rm -rf $W/p2" -n "skopeo copy (pull, empty layout)" "$sk docker://$R/bench/berth:1 oci:$W/p2:bench"
hyperfine --runs "$runs" --warmup 1 --export-json "$W/pullbase.json" \
  --prepare "rm -rf $W/p1 && cp -a $W/base-root $W/p1" -n "berth pull (base present)" "$B --root $W/p1 pull -q $R/bench/berth:1" \
  --prepare "rm -rf $W/p2 && cp -a $W/base-oci $W/p2" -n "skopeo copy (pull, base present)" "$sk docker://$R/bench/berth:1 oci:$W/p2:bench"

mkdir -p "$here/bench/results"
python3 "$here/bench/table.py" "$W/push.json" "$W/repush.json" "$W/pull.json" "$W/pullbase.json" > "$here/bench/results/registry.md"
cat "$here/bench/results/registry.md"
