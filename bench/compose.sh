#!/usr/bin/env bash
# `berth compose` against Debian's docker-compose 1.29 driving a private Docker daemon (issue 15),
# in one hyperfine run: `up -d` of a 5-service project (three busybox services, two wasm
# services, one user network, one named volume), a second `up -d` with nothing changed, and
# `down`. Docker cannot run the wasm services, so its project runs busybox httpd in their place
# (same names, same network, same ports): the comparison is of the orchestration, which is what
# compose adds. Every busybox service stops on SIGKILL (`stop_signal`), so neither side's `down`
# waits out a 10 s stop timeout on a shell that ignores SIGTERM.
# Usage: bench/compose.sh [RUNS]   (writes bench/results/compose.md; BERTH=path measures that binary)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
command -v docker-compose >/dev/null || apt-get install -y docker-compose >/dev/null
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /var/tmp/berth-bench-compose.XXXXXX)
source "$here/bench/dockerd.sh"
DC=/usr/bin/docker-compose
export COMPOSE_INTERACTIVE_NO_CLI=1

tar=/var/cache/berth-fixtures/busybox-rootfs.tar
"$B" --root "$W/root" import --change 'CMD ["sh"]' "$tar" bb >/dev/null
"$B" --root "$W/root" wasm package /var/cache/berth-fixtures/wasm/tcp-server.wasm -t tcp >/dev/null
$D import --change 'CMD ["sh"]' "$tar" bb >/dev/null

mkdir -p "$W/berth/bench" "$W/docker/bench"
common='  a:
    image: bb
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    networks: [back]
    volumes: [data:/data]
  b:
    image: bb
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    networks: [back]
    depends_on: [a]
  c:
    image: bb
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    networks: [back]
    environment:
      PEER: api1
'
tail='networks:
  back: {}
volumes:
  data: {}
'
cat >"$W/berth/bench/compose.yaml" <<YAML
services:
$common  api1:
    image: tcp
    environment: {PORT: "8080"}
    networks: [back]
  api2:
    image: tcp
    environment: {PORT: "8081"}
    networks: [back]
$tail
YAML
cat >"$W/docker/bench/docker-compose.yml" <<YAML
version: "3.8"
services:
$common  api1:
    image: bb
    command: ["httpd", "-f", "-p", "8080"]
    stop_signal: SIGKILL
    networks: [back]
  api2:
    image: bb
    command: ["httpd", "-f", "-p", "8081"]
    stop_signal: SIGKILL
    networks: [back]
$tail
YAML
bc="cd $W/berth/bench && $B --root $W/root compose"
dc="cd $W/docker/bench && $DC"
# Warm both (the wasm services' compiled code is cached by the first start, as in use).
sh -c "$bc up -d" 2>/dev/null; sh -c "$bc down" 2>/dev/null
sh -c "$dc up -d" 2>/dev/null; sh -c "$dc down" 2>/dev/null

hyperfine -w 1 -r "$runs" --export-markdown "$W/h.md" \
  -p "$bc down 2>/dev/null" -n "berth compose up -d" "$bc up -d 2>/dev/null" \
  -p "$bc up -d 2>/dev/null" -n "berth compose up -d (nothing changed)" "$bc up -d 2>/dev/null" \
  -p "$bc up -d 2>/dev/null" -n "berth compose down" "$bc down 2>/dev/null" \
  -p "$dc down 2>/dev/null" -n "docker-compose up -d" "$dc up -d 2>/dev/null" \
  -p "$dc up -d 2>/dev/null" -n "docker-compose up -d (nothing changed)" "$dc up -d 2>/dev/null" \
  -p "$dc up -d 2>/dev/null" -n "docker-compose down" "$dc down 2>/dev/null" >/dev/null
sh -c "$bc down -v" 2>/dev/null || true
sh -c "$dc down -v" 2>/dev/null || true

out="$here/bench/results/compose.md"
mkdir -p "$here/bench/results"
{
  echo "# berth compose against docker-compose $($DC version --short) on Docker $($D version --format '{{.Server.Version}}') ($(date -u +%Y-%m-%dT%H:%MZ), $runs runs, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  echo
  cat "$W/h.md"
} >"$out"
cat "$out"
