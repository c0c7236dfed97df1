#!/usr/bin/env bash
# berth against a real Docker daemon (issue 13), side by side in one hyperfine run per pair, on
# the same busybox image imported into both:
#   run --rm --network none IMG true        (a whole container's life)
#   exec C true                             (what each health probe costs: an exec)
#   inspect -f TEMPLATE C                   (a Go template over the container's document)
#   ps -a --format TEMPLATE                 (list and format)
# then the resident memory of what supervises one idle container with a 1 s healthcheck:
# berth's shim against Docker's containerd-shim (plus its share of dockerd, which berth has not).
# Docker is a private daemon (its own data root, exec root and socket; no bridge, no firewall
# rules), started here and stopped at the end, as the tests start theirs.
# Usage: bench/docker.sh [RUNS]   (writes bench/results/docker.md; BERTH=path measures that binary)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
bash "$here/scripts/setup.sh"
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /var/tmp/berth-bench-docker.XXXXXX)
source "$here/bench/dockerd.sh"

tar=/var/cache/berth-fixtures/busybox-rootfs.tar
"$B" --root "$W/root" import --change 'CMD ["sh"]' "$tar" bb >/dev/null
$D import --change 'CMD ["sh"]' "$tar" bb >/dev/null
"$B" --root "$W/root" run --rm --network none bb true
$D run --rm --network none bb true
health=(--health-cmd true --health-interval 1s)
"$B" --root "$W/root" run -d --name hc1 --network none -l tier=web "${health[@]}" bb sleep 3600 >/dev/null
$D run -d --name hc1 --network none -l tier=web "${health[@]}" bb sleep 3600 >/dev/null
tpl='{{.State.Status}} {{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}{{json .HostConfig.RestartPolicy}}'
ps_tpl='table {{.Names}}\t{{.Status}}\t{{.Label "tier"}}'

out="$here/bench/results/docker.md"
mkdir -p "$here/bench/results"
{
  echo "# berth against Docker $($D version --format '{{.Server.Version}}') ($(date -u +%Y-%m-%dT%H:%MZ), $runs runs, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  echo
} >"$out"
pair() { # title, berth command, docker command
  local t=$1
  hyperfine -N -w 3 -r "$runs" --export-markdown "$W/h.md" -n "berth $2" "$B --root $W/root $2" -n "docker $3" "$D $3" >/dev/null
  { echo "## $t"; echo; cat "$W/h.md"; echo; } >>"$out"
}
pair "a container's life" "run --rm --network none bb true" "run --rm --network none bb true"
pair "one exec (each health probe is one)" "exec hc1 true" "exec hc1 true"
pair "inspect -f with a Go template" "inspect -f '$tpl' hc1" "inspect -f '$tpl' hc1"
pair "ps with a table template" "ps -a --format '$ps_tpl'" "ps -a --format '$ps_tpl'"

# Resident memory of the supervision of one idle container with a 1 s healthcheck.
sleep 3
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
id=$("$B" --root "$W/root" inspect -f '{{.Id}}' hc1)
shim=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ShimPid"])' "$W/root/containers/$id/state.json")
dshim=$(pgrep -f "containerd-shim.*-namespace berth-bench" | head -1)
cont=$(pgrep -f "containerd --config $W" | head -1 || true)
{
  echo "## resident memory of one idle container's supervision, 1 s healthcheck (KiB)"
  echo
  echo "| what | RSS (KiB) |"
  echo "| --- | --- |"
  echo "| berth's shim | $(rss "$shim") |"
  echo "| Docker's containerd-shim-runc-v2 | $(rss "$dshim") |"
  echo "| dockerd (shared by all containers) | $(rss "$dockerd_pid") |"
  [ -n "$cont" ] && echo "| containerd (shared by all containers) | $(rss "$cont") |"
  echo
} >>"$out"
cat "$out"
