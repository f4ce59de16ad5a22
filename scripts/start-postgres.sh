#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the test suite and prints the URL to use as
# SLIPWAY_TEST_POSTGRES_URL. Usage: scripts/start-postgres.sh DIR [PORT]
# Stop it with: runuser -u postgres -- pg_ctl -D DIR/data -m fast stop
set -euo pipefail
DIR=${1:?usage: start-postgres.sh DIR [PORT]}
PORT=${2:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
mkdir -p "$DIR"
RUN=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; RUN=(runuser -u postgres --); fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$DIR/initdb.log"
fi
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=2500" start >/dev/null
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
