#!/usr/bin/env python3
"""The build farm's overhead: the same small context built by hand (unpack + `buildah bud` +
`buildah push`, each run in fresh container storage) vs. through Slipway (file drop upload +
`POST .../build/` → in-process worker → pushed tag, polled through the API), as a ratio.
Target (issue #5): ≤ 1.15×, or ≤ 2 s absolute overhead on small builds.

Both paths pull the base image from the same Slipway and push to it, with chroot isolation
and vfs storage. Reuses the e2e helpers (Tests/e2e/helpers.py) for the server and the
isolated podman/buildah environments; needs podman, buildah and busybox-static.

Usage: build_overhead_bench.py --bin path/to/slipway [--runs 3]
"""
import argparse
import io
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from helpers import ADMIN_PASSWORD, ADMIN_USER, BUSYBOX_BASE, CtEnv, SlipwayServer, api, http_request, new_ctenv_dir  # noqa: E402


def context_tar(base: str) -> bytes:
    files = {"Dockerfile": f"FROM {base}\nRUN echo built > /built.txt\nCOPY stamp /stamp\n".encode(), "stamp": b"stamp\n"}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def through_slipway(srv, token, repo, data) -> float:
    t0 = time.perf_counter()
    status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "application/gzip"})
    assert status == 200, drop
    assert http_request(srv, "PUT", drop["url"].split(srv.host, 1)[1], body=data)[0] == 200
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": drop["file_id"], "docker_tags": ["farm"]})
    assert status == 201, build
    while True:
        status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}/status", token)
        if view["phase"] in ("complete", "error", "internalerror", "cancelled"):
            assert view["phase"] == "complete", view
            return time.perf_counter() - t0
        time.sleep(0.05)


def by_hand(srv, repo, data) -> float:
    env = CtEnv(new_ctenv_dir())
    work = Path(tempfile.mkdtemp(prefix="slipway-hand-"))
    try:
        env.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        t0 = time.perf_counter()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(work, filter="data")
        env.buildah("bud", "--isolation", "chroot", "--pull-always", "--tls-verify=false", "-t", "hand", str(work))
        env.buildah("push", "--tls-verify=false", "hand", f"docker://{srv.host}/{repo}:hand")
        return time.perf_counter() - t0
    finally:
        env.teardown()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-overhead-"))
    srv = SlipwayServer(Path(a.bin).resolve(), work / "data", work / "logs", env={"SLIPWAY_LOGGING_LEVEL": "error"}).start()
    seed = CtEnv(new_ctenv_dir())
    try:
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        context = work / "busybox"
        shutil.copytree(BUSYBOX_BASE, context)
        shutil.copy2("/bin/busybox", context / "busybox")
        seed.buildah("bud", "--isolation", "chroot", "-t", "localhost/busybox:latest", str(context))
        seed.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        seed.podman("push", "--tls-verify=false", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
        assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
        data = context_tar(f"{srv.host}/{ADMIN_USER}/busybox:latest")
        repo = f"{ADMIN_USER}/overhead"
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": "overhead", "visibility": "private", "description": ""})[0] == 201
        farm, hand = [], []
        for _ in range(a.runs):  # interleaved, so machine noise hits both alike
            hand.append(by_hand(srv, repo, data))
            farm.append(through_slipway(srv, token, repo, data))
        h, f = statistics.median(hand), statistics.median(farm)
        print(f"by hand (unpack + buildah bud + buildah push): median {h:.2f} s  {[round(x, 2) for x in hand]}")
        print(f"through Slipway (upload + API + worker + push): median {f:.2f} s  {[round(x, 2) for x in farm]}")
        verdict = "meets" if f / h <= 1.15 or f - h <= 2.0 else "MISSES"
        print(f"overhead: {f / h:.2f}x, {f - h:+.2f} s ({verdict} the ≤1.15x or ≤2 s target)")
    finally:
        seed.teardown()
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
