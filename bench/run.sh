#!/usr/bin/env bash
# Container start latency (issue 3), side by side in one hyperfine run:
#   berth run --rm --network none busybox true      (image to exit, clean-up included)
#   runc run / crun run of an equivalent prepared bundle (same config.json berth generates,
#     fresh network namespace with only loopback, rootfs already on disk)
#   unshare + chroot + exec                          (the floor)
#   docker run --rm busybox true                     (only where Docker is installed)
# then 50 containers started in parallel and all removed (nothing may be left behind), and the
# idle RSS of a container's shim. crun refuses this machine's hybrid cgroup layout unless the
# cgroup2 `unified` mount is hidden from it, so the whole comparison runs in a private mount
# namespace without that mount (berth and runc do not care).
# Usage: bench/run.sh [RUNS]   (writes bench/results/run.md; BERTH=path/to/berth measures that
# binary instead of building the release one, e.g. an older build for a before/after table)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
if [ -z "${BERTH_BENCH_INNER:-}" ]; then
  bash "$here/scripts/setup.sh"
  [ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
  if [ -d /sys/fs/cgroup/unified ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
    exec unshare -m --propagation slave env BERTH_BENCH_INNER=1 bash -c 'umount -l /sys/fs/cgroup/unified; exec bash "$0" "$@"' "$0" "$@"
  fi
fi
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
cleanup() {
  "$B" --root "$W/root" rm -f $("$B" --root "$W/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  rm -rf "$W"
  # The peers' cgroup parent (cgroupsPath /berth-bench/peer): runc and crun remove only the leaf.
  find /sys/fs/cgroup/*/berth-bench /sys/fs/cgroup/berth-bench -depth -type d -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT

"$B" --root "$W/root" import /var/cache/berth-fixtures/busybox-rootfs.tar busybox >/dev/null
"$B" --root "$W/root" run --rm --network none busybox true # unpack the layer once

# The peers' bundle: berth's own config.json for the same container, over a plain rootfs.
id=$("$B" --root "$W/root" create --network none busybox true)
mkdir -p "$W/bundle/rootfs"
tar -xf /var/cache/berth-fixtures/busybox-rootfs.tar -C "$W/bundle/rootfs"
python3 - "$W/root/containers/$id/config.json" "$W/bundle/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"] = {"path": "rootfs", "readonly": False}
spec["linux"]["cgroupsPath"] = "/berth-bench/peer"
# A fresh network namespace (loopback only) made by the runtime itself, not berth's.
for ns in spec["linux"]["namespaces"]:
    ns.pop("path", None)
# The /etc files berth bind-mounts come from its container directory; the peers do without.
spec["mounts"] = [m for m in spec["mounts"] if not m["destination"].startswith("/etc/")]
json.dump(spec, open(sys.argv[2], "w"))
PY
"$B" --root "$W/root" rm "$id" >/dev/null

cmds=(-n "berth run --rm --network none busybox true" "$B --root $W/root run --rm --network none busybox true")
cmds+=(-n "runc run (prepared bundle)" "runc --root $W/runc run --bundle $W/bundle bench-runc")
if command -v crun >/dev/null; then
  cmds+=(-n "crun run (prepared bundle)" "crun --root $W/crun run --bundle $W/bundle bench-crun")
fi
cmds+=(-n "unshare + chroot + exec (floor)" "unshare -fpmnui chroot $W/bundle/rootfs /bin/true")
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  cmds+=(-n "docker run --rm busybox true" "docker run --rm busybox true")
fi
hyperfine -N --runs "$runs" --warmup 3 --export-json "$W/start.json" "${cmds[@]}"

# 50 in parallel, then all removed; nothing may remain.
count() {
  local m c s
  m=$(wc -l < /proc/self/mountinfo)
  c=$(find /sys/fs/cgroup/*/berth /sys/fs/cgroup/berth -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
  s=$(pgrep -fc "^berth shim $W/root" || true)
  echo "$m $c $s"
}
before=$(count)
par50="seq 50 | xargs -P 50 -I{} $B --root $W/root run -d --network none busybox sleep 30 >/dev/null && $B --root $W/root rm -f \$($B --root $W/root ps -aq) >/dev/null"
hyperfine --runs 3 --export-json "$W/par.json" -n "50 containers in parallel, then all removed" "$par50"
after=$(count)
leaks=$(paste -d' ' <(echo $before | tr ' ' '\n') <(echo $after | tr ' ' '\n') | awk '{printf "%d ", $2-$1}')
read -r lm lc ls <<<"$leaks"
echo "left behind after 3 x 50 runs and removals: $lm mounts, $lc cgroups, $ls shims"
[ "$before" = "$after" ] || { echo "LEAK: before=($before) after=($after)" >&2; exit 1; }

# Idle shim footprint: 10 sleeping containers, measured once every shim has had 1 s of quiet
# since the CLI detached (it gives its start-up pages back then).
for _ in $(seq 10); do "$B" --root "$W/root" run -d --network none busybox sleep 60 >/dev/null; done
sleep 2
rss=$(for p in $(pgrep -f "^berth shim $W/root"); do awk '/VmRSS/{print $2}' /proc/$p/status; done | sort -n)
anon=$(for p in $(pgrep -f "^berth shim $W/root"); do awk '/RssAnon/{print $2}' /proc/$p/status; done | sort -n)
pss=$(for p in $(pgrep -f "^berth shim $W/root"); do awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup; done | sort -n)
"$B" --root "$W/root" rm -f $("$B" --root "$W/root" ps -aq) >/dev/null

mkdir -p "$here/bench/results"
{
  python3 - "$W/start.json" "$W/par.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
berth = res[0]
print("| command | mean ± σ | min | berth / this |")
print("| --- | --- | --- | --- |")
for r in res:
    print(f"| {r['command']} | {r['mean']*1000:.1f} ms ± {r['stddev']*1000:.1f} | {r['min']*1000:.1f} ms | {berth['mean']/r['mean']:.2f} |")
p = json.load(open(sys.argv[2]))["results"][0]
print()
print(f"50 containers started in parallel (`run -d`), then all removed (`rm -f`): {p['mean']*1000:.0f} ms ± {p['stddev']*1000:.0f}")
PY
  echo
  echo "Left behind after the 3 × 50 runs and removals: $lm mounts, $lc cgroups, $ls shims."
  echo
  echo "Idle shim (10 containers): VmRSS $(echo $rss | awk '{print $1}')–$(echo $rss | awk '{print $NF}') KiB (of which anonymous $(echo $anon | awk '{print $1}')–$(echo $anon | awk '{print $NF}') KiB), PSS $(echo $pss | awk '{print $1}')–$(echo $pss | awk '{print $NF}') KiB"
} > "$here/bench/results/run.md"
cat "$here/bench/results/run.md"
