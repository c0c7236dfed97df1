# Sourced by the build benchmarks: the local Debian package repository they install from (so
# the mirror is not what is measured), served on 127.0.0.1 while the script runs.
# Sets: repo (the directory, a cache shared by runs), port, http_pid (the server; the caller
# stops it), apt_line (the start of a RUN that points apt at it and installs).
# The local package repository: the packages and everything they depend on (apt skips what the
# base has), fetched once into a cache shared by runs.
repo=/var/cache/berth-bench-repo
if [ ! -s "$repo/.v3" ]; then
  rm -rf "$repo.tmp" && mkdir -p "$repo.tmp"
  # Debian's own nodejs and npm (a third-party repository's newer nodejs may be the host's
  # candidate: Debian's version is named, with its libnode).
  node=$(apt-cache madison nodejs | awk '/debian.org/ {print $3; exit}')
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances gcc g++ make python3 libicu-dev npm "libnode${node%%.*}" openjdk-17-jre-headless 2>/dev/null |
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
  echo 3 >"$repo.tmp/.v3"
  rm -rf "$repo" && mv "$repo.tmp" "$repo"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$repo" "$port" >/dev/null 2>&1 &
http_pid=$!
apt_line="rm -f /etc/apt/sources.list.d/debian.sources && echo 'deb [trusted=yes] http://127.0.0.1:$port ./' >/etc/apt/sources.list && echo 'Acquire::Retries \"3\";' >/etc/apt/apt.conf.d/80retries && apt-get update -q && apt-get install -y -q --no-install-recommends"
