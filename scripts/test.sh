#!/usr/bin/env bash
# Runs the whole test suite: Swift unit/protocol tests on SQLite and a throwaway PostgreSQL,
# then the end-to-end tests that drive real podman, skopeo and buildah against a live server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh --test

PGDIR=$(mktemp -d /tmp/slipway-pg.XXXXXX)
PGPORT=${SLIPWAY_TEST_PG_PORT:-55433}
cleanup() {
  local status=$?
  # On a failed run, PostgreSQL's own complaints help explain it (a test's database
  # connections failing, say); the dropped test databases' forced disconnects are expected.
  if [ "$status" -ne 0 ] && [ -f "$PGDIR/server.log" ]; then
    echo "PostgreSQL's FATAL/PANIC messages during the run (count, message):"
    grep -E "FATAL|PANIC" "$PGDIR/server.log" | grep -v "due to administrator command" \
      | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' | sort | uniq -c | sort -rn | head -20 || true
  fi
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
  else "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$PGDIR"
  # The Swift tests' shared moto_servers die with the test process (atexit); not when a hung
  # run was killed by the watchdog.
  pkill -KILL -f "moto_server -H 127.0.0.1 " 2>/dev/null || true
}
trap cleanup EXIT
export SLIPWAY_TEST_POSTGRES_URL=$(scripts/start-postgres.sh "$PGDIR" "$PGPORT")
echo "PostgreSQL for tests: $SLIPWAY_TEST_POSTGRES_URL"

swift build --build-tests
# The watchdog passes the output through line by line and, if a test hangs, prints which tests
# are still running and every thread's stack, then fails the run instead of holding CI.
scripts/watchdog.py --idle 600 --total 2400 -- swift test --skip-build
SLIPWAY_BIN="$PWD/.build/debug/slipway" scripts/watchdog.py --idle 900 --total 3000 -- python3 -m pytest Tests/e2e -q
