"""Read-only (maintenance) mode on a data dir that already holds an image."""

import json

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, error_codes, http_request, make_labeled_image


def assert_push_denied(srv, repo):
    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:pull,push")
    status, _, body = http_request(srv, "POST", f"/v2/{repo}/blobs/uploads/",
                                   headers={"Authorization": f"Bearer {token}", "Content-Length": "0"})
    assert status == 405, body
    assert error_codes(body) == ["DENIED"]
    assert "read-only" in json.loads(body)["errors"][0]["message"]


def test_read_only_mode_serves_pulls_and_refuses_pushes(server, ctenv, ctenv_factory, tmp_path):
    data_dir = tmp_path / "data"
    normal = server(data_dir=data_dir)
    ctenv.login(normal, ADMIN_USER, ADMIN_PASSWORD)
    digest_file = ctenv.dir / "digest"
    ctenv.podman("push", "--digestfile", digest_file, "localhost/busybox:latest", f"{normal.host}/alice/ro:v1")
    digest = digest_file.read_text().strip()
    assert normal.stop() == 0, "SIGTERM did not shut the server down cleanly"

    ro = server(data_dir=data_dir, env={"SLIPWAY_REGISTRY_READ_ONLY": "true"})
    env = ctenv_factory()
    env.login(ro, ADMIN_USER, ADMIN_PASSWORD)
    env.podman("pull", f"{ro.host}/alice/ro:v1")
    assert env.podman("image", "inspect", "--format", "{{.Digest}}", f"{ro.host}/alice/ro:v1").stdout.strip() == digest
    assert env.image_id(f"{ro.host}/alice/ro:v1") == ctenv.image_id("localhost/busybox:latest")

    # A new image (new blobs) into the existing repository.
    ctenv.login(ro, ADMIN_USER, ADMIN_PASSWORD)
    make_labeled_image(ctenv, "localhost/bb-labeled:latest")
    push = ctenv.podman("push", "localhost/bb-labeled:latest", f"{ro.host}/alice/ro:v2", check=False)
    assert push.returncode != 0
    assert "read-only" in push.stderr, push.stderr
    # Known blobs, new tag: refused at the manifest.
    retag = ctenv.podman("push", "localhost/busybox:latest", f"{ro.host}/alice/ro:v1-copy", check=False)
    assert retag.returncode != 0
    assert "read-only" in retag.stderr, retag.stderr
    assert_push_denied(ro, "alice/ro")

    tags = json.loads(env.skopeo("list-tags", f"docker://{ro.host}/alice/ro").stdout)["Tags"]
    assert tags == ["v1"]
    ro.stop()

    # The same switch from a YAML configuration file.
    config = tmp_path / "slipway.yaml"
    config.write_text("registry:\n  readOnly: true\n")
    ro_yaml = server(data_dir=data_dir, config=config)
    assert_push_denied(ro_yaml, "alice/ro")
    status, headers, _ = http_request(ro_yaml, "HEAD", "/v2/alice/ro/manifests/v1", headers={
        "Authorization": "Bearer " + ro_yaml.token(ADMIN_USER, ADMIN_PASSWORD, "repository:alice/ro:pull"),
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200
    assert headers.get("docker-content-digest") == digest


def test_read_only_mode_does_not_create_repositories(server, ctenv, tmp_path):
    """A refused push to a repository that does not exist yet must not create it."""
    data_dir = tmp_path / "data"
    ro = server(data_dir=data_dir, env={"SLIPWAY_REGISTRY_READ_ONLY": "true"})
    ctenv.login(ro, ADMIN_USER, ADMIN_PASSWORD)
    push = ctenv.podman("push", "localhost/busybox:latest", f"{ro.host}/alice/new-in-ro:v1", check=False)
    assert push.returncode != 0
    assert "read-only" in push.stderr, push.stderr
    ro.stop()

    normal = server(data_dir=data_dir)
    token = normal.token(ADMIN_USER, ADMIN_PASSWORD, "repository:alice/new-in-ro:pull")
    status, _, body = http_request(normal, "GET", "/v2/alice/new-in-ro/tags/list",
                                   headers={"Authorization": f"Bearer {token}"})
    assert status == 404, f"read-only mode created alice/new-in-ro: {status} {body!r}"
    assert error_codes(body) == ["NAME_UNKNOWN"]
