"""The worker's per-namespace base-image cache (issue #20) with real buildah against a real
server: the in-process worker keeps each namespace's base images in a storage of its own under
<data>/build-cache and still asks the registry for the base, with the build's own credentials,
on every build.

- a second build of namespace X reuses X's layers; a build of namespace Y downloads its own
- a pull robot whose read access was revoked cannot build from the base cached for it
- a corrupted storage (layers gone, or an unreadable index) never fails a build
- two builds of one namespace at once both succeed
"""

import json
import re
import shutil
from pathlib import Path

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, request_count
from test_builds import tar_gz, upload_context, wait_for_build

# buildah does not say in its log whether a layer came from the storage; the registry's own
# request counter does: a base pulled anew costs its config and its layer. A cached one costs no
# blob: the worker asks the registry for the base's current digest (a HEAD with the build's
# credentials, logged) and builds from that digest, which the storage already has.
FRESH, CACHED = 2, 0


def seed_base(srv, ctenv, token, repo="busybox", public=True):
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/{repo}:latest")
    if public:
        assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/{repo}/changevisibility", token, {"visibility": "public"})[0] == 200


def start_build(srv, token, repo, dockerfile: str, **extra) -> str:
    namespace, name = repo.split("/")
    api(srv, "POST", "/api/v1/repository", token, {"namespace": namespace, "repository": name, "visibility": "private", "description": ""})
    body = {"file_id": upload_context(srv, token, tar_gz({"Dockerfile": dockerfile.encode()})), **extra}
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, body)
    assert status == 201, build
    return build["id"]


def finished(srv, token, repo, build_id):
    """(final view, log text) of a build, waiting for its end."""
    final = wait_for_build(srv, token, repo, build_id)
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", token)
    assert status == 200, logs
    return final, "\n".join(e["message"] for e in logs["logs"])


def blob_gets(srv) -> float:
    return request_count(srv, "GET", "v2_blob")


def build(srv, token, repo, dockerfile: str, **extra):
    """(final view, log text, blobs the registry served during the build)."""
    before = blob_gets(srv)
    final, log = finished(srv, token, repo, start_build(srv, token, repo, dockerfile, **extra))
    return final, log, blob_gets(srv) - before


def storage_of(srv, namespace):
    """The namespace's storage directory and its driver (overlay where the build user may mount
    it), where the server's log says the cache is: <data>/build-cache, or a directory of the
    rootless build user's home when the data directory is out of that user's reach (pytest's
    temporary directories are 0700)."""
    found = re.findall(r"directory=(\S+) driver=(\S+) \S+ \[BuildWorker\] base-image cache ready", srv.logs())
    assert len(found) == 1, found
    root, driver = found[0]
    assert Path(root).name == driver
    return Path(root) / f"ns-{namespace}", driver


def test_a_namespace_never_gets_another_namespaces_layers(server, ctenv):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    seed_base(srv, ctenv, token)
    srv.create_user("bob", "bob-password1")
    bob = srv.cli("admin", "create-token", "--user", "bob").stdout.strip()
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo built > /built.txt\n"

    final, log, downloaded = build(srv, token, f"{ADMIN_USER}/one", dockerfile)
    assert final["phase"] == "complete", (final, log)
    assert downloaded == FRESH, downloaded

    # Same namespace: the registry is asked for the manifest, the layer comes from the cache.
    final, log, downloaded = build(srv, token, f"{ADMIN_USER}/two", dockerfile)
    assert final["phase"] == "complete", (final, log)
    assert "this worker's cache for the namespace" in log, log
    assert downloaded == CACHED, downloaded
    assert f"base image: {srv.host}/{ADMIN_USER}/busybox:latest is sha256:" in log, log  # the registry was asked

    # Another namespace, same public base: downloaded again into bob's own storage.
    final, log, downloaded = build(srv, bob, "bob/app", dockerfile)
    assert final["phase"] == "complete", (final, log)
    assert downloaded == FRESH, downloaded
    alice_storage, _ = storage_of(srv, ADMIN_USER)
    bob_storage, _ = storage_of(srv, "bob")
    assert alice_storage.is_dir() and bob_storage.is_dir() and alice_storage != bob_storage


def test_a_revoked_pull_robot_cannot_build_from_the_cached_base(server, ctenv):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    seed_base(srv, ctenv, token, repo="base", public=False)
    status, robot = api(srv, "PUT", "/api/v1/user/robots/puller", token, {"description": "pulls base images"})
    assert status in (200, 201), robot
    permission = f"/api/v1/repository/{ADMIN_USER}/base/permissions/user/{ADMIN_USER}+puller"
    assert api(srv, "PUT", permission, token, {"role": "read"})[0] == 200
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/base:latest\nRUN echo ok > /ok\n"
    repo = f"{ADMIN_USER}/app"

    final, log, _ = build(srv, token, repo, dockerfile, pull_robot=f"{ADMIN_USER}+puller")
    assert final["phase"] == "complete", (final, log)
    final, log, downloaded = build(srv, token, repo, dockerfile, pull_robot=f"{ADMIN_USER}+puller")
    assert final["phase"] == "complete" and downloaded == CACHED, (final, log, downloaded)  # the base is cached

    assert api(srv, "DELETE", permission, token)[0] in (200, 204)
    final, log, _ = build(srv, token, repo, dockerfile, pull_robot=f"{ADMIN_USER}+puller")
    assert final["phase"] == "error", (final, log)
    assert f"the pull robot {ADMIN_USER}+puller cannot read" in final["error"], (final["error"], log)
    assert "building again in a fresh storage" not in log, log  # the registry's refusal is final

    # Without a robot at all the private base is refused too, cache or not.
    final, log, _ = build(srv, token, repo, dockerfile)
    assert final["phase"] == "error" and "is private" in final["error"], final


def test_a_corrupted_cache_never_fails_a_build(server, ctenv):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    seed_base(srv, ctenv, token)
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo built > /built.txt\n"
    repo = f"{ADMIN_USER}/app"
    final, log, _ = build(srv, token, repo, dockerfile)
    assert final["phase"] == "complete", (final, log)
    storage, driver = storage_of(srv, ADMIN_USER)

    # Every layer's files gone, the indexes intact: the build fails in the cache before its
    # first step, runs again in a fresh storage and succeeds.
    layers = storage / "storage" / driver
    for entry in layers.iterdir():
        if entry.is_dir() and entry.name != "l":
            shutil.rmtree(entry)
    final, log, _ = build(srv, token, repo, dockerfile)
    assert final["phase"] == "complete", (final, log)
    assert "building again in a fresh storage" in log, log
    assert (storage / "broken").exists()

    # The next build drops the storage and fills it anew; the one after reuses it.
    final, log, downloaded = build(srv, token, repo, dockerfile)
    assert final["phase"] == "complete" and downloaded == FRESH, (final, log, downloaded)
    assert "building again in a fresh storage" not in log, log
    assert not (storage / "broken").exists()
    final, log, downloaded = build(srv, token, repo, dockerfile)
    assert final["phase"] == "complete" and downloaded == CACHED, (final, log, downloaded)

    # An index that is not JSON: dropped before the build starts.
    (storage / "storage" / f"{driver}-images" / "images.json").write_text("{garbage")
    final, log, downloaded = build(srv, token, repo, dockerfile)
    assert final["phase"] == "complete" and downloaded == FRESH, (final, log, downloaded)
    assert "building again in a fresh storage" not in log, log
    json.loads((storage / "storage" / f"{driver}-images" / "images.json").read_text())


def test_two_builds_of_one_namespace_share_the_cache_at_once(server, ctenv):
    srv = server(env={"SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "2"})
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    seed_base(srv, ctenv, token)
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo built > /built.txt\n"
    for round_ in range(2):  # an empty storage filled by both at once, then a warm one
        ids = {repo: start_build(srv, token, repo, dockerfile) for repo in (f"{ADMIN_USER}/c1", f"{ADMIN_USER}/c2")}
        for repo, build_id in ids.items():
            final, log = finished(srv, token, repo, build_id)
            assert final["phase"] == "complete", (round_, final, log)
            assert "building again in a fresh storage" not in log, log
    # Built images are removed from the shared storage after their push; the base stays.
    storage, driver = storage_of(srv, ADMIN_USER)
    images = json.loads((storage / "storage" / f"{driver}-images" / "images.json").read_text())
    names = [n for image in images for n in image.get("names", [])]
    # (named by the digest the worker pinned it to, or by its tag when buildah pulled it)
    assert any("/busybox:latest" in n or "/busybox@sha256:" in n for n in names), names
    assert not any("slipway-build" in n for n in names), names
