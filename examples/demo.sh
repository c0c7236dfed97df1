#!/usr/bin/env bash
# berth's demo, from a fresh machine: install what is needed, build berth, then
#   1. import a busybox image (rootfs from Debian's busybox-static package),
#   2. push it to berth's own embedded registry,
#   3. pull it into a fresh state root and inspect it,
#   4. run native containers from the pulled image (env, volume, detached, logs).
# Everything it starts it stops; it leaves its state under a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "setting up (Debian packages, base-image fixtures)"
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
step "building berth"
cargo build -q -p berth
berth_bin=$CARGO_TARGET_DIR/debug/berth

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  # containers the demo started (none survive a successful run; this covers a failed one)
  for r in "$work/root-a" "$work/root-b"; do
    [ -d "$r" ] && "$berth_bin" --root "$r" rm -f $("$berth_bin" --root "$r" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

berth_a() { echo "+ berth $*" >&2; "$berth_bin" --root "$work/root-a" "$@"; }
berth_b() { echo "+ berth $*" >&2; "$berth_bin" --root "$work/root-b" "$@"; }

step "1. importing busybox from a rootfs tarball"
berth_a import --change 'CMD ["sh"]' /var/cache/berth-fixtures/busybox-rootfs.tar busybox:latest
berth_a images

step "2. starting berth's embedded registry and pushing"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$berth_bin" --root "$work/registry-root" registry serve --addr "127.0.0.1:$port" --storage "$work/registry" &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
ref=127.0.0.1:$port/demo/busybox:1.0
berth_a tag busybox:latest "$ref"
berth_a push "$ref"

step "3. pulling into a fresh state root and inspecting"
berth_b pull "$ref"
berth_b images
berth_b image inspect "$ref" | head -40

if "$berth_bin" --help | grep -q '^  run '; then
  step "4. running native containers from the pulled image"
  mkdir -p "$work/data"
  echo "hello from the host" > "$work/data/greeting"
  berth_b run --rm -e WHO=berth -v "$work/data:/data" "$ref" sh -c 'echo "hi $WHO"; cat /data/greeting; echo written-in-container > /data/out'
  echo "host sees: $(cat "$work/data/out")"
  id=$(berth_b run -d --name demo-web -e MODE=detached "$ref" sh -c 'echo "started in $MODE mode"; sleep 30')
  sleep 0.5
  berth_b ps
  berth_b logs demo-web
  berth_b rm -f "$id" >/dev/null
fi

step "done"
