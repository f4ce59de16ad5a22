"""The registry layer cache (issue #18 item 3) through real processes: `slipway serve` with no
in-process worker, and two `slipway worker` processes with their own work directories (so no
local layer survives from one to the other) running real buildah. The first build runs its slow
`RUN` and pushes the cache entries into the namespace's cache repository; the second build, on the
other worker, after a change below that step, pulls the step from the registry instead of running
it. The speed-up itself is measured by Benchmarks/layer_cache_bench.py, not asserted here."""

import subprocess
import time

from helpers import ADMIN_PASSWORD, ADMIN_USER, api
from test_builds import tar_gz, upload_context, wait_for_build

WORKER_TOKEN = "layer-cache-worker-token"


class RealWorker:
    """A `slipway worker` process running real buildah, with its own work directory."""

    def __init__(self, srv, name, tmp_path, token=WORKER_TOKEN, roles="build"):
        self.log = tmp_path / f"{name}.log"
        args = [str(srv.binary), "worker", "--orchestrator", srv.url, "--token", token, "--id", name, "--roles", roles,
                "--work-dir", str(tmp_path / f"work-{name}"), "--shutdown-grace", "0"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, env=srv.base_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def cache_env():
    return {"SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0", "SLIPWAY_BUILDS_WORKER_TOKEN": WORKER_TOKEN}


def prepare(srv, ctenv, token, repo_names):
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    for name in repo_names:
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": name, "visibility": "private", "description": ""})[0] == 201


def build_with_cache(srv, token, repo, cache, dockerfile: bytes, stamp: bytes):
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile, "stamp": stamp}))
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id, "cache_repository": cache})
    assert status == 201, build
    assert build["cache_repository"] == f"{ADMIN_USER}/{cache}", build
    final = wait_for_build(srv, token, repo, build["id"], timeout=300)
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}/logs", token)
    assert final["phase"] == "complete", (final, [e["message"] for e in logs["logs"]][-30:])
    return final, [e["message"] for e in logs["logs"]]


def test_second_build_on_another_worker_reuses_the_slow_step_from_the_registry(server, ctenv, tmp_path):
    srv = server(env=cache_env())
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    prepare(srv, ctenv, token, ["app", "buildcache"])
    repo = f"{ADMIN_USER}/app"
    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                  "RUN sleep 2 && date +%s%N > /slow-step\n"
                  "COPY stamp /stamp\n").encode()

    first_worker = RealWorker(srv, "cache-a", tmp_path)
    try:
        _, first_log = build_with_cache(srv, token, repo, "buildcache", dockerfile, b"one\n")
    finally:
        first_worker.stop()
    assert any("layer cache: " in line for line in first_log), first_log[:10]
    assert any("Pushing cache" in line for line in first_log), first_log
    status, tags = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/buildcache/tag/", token)
    assert status == 200 and tags["tags"], "the cache entries are tags of the cache repository"

    second_worker = RealWorker(srv, "cache-b", tmp_path)
    try:
        second_final, second_log = build_with_cache(srv, token, repo, "buildcache", dockerfile, b"two\n")
    finally:
        second_worker.stop()
    assert any("Cache pulled from remote" in line for line in second_log), second_log
    run_step = second_log.index(next(line for line in second_log if line.startswith("STEP 2/3: RUN")))
    assert "Cache pulled from remote" in second_log[run_step + 1], second_log[run_step:run_step + 3]

    # A worker stopped while it waited for work is not handed the next build for long: the lease
    # its long-poll carried is taken back after the accept window (15 s), not the 60 s timeout.
    waited = next(p["seconds"] for p in second_final["timing"]["phases"] if p["phase"] == "waiting")
    assert waited < 45, second_final["timing"]

    # The image the second build pushed has the first build's step output and its own COPY.
    fresh = tmp_path / "pulled"
    ctenv.skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                 f"docker://{srv.host}/{repo}:latest", f"dir:{fresh}")
    assert (fresh / "manifest.json").exists()
