#!/usr/bin/env bash
# Scale benchmark: the build farm and /v2 manifest GETs with 2 replicas on PostgreSQL.
#
#   Benchmarks/scale.sh [--quick] [--only farm|lb]
#
# 1. farm: build_farm_bench.py --queue-first with 10,000 builds and 64 stub workers, once on
#    one SQLite server and once on 2 replicas sharing a PostgreSQL database (a fresh database
#    each run), RUNS times in alternating order (S P, P S, ...). Prints builds queued per
#    second through the API, builds scheduled per second draining the full queue, queued ->
#    leased p50/p99 with idle workers, and the PostgreSQL / SQLite ratio of each run.
# 2. lb: lb_manifest_bench.py, HAProxy (haproxy-bench.cfg) in front of 1 and of 2 replicas on
#    one PostgreSQL and one blob directory, wrk on a manifest GET, CPU per process; RUNS times,
#    a fresh database each.
# Starts its own throw-away PostgreSQL (scripts/start-postgres.sh) and stops it on exit.
# --quick: 1,000 builds, 3 s wrk runs, 1 run.
#
# Environment:
#   SLIPWAY_BIN     use this slipway binary instead of building one
#   PYTHON          python interpreter (default: python3)
#   HAPROXY_BIN     haproxy binary (default: haproxy)
#   PG_PORT         port for the throw-away PostgreSQL (default: a free port)
#   RUNS            runs of each configuration (default 2)
#   BUILDS WORKERS NAMESPACES REPOS_PER_NAMESPACE   farm size (default 10000 64 20 10)
#   WRK_DURATION WRK_ROUNDS                         manifest GET runs (default 10 s, 2 rounds)
#   BENCH_OUT       results directory (default: Benchmarks/results/<timestamp>-scale)
#   BENCH_WORKDIR   parent of the temporary work dir (default: $TMPDIR or /tmp)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

QUICK=0
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
case "$ONLY" in ""|farm|lb) ;; *) echo "--only takes farm or lb" >&2; exit 2 ;; esac

PYTHON="${PYTHON:-python3}"
HAPROXY_BIN="${HAPROXY_BIN:-haproxy}"
if [ "$QUICK" = 1 ]; then
    RUNS="${RUNS:-1}"; BUILDS="${BUILDS:-1000}"; WRK_DURATION="${WRK_DURATION:-3}"; WRK_ROUNDS="${WRK_ROUNDS:-1}"
fi
RUNS="${RUNS:-2}"
BUILDS="${BUILDS:-10000}"
WORKERS="${WORKERS:-64}"
NAMESPACES="${NAMESPACES:-20}"
REPOS_PER_NAMESPACE="${REPOS_PER_NAMESPACE:-10}"
WRK_DURATION="${WRK_DURATION:-10}"
WRK_ROUNDS="${WRK_ROUNDS:-2}"

log() { printf '[scale.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v psql >/dev/null || die "psql not found (apt-get install postgresql)"
if [ "$ONLY" != farm ]; then
    command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
    command -v "$HAPROXY_BIN" >/dev/null || die "$HAPROXY_BIN not found (apt-get install haproxy)"
fi

if [ -n "${SLIPWAY_BIN:-}" ] && [ -x "$SLIPWAY_BIN" ]; then
    log "using SLIPWAY_BIN=$SLIPWAY_BIN (not building)"
else
    command -v swift >/dev/null || die "swift not found and SLIPWAY_BIN not set"
    log "building slipway (release)..."
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product slipway) >&2
    SLIPWAY_BIN="$(cd "$ROOT" && swift build -c release --scratch-path .build-release --product slipway --show-bin-path)/slipway"
fi
case "$SLIPWAY_BIN" in /*) ;; *) SLIPWAY_BIN="$PWD/$SLIPWAY_BIN" ;; esac

WORK="$(mktemp -d "${BENCH_WORKDIR:-${TMPDIR:-/tmp}}/slipway-scale.XXXXXX")"
PGDIR="$WORK/pg"
PG_STARTED=0
stop_postgres() {
    [ "$PG_STARTED" = 1 ] || return 0
    local ctl
    ctl="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pg_ctl"
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$ctl" -D "$PGDIR/data" -m fast stop >/dev/null || true
    else
        "$ctl" -D "$PGDIR/data" -m fast stop >/dev/null || true
    fi
    PG_STARTED=0
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_postgres
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_PORT="${PG_PORT:-$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
chmod 0711 "$WORK"  # the postgres user (when run as root) must reach $PGDIR
PG_URL="$("$ROOT/scripts/start-postgres.sh" "$PGDIR" "$PG_PORT")"
PG_STARTED=1
PG_PID="$(head -n1 "$PGDIR/data/postmaster.pid")"
log "PostgreSQL on port $PG_PORT (pid $PG_PID)"
fresh_db() {  # name -> URL of a new empty database
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $1" >&2
    echo "${PG_URL%/*}/$1"
}

SUFFIX=-scale
[ "$QUICK" = 1 ] && SUFFIX=-scale-quick
OUT="${BENCH_OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)$SUFFIX}"
mkdir -p "$OUT"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "slipway: $SLIPWAY_BIN"
    echo "checkout: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (the binary may come from elsewhere)"
    echo "postgresql: $(psql -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'SHOW server_version')"
    echo "haproxy: $({ "$HAPROXY_BIN" -v 2>/dev/null || echo none; } | head -n1)"
    echo "wrk: $({ wrk --version 2>&1 || true; } | head -n1)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "farm: builds=$BUILDS workers=$WORKERS namespaces=$NAMESPACES repos/namespace=$REPOS_PER_NAMESPACE runs=$RUNS"
    echo "lb: wrk -t2 -c32 -d${WRK_DURATION}s rounds=$WRK_ROUNDS runs=$RUNS"
} >"$OUT/environment.txt"
cat "$OUT/environment.txt" >&2

farm() {  # label json [postgres args...]
    local label=$1 json=$2
    shift 2
    log "farm $label: $BUILDS builds, $WORKERS workers"
    "$PYTHON" "$HERE/build_farm_bench.py" --bin "$SLIPWAY_BIN" --queue-first --builds "$BUILDS" --workers "$WORKERS" \
        --namespaces "$NAMESPACES" --repos-per-namespace "$REPOS_PER_NAMESPACE" --json "$json" "$@" \
        >"${json%.json}.txt" 2>&1 || { cat "${json%.json}.txt" >&2; die "farm $label failed"; }
    tail -n1 "${json%.json}.txt" >&2
}

if [ "$ONLY" != lb ]; then
    for run in $(seq 1 "$RUNS"); do
        if [ $((run % 2)) = 1 ]; then order="sqlite postgres"; else order="postgres sqlite"; fi
        for backend in $order; do
            if [ "$backend" = sqlite ]; then
                farm "sqlite run $run" "$OUT/farm-sqlite-$run.json"
            else
                farm "postgres 2 replicas run $run" "$OUT/farm-postgres-$run.json" \
                    --postgres "$(fresh_db "farm_$run")" --replicas 2 --postgres-pid "$PG_PID"
            fi
        done
    done
fi

if [ "$ONLY" != farm ]; then
    for run in $(seq 1 "$RUNS"); do
        log "lb run $run: HAProxy -> 1 vs 2 replicas, manifest GET"
        "$PYTHON" "$HERE/lb_manifest_bench.py" --bin "$SLIPWAY_BIN" --haproxy "$HAPROXY_BIN" \
            --postgres "$(fresh_db "lb_$run")" --postgres-pid "$PG_PID" \
            --duration "$WRK_DURATION" --rounds "$WRK_ROUNDS" \
            --json "$OUT/lb-$run.json" --markdown "$OUT/lb-$run.md" 2>"$OUT/lb-$run.log" \
            || { cat "$OUT/lb-$run.log" >&2; die "lb run $run failed"; }
    done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/environment.txt"

"$PYTHON" - "$OUT" >"$OUT/results.md" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]
def load(pattern):
    return sorted((int(os.path.basename(p).rsplit("-", 1)[1].split(".")[0]), json.load(open(p)))
                  for p in glob.glob(os.path.join(out, pattern)))
sqlite, pg = dict(load("farm-sqlite-*.json")), dict(load("farm-postgres-*.json"))
if sqlite or pg:
    any_run = next(iter((sqlite or pg).values()))
    print(f"### Build scheduling: {any_run['builds']:,} builds queued first, then {any_run['workers']} stub workers "
          f"({any_run['namespaces']} namespaces x {any_run['repositories'] // any_run['namespaces']} repositories; "
          f"caps: {any_run['max_queued_per_namespace']:,} queued and {any_run['max_concurrent_per_namespace']:,} running per namespace)\n")
    print("| run | backend | queued/s (API) | scheduled/s | drain s | queued→leased p50 ms | p99 ms "
          "| queue CPU ms/build: servers / PostgreSQL / client / other jobs | drain CPU ms/build: servers / PostgreSQL / client / other jobs |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    def cpu(r, phase):
        c = r.get(f"{phase}_cpu_ms_per_build")
        return " / ".join(f"{c[k]:.2f}" for k in ("servers", "postgres", "client", "other")) if c else "n/a"
    for run in sorted(set(sqlite) | set(pg)):
        for name, r in (("SQLite, 1 server", sqlite.get(run)), ("PostgreSQL, 2 replicas", pg.get(run))):
            if r:
                print(f"| {run} | {name} | {r['queued_per_second']:.0f} | {r['scheduled_per_second']:.1f} | {r['drain_seconds']:.1f} | "
                      f"{r['queued_to_leased_ms_p50']:.2f} | {r['queued_to_leased_ms_p99']:.2f} | {cpu(r, 'queue')} | {cpu(r, 'drain')} |")
    print()
    for run in sorted(set(sqlite) & set(pg)):
        s, p = sqlite[run], pg[run]
        print(f"- run {run}: PostgreSQL 2 replicas / SQLite: scheduled/s {p['scheduled_per_second'] / s['scheduled_per_second']:.2f}x, "
              f"queued/s {p['queued_per_second'] / s['queued_per_second']:.2f}x, p50 {p['queued_to_leased_ms_p50']:.1f} vs {s['queued_to_leased_ms_p50']:.1f} ms")
    print()
for run, r in load("lb-*.json"):
    print(f"### Manifest GET through HAProxy, run {run}\n")
    print(open(os.path.join(out, f"lb-{run}.md")).read())
EOF
cat "$OUT/results.md"
log "results in $OUT"
