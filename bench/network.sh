#!/usr/bin/env bash
# Network benchmark (issue 4), as root, side by side in one run:
#   throughput  wrk -t2 -c32 against a busybox httpd serving a 1 KiB file
#               - published with `-p 127.0.0.1:PORT:80` (DNAT through the default bridge)
#               - the same httpd on the host network (`--network host`)
#               - Docker's published port, where a Docker daemon answers
#   start cost  `berth run --rm busybox true` on the default bridge against `--network none`,
#               measured first (nothing else running), the two alternating run by run so that
#               drift in the machine's load hits both alike
# Traffic goes to 127.0.0.1 only.
# Usage: bench/network.sh [WRK_SECONDS] [PAIRS]   (writes bench/results/network.md)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
runs=${2:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
[ "$(id -u)" = 0 ] || { echo "bench/network.sh: needs root" >&2; exit 1; }
bash "$here/scripts/setup.sh"
cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=$CARGO_TARGET_DIR/release/berth
W=$(mktemp -d /tmp/berth-bench-network.XXXXXX)
R=$W/root
cleanup() {
  "$B" --root "$R" rm -f bench-pub bench-host >/dev/null 2>&1 || true
  [ -n "${docker_ok:-}" ] && docker rm -f berth-bench-docker >/dev/null 2>&1 || true
  "$B" --root "$R" network reset --force >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$1/f.html" && return 0; sleep 0.05; done; return 1; }

"$B" --root "$R" import --change 'CMD ["sh"]' "$(ls /var/cache/berth-fixtures/busybox-rootfs.tar)" busybox >/dev/null
mkdir -p "$W/www"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$W/www/f.html"

# wrk's summary as "req/s | p50 | p99 | errors"
run_wrk() {
  local out
  out=$(wrk -t2 -c32 -d"${secs}s" --timeout 2s --latency "http://127.0.0.1:$1/f.html")
  local rps p50 p99 err
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  err=$(awk '/Socket errors:/ {sub(/.*Socket errors: /,""); print}' <<<"$out")
  echo "$rps|$p50|$p99|${err:-none}"
}

# Start cost first, before any server runs: warm-up, then bridge and none alternating.
python3 - "$B" "$R" "$runs" > "$W/start.md" <<'PY'
import statistics as st, subprocess, sys, time
b, root, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmds = {"bridge": [b, "--root", root, "run", "--rm", "busybox", "true"],
        "none": [b, "--root", root, "run", "--rm", "--network", "none", "busybox", "true"]}
t = {k: [] for k in cmds}
for i in range(runs + 3):
    for k in (("bridge", "none") if i % 2 == 0 else ("none", "bridge")):
        t0 = time.perf_counter()
        subprocess.run(cmds[k], check=True, stdout=subprocess.DEVNULL)
        if i >= 3:
            t[k].append((time.perf_counter() - t0) * 1000)
d = [x - y for x, y in zip(t["bridge"], t["none"])]
print("| benchmark | mean ± σ | median | peer | peer mean ± σ | peer median | ratio (means) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print(f"| berth run --rm busybox true (default bridge) | {st.mean(t['bridge']):.1f} ms ± {st.stdev(t['bridge']):.1f} | "
      f"{st.median(t['bridge']):.1f} ms | berth run --rm --network none busybox true | "
      f"{st.mean(t['none']):.1f} ms ± {st.stdev(t['none']):.1f} | {st.median(t['none']):.1f} ms | "
      f"{st.mean(t['bridge']) / st.mean(t['none']):.2f} |")
print(f"\nThe default bridge adds {st.mean(d):.1f} ms ± {st.stdev(d) / len(d) ** 0.5:.1f} (standard error; "
      f"median of the paired differences {st.median(d):.1f} ms) to a container's start, over {len(d)} "
      f"alternating pairs (target: at most 5 ms).")
PY
cat "$W/start.md" >&2

pub=$(free_port)
host=$(free_port)
"$B" --root "$R" run -d --name bench-pub -p "127.0.0.1:$pub:80" -v "$W/www:/www:ro" busybox httpd -f -p 80 -h /www >/dev/null
"$B" --root "$R" run -d --name bench-host --network host -v "$W/www:/www:ro" busybox httpd -f -p "127.0.0.1:$host" -h /www >/dev/null
wait_http "$pub"
wait_http "$host"

declare -A res
res[pub]=$(run_wrk "$pub")
res[host]=$(run_wrk "$host")
docker_ok=""
if docker info >/dev/null 2>&1; then
  dport=$(free_port)
  docker rm -f berth-bench-docker >/dev/null 2>&1 || true
  if docker run -d --name berth-bench-docker -p "127.0.0.1:$dport:80" -v "$W/www:/www:ro" busybox httpd -f -p 80 -h /www >/dev/null 2>&1; then
    docker_ok=1
    wait_http "$dport" && res[docker]=$(run_wrk "$dport")
  fi
fi

mkdir -p "$here/bench/results"
{
  echo "| wrk -t2 -c32 -d${secs}s, 1 KiB file | requests/s | p50 | p99 | socket errors | vs host network |"
  echo "| --- | --- | --- | --- | --- | --- |"
  hrps=${res[host]%%|*}
  for k in host pub docker; do
    [ -n "${res[$k]:-}" ] || continue
    IFS='|' read -r rps p50 p99 err <<<"${res[$k]}"
    case $k in
      host) name="berth, --network host";;
      pub) name="berth, -p 127.0.0.1:PORT:80 (bridge + DNAT)";;
      docker) name="docker, -p 127.0.0.1:PORT:80";;
    esac
    ratio=$(python3 -c "print(f'{$rps/$hrps:.2f}')")
    echo "| $name | $rps | $p50 | $p99 | $err | $ratio |"
  done
  [ -n "${res[docker]:-}" ] || echo "| docker | (no Docker daemon on this machine) | | | | |"
  echo
  cat "$W/start.md"
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$here/bench/results/network.md"
cat "$here/bench/results/network.md"
