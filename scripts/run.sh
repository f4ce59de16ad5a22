#!/usr/bin/env bash
# Installs what is missing, builds Slipway (release) when its sources changed, puts `slipway` on
# PATH (a link in /usr/local/bin; SLIPWAY_LINK_DIR picks another directory) and starts it on the
# embedded defaults: SQLite + local blob storage under ./data, listening on http://127.0.0.1:8080.
# Extra arguments go to `slipway serve` (e.g. --port 5000 --host 0.0.0.0 --config slipway.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh

BIN="$PWD/.build-release/release/slipway"
# Build only when something the binary is made from is newer than the binary (an edit, a pull,
# a checkout): even a build with nothing to do costs SwiftPM most of a minute.
inputs=(Sources Package.swift)
[ -f Package.resolved ] && inputs+=(Package.resolved)
if [ ! -x "$BIN" ] || [ -n "$(find "${inputs[@]}" -newer "$BIN" -print -quit)" ]; then
  swift build -c release --product slipway --scratch-path .build-release
  # A build that found nothing to recompile leaves the binary's time as it was: mark it current.
  touch "$BIN"
fi

LINK_DIR="${SLIPWAY_LINK_DIR:-/usr/local/bin}"
if [ "$(readlink "$LINK_DIR/slipway" 2>/dev/null)" != "$BIN" ]; then
  as=""
  [ -w "$LINK_DIR" ] || as="$SUDO"
  $as mkdir -p "$LINK_DIR"
  $as ln -sfn "$BIN" "$LINK_DIR/slipway"
  echo "linked $LINK_DIR/slipway -> $BIN" >&2
fi
exec "$BIN" serve --data-dir ./data "$@"
