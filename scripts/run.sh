#!/usr/bin/env bash
# Installs what is missing, builds Slipway (release) and starts it on the embedded defaults:
# SQLite + local blob storage under ./data, listening on http://127.0.0.1:8080.
# Extra arguments go to `slipway serve` (e.g. --port 5000 --host 0.0.0.0 --config slipway.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
swift build -c release --product slipway --scratch-path .build-release
exec .build-release/release/slipway serve --data-dir ./data "$@"
