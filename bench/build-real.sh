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

# The local package repository: the packages and everything they depend on (apt skips what the
# base has), fetched once into a cache shared by runs.
repo=/var/cache/berth-bench-repo
if [ ! -s "$repo/.v2" ]; then
  rm -rf "$repo.tmp" && mkdir -p "$repo.tmp"
  # Debian's own nodejs and npm (a third-party repository's newer nodejs may be the host's
  # candidate: Debian's version is named, with its libnode).
  node=$(apt-cache madison nodejs | awk '/debian.org/ {print $3; exit}')
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances gcc g++ make python3 libicu-dev npm "libnode${node%%.*}" 2>/dev/null |
    grep -E '^[a-z0-9]' | grep -v ':' | grep -vx nodejs | sort -u)
  pkgs="$pkgs nodejs=$node"
  (cd "$repo.tmp" && apt-get download $pkgs >/dev/null && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
  # The Node app's dependencies: a lockfile naming every tarball, and the tarballs, kept under
  # npm/ with the registry's paths (each run points the lockfile at 127.0.0.1).
  mkdir -p "$repo.tmp/app"
  cat >"$repo.tmp/app/package.json" <<'JSON'
{"name": "bench-app", "version": "1.0.0", "private": true,
 "dependencies": {"express": "4.21.2", "lodash": "4.17.21", "axios": "1.7.9", "moment": "2.30.1",
                  "typescript": "5.7.3", "webpack": "5.97.1"}}
JSON
  (cd "$repo.tmp/app" && npm install --package-lock-only --omit-lockfile-registry-resolved=false \
    --no-audit --no-fund >/dev/null)
  grep -o '"resolved": "https://registry.npmjs.org/[^"]*"' "$repo.tmp/app/package-lock.json" | cut -d'"' -f4 |
    while read -r u; do
      f="$repo.tmp/npm/${u#https://registry.npmjs.org/}"
      mkdir -p "$(dirname "$f")" && curl -sSf -o "$f" "$u"
    done
  echo 2 >"$repo.tmp/.v2"
  rm -rf "$repo" && mv "$repo.tmp" "$repo"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$repo" "$port" >/dev/null 2>&1 &
http_pid=$!

base=/var/cache/berth-fixtures/debian-bookworm-slim-rootfs.tar
"$B" --root "$W/root" import --change 'CMD ["bash"]' "$base" debian:bookworm-slim >/dev/null
$D import --change 'CMD ["bash"]' "$base" debian:bookworm-slim >/dev/null

apt_line="rm -f /etc/apt/sources.list.d/debian.sources && echo 'deb [trusted=yes] http://127.0.0.1:$port ./' >/etc/apt/sources.list && echo 'Acquire::Retries \"3\";' >/etc/apt/apt.conf.d/80retries && apt-get update -q && apt-get install -y -q --no-install-recommends"
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
# 150 MB of files: copies of the packages' contents, gzipped once.
for f in "$repo"/*.deb; do dpkg-deb -x "$f" "$W/add/data/$(basename "$f" .deb)"; done
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
