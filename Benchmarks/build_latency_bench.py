#!/usr/bin/env python3
"""Build latency (issue #20): how long a change takes to become a pullable tag through Slipway's
build farm, against the same work done by hand into the same Slipway, with the build's own
per-phase breakdown (the build view's `timing`).

Two paths, runs interleaved (farm, hand, farm, hand, …) so machine noise hits both alike:

* trigger: a bare git repository with examples/post-receive, served by `git daemon`, and a
  custom-git trigger. Farm = `git push` (the hook posts the webhook) → every tag of the build
  listed by `GET /v2/<repo>/tags/list` and pointing at the new manifest. Hand = `git clone` +
  `buildah bud --isolation chroot` + `buildah push` of each tag.
* upload: farm = `POST /api/v1/filedrop/` + PUT of the context + `POST .../build/` → the tag
  listed. Hand = unpack the tarball + `buildah bud` + `buildah push`.

The project is tiny: `FROM <this slipway>/admin/busybox:latest`, one RUN, one COPY; the base is
made offline from Debian's static busybox and pushed into the same Slipway, as in the README's
quick start. The hand path uses one container storage for all its runs (a developer's machine:
the base image stays cached after an untimed warm-up) and chroot isolation, as the worker does,
and the storage driver the worker's base-image cache picks: overlay when running as root (the
worker's overlay probe succeeds there on a kernel with overlayfs), else vfs; `--hand-driver`
overrides it (with the cache off, `--hand-driver vfs` matches the worker's fresh vfs storage).

Reports, per path: the medians, the ratio farm/hand and, from the farm builds' timelines, the
median of each segment: push → queued (the hook and the webhook), waiting (queued → leased),
build-scheduled (leased → the worker's first phase), unpacking, pulling, building, pushing,
and listed − completed (negative: the tags were pullable before the worker reported the end). Needs podman, buildah, git, busybox-static.

Usage: build_latency_bench.py --bin path/to/slipway [--runs 10] [--only trigger,upload] [--json out.json]
                              [--server-env KEY=VALUE ...] [--hand-driver overlay|vfs]
(e.g. --server-env SLIPWAY_BUILDS_BASE_IMAGE_CACHE_MAX_BYTES=0 measures without the base-image cache)
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from helpers import (ADMIN_PASSWORD, ADMIN_USER, BUSYBOX_BASE, CtEnv, SlipwayServer, api, free_port,  # noqa: E402
                     http_request, new_ctenv_dir, run)

HOOK = ROOT / "examples" / "post-receive"
GIT = ["git", "-c", "user.name=Bench Mark", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]
SEGMENTS = ["push→queued", "waiting", "build-scheduled", "unpacking", "pulling", "building", "pushing", "listed−completed"]
POLL = 0.02


def seed_busybox_base(srv, seed: CtEnv, token: str, work: Path) -> None:
    """Builds the busybox base offline (Debian's static busybox) and pushes it, public, as
    `<admin>/busybox:latest` (the README's quick start; also used by layer_cache_bench.py)."""
    base = work / "busybox"
    shutil.copytree(BUSYBOX_BASE, base)
    shutil.copy2("/bin/busybox", base / "busybox")
    seed.buildah("bud", "--isolation", "chroot", "-q", "-t", "localhost/busybox:latest", str(base))
    seed.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    seed.podman("push", "--tls-verify=false", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200


def dockerfile(host: str) -> str:
    return f"FROM {host}/{ADMIN_USER}/busybox:latest\nRUN echo built > /built.txt\nCOPY stamp /stamp\n"


def iso_millis(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Registry:
    """Reads tags and manifests of one repository with a pull token (renewed on 401)."""

    def __init__(self, srv: SlipwayServer, repo: str):
        self.srv, self.repo, self.token = srv, repo, None

    def _get(self, method: str, path: str):
        for _ in range(2):
            if self.token is None:
                self.token = self.srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{self.repo}:pull")
            headers = {"Authorization": f"Bearer {self.token}",
                       "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"}
            status, hdrs, body = http_request(self.srv, method, path, headers=headers)
            if status != 401:
                return status, hdrs, body
            self.token = None
        return status, hdrs, body

    def tags(self) -> set[str]:
        status, _, body = self._get("GET", f"/v2/{self.repo}/tags/list")
        return set(json.loads(body).get("tags") or []) if status == 200 else set()

    def digest(self, tag: str) -> str | None:
        status, hdrs, _ = self._get("HEAD", f"/v2/{self.repo}/manifests/{tag}")
        return hdrs.get("docker-content-digest") if status == 200 else None

    def wait_listed(self, tags: list[str], old: dict[str, str | None], timeout: float = 300) -> float:
        """Polls until every tag is listed and none still points where it did before; returns when."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if set(tags) <= self.tags() and all(self.digest(t) not in (None, old.get(t)) for t in tags):
                return time.time()
            time.sleep(POLL)
        raise AssertionError(f"tags {tags} of {self.repo} not listed within {timeout} s")


def breakdown(view: dict, started: float, listed: float) -> dict[str, float]:
    """The farm build's segments in seconds, from its `timing` and the client's clock (same machine)."""
    timing = view.get("timing")
    if timing is None:  # a server from before the timeline: no breakdown to give
        return {}
    out = {"push→queued": iso_millis(timing["queued"]) - started}
    for segment in timing["phases"]:
        out[segment["phase"]] = segment["seconds"] or 0.0
    out["listed−completed"] = listed - iso_millis(timing["completed"])
    return out


def build_view(srv, token, repo, build_id, timeout=120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}", token)
        assert status == 200, view
        if view["phase"] in ("complete", "error", "internalerror", "cancelled"):
            assert view["phase"] == "complete", view
            return view
        time.sleep(POLL)
    raise AssertionError(f"build {build_id} did not finish")


# -- trigger path -------------------------------------------------------------------------------

class TriggerPath:
    name = "trigger"
    farm_label = "git push → tags listed (hook, webhook, worker)"
    hand_label = "git clone + buildah bud + buildah push"

    def __init__(self, srv, token, work: Path, hand_env: CtEnv):
        self.srv, self.token, self.work, self.hand_env = srv, token, work, hand_env
        self.repo = f"{ADMIN_USER}/latency-git"
        self.hand_repo = Registry(srv, f"{ADMIN_USER}/latency-git-hand")
        self.port = free_port()
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": "latency-git", "visibility": "private", "description": ""})[0] == 201
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": "latency-git-hand", "visibility": "private", "description": ""})[0] == 201
        base = f"/api/v1/repository/{self.repo}/trigger"
        status, view = api(srv, "POST", base + "/", token, {"service": "custom-git"})
        assert status == 201, view
        config = {"build_source": f"git://127.0.0.1:{self.port}/repo.git", "dockerfile_path": "/Dockerfile", "context": "/",
                  "branchtag_regex": "heads/main", "tag_templates": ["${commit_info.short_sha}"]}
        status, view = api(srv, "POST", f"{base}/{view['id']}/activate", token, {"config": config})
        assert status == 200, view
        webhook = next(c["value"] for c in view["config"]["credentials"] if c["name"] == "Webhook Endpoint URL")
        self.bare = work / "srv" / "repo.git"
        run([*GIT, "init", "-q", "--bare", "-b", "main", self.bare])
        (self.bare / "git-daemon-export-ok").touch()
        shutil.copy2(HOOK, self.bare / "hooks" / "post-receive")
        (self.bare / "hooks" / "post-receive").chmod(0o755)
        run(["git", "-C", self.bare, "config", "slipway.webhookurl", webhook])
        self.tree = work / "tree"
        run([*GIT, "init", "-q", "-b", "main", self.tree])
        run(["git", "-C", self.tree, "remote", "add", "origin", self.bare])
        self.daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={self.port}",
                                        f"--base-path={self.bare.parent}", "--export-all", str(self.bare.parent)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.registry = Registry(srv, self.repo)
        self.run_number = 0

    def close(self):
        if self.daemon.poll() is None:
            self.daemon.terminate()
            self.daemon.wait(10)

    def commit(self) -> str:
        """A new commit (not timed): the stamp changes, so every build makes a new image."""
        self.run_number += 1
        (self.tree / "Dockerfile").write_text(dockerfile(self.srv.host))
        (self.tree / "stamp").write_text(f"run {self.run_number} {time.time()}\n")
        run([*GIT, "-C", self.tree, "add", "-A"])
        run([*GIT, "-C", self.tree, "commit", "-q", "-m", f"run {self.run_number}"])
        return run(["git", "-C", self.tree, "rev-parse", "HEAD"]).stdout.strip()

    def farm(self) -> tuple[float, dict[str, float]]:
        sha = self.commit()
        tags = [sha[:7], "main", "latest"]
        old = {t: self.registry.digest(t) for t in tags}
        t0 = time.time()
        pushed = subprocess.run(["git", "-C", str(self.tree), "push", "-q", "origin", "HEAD:refs/heads/main"],
                                capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        match = re.search(r'"build_id":"([0-9a-f-]+)"', pushed.stderr)
        assert match, f"the hook queued no build:\n{pushed.stderr}"
        listed = self.registry.wait_listed(tags, old)
        view = build_view(self.srv, self.token, self.repo, match.group(1))
        assert sorted(view["tags"]) == sorted(tags), view["tags"]
        return listed - t0, breakdown(view, t0, listed)

    def hand(self) -> float:
        sha = self.commit()
        # Not timed; the trigger's branch filter skips this branch.
        run(["git", "-C", self.tree, "push", "-q", "-f", "origin", "HEAD:refs/heads/hand"])
        tags = [sha[:7], "main", "latest"]
        clone = self.work / f"hand-{self.run_number}"
        t0 = time.time()
        run(["git", "clone", "-q", "--branch", "hand", f"git://127.0.0.1:{self.port}/repo.git", clone])
        image = f"localhost/hand:{self.run_number}"
        self.hand_env.buildah("bud", "--isolation", "chroot", "--tls-verify=false", "-q", "-t", image, str(clone))
        for tag in tags:
            self.hand_env.buildah("push", "--tls-verify=false", "-q", image, f"docker://{self.srv.host}/{self.hand_repo.repo}:{tag}")
        elapsed = time.time() - t0
        shutil.rmtree(clone, ignore_errors=True)
        self.hand_env.buildah("rmi", image, check=False)
        return elapsed


# -- upload path --------------------------------------------------------------------------------

class UploadPath:
    name = "upload"
    farm_label = "filedrop + PUT + build API → tag listed (worker)"
    hand_label = "unpack + buildah bud + buildah push"

    def __init__(self, srv, token, work: Path, hand_env: CtEnv):
        self.srv, self.token, self.work, self.hand_env = srv, token, work, hand_env
        self.repo = f"{ADMIN_USER}/latency-upload"
        self.hand_repo = f"{ADMIN_USER}/latency-upload-hand"
        for name in ("latency-upload", "latency-upload-hand"):
            assert api(srv, "POST", "/api/v1/repository", token, {"repository": name, "visibility": "private", "description": ""})[0] == 201
        self.registry = Registry(srv, self.repo)
        self.run_number = 0

    def context(self) -> bytes:
        self.run_number += 1
        files = {"Dockerfile": dockerfile(self.srv.host).encode(), "stamp": f"run {self.run_number} {time.time()}\n".encode()}
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()

    def farm(self) -> tuple[float, dict[str, float]]:
        data = self.context()
        tag = f"run{self.run_number}"
        t0 = time.time()
        status, drop = api(self.srv, "POST", "/api/v1/filedrop/", self.token, {"mimeType": "application/gzip"})
        assert status == 200, drop
        assert http_request(self.srv, "PUT", drop["url"].split(self.srv.host, 1)[1], body=data)[0] == 200
        status, build = api(self.srv, "POST", f"/api/v1/repository/{self.repo}/build/", self.token,
                            {"file_id": drop["file_id"], "docker_tags": [tag]})
        assert status == 201, build
        listed = self.registry.wait_listed([tag], {})
        view = build_view(self.srv, self.token, self.repo, build["id"])
        return listed - t0, breakdown(view, t0, listed)

    def hand(self) -> float:
        data = self.context()
        work = self.work / f"upload-hand-{self.run_number}"
        t0 = time.time()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(work, filter="data")
        image = f"localhost/hand-upload:{self.run_number}"
        self.hand_env.buildah("bud", "--isolation", "chroot", "--tls-verify=false", "-q", "-t", image, str(work))
        self.hand_env.buildah("push", "--tls-verify=false", "-q", image, f"docker://{self.srv.host}/{self.hand_repo}:run{self.run_number}")
        elapsed = time.time() - t0
        shutil.rmtree(work, ignore_errors=True)
        self.hand_env.buildah("rmi", image, check=False)
        return elapsed


# -- driver -------------------------------------------------------------------------------------

def spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def report(path, farm: list[float], hand: list[float], phases: list[dict[str, float]], target: float) -> dict:
    f, h = statistics.median(farm), statistics.median(hand)
    print(f"\n## {path.name} path ({len(farm)} runs each, interleaved)")
    print(f"| | median s | min–max s |\n|---|---:|---:|")
    print(f"| {path.farm_label} | {f:.2f} | {spread(farm)} |")
    print(f"| {path.hand_label} | {h:.2f} | {spread(hand)} |")
    verdict = "meets" if f / h <= target else "MISSES"
    print(f"\nratio of medians farm/hand: **{f / h:.2f}×** ({verdict} the ≤ {target}× target)\n")
    print("| farm segment | median s | min–max s |\n|---|---:|---:|")
    medians = {}
    for name in SEGMENTS:
        values = [p[name] for p in phases if name in p]
        if not values:
            print(f"| {name} | n/a | (the server reports no timeline) |")
            continue
        medians[name] = statistics.median(values)
        print(f"| {name} | {medians[name]:.3f} | {spread(values)} |")
    return {"farm": farm, "hand": hand, "farm_median": f, "hand_median": h, "ratio": f / h, "target": target,
            "phases": phases, "phase_medians": medians}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--only", default="trigger,upload")
    p.add_argument("--json")
    p.add_argument("--keep", action="store_true", help="keep the work dir (server log, data)")
    p.add_argument("--hand-driver", choices=["overlay", "vfs"], default="overlay" if os.geteuid() == 0 else "vfs",
                   help="storage driver of the hand path (default: what the worker's cache uses, overlay as root)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the server (a configuration key), repeatable")
    a = p.parse_args()
    server_env = {"SLIPWAY_LOGGING_LEVEL": "error"}
    for item in a.server_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("SLIPWAY_"):
            p.error(f"--server-env wants SLIPWAY_KEY=VALUE, got {item!r}")
        server_env[key] = value
    work = Path(tempfile.mkdtemp(prefix="slipway-latency-"))
    srv = SlipwayServer(Path(a.bin).resolve(), work / "data", work / "logs", env=server_env).start()
    seed = CtEnv(new_ctenv_dir())
    os.environ["CT_DRIVER"] = a.hand_driver  # read by Tests/Fixtures/ctenv.sh
    hand_env = CtEnv(new_ctenv_dir())
    del os.environ["CT_DRIVER"]
    paths = []
    results = {"runs": a.runs, "binary": str(a.bin), "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
               "server_env": a.server_env, "hand_driver": a.hand_driver}
    print(f"hand path storage driver: {a.hand_driver}; server environment: {' '.join(a.server_env) or 'default'}")
    try:
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        seed_busybox_base(srv, seed, token, work)
        hand_env.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        only = set(a.only.split(","))
        targets = {"trigger": 1.3, "upload": 1.15}
        if "trigger" in only:
            paths.append(TriggerPath(srv, token, work, hand_env))
        if "upload" in only:
            paths.append(UploadPath(srv, token, work, hand_env))
        for path in paths:
            # One untimed round each: the hand storage caches the base, the server warms up.
            path.hand()
            path.farm()
            farm, hand, phases = [], [], []
            for i in range(a.runs):
                f, ph = path.farm()
                farm.append(f)
                phases.append(ph)
                hand.append(path.hand())
                print(f"{path.name} run {i + 1}: farm {f:.2f} s, hand {hand[-1]:.2f} s", file=sys.stderr)
            results[path.name] = report(path, farm, hand, phases, targets[path.name])
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=2))
    finally:
        for path in paths:
            getattr(path, "close", lambda: None)()
        seed.teardown()
        hand_env.teardown()
        srv.stop()
        if a.keep:
            print(f"work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
