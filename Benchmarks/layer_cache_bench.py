#!/usr/bin/env python3
"""Registry layer cache (issue #18 item 3): how much faster the second build of an unchanged
Dockerfile prefix is when it runs on a different worker process, through the namespace's cache
repository (`cache_repository`).

`slipway serve` with no in-process worker; for each round, worker A (a `slipway worker` with its
own work directory) runs build 1 of a project whose first `RUN` takes `--run-seconds` (10), then
stops; worker B (another process, another empty work directory, so no local layer carries over)
runs build 2 after a change below that step. Each round uses a fresh cache repository. Build time
is the build's own queued → completed time from the API (`timing.total_seconds`) minus the time
it waited for a worker (`waiting`), so the worker hand-over is not counted. Target: the second
build at least 5x faster than the first.

Usage: layer_cache_bench.py --bin path/to/slipway [--rounds 3] [--run-seconds 10] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from helpers import ADMIN_USER, CtEnv, SlipwayServer, api, new_ctenv_dir  # noqa: E402
from test_layer_cache import RealWorker, build_with_cache, cache_env  # noqa: E402
sys.path.insert(0, str(ROOT / "Benchmarks"))
from build_latency_bench import seed_busybox_base  # noqa: E402


def build_seconds(view: dict) -> float:
    timing = view["timing"]
    waiting = next((p["seconds"] or 0.0 for p in timing["phases"] if p["phase"] == "waiting"), 0.0)
    return timing["total_seconds"] - waiting


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--run-seconds", type=int, default=10)
    p.add_argument("--json")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-layer-cache-bench."))
    env = cache_env()
    env["SLIPWAY_LOGGING_LEVEL"] = "error"
    srv = SlipwayServer(Path(a.bin).resolve(), work / "data", work / "logs", env=env).start()
    seed = CtEnv(new_ctenv_dir())
    rounds = []
    try:
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        seed_busybox_base(srv, seed, token, work)
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": "app", "visibility": "private", "description": ""})[0] == 201
        dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                      f"RUN sleep {a.run_seconds} && echo slow > /slow-step\n"
                      "COPY stamp /stamp\n").encode()
        for n in range(1, a.rounds + 1):
            cache = f"cache{n}"
            assert api(srv, "POST", "/api/v1/repository", token, {"repository": cache, "visibility": "private", "description": ""})[0] == 201
            times = []
            for worker_name, stamp in ((f"a{n}", b"one"), (f"b{n}", b"two")):
                worker = RealWorker(srv, worker_name, work)
                try:
                    view, log = build_with_cache(srv, token, f"{ADMIN_USER}/app", cache, dockerfile, stamp + f" {n}\n".encode())
                finally:
                    worker.stop()
                times.append(build_seconds(view))
            assert any("Cache pulled from remote" in line for line in log), log
            rounds.append({"first": times[0], "second": times[1], "speedup": times[0] / times[1]})
            print(f"round {n}: first build {times[0]:.2f} s (worker a{n}), second {times[1]:.2f} s (worker b{n}): "
                  f"{times[0] / times[1]:.1f}x")
    finally:
        srv.stop()
        seed.teardown()
    speedups = [r["speedup"] for r in rounds]
    verdict = "meets" if min(speedups) >= 5 else "MISSES"
    print(f"\nsecond build on another worker: {statistics.median(speedups):.1f}x faster (median of {len(rounds)}; "
          f"{min(speedups):.1f}-{max(speedups):.1f}x), {verdict} the >= 5x target")
    if a.json:
        Path(a.json).write_text(json.dumps({"rounds": rounds, "run_seconds": a.run_seconds}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
