#!/usr/bin/env bash
# Slipway vs. CNCF distribution (docker-registry) benchmark on this machine.
#
#   Benchmarks/run.sh [--quick] [extra registry_bench.py args...]
#
# Starts a throw-away docker-registry (filesystem storage, delete enabled) and
# a Slipway release build on random free ports on 127.0.0.1, runs
# registry_bench.py against both (Slipway = subject, docker-registry =
# baseline) and stops both servers on exit.
#
# Environment:
#   SLIPWAY_BIN     use this slipway binary instead of building one
#   REGISTRY_BIN    docker-registry binary (default: docker-registry)
#   PYTHON          python interpreter for the benchmark (default: python3)
#   BENCH_OUT       results directory (default: Benchmarks/results/<timestamp>)
#   BENCH_WORKDIR   parent of the temporary work dir (default: $TMPDIR or /tmp)
#   KEEP_WORKDIR=1  keep the work dir (server data, logs) after the run
#   READY_TIMEOUT   seconds to wait for each server (default: 120)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

QUICK=()
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=(--quick); shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; PASS+=("$@"); break ;;
        *) PASS+=("$1"); shift ;;
    esac
done

REGISTRY_BIN="${REGISTRY_BIN:-docker-registry}"
PYTHON="${PYTHON:-python3}"
READY_TIMEOUT="${READY_TIMEOUT:-120}"
ADMIN_USER=bench
ADMIN_PASSWORD=benchpass123

log() { printf '[run.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v "$REGISTRY_BIN" >/dev/null || die "$REGISTRY_BIN not found (apt-get install docker-registry)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

# --- Slipway binary --------------------------------------------------------
if [ -n "${SLIPWAY_BIN:-}" ] && [ -f "$SLIPWAY_BIN" ] && [ -x "$SLIPWAY_BIN" ]; then
    log "using SLIPWAY_BIN=$SLIPWAY_BIN (not building)"
else
    if [ -n "${SLIPWAY_BIN:-}" ]; then
        log "SLIPWAY_BIN=$SLIPWAY_BIN is not an executable file; building instead"
    fi
    command -v swift >/dev/null || die "swift not found and SLIPWAY_BIN not set"
    log "building slipway (release)..."
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product slipway) >&2
    BIN_DIR="$(cd "$ROOT" && swift build -c release --scratch-path .build-release --product slipway --show-bin-path)"
    SLIPWAY_BIN="$BIN_DIR/slipway"
    [ -x "$SLIPWAY_BIN" ] || die "build finished but $SLIPWAY_BIN does not exist"
fi
case "$SLIPWAY_BIN" in /*) ;; *) SLIPWAY_BIN="$PWD/$SLIPWAY_BIN" ;; esac

# --- work dir, ports, cleanup ----------------------------------------------
WORK="$(mktemp -d "${BENCH_WORKDIR:-${TMPDIR:-/tmp}}/slipway-bench.XXXXXX")"
REG_PID=""
SLIP_PID=""
BENCH_PID=""
OUT=""

stop_pid() {
    local name=$1 pid=$2 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        # Interrupted: the benchmark prints the partial results on SIGTERM.
        stop_pid registry_bench.py "$BENCH_PID"
        [ -f "$OUT/results.txt" ] && cat "$OUT/results.txt"
    fi
    stop_pid slipway "$SLIP_PID"
    stop_pid docker-registry "$REG_PID"
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
        cp "$WORK"/slipway.log "$WORK"/registry.log "$OUT"/ 2>/dev/null || true
    fi
    if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
        log "kept work dir $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
REG_PORT="$(free_port)"
SLIP_PORT="$(free_port)"
while [ "$SLIP_PORT" = "$REG_PORT" ]; do SLIP_PORT="$(free_port)"; done

wait_ready() {  # name pid url logfile
    local name=$1 pid=$2 url=$3 logfile=$4 code deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before becoming ready; last log lines:"
            tail -n 40 "$logfile" >&2 || true
            exit 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
        if [ "$code" = 200 ]; then
            log "$name ready at $url (pid $pid)"
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name not ready after ${READY_TIMEOUT}s (last status: ${code:-none}); last log lines:"
            tail -n 40 "$logfile" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}

# --- docker-registry (reference) -------------------------------------------
mkdir -p "$WORK/registry-data" "$WORK/slipway-data" "$WORK/blobs"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$REG_PORT
EOF
"$REGISTRY_BIN" serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!

# --- Slipway (subject) ---------------------------------------------------------
SLIPWAY_ADMIN_USER="$ADMIN_USER" SLIPWAY_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$SLIPWAY_BIN" serve --host 127.0.0.1 --port "$SLIP_PORT" --data-dir "$WORK/slipway-data" \
    >"$WORK/slipway.log" 2>&1 &
SLIP_PID=$!

wait_ready docker-registry "$REG_PID" "http://127.0.0.1:$REG_PORT/v2/" "$WORK/registry.log"
wait_ready slipway "$SLIP_PID" "http://127.0.0.1:$SLIP_PORT/health/instance" "$WORK/slipway.log"

# --- benchmark ---------------------------------------------------------------
OUT="${BENCH_OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)${QUICK[0]:+-quick}}"
mkdir -p "$OUT"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "slipway: $SLIPWAY_BIN"
    echo "slipway git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "docker-registry: $("$REGISTRY_BIN" --version 2>&1 | head -n1)"
    echo "wrk: $(wrk --version 2>&1 | head -n1)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "mem: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null)"
    echo "kernel: $(uname -sr)"
} >"$OUT/environment.txt"
cat "$OUT/environment.txt" >&2

# Run the benchmark as a background child and `wait` for it, so that INT/TERM
# sent to this script are handled right away (bash defers traps while a
# foreground child runs). Its stdout (the table) goes to results.txt.
rc=0
"$PYTHON" "$HERE/registry_bench.py" \
    --target "slipway=http://127.0.0.1:$SLIP_PORT" \
    --target "reference=http://127.0.0.1:$REG_PORT" \
    --creds "slipway=$ADMIN_USER:$ADMIN_PASSWORD" \
    --pid "slipway=$SLIP_PID" \
    --pid "reference=$REG_PID" \
    --tmpdir "$WORK/blobs" \
    --json "$OUT/results.json" \
    --markdown "$OUT/results.md" \
    ${QUICK[@]+"${QUICK[@]}"} ${PASS[@]+"${PASS[@]}"} >"$OUT/results.txt" &
BENCH_PID=$!
wait "$BENCH_PID" || rc=$?
BENCH_PID=""
cat "$OUT/results.txt"

for name_pid in "slipway:$SLIP_PID" "docker-registry:$REG_PID"; do
    if ! kill -0 "${name_pid#*:}" 2>/dev/null; then
        log "warning: ${name_pid%%:*} is no longer running (see logs in $WORK; set KEEP_WORKDIR=1 to keep them)"
        rc=1
    fi
done
log "results in $OUT"
exit "$rc"
