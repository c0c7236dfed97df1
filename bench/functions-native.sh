#!/usr/bin/env bash
# Native functions (issue 16) against Docker, on the same busybox httpd image (`httpd -f -p
# $PORT -h /www`, a static file) imported into both:
#   cold start: from no instance to the first response byte. berth: a request through `berth
#     serve` to a function scaled to zero (the gateway starts the container and waits for its
#     port); Docker: `docker start` of a created container on a user network of a private
#     dockerd, then the first answered request to its address (polled every 2 ms).
#   warm request: the same GET through the gateway against straight to the container's
#     `-p 127.0.0.1:PORT:8080` (wrk, one connection, 5 s each, mean latency).
# Docker is a private daemon (bench/dockerd.sh: its own data root, no bridge, no firewall
# rules), started here and stopped at the end.
# Usage: bench/functions-native.sh [RUNS]   (writes bench/results/functions-native.md;
# BERTH=path measures that binary)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /var/tmp/berth-bench-fn.XXXXXX)
source "$here/bench/dockerd.sh"
gw_pid=
stop_gateway() { if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null || true; gw_pid=; fi; }
trap 'stop_gateway; cleanup' EXIT
R="$W/root"
bb() { "$B" --root "$R" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }

mkdir -p "$W/www"
echo "hello from a native function" >"$W/www/index.html"
tar=/var/cache/berth-fixtures/busybox-rootfs.tar
cmd='CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]'
bb import --change "$cmd" "$tar" fnhttpd >/dev/null
$D import --change "$cmd" "$tar" fnhttpd >/dev/null

# berth: the function, scaled to zero after 1 s idle.
bb function deploy bench fnhttpd --route / -v "$W/www:/www:ro" --idle-timeout 1s >/dev/null
port=$(free_port)
"$B" --root "$R" serve --addr "127.0.0.1:$port" >"$W/serve.log" 2>&1 &
gw_pid=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
instances() { bb ps -q --filter label=io.berth.function=bench | wc -l; }
berth_cold=()
for _ in $(seq "$runs"); do
  for _ in $(seq 200); do [ "$(instances)" = 0 ] && break; sleep 0.1; done
  t=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$port/index.html")
  berth_cold+=("$t")
done

# Docker: start + first answered request.
$D network create fnbench >/dev/null
$D create --name fn --network fnbench -e PORT=8080 -v "$W/www:/www:ro" fnhttpd >/dev/null
docker_cold=()
for _ in $(seq "$runs"); do
  t0=$(now)
  $D start fn >/dev/null
  ip=$($D inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' fn)
  until curl -s -o /dev/null --max-time 1 "http://$ip:8080/index.html"; do sleep 0.002; done
  t1=$(now)
  docker_cold+=("$(python3 -c "print(($t1-$t0)/1e9)")")
  $D stop -t 0 fn >/dev/null
done

# Warm: through the gateway against the container's published port.
curl -s -o /dev/null "http://127.0.0.1:$port/index.html"
direct=$(free_port)
bb run -d --name direct -p "127.0.0.1:$direct:8080" -e PORT=8080 -v "$W/www:/www:ro" fnhttpd >/dev/null
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$direct/index.html" && break; sleep 0.05; done
curl -s -o /dev/null "http://127.0.0.1:$port/index.html" # warm again (idle 1 s would stop it)
wrk_lat() { wrk -t1 -c1 -d5s --latency "$1" | awk '/^    Latency/{print $2} /Requests\/sec/{print $2}' | tr '\n' ' '; }
gw=$(wrk_lat "http://127.0.0.1:$port/index.html")
dr=$(wrk_lat "http://127.0.0.1:$direct/index.html")
stop_gateway

out="$here/bench/results/functions-native.md"
mkdir -p "$here/bench/results"
python3 - "$out" "$runs" "${berth_cold[*]}" "${docker_cold[*]}" "$gw" "$dr" <<'PY'
import statistics, sys, re, os, datetime
out, runs, bc, dc, gw, dr = sys.argv[1:]
bc = [float(x) * 1000 for x in bc.split()]
dc = [float(x) * 1000 for x in dc.split()]
def ms(s):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
glat, grps = gw.split()
dlat, drps = dr.split()
g, d = ms(glat), ms(dlat)
now = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ")
load = open("/proc/loadavg").read().split()[0]
with open(out, "w") as f:
    f.write(f"# native functions against Docker ({now}, {runs} runs, {os.cpu_count()} cores, load {load})\n\n")
    f.write("| measure | berth | Docker / direct | ratio | target |\n|:---|---:|---:|---:|---:|\n")
    f.write(f"| cold start to first byte, median (ms) | {statistics.median(bc):.1f} | {statistics.median(dc):.1f} | {statistics.median(bc)/statistics.median(dc):.2f} | <= 0.5 |\n")
    f.write(f"| cold start, min / max (ms) | {min(bc):.1f} / {max(bc):.1f} | {min(dc):.1f} / {max(dc):.1f} | | |\n")
    f.write(f"| warm GET, mean latency (ms), wrk -c1 5 s | {g:.3f} | {d:.3f} | {g/d:.2f} | <= 1.15 |\n")
    f.write(f"| warm GET, req/s | {float(grps):.0f} | {float(drps):.0f} | | |\n")
print(open(out).read())
PY
