"""buildah push in OCI and Docker v2s2 formats; the stored blobs are fetched back and verified."""

import json

import pytest

from helpers import (ADMIN_PASSWORD, ADMIN_USER, DOCKER_MANIFEST, OCI_MANIFEST, fetch_blob, sha256_digest)


@pytest.mark.parametrize("fmt, media_type", [("oci", OCI_MANIFEST), ("v2s2", DOCKER_MANIFEST)])
def test_buildah_push(server, ctenv, ctenv_factory, fmt, media_type):
    srv = server()
    repo = "alice/bb"
    ref = f"{srv.host}/{repo}:{fmt}"
    digest_file = ctenv.dir / "digest"
    ctenv.buildah("push", "--creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "--format", fmt, "--digestfile", digest_file,
                  "localhost/busybox", f"docker://{ref}")
    digest = digest_file.read_text().strip()

    raw = ctenv.raw_manifest(f"docker://{ref}", creds=f"{ADMIN_USER}:{ADMIN_PASSWORD}")
    assert sha256_digest(raw) == digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == media_type

    # Every referenced blob is stored byte-exact under its digest.
    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:pull")
    config = json.loads(fetch_blob(srv, token, repo, manifest["config"]["digest"]))
    for layer in manifest["layers"]:
        assert len(fetch_blob(srv, token, repo, layer["digest"])) == layer["size"]
    source = json.loads(ctenv.podman("image", "inspect", "localhost/busybox").stdout)[0]
    assert config["rootfs"]["diff_ids"] == source["RootFS"]["Layers"]

    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    fresh.podman("pull", ref)
    pulled = json.loads(fresh.podman("image", "inspect", ref).stdout)[0]
    assert pulled["Digest"] == digest
    assert pulled["RootFS"]["Layers"] == source["RootFS"]["Layers"]
    assert f"sha256:{pulled['Id']}" == manifest["config"]["digest"]
