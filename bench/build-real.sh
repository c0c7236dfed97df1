#!/usr/bin/env bash
# Real-world builds (issue 14), each cold, side by side in one hyperfine run per Dockerfile:
#   berth build --no-cache
#   Docker 20.10's BuildKit (DOCKER_BUILDKIT=1 docker build --no-cache)
#   Docker 20.10's legacy builder (DOCKER_BUILDKIT=0 docker build --no-cache)
# on a private dockerd (bench/dockerd.sh) and the Debian bookworm-slim fixture imported into both.
# The Dockerfiles:
#   apt         apt-get install of gcc, g++, make, python3 and libicu-dev (~110 MB of packages,
#               ~400 MB installed) from a local repository served on 127.0.0.1 (the mirror is not
#               what is measured; builds use --network host to reach it)
#   multistage  the same toolchain compiles a C program in one stage; a second stage copies it
#   add         ADD of a 150 MB gzipped tarball of many files
#   node        a Node app: Debian's nodejs and npm from the same local repository, then `npm ci` of 165 packages
#               (express, webpack, typescript...) whose lockfile points at tarballs served on
#               127.0.0.1 (fetched once from the npm registry into the cache)
# Usage: bench/build-real.sh [RUNS]   (default 1: each build takes tens of seconds; writes
# bench/results/build-real.md; BERTH=path measures that binary instead of the release build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
[ "$(id -u)" = 0 ] || { echo "bench/build-real.sh: needs root" >&2; exit 1; }
bash "$here/scripts/setup.sh"
[ -n "${BERTH:-}" ] || cargo build -q --release -p berth --manifest-path "$here/Cargo.toml"
B=${BERTH:-$CARGO_TARGET_DIR/release/berth}
W=$(mktemp -d /var/tmp/berth-bench-build-real.XXXXXX)
source "$here/bench/dockerd.sh"

source "$here/bench/apt-repo.sh"

base=/var/cache/berth-fixtures/debian-bookworm-slim-rootfs.tar
"$B" --root "$W/root" import --change 'CMD ["bash"]' "$base" debian:bookworm-slim >/dev/null
$D import --change 'CMD ["bash"]' "$base" debian:bookworm-slim >/dev/null

mkdir -p "$W/apt" "$W/multistage" "$W/add/data" "$W/node"
cat >"$W/apt/Dockerfile" <<EOF
FROM debian:bookworm-slim
RUN $apt_line gcc g++ make python3 libicu-dev && rm -rf /var/lib/apt/lists/*
RUN gcc --version && python3 --version
EOF
cat >"$W/multistage/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello from a compiled stage"); return 0; }
EOF
cat >"$W/multistage/Dockerfile" <<EOF
FROM debian:bookworm-slim AS build
RUN $apt_line gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hello.c .
RUN gcc -O2 -o hello hello.c
FROM debian:bookworm-slim
COPY --from=build /src/hello /usr/local/bin/hello
CMD ["hello"]
EOF
# 150 MB of files: the contents of the apt case's packages, gzipped once.
for p in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances gcc g++ make python3 libicu-dev | grep -E '^[a-z0-9]' | grep -v ':' | sort -u); do
  for f in "$repo/${p}"_*.deb; do
    if [ -e "$f" ]; then dpkg-deb -x "$f" "$W/add/data/$(basename "$f" .deb)"; fi
  done
done
tar -C "$W/add" -czf "$W/add/big.tar.gz" data && rm -rf "$W/add/data"
cat >"$W/add/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
ADD big.tar.gz /opt/
RUN du -sh /opt/data
EOF

cp "$repo/app/package.json" "$W/node/"
sed "s|https://registry.npmjs.org/|http://127.0.0.1:$port/npm/|" "$repo/app/package-lock.json" >"$W/node/package-lock.json"
cat >"$W/node/index.js" <<'JS'
const express = require("express");
express().get("/", (_, res) => res.send("hello")).listen(process.env.PORT || 3000);
JS
cat >"$W/node/Dockerfile" <<EOF
FROM debian:bookworm-slim
RUN $apt_line nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --registry http://127.0.0.1:$port/npm/
COPY index.js .
CMD ["node", "index.js"]
EOF

out="$here/bench/results/build-real.md"
mkdir -p "$here/bench/results"
{
  echo "# Real-world builds, cold: berth against Docker $($D version --format '{{.Server.Version}}')'s BuildKit and legacy builder ($(date -u +%Y-%m-%dT%H:%MZ), $runs run(s), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  echo
} >"$out"
for case in apt multistage add node; do
  ctx="$W/$case"
  hyperfine -r "$runs" --export-markdown "$W/h.md" \
    -n "berth build ($case)" "$B --root $W/root build -q --no-cache --network host -t bench-$case $ctx" \
    -n "BuildKit ($case)" "env DOCKER_BUILDKIT=1 $D build -q --no-cache --network host -t bench-$case $ctx" \
    -n "legacy builder ($case)" "env DOCKER_BUILDKIT=0 $D build -q --no-cache --network host -t bench-$case-legacy $ctx" >/dev/null
  { echo "## $case"; echo; cat "$W/h.md"; echo; } >>"$out"
done
cat "$out"
