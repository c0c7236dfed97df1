#!/usr/bin/env bash
# Installs what berth's demo, tests and benchmarks need on a fresh Debian 12 machine, and builds
# the base-image fixtures from Debian packages (no image registry needed). Idempotent: a second
# run installs nothing and rebuilds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(docker.io docker-registry skopeo umoci runc crun hyperfine wrk busybox-static iproute2 nftables iptables curl jq apache2-utils tini debootstrap dpkg-dev docker-compose)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # No package may start its service while installing (docker.io's daemon would set up its
  # bridge and firewall before it could be stopped): Debian's policy-rc.d says so.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# Debian's docker-registry package starts a system service on :5000, and docker.io a system
# Docker daemon that would add its bridge and firewall rules: berth's tests start their own
# private ones (tests/src/docker.rs), so the system services stay off.
for svc in docker-registry docker.socket docker containerd; do
  if systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done

export BERTH_FIXTURES=${BERTH_FIXTURES:-/var/cache/berth-fixtures}
bash "$here/tests/fixtures/mk-busybox.sh" "$BERTH_FIXTURES"
bash "$here/tests/fixtures/mk-debian.sh" "$BERTH_FIXTURES"
bash "$here/tests/fixtures/mk-compose-repo.sh" "$BERTH_FIXTURES"
