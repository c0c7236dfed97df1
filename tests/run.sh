#!/usr/bin/env bash
# berth's whole test suite: unit, integration, privileged (as root) and end-to-end tiers.
# Sets up what the tests need first (scripts/setup.sh), so it works on a fresh machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/berth-target}
export BERTH_FIXTURES=${BERTH_FIXTURES:-/var/cache/berth-fixtures}
cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-2}"
