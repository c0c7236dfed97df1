#!/usr/bin/env bash
# Installs what berth's demo, tests and benchmarks need on a fresh Debian 12 machine, and builds
# the base-image fixtures from Debian packages (no image registry needed). Idempotent: a second
# run installs nothing and rebuilds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(docker-registry skopeo umoci runc crun hyperfine wrk busybox-static iproute2 nftables iptables curl jq apache2-utils tini debootstrap dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry package starts a system service on :5000; berth's tests start their own.
if systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
  systemctl disable docker-registry >/dev/null 2>&1 || true
fi

export BERTH_FIXTURES=${BERTH_FIXTURES:-/var/cache/berth-fixtures}
bash "$here/tests/fixtures/mk-busybox.sh" "$BERTH_FIXTURES"
bash "$here/tests/fixtures/mk-debian.sh" "$BERTH_FIXTURES"
