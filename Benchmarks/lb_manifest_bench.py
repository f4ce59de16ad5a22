#!/usr/bin/env python3
"""/v2 manifest GET through HAProxy: 1 replica vs 2 replicas on one PostgreSQL.

Starts two `slipway serve` replicas (A and B) on one PostgreSQL database (give it an empty
one) and one shared blob directory, and one HAProxy (Benchmarks/haproxy-bench.cfg) with two
frontends: `one` sends everything to replica A, `two` balances A and B round robin. It pushes a
small OCI image through the load balancer, checks that both replicas serve the same bytes,
then runs wrk (`-t2 -c32 --latency`, the registry benchmark's manifest GET) against

  * two:    HAProxy -> replicas A and B
  * one:    HAProxy -> replica A
  * direct: replica A without HAProxy (what the load balancer itself costs)

in alternating rounds (two one direct, direct one two, ...), each after a cool-down and a 1 s
unmeasured warm-up. The requests carry a bearer token fetched through the frontend being
measured (`registry.serviceName` is fixed so any replica accepts it). During every measured run
it samples the CPU time of each process (/proc/<pid>/stat: HAProxy, replica A, replica B, the
PostgreSQL server and its backends, wrk) and of the whole machine (/proc/stat), and reports
them in cores (CPU seconds per wall second): on a 2-core machine that says what bounds the
ratio.

Usage: lb_manifest_bench.py --bin path/to/slipway --postgres postgres://user@host:port/db
                            --postgres-pid PID [--haproxy haproxy] [--duration 10] [--rounds 2]
                            [--json FILE] [--markdown FILE]
Standard library plus registry_bench.py (next to this file), wrk and haproxy.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import registry_bench as rb  # noqa: E402
from proc_cpu import CLK_TCK, children_of, context_switches, cpu_ticks, machine_ticks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN_USER, ADMIN_PASSWORD = "bench", "benchpass123"
REPO = "bench/lb-manifest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} not ready at {url} after {timeout} s")


def usage_log_rows(url):
    """pull_repo usage log rows in the benchmark's database (Quay logs every pull)."""
    p = subprocess.run(["psql", "-At", url, "-c", "SELECT count(*) FROM usage_logs WHERE kind = 'pull_repo'"],
                       capture_output=True, text=True, timeout=60)
    try:
        return int(p.stdout.strip())
    except ValueError:
        return None


def wait_for_usage_logs(url, expected, timeout):
    """Seconds until `expected` pull_repo rows exist (or the timeout passes)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        rows = usage_log_rows(url)
        if rows is None or rows >= expected:
            break
        time.sleep(0.25)
    return time.monotonic() - t0


class CpuSample:
    """CPU seconds per process group between start() and stop().

    PostgreSQL backends are forked per connection and may come and go, so the server's figure
    is the postmaster plus every child seen at either end (a backend that lives through the
    run, which is the case with the replicas' connection pools, is counted exactly)."""

    def __init__(self, pids, postgres_pid):
        self.pids = pids  # name -> pid
        self.postgres_pid = postgres_pid

    def _read(self):
        ticks = {name: cpu_ticks(pid) for name, pid in self.pids.items()}
        pg = {}
        if self.postgres_pid:
            for pid in [self.postgres_pid] + children_of(self.postgres_pid):
                pg[pid] = cpu_ticks(pid)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        switches = sum(context_switches(pid) for name, pid in self.pids.items() if name.startswith("replica"))
        return time.monotonic(), ticks, pg, ru.ru_utime + ru.ru_stime, machine_ticks(), switches

    def start(self):
        self.a = self._read()

    def stop(self):
        t1, ticks1, pg1, kids1, (busy1, total1), sw1 = self._read()
        t0, ticks0, pg0, kids0, (busy0, total0), sw0 = self.a
        self.counters = {"replica_context_switches": sw1 - sw0}
        wall = t1 - t0
        out = {name: (ticks1[name] - ticks0[name]) / CLK_TCK / wall for name in self.pids}
        if self.postgres_pid:
            pg = sum(pg1.get(pid, 0) - pg0.get(pid, 0) for pid in set(pg0) | set(pg1) if pid in pg1)
            out["postgres"] = pg / CLK_TCK / wall
        # wrk is a waited-for child of this process: its CPU shows in RUSAGE_CHILDREN.
        out["wrk"] = (kids1 - kids0) / wall
        out["machine busy"] = (busy1 - busy0) / CLK_TCK / wall
        # Whatever else ran on the machine meanwhile (other jobs on a shared machine).
        out["other"] = max(0.0, out["machine busy"] - sum(v for k, v in out.items() if k != "machine busy"))
        out["machine cores"] = (total1 - total0) / CLK_TCK / wall
        return out


def push_small_image(c, repo):
    """The registry benchmark's image: a config, one 4 KiB layer, an OCI manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": []}}, sort_keys=True).encode()
    layer = os.urandom(4096)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": rb.OCI_MANIFEST,
        "config": {"mediaType": rb.OCI_CONFIG, "digest": c.push_bytes(repo, config), "size": len(config)},
        "layers": [{"mediaType": rb.OCI_LAYER, "digest": c.push_bytes(repo, layer), "size": len(layer)}],
        "annotations": {"org.opencontainers.image.title": "registry-bench"},
    }, indent=2).encode()
    return manifest, "sha256:" + hashlib.sha256(manifest).hexdigest()


def run_wrk(url, auth, duration, cpu):
    wrk = shutil.which("wrk")
    cmd = [wrk, "-t2", "-c32", "--latency", "--timeout", "5s", "-H", f"Accept: {rb.OCI_MANIFEST}",
           "-H", f"Authorization: {auth}"]
    warm = subprocess.run(cmd + ["-d1s", url], capture_output=True, text=True, timeout=60)
    cpu.start()
    p = subprocess.run(cmd + [f"-d{duration}s", url], capture_output=True, text=True, timeout=duration + 60)
    usage = cpu.stop()
    counters = cpu.counters
    if p.returncode != 0:
        raise SystemExit(f"wrk exited {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    res = rb.parse_wrk(p.stdout)
    if res.get("rps") is None:
        raise SystemExit(f"could not parse wrk output:\n{p.stdout}")
    errors = sum(res["socket_errors"].values())
    if res["non2xx"] or errors:
        raise SystemExit(f"wrk against {url}: {res['non2xx']} non-2xx responses, socket errors {res['socket_errors']}")
    res["cpu"] = usage
    res["per_request"] = {k: v / res["requests"] for k, v in counters.items()}
    res["warmup_requests"] = rb.parse_wrk(warm.stdout).get("requests") or 0
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--postgres", required=True, help="URL of an empty PostgreSQL database")
    p.add_argument("--postgres-pid", type=int, help="postmaster pid, to count PostgreSQL's CPU")
    p.add_argument("--haproxy", default="haproxy")
    p.add_argument("--config", default=os.path.join(HERE, "haproxy-bench.cfg"))
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=2, help="wrk runs per target, in alternating order")
    p.add_argument("--cooldown", type=float, default=3.0)
    p.add_argument("--no-direct", action="store_true", help="skip the run straight at replica A")
    p.add_argument("--catch-up-timeout", type=float, default=180.0,
                   help="longest wait for the usage log to catch up before a run")
    p.add_argument("--json")
    p.add_argument("--markdown")
    a = p.parse_args()
    for tool in ("wrk", a.haproxy):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (apt-get install wrk haproxy)")

    work = tempfile.mkdtemp(prefix="slipway-lb-bench-")
    ports = {name: free_port() for name in ("LB_ONE_PORT", "LB_TWO_PORT", "REPLICA_A_PORT", "REPLICA_B_PORT")}
    env = dict(os.environ, SLIPWAY_ADMIN_USER=ADMIN_USER, SLIPWAY_ADMIN_PASSWORD=ADMIN_PASSWORD,
               SLIPWAY_DATABASE_DRIVER="postgres", SLIPWAY_DATABASE_POSTGRES_URL=a.postgres,
               SLIPWAY_STORAGE_PATH=os.path.join(work, "storage"), SLIPWAY_REGISTRY_SERVICE_NAME="slipway-bench",
               SLIPWAY_BUILDS_IN_PROCESS_WORKERS="0", SLIPWAY_LOGGING_LEVEL="error")
    procs = {}
    try:
        for name, port_key in (("replica A", "REPLICA_A_PORT"), ("replica B", "REPLICA_B_PORT")):
            data = os.path.join(work, name.replace(" ", "-"))
            os.makedirs(data)
            port = ports[port_key]
            procs[name] = subprocess.Popen(
                [a.bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", data],
                env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "server.log"), "wb"))
            # One at a time: the first replica runs the migrations alone.
            wait_ready(f"http://127.0.0.1:{port}/health/instance", procs[name], name)
        procs["haproxy"] = subprocess.Popen([a.haproxy, "-db", "-f", a.config], env=dict(os.environ, **{k: str(v) for k, v in ports.items()}),
                                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "haproxy.log"), "wb"))
        for key in ("LB_ONE_PORT", "LB_TWO_PORT"):
            wait_ready(f"http://127.0.0.1:{ports[key]}/health/instance", procs["haproxy"], "haproxy")

        targets = {
            "two": rb.Target("two", f"http://127.0.0.1:{ports['LB_TWO_PORT']}", (ADMIN_USER, ADMIN_PASSWORD)),
            "one": rb.Target("one", f"http://127.0.0.1:{ports['LB_ONE_PORT']}", (ADMIN_USER, ADMIN_PASSWORD)),
        }
        if not a.no_direct:
            targets["direct"] = rb.Target("direct", f"http://127.0.0.1:{ports['REPLICA_A_PORT']}", (ADMIN_USER, ADMIN_PASSWORD))
        path = f"/v2/{REPO}/manifests/v1"

        # Push through the balanced frontend, so the blobs and the manifest may land on
        # different replicas; then check that every way in serves the same bytes.
        c = targets["two"].connect()
        c.ping()
        manifest, digest = push_small_image(c, REPO)
        c.put_manifest(REPO, "v1", manifest)
        c.close()
        replica_b = rb.Target("b", f"http://127.0.0.1:{ports['REPLICA_B_PORT']}", (ADMIN_USER, ADMIN_PASSWORD))
        for t in list(targets.values()) + [replica_b]:
            c = t.connect()
            c.ping()
            r = c.request("GET", path, headers={"Accept": rb.OCI_MANIFEST}, expect=200)
            c.close()
            if r.body != manifest or r.header("Docker-Content-Digest") != digest:
                raise SystemExit(f"{t.name}: GET {path} does not return the pushed manifest")

        pids = {"haproxy": procs["haproxy"].pid, "replica A": procs["replica A"].pid, "replica B": procs["replica B"].pid}
        cpu = CpuSample(pids, a.postgres_pid)
        runs = {name: [] for name in targets}
        order = list(targets)
        # The database is fresh: so far only the read-back GETs above were pulls.
        pulls_before, gets = 0, len(targets) + 1
        for rnd in range(a.rounds):
            for name in (order if rnd % 2 == 0 else order[::-1]):
                t = targets[name]
                auth = t.auth_header(rb.scope_for_path(path), min_validity=a.duration + 30)
                # Every GET queues a usage log row that the replicas write in the background;
                # under load they fall behind. Let the previous run's backlog drain first, so
                # its writes do not land in this run's window (the wait is reported).
                catch_up = wait_for_usage_logs(a.postgres, gets, a.catch_up_timeout)
                rb.settle(a.cooldown)
                res = run_wrk(t.base + path, auth, a.duration, cpu)
                res["usage_log_catch_up_s"] = catch_up
                gets += res["requests"] + res["warmup_requests"]
                runs[name].append(res)
                load = ", ".join(f"{k} {v:.2f}" for k, v in res["cpu"].items())
                per = ", ".join(f"{k} {v:.2f}" for k, v in res["per_request"].items())
                print(f"[lb-bench] {name} round {rnd + 1}: {res['rps']:.0f} req/s, p50 {res.get('p50')} ms, "
                      f"p99 {res.get('p99')} ms; CPU in cores: {load}; per request: {per}; "
                      f"waited {catch_up:.1f} s before it for the usage log to catch up", file=sys.stderr)

        def mean(name, key):
            return statistics.mean(r[key] for r in runs[name])

        summary = {}
        for name in targets:
            summary[name] = {
                "rps": mean(name, "rps"), "p50_ms": mean(name, "p50"), "p99_ms": mean(name, "p99"),
                "rounds": [r["rps"] for r in runs[name]],
                "cpu_cores": {k: statistics.mean(r["cpu"][k] for r in runs[name]) for k in runs[name][0]["cpu"]},
                "per_request": {k: statistics.mean(r["per_request"].get(k, 0) for r in runs[name]) for k in runs[name][0]["per_request"]},
                "cpu_ms_per_request": {k: 1000 * statistics.mean(r["cpu"][k] / r["rps"] for r in runs[name])
                                       for k in ("replica A", "replica B", "haproxy", "postgres", "wrk")},
            }
        ratio = summary["two"]["rps"] / summary["one"]["rps"]
        # On a shared machine the other jobs take a share of the cores that depends on how
        # busy our processes keep theirs; the CPU cost per request does not depend on that
        # share, so it gives the throughput the two cores would allow if this were all that ran.
        own = ("replica A", "replica B", "haproxy", "postgres", "wrk")
        for s in summary.values():
            s["own_cpu_ms_per_request"] = sum(s["cpu_ms_per_request"][k] for k in own)
            s["rps_if_alone"] = os.cpu_count() * 1000 / s["own_cpu_ms_per_request"]
        cpu_ratio = summary["two"]["rps_if_alone"] / summary["one"]["rps_if_alone"]
        backlog_at_end = gets - (usage_log_rows(a.postgres) or 0)
        final_catch_up = wait_for_usage_logs(a.postgres, gets, a.catch_up_timeout)
        pull_logs = (usage_log_rows(a.postgres) or 0) - pulls_before
        gets -= pulls_before
        result = {"duration_s": a.duration, "rounds": a.rounds, "wrk": "-t2 -c32", "targets": summary,
                  "scaling_two_over_one": ratio, "scaling_two_over_one_cpu_bound": cpu_ratio, "cores": os.cpu_count(),
                  "manifest_gets": gets, "pull_repo_usage_logs": pull_logs,
                  "usage_log_backlog_at_end": backlog_at_end, "usage_log_final_catch_up_s": final_catch_up}
        if "direct" in summary:
            result["lb_cost_one_over_direct"] = summary["one"]["rps"] / summary["direct"]["rps"]

        labels = {"two": "HAProxy → 2 replicas", "one": "HAProxy → 1 replica", "direct": "replica A, no HAProxy"}
        procs_cols = ["replica A", "replica B", "haproxy", "postgres", "wrk", "other", "machine busy"]
        head = ["target", "req/s (mean)", "rounds", "p50 ms", "p99 ms"] + [f"CPU {c}" for c in procs_cols]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, s in summary.items():
            cells = [labels[name], f"{s['rps']:.0f}", " / ".join(f"{x:.0f}" for x in s["rounds"]),
                     f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}"]
            cells += [f"{s['cpu_cores'].get(c, 0):.2f}" for c in procs_cols]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        head = ["target", "replicas' CPU ms/request", "PostgreSQL CPU ms/request", "HAProxy CPU ms/request",
                "all benchmark processes CPU ms/request", f"req/s {os.cpu_count()} cores would allow", "replica context switches/request"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, s in summary.items():
            ms, per = s["cpu_ms_per_request"], s["per_request"]
            cells = [labels[name], f"{ms['replica A'] + ms['replica B']:.3f}", f"{ms['postgres']:.3f}", f"{ms['haproxy']:.3f}",
                     f"{s['own_cpu_ms_per_request']:.3f}", f"{s['rps_if_alone']:.0f}",
                     f"{per.get('replica_context_switches', 0):.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"Scaling 2 replicas / 1 replica: {ratio:.2f}x (wrk -t2 -c32 -d{a.duration}s, mean of {a.rounds} rounds; "
                     f"CPU columns in cores, of {os.cpu_count()}). From CPU per request "
                     f"(what {os.cpu_count()} cores allow with nothing else running): {cpu_ratio:.2f}x.")
        lines.append(f"Every GET writes a `pull_repo` usage log row (in the background): {pull_logs} rows for {gets} GETs "
                     f"(wrk runs and warm-ups); {backlog_at_end} rows were still unwritten when the last run ended "
                     f"and took {final_catch_up:.1f} s to appear. Waits before each run for the previous run's rows: "
                     + ", ".join(f"{name} {statistics.mean(r['usage_log_catch_up_s'] for r in runs[name]):.1f} s" for name in targets)
                     + " (mean).")
        if "lb_cost_one_over_direct" in result:
            lines.append(f"HAProxy → 1 replica / replica direct: {result['lb_cost_one_over_direct']:.2f}x.")
        table = "\n".join(lines)
        print(table)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(table + "\n")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if os.environ.get("KEEP_WORKDIR") == "1":
            print(f"[lb-bench] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
