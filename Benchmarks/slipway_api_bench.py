#!/usr/bin/env python3
"""Slipway-only benchmarks (no reference registry has these features):

1. Tag list and tag history on a repository with N tag events (default 100,000): median and
   p90 latency of the first page of `GET /api/v1/repository/<repo>/tag/` (history, newest
   first) and of `?onlyActiveTags=true`. Target: first page under 50 ms median.
2. A garbage-collection pass over M unreferenced blobs (default 10,000): blobs are pushed and
   never referenced, then `slipway admin gc --grace 0 --tombstone 0` runs two passes (rows,
   then bytes) against the same data directory; reports each pass's time.

Usage: slipway_api_bench.py --url http://127.0.0.1:P --user U --password P --bin SLIPWAY --data-dir D
       [--events 100000] [--blobs 10000] [--quick]
Standard library only.
"""
import argparse
import base64
import hashlib
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Client:
    """One keep-alive connection per thread."""
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.c = c
        return c

    def request(self, method, path, headers=None, body=None):
        for attempt in range(2):
            c = self.conn()
            try:
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r.status, dict(r.getheaders()), data
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt:
                    raise


def registry_token(client, user, password, scope):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    q = urllib.parse.urlencode({"service": f"{client.host}:{client.port}", "scope": scope})
    status, _, body = client.request("GET", f"/v2/auth?{q}", {"Authorization": f"Basic {auth}"})
    assert status == 200, body
    return json.loads(body)["token"]


def push_blob(client, token, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, body = client.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}",
                                     {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                                      "Content-Length": str(len(data))}, data)
    assert status == 201, (status, body)
    return digest, len(data)


def manifest_bytes(config, layer):
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config[0], "size": config[1]},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer[0], "size": layer[1]}]},
                      sort_keys=True).encode()


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed(client, path, headers, n=20):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        status, _, body = client.request("GET", path, headers)
        samples.append((time.perf_counter() - t) * 1000)
        assert status == 200, body
    return statistics.median(samples), percentile(samples, 90)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--bin", required=True, help="the slipway binary (for admin create-token and admin gc)")
    ap.add_argument("--data-dir", required=True, help="the server's data directory")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--blobs", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    events = args.events or (10_000 if args.quick else 100_000)
    blobs = args.blobs or (1_000 if args.quick else 10_000)
    client = Client(args.url)
    rows = []

    api = subprocess.run([args.bin, "admin", "create-token", "--user", args.user, "--data-dir", args.data_dir],
                         check=True, capture_output=True, text=True).stdout.strip()
    api_headers = {"Authorization": f"Bearer {api}"}

    # 1. Tag history with many events: 1,000 tags moved back and forth between two manifests.
    repo = f"{args.user}/history-{int(time.time())}"
    token = registry_token(client, args.user, args.password, f"repository:{repo}:pull,push")
    config = push_blob(client, token, repo, b'{"architecture":"amd64","os":"linux"}')
    manifests = [manifest_bytes(config, push_blob(client, token, repo, f"layer-{i}".encode())) for i in range(2)]
    tags = 1000
    rounds = max(1, events // tags)
    log(f"creating {rounds * tags} tag events ({tags} tags x {rounds} moves)")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    start = time.perf_counter()

    def put(i):
        rnd, t = divmod(i, tags)
        status, _, body = client.request("PUT", f"/v2/{repo}/manifests/t{t:04d}", headers, manifests[rnd % 2])
        assert status == 201, body
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(rounds * tags)))
    elapsed = time.perf_counter() - start
    rows.append((f"create {rounds * tags:,} tag events (8 threads)", f"{rounds * tags / elapsed:,.0f} events/s", ""))
    base = f"/api/v1/repository/{repo}/tag/"
    med, p90 = timed(client, base + "?limit=50&page=1", api_headers)
    rows.append((f"tag history, first page of 50, {rounds * tags:,} events", f"median {med:.2f} ms, p90 {p90:.2f} ms",
                 "target < 50 ms median: " + ("met" if med < 50 else "MISSED")))
    med, p90 = timed(client, base + "?limit=50&page=1&onlyActiveTags=true", api_headers)
    rows.append((f"active tags, first page of 50, {tags:,} live tags", f"median {med:.2f} ms, p90 {p90:.2f} ms",
                 "target < 50 ms median: " + ("met" if med < 50 else "MISSED")))
    med, p90 = timed(client, base + "?limit=50&page=1&specificTag=t0500", api_headers)
    rows.append((f"one tag's history ({rounds} events)", f"median {med:.2f} ms, p90 {p90:.2f} ms", ""))

    # 2. GC over many unreferenced blobs.
    repo2 = f"{args.user}/gc-{int(time.time())}"
    token2 = registry_token(client, args.user, args.password, f"repository:{repo2}:pull,push")
    log(f"pushing {blobs} unreferenced blobs")
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: push_blob(client, token2, repo2, f"garbage-{i}-{time.time()}".encode()), range(blobs)))
    rows.append((f"push {blobs:,} small blobs (8 threads)", f"{blobs / (time.perf_counter() - start):,.0f} blobs/s", ""))
    out = subprocess.run([args.bin, "admin", "gc", "--data-dir", args.data_dir, "--grace", "0", "--tombstone", "0", "--passes", "2"],
                         check=True, capture_output=True, text=True).stdout
    for line in out.strip().splitlines():
        rows.append(("gc " + line.split(":", 1)[0], line.split(":", 1)[1].strip(), ""))

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measurement'.ljust(width)}  result")
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value}{('   ' + note) if note else ''}")
    print()
    print("| measurement | result | note |")
    print("|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
