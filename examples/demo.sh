#!/usr/bin/env bash
# berth's demo, from a fresh machine: install what is needed, build berth, then
#   1. import a busybox image (rootfs from Debian's busybox-static package),
#   2. push it to berth's own embedded registry,
#   3. pull it into a fresh state root and inspect it,
#   4. run native containers from the pulled image (env, volume, detached, logs),
#   5. build an image from a Dockerfile, reach its published port with curl, and watch its
#      HEALTHCHECK turn it healthy,
#   6. let two containers talk by name on a user network,
#   7. build, push, pull and run a wasm image with -e and -v,
#   8. package a wasm server (wasi:sockets) from WebAssembly text, push, pull, run it detached
#      with -e, -v and a published port, and reach it with curl (its reply shows the env and volume),
#   9. bring up a compose project (a native and a wasm service talking by name) and tear it down,
#  10. deploy a wasm function and a native function behind `berth serve`, call both with curl,
#      and watch the native one scale to zero.
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
gateway_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null
    while kill -0 "$gateway_pid" 2>/dev/null; do sleep 0.1; done
  fi
  # containers the demo started (none survive a successful run; this covers a failed one)
  for r in "$work/root-a" "$work/root-b"; do
    [ -d "$r" ] || continue
    ids=$("$berth_bin" --root "$r" ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && "$berth_bin" --root "$r" rm -f $ids >/dev/null 2>&1
    "$berth_bin" --root "$r" network reset --force >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

berth_a() { echo "+ berth $*" >&2; "$berth_bin" --root "$work/root-a" "$@"; }
berth_b() { echo "+ berth $*" >&2; "$berth_bin" --root "$work/root-b" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

step "1. importing busybox from a rootfs tarball"
berth_a import --change 'CMD ["sh"]' /var/cache/berth-fixtures/busybox-rootfs.tar busybox:latest
berth_a images

step "2. starting berth's embedded registry and pushing"
port=$(free_port)
"$berth_bin" --root "$work/registry-root" registry serve --addr "127.0.0.1:$port" --storage "$work/registry" &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
ref=127.0.0.1:$port/demo/busybox:1.0
berth_a tag busybox:latest "$ref"
berth_a push "$ref"

step "3. pulling into a fresh state root and inspecting"
berth_b pull "$ref"
berth_b images
berth_b image inspect "$ref" > "$work/inspect.json"; head -30 "$work/inspect.json"; echo "  ..."

step "4. running native containers from the pulled image (env, volume, detached, logs)"
mkdir -p "$work/data"
echo "hello from the host" > "$work/data/greeting"
berth_b run --rm -e WHO=berth -v "$work/data:/data" "$ref" sh -c 'echo "hi $WHO"; cat /data/greeting; echo written-in-container > /data/out'
echo "host sees: $(cat "$work/data/out")"
berth_b run -d --name demo-bg -e MODE=detached "$ref" sh -c 'echo "started in $MODE mode"; sleep 30' >/dev/null
sleep 0.5
berth_b ps
berth_b logs demo-bg
berth_b rm -f demo-bg >/dev/null

step "5. building an image from a Dockerfile, publishing its port, its healthcheck"
berth_a build -t demo/web:1.0 examples/web
berth_b_pull_from_a() { berth_a tag "$1" "127.0.0.1:$port/$1" && berth_a push -q "127.0.0.1:$port/$1" >/dev/null && berth_b pull -q "127.0.0.1:$port/$1" >/dev/null; }
berth_b_pull_from_a demo/web:1.0
web_port=$(free_port)
berth_b run -d --name demo-web -p "127.0.0.1:$web_port:80" "127.0.0.1:$port/demo/web:1.0" >/dev/null
berth_b port demo-web
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$web_port/" 2>/dev/null && break; sleep 0.1; done
echo "+ curl http://127.0.0.1:$web_port/ (above)"
# The image's HEALTHCHECK, run by the container's supervisor.
for _ in $(seq 50); do
  [ "$("$berth_bin" --root "$work/root-b" inspect -f '{{.State.Health.Status}}' demo-web)" = healthy ] && break
  sleep 0.2
done
health=$(berth_b ps --filter name=demo-web --filter health=healthy --format 'table {{.Names}}\t{{.Status}}')
echo "$health"
case "$health" in *"(healthy)"*) ;; *) echo "demo-web never became healthy" >&2; exit 1 ;; esac

step "6. two containers on a user network, by name"
berth_b network create demo-net >/dev/null
berth_b run -d --name demo-api --network demo-net "127.0.0.1:$port/demo/web:1.0" >/dev/null
berth_b run --rm --network demo-net "$ref" sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://demo-api/ && exit 0; sleep 0.2; done; exit 1'
berth_b rm -f demo-web demo-api >/dev/null
berth_b network rm demo-net >/dev/null

step "7. a wasm image: built FROM scratch, pushed, pulled, run with -e and -v"
python3 examples/wasm/hello-wat/build.py "$work/hello.wasm"
mkdir -p "$work/wasm-ctx" && cp examples/wasm-hello/Dockerfile "$work/hello.wasm" "$work/wasm-ctx/"
berth_a build -t demo/hello-wasm:1.0 "$work/wasm-ctx"
berth_b_pull_from_a demo/hello-wasm:1.0
berth_b run --rm -e WHO=wasm -v "$work/data:/data" "127.0.0.1:$port/demo/hello-wasm:1.0"

step "8. a wasm server (wasi:sockets) from WAT: pushed, pulled, run -d with -e, -v and -p, reached with curl"
berth_a wasm package examples/wasm-server/server.wat -t demo/wasm-server:1.0
berth_b_pull_from_a demo/wasm-server:1.0
wasm_port=$(free_port)
berth_b run -d --name demo-wasm-server -e WHO=wasm -v "$work/data:/data" -p "127.0.0.1:$wasm_port:8080" \
  "127.0.0.1:$port/demo/wasm-server:1.0" >/dev/null
berth_b ps
berth_b port demo-wasm-server
reply=""
for _ in $(seq 100); do reply=$(curl -fsS "http://127.0.0.1:$wasm_port/" 2>/dev/null) && break; sleep 0.1; done
echo "+ curl http://127.0.0.1:$wasm_port/"
echo "$reply"
# The guest's reply names its port, the WHO it got from -e and the file it read from the volume.
want=$(printf 'hello from wasm on port 8080\nWHO=wasm\n/data/greeting: %s' "$(cat "$work/data/greeting")")
[ "$reply" = "$want" ] || { echo "unexpected reply from the wasm server: ${reply:-none}" >&2; exit 1; }
berth_b rm -f demo-wasm-server >/dev/null

step "9. compose: the native web image and the wasm server in one project, by name (up -d --wait, ps, logs, down)"
compose_port=$(free_port)
export WEB_IMAGE="127.0.0.1:$port/demo/web:1.0" WASM_IMAGE="127.0.0.1:$port/demo/wasm-server:1.0" PROBE_IMAGE="$ref"
export WEB_PORT=$compose_port DATA="$work/data"
berth_b compose -f examples/compose/compose.yaml up -d --wait
berth_b compose -f examples/compose/compose.yaml ps
for _ in $(seq 100); do berth_b compose -f examples/compose/compose.yaml logs probe 2>/dev/null | grep -q "by name" && break; sleep 0.1; done
berth_b compose -f examples/compose/compose.yaml logs probe
berth_b compose -f examples/compose/compose.yaml logs probe | grep -q "reached hello and web by name" ||
  { echo "the compose services did not reach each other by name" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$compose_port/" >/dev/null
berth_b compose -f examples/compose/compose.yaml down

step "10. functions: a wasm function (a fresh instance per request) and a native one scaled from zero"
# The wasm function: a small wasi:http component in WebAssembly text, the one the function tests
# use (its test hooks filled in); the native one: the web image of step 5 listening on $PORT.
sed 's/;;BEHAVE//; s/;;AUTHORITY/localhost/; s/;;AUTHLEN/9/' tests/integration/functions_wasm/http.wat >"$work/hello.wat"
berth_b wasm package "$work/hello.wat" -t demo/hello-fn >/dev/null
berth_b build -q --build-arg "BASE=127.0.0.1:$port/demo/web:1.0" -t demo/web-fn examples/function/native >/dev/null
berth_b function deploy hello demo/hello-fn --route /hello
berth_b function deploy web demo/web-fn --route /web --idle-timeout 2s
fn_port=$(free_port)
gateway_pid=$(berth_b serve -d --addr "127.0.0.1:$fn_port")
for i in 1 2 3; do
  echo "+ curl http://127.0.0.1:$fn_port/hello/: $(curl -fsS "http://127.0.0.1:$fn_port/hello/") (a fresh instance each time)"
done
echo "+ curl http://127.0.0.1:$fn_port/web/ (the first request starts an instance):"
curl -fsS "http://127.0.0.1:$fn_port/web/"
berth_b ps --filter label=io.berth.function=web --format 'table {{.Names}}\t{{.Status}}'
for _ in $(seq 100); do [ -z "$("$berth_bin" --root "$work/root-b" ps -q --filter label=io.berth.function=web)" ] && break; sleep 0.1; done
[ -z "$("$berth_bin" --root "$work/root-b" ps -q --filter label=io.berth.function=web)" ] ||
  { echo "the native function did not scale to zero" >&2; exit 1; }
echo "(after 2 s idle: the native function scaled to zero, no container left)"
berth_b function ls
kill "$gateway_pid" && while kill -0 "$gateway_pid" 2>/dev/null; do sleep 0.1; done
gateway_pid=""
berth_b function rm hello web

step "done"
