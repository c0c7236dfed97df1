#!/usr/bin/env bash
# berth's whole test suite: unit, integration, privileged (as root only) and end-to-end tiers.
# Sets up what the tests need first (scripts/setup.sh), so it works on a fresh machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
export BERTH_FIXTURES=${BERTH_FIXTURES:-/var/cache/berth-fixtures}
cargo build --workspace --bins
# Tests that need root are #[ignore = "needs root"]: as root they run too; as another user the
# run lists them as ignored (docs/testing.md).
args=(--test-threads="${BERTH_TEST_THREADS:-2}")
if [ "$(id -u)" = 0 ]; then args+=(--include-ignored); fi
status=0
cargo test --workspace --no-fail-fast -- "${args[@]}" || status=$?
# The private Docker daemons the tests started (tests/src/docker.rs) shut down as their test
# process ends: wait for them, then remove what they leave under /var/tmp.
for d in /var/tmp/berth-dockerd-*; do
  [ -d "$d" ] || continue
  [ -e "/proc/${d##*-}" ] && continue # its test process still runs
  for _ in $(seq 100); do [ -e "$d/pid" ] || break; sleep 0.1; done
  grep " $d/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$d"
done
exit $status
