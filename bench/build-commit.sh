#!/usr/bin/env bash
# The snapshot-and-commit time of a big apt layer (issue 14: at most 2 s for 866 MB): what a
# build adds after a RUN's process exits until its layer is committed (the step container's
# cleanup, the layer's diff-id, its move into the layer cache). One RUN installs gcc, g++,
# python3, libicu-dev, nodejs, npm and a Java runtime from the local repository
# (bench/apt-repo.sh); berth's info log says when the step's process exited and when its layer
# was committed, and the difference is printed with the layer's size.
# Usage: bench/build-commit.sh [RUNS]   (default 3; BERTH=path measures that binary)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
[ "$(id -u)" = 0 ] || { echo "bench/build-commit.sh: needs root" >&2; exit 1; }
bash "$here/scripts/setup.sh"
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /var/tmp/berth-bench-build-commit.XXXXXX)
cleanup() {
  set +e
  kill "$http_pid" 2>/dev/null
  wait "$http_pid" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
source "$here/bench/apt-repo.sh"
"$B" --root "$W/root" import --change 'CMD ["bash"]' /var/cache/berth-fixtures/debian-bookworm-slim-rootfs.tar \
  debian:bookworm-slim >/dev/null
mkdir -p "$W/ctx"
cat >"$W/ctx/Dockerfile" <<DF
FROM debian:bookworm-slim
# (bookworm-slim has no man directories; the Java runtime's postinst wants man1.)
RUN mkdir -p /usr/share/man/man1 && $apt_line gcc g++ make python3 libicu-dev nodejs npm openjdk-17-jre-headless && rm -rf /var/lib/apt/lists/*
DF
secs() { date -d "$1" +%s.%N; }
for i in $(seq "$runs"); do
  "$B" --root "$W/root" --log-level berth::build=info build -q --no-cache --network host -t big "$W/ctx" \
    >/dev/null 2>"$W/log.raw"
  sed 's/\x1b\[[0-9;]*m//g' "$W/log.raw" >"$W/log"
  exited=$(grep -m1 'step process exited' "$W/log" | awk '{print $1}')
  committed=$(grep -m1 'layer committed' "$W/log" | awk '{print $1}')
  bytes=$(grep -m1 'layer committed' "$W/log" | grep -o 'bytes=[0-9]*' | cut -d= -f2)
  printf 'run %d: layer %d MB, commit after the RUN exited: %s s\n' "$i" $((bytes / 1000000)) \
    "$(awk -v a="$(secs "$exited")" -v b="$(secs "$committed")" 'BEGIN { printf "%.2f", b - a }')"
done
