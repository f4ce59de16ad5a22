"""Tags around deletes, expiry and restores with a real client, and the background collector:
a deleted tag restores and pulls again; once outside the time-machine window a collector pass
removes it and its unique blobs from storage, while shared blobs stay."""

import json
import time
from pathlib import Path

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, http_request



def blob_files(data_dir: Path) -> set[str]:
    root = data_dir / "storage" / "blobs" / "sha256"
    return {p.name for p in root.glob("*/*")}


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_delete_restore_expire_and_collect(server, ctenv, ctenv_factory):
    # A fast collector with a short grace period (long enough for a push to send its manifest
    # after its blobs), so the test sees a real background pass.
    srv = server(env={"SLIPWAY_GC_INTERVAL_SECONDS": "1", "SLIPWAY_GC_GRACE_SECONDS": "3", "SLIPWAY_GC_TOMBSTONE_SECONDS": "0"})
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    repo = f"{srv.host}/{ADMIN_USER}/tm"
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{repo}:base")
    # A second image: busybox plus one extra layer that only it uses, labelled to expire.
    container = ctenv.buildah("from", "localhost/busybox:latest").stdout.strip().splitlines()[-1]
    ctenv.buildah("run", "--isolation", "chroot", container, "--", "/bin/sh", "-c", "echo only-in-extra > /extra.txt")
    ctenv.buildah("config", "--label", "quay.expires-after=2h", container)
    ctenv.buildah("commit", "-q", container, "localhost/extra:latest")
    ctenv.buildah("rm", container, check=False)
    ctenv.podman("push", "localhost/extra:latest", f"docker://{repo}:extra")
    before = blob_files(srv.data_dir)

    # The expires-after label set an expiry at push time.
    status, tags = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/tm/tag/?specificTag=extra&onlyActiveTags=true", token)
    assert status == 200 and tags["tags"][0]["expiration"], tags
    digest = tags["tags"][0]["manifest_digest"]

    # Delete, then restore inside the window: it pulls again.
    assert api(srv, "DELETE", f"/api/v1/repository/{ADMIN_USER}/tm/tag/extra", token)[0] == 204
    gone = ctenv_factory()
    gone.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    assert gone.podman("pull", f"{repo}:extra", check=False).returncode != 0
    status, body = api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/tm/tag/extra/restore", token, {"manifest_digest": digest})
    assert status == 200, body
    gone.podman("pull", f"{repo}:extra")
    status, history = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/tm/tag/?specificTag=extra", token)
    assert [t["reversion"] for t in history["tags"]][:2] == [True, False], history

    # Shrink the time machine to 0 s and delete again: the background collector removes the
    # manifest and the layer only `extra` used; busybox's blobs stay.
    status, body = api(srv, "PUT", "/api/v1/user/", token, {"tag_expiration_s": 0})
    assert status == 200, body
    assert api(srv, "DELETE", f"/api/v1/repository/{ADMIN_USER}/tm/tag/extra", token)[0] == 204
    wait_until(lambda: len(blob_files(srv.data_dir)) < len(before), what="the collector to delete blobs")
    after = blob_files(srv.data_dir)
    removed = before - after
    assert len(removed) == 2, f"expected the extra layer and extra's config to go, removed {removed}"
    status, body = api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/tm/tag/extra/restore", token, {"manifest_digest": digest})
    assert status == 400, body

    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    fresh.podman("pull", f"{repo}:base")
    assert fresh.podman("pull", f"{repo}:extra", check=False).returncode != 0


def test_expired_tag_no_longer_pulls(server, ctenv, ctenv_factory):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    repo = f"{srv.host}/{ADMIN_USER}/expiring"
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{repo}:short")
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{repo}:keep")
    tags_path = f"/api/v1/repository/{ADMIN_USER}/expiring/tag/"

    # An expiry a few seconds ahead; the API refuses one in the past.
    status, body = api(srv, "PUT", f"{tags_path}short", token, {"expiration": int(time.time()) - 5})
    assert status == 400, body
    expires_at = int(time.time()) + 4
    status, body = api(srv, "PUT", f"{tags_path}short", token, {"expiration": expires_at})
    assert status == 201, body
    status, live = api(srv, "GET", f"{tags_path}?specificTag=short&onlyActiveTags=true", token)
    assert status == 200 and live["tags"] and live["tags"][0]["expiration"], live

    def expired():
        return api(srv, "GET", f"{tags_path}?specificTag=short&onlyActiveTags=true", token)[1]["tags"] == []

    wait_until(expired, timeout=30, what="the tag to expire")
    assert time.time() >= expires_at

    # A client that never saw the image cannot pull the expired tag; the other tag on the same
    # manifest still pulls.
    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    failed = fresh.podman("pull", f"{repo}:short", check=False)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    fresh.podman("pull", f"{repo}:keep")

    # History shows the tag as expired: ended at its expiry, no live expiration left.
    status, history = api(srv, "GET", f"{tags_path}?specificTag=short", token)
    assert status == 200, history
    row = history["tags"][0]
    assert row["end_ts"] == expires_at, history
    assert row.get("expiration") is None, history
