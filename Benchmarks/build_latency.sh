#!/usr/bin/env bash
# Build latency benchmark (issue #20): `git push` → pullable tag through the build farm vs. the
# same work by hand, and the same for the upload path (file drop + build API), with the farm's
# per-phase breakdown. See Benchmarks/README.md ("Build latency") and build_latency_bench.py.
#
#   SLIPWAY_BIN=.build-release/release/slipway Benchmarks/build_latency.sh            # 10 runs per path
#   RUNS=3 Benchmarks/build_latency.sh --only trigger                                  # builds release first
#
# Without SLIPWAY_BIN it builds the release binary (`--scratch-path .build-release`). Writes
# results.md / results.json to Benchmarks/results/<timestamp>-latency/ (or $BENCH_OUT).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
RUNS=${RUNS:-10}

if [[ -z "${SLIPWAY_BIN:-}" || ! -x "${SLIPWAY_BIN}" ]]; then
    echo "building slipway (release)..." >&2
    swift build -c release --scratch-path .build-release --product slipway >&2
    SLIPWAY_BIN="$ROOT/.build-release/release/slipway"
fi
for tool in git buildah podman; do
    command -v "$tool" >/dev/null || { echo "build_latency.sh: $tool is required" >&2; exit 2; }
done
[[ -x /bin/busybox ]] || { echo "build_latency.sh: /bin/busybox (busybox-static) is required" >&2; exit 2; }

OUT=${BENCH_OUT:-"$ROOT/Benchmarks/results/$(date -u +%Y%m%dT%H%M%SZ)-latency"}
mkdir -p "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "binary: $SLIPWAY_BIN"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "kernel: $(uname -r)"
    echo "cpus: $(nproc)"
    echo "buildah: $(buildah --version)"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/environment.txt"

"$PYTHON" "$ROOT/Benchmarks/build_latency_bench.py" --bin "$SLIPWAY_BIN" --runs "$RUNS" --json "$OUT/results.json" "$@" | tee "$OUT/results.md"
echo "results: $OUT" >&2
