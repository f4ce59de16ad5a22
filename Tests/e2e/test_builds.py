"""A real build through the build farm: upload a tar.gz context through the API, the in-process
worker runs buildah (chroot isolation) with a base image pulled from this registry, pushes the
result, and podman pulls it into fresh storage."""

import io
import json
import random
import subprocess
import tarfile
import time

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, http_request


def tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def upload_context(srv, token, data: bytes) -> str:
    status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "application/gzip"})
    assert status == 200, drop
    path = drop["url"].split(srv.host, 1)[1]
    status, _, body = http_request(srv, "PUT", path, body=data)
    assert status == 200, body
    return drop["file_id"]


def wait_for_build(srv, token, repo, build_id, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/status", token)
        assert status == 200, view
        if view["phase"] in ("complete", "error", "internalerror", "cancelled"):
            return view
        time.sleep(0.5)
    raise AssertionError(f"build {build_id} did not finish: {view}")


def test_uploaded_context_builds_pushes_and_pulls(server, ctenv, ctenv_factory):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    # The base image lives in this registry; public so the build can pull it anonymously.
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200

    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                  "LABEL quay.expires-after=2h\n"
                  "LABEL org.opencontainers.image.title=farm-test\n"
                  "RUN echo built > /built.txt && mkdir -p /app\n"
                  "COPY stamp /app/stamp\n").encode()
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile, "stamp": b"stamp-123\n"}))
    repo = f"{ADMIN_USER}/farm"
    status, _ = api(srv, "POST", "/api/v1/repository", token, {"repository": "farm", "visibility": "private", "description": ""})
    assert status == 201
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id, "docker_tags": ["v1", "latest"]})
    assert status == 201, build
    final = wait_for_build(srv, token, repo, build["id"])
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}/logs", token)
    assert final["phase"] == "complete", (final, json.dumps(logs)[:4000])
    entries = logs["logs"]
    phases = [e["message"] for e in entries if e.get("type") == "phase"]
    assert phases[0] == "unpacking" and "building" in phases and "pushing" in phases, phases
    commands = [e["message"] for e in entries if e.get("type") == "command"]
    assert any("RUN echo built" in c for c in commands), commands
    assert set(final["manifest_digests"]) == {"v1", "latest"}

    # The tag's expiry came from the label, as for any push.
    status, tags = api(srv, "GET", f"/api/v1/repository/{repo}/tag/?specificTag=v1&onlyActiveTags=true", token)
    assert tags["tags"][0]["expiration"], tags

    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    fresh.podman("pull", f"{srv.host}/{repo}:v1")
    info = json.loads(fresh.podman("image", "inspect", f"{srv.host}/{repo}:v1").stdout)[0]
    assert info["Labels"]["org.opencontainers.image.title"] == "farm-test"
    assert info["Labels"]["quay.expires-after"] == "2h"


def test_failing_build_reports_the_step(server, ctenv):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo about to fail && false\n".encode()
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile}))
    api(srv, "POST", "/api/v1/repository", token, {"repository": "broken", "visibility": "private", "description": ""})
    status, build = api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/broken/build/", token, {"file_id": file_id})
    assert status == 201, build
    final = wait_for_build(srv, token, f"{ADMIN_USER}/broken", build["id"])
    assert final["phase"] == "error", final
    assert final["error"], final
    status, logs = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/broken/build/{build['id']}/logs", token)
    assert any(e.get("type") == "error" for e in logs["logs"]), logs


def test_private_base_image_is_pulled_with_the_pull_robot(server, ctenv):
    """The pull robot's token reaches buildah through the build's own auth.json (resolved at
    lease time, never on a command line); without it a private base image cannot be pulled."""
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/base:latest")  # private
    status, robot = api(srv, "PUT", "/api/v1/user/robots/puller", token, {"description": "pulls base images"})
    assert status in (200, 201), robot
    status, body = api(srv, "PUT", f"/api/v1/repository/{ADMIN_USER}/base/permissions/user/{ADMIN_USER}+puller", token, {"role": "read"})
    assert status == 200, body
    api(srv, "POST", "/api/v1/repository", token, {"repository": "app", "visibility": "private", "description": ""})
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/base:latest\nRUN echo ok > /ok\n".encode()
    repo = f"{ADMIN_USER}/app"

    status, anonymous = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token,
                            {"file_id": upload_context(srv, token, tar_gz({"Dockerfile": dockerfile}))})
    assert status == 201, anonymous
    assert wait_for_build(srv, token, repo, anonymous["id"])["phase"] == "error"

    status, robot_build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token,
                              {"file_id": upload_context(srv, token, tar_gz({"Dockerfile": dockerfile})), "pull_robot": f"{ADMIN_USER}+puller"})
    assert status == 201, robot_build
    assert robot_build["pull_robot"] == f"{ADMIN_USER}+puller"
    final = wait_for_build(srv, token, repo, robot_build["id"])
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{robot_build['id']}/logs", token)
    assert final["phase"] == "complete", (final, logs)
    assert robot["token"] not in json.dumps(logs), "the robot token must never reach the build log"

    # A robot of another namespace is refused up front.
    srv.create_user("mallory", "mallory-password")
    status, err = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token,
                      {"file_id": upload_context(srv, token, tar_gz({"Dockerfile": dockerfile})), "pull_robot": "mallory+bot"})
    assert status == 400, err


def sleeping_processes(seconds: int) -> list[str]:
    """Processes running `sleep <seconds>` (the RUN step of a build), as `pid command` lines."""
    out = subprocess.run(["pgrep", "-a", "-f", f"sleep {seconds}$"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_cancel_stops_a_running_build_within_two_seconds(server, ctenv):
    """A cancel reaches the worker at once (its heartbeat is held open until a stop is decided):
    the build is `cancelled` within about two seconds, the builder's RUN step is gone and the log
    stops growing."""
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    seconds = random.randint(400, 999)  # a number that names this build's `sleep` among the host's processes
    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                  f"RUN echo sleeping-now && while true; do echo tick; sleep 0.2; done & sleep {seconds}\n").encode()
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile}))
    repo = f"{ADMIN_USER}/slow"
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "slow", "visibility": "private", "description": ""})[0] == 201
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id})
    assert status == 201, build
    build_api = f"/api/v1/repository/{repo}/build/{build['id']}"

    deadline = time.time() + 120
    while True:
        status, logs = api(srv, "GET", f"{build_api}/logs", token)
        assert status == 200, logs
        if any("tick" == e["message"] for e in logs["logs"]) and sleeping_processes(seconds):
            break
        status, view = api(srv, "GET", f"{build_api}/status", token)
        assert view["phase"] not in ("complete", "error", "internalerror", "cancelled"), (view, logs)
        assert time.time() < deadline, ("the RUN step never started", logs)
        time.sleep(0.2)

    started = time.monotonic()
    status, body = api(srv, "DELETE", build_api, token)
    assert status == 201, body
    while True:
        status, view = api(srv, "GET", f"{build_api}/status", token)
        elapsed = time.monotonic() - started
        if view["phase"] == "cancelled":
            break
        assert view["phase"] == "building", view
        assert elapsed < 10, f"still {view['phase']} {elapsed:.1f} s after the cancel"
        time.sleep(0.05)
    assert elapsed < 2.0, f"the build reached cancelled {elapsed:.2f} s after the cancel"
    assert not sleeping_processes(seconds), "the RUN step outlived the cancel"

    # The log stops growing: the output loop died with the step.
    status, logs = api(srv, "GET", f"{build_api}/logs", token)
    total = logs["total"]
    last = logs["logs"][-1]
    assert (last.get("type"), last["message"]) == ("phase", "cancelled"), logs["logs"][-3:]
    time.sleep(2)
    status, later = api(srv, "GET", f"{build_api}/logs?start={total}", token)
    assert later["total"] == total and later["logs"] == [], later
