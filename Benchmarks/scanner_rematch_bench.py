#!/usr/bin/env python3
"""Scanner re-match benchmark (issue #14): 1,000 scanned manifests re-matched after a feed update,
with no layer read, on a real `slipway serve`.

1. 1,000 images are pushed over /v2 (one layer each: an os-release and a dpkg status of 100
   packages from a pool of 400, at one of five versions), and scanned on push.
2. A Debian Security Tracker feed with two advisories for every package of the pool is imported
   with `slipway admin vulns import` (as an offline install would).
3. The server notices the new data (security.rematchCheckSeconds: 1) and re-matches every
   manifest from its stored package list; its log line "scanned manifests re-matched" carries
   the re-match's own duration, which is what this prints (the wait until the check noticed the
   data is not part of it). Layers indexed before and after are compared: none is read again.

    Benchmarks/scanner_rematch_bench.py --bin .build-release/release/slipway [--rounds 3]

Each round imports a feed that changes every advisory's text, so every round re-matches all
1,000 manifests. Target: under 10 s.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from helpers import ADMIN_PASSWORD, ADMIN_USER, SlipwayServer, http_request  # noqa: E402

MANIFESTS, PER_IMAGE, POOL = 1000, 100, 400


def layer(m: int) -> bytes:
    status = "".join(f"Package: pkg{(m * 7 + i * 3) % POOL}\nStatus: install ok installed\nVersion: 1.{m % 5}-1\n"
                     f"Architecture: amd64\nDescription: package\n\n" for i in range(PER_IMAGE))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("etc/os-release", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'),
                           ("var/lib/dpkg/status", status.encode()),
                           ("image-id", str(m).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_all(srv: SlipwayServer, repo: str) -> None:
    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:push,pull")
    auth = {"Authorization": f"Bearer {token}"}

    def upload(data: bytes) -> str:
        d = digest(data)
        status, headers, body = http_request(srv, "POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
        assert status == 202, (status, body)
        location = headers.get("Location") or headers.get("location")
        sep = "&" if "?" in location else "?"
        status, _, body = http_request(srv, "PUT", f"{location}{sep}digest={d}", body=data,
                                       headers={**auth, "Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return d

    for m in range(MANIFESTS):
        blob = layer(m)
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
            digest(gzip.decompress(blob))]}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": upload(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": upload(blob), "size": len(blob)}],
        }).encode()
        status, _, body = http_request(srv, "PUT", f"/v2/{repo}/manifests/m{m}", body=manifest,
                                       headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert status == 201, (status, body)


def feed(round_: int) -> dict:
    out = {}
    for p in range(POOL):
        out[f"pkg{p}"] = {
            f"CVE-2024-{10000 + p}": {"description": f"issue {p} (round {round_})",
                                      "releases": {"bookworm": {"status": "resolved", "fixed_version": "1.3-1", "urgency": "medium"}}},
            f"CVE-2020-{10000 + p}": {"description": f"old issue {p} (round {round_})",
                                      "releases": {"bookworm": {"status": "resolved", "fixed_version": "0.9-1", "urgency": "low"}}},
        }
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(what: str, check, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-rematch-"))
    env = {"SLIPWAY_LOGGING_LEVEL": "info", "SLIPWAY_SECURITY_REMATCH_CHECK_SECONDS": "1",
           "SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0"}
    srv = SlipwayServer(Path(a.bin).resolve(), work / "data", work / "logs", env=env).start()
    try:
        repo = f"{ADMIN_USER}/rematch"
        started = time.time()
        push_all(srv, repo)
        print(f"pushed {MANIFESTS} images in {time.time() - started:.1f} s", file=sys.stderr)

        def scanned() -> float:
            return srv.metrics().get('slipway_scan_manifests_total{status="scanned"}', 0)
        wait_for("every manifest to be scanned", lambda: scanned() >= MANIFESTS, 600)
        print(f"all {MANIFESTS} scanned {time.time() - started:.1f} s after the first push", file=sys.stderr)
        layers_before = srv.metrics().get("slipway_scan_layers_indexed_total", 0)

        times = []
        for r in range(a.rounds):
            # The same file name each round: the import replaces the source's data.
            path = work / "debian.json"
            path.write_text(json.dumps(feed(r)))
            lines_before = srv.logs().count("scanned manifests re-matched")
            srv.cli("admin", "vulns", "import", path)
            cpu_before = cpu_seconds(srv.proc.pid)

            def done() -> bool:
                return srv.logs().count("scanned manifests re-matched") > lines_before
            wait_for("the re-match", done, 600)
            line = [ln for ln in srv.logs().splitlines() if "scanned manifests re-matched" in ln][-1]
            manifests = int(re.search(r"manifests=(\d+)", line).group(1))
            seconds = float(re.search(r"seconds=([0-9.]+)", line).group(1))
            findings = int(re.search(r"new_findings=(\d+)", line).group(1))
            # The server's CPU time over the re-match (and the idle wait for its check), which a
            # busy machine does not inflate the way it inflates the wall time.
            cpu = cpu_seconds(srv.proc.pid) - cpu_before
            print(f"round {r + 1}: {manifests} manifests re-matched in {seconds:.2f} s ({findings} new findings; "
                  f"server CPU {cpu:.2f} s)")
            assert manifests == MANIFESTS, line
            times.append(seconds)
        layers_after = srv.metrics().get("slipway_scan_layers_indexed_total", 0)
        print(f"layers indexed during the re-matches: {layers_after - layers_before:.0f}")
        print(f"re-match of {MANIFESTS} manifests × {PER_IMAGE} packages: median {statistics.median(times):.2f} s "
              f"(rounds: {' / '.join(f'{t:.2f}' for t in times)}); target < 10 s")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
