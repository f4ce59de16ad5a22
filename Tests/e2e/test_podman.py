"""podman login / push (OCI and Docker v2s2) / pull into a fresh environment."""

import json

from helpers import (ADMIN_PASSWORD, ADMIN_USER, DOCKER_MANIFEST, OCI_MANIFEST, sha256_digest)


def test_podman_login_push_pull_roundtrip(server, ctenv, ctenv_factory):
    srv = server()

    bad = ctenv.login(srv, ADMIN_USER, "not-the-password", check=False)
    assert bad.returncode != 0, bad.stdout
    assert "invalid username/password" in bad.stderr
    assert srv.host not in ctenv.env_file_text("REGISTRY_AUTH_FILE"), "a failed login stored credentials"

    good = ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    assert "Login Succeeded" in good.stdout
    assert srv.host in ctenv.env_file_text("REGISTRY_AUTH_FILE")

    source_id = ctenv.image_id("localhost/busybox:latest")
    pushed = {}
    for tag, format_args, media_type in (("oci", [], OCI_MANIFEST), ("v2s2", ["--format", "v2s2"], DOCKER_MANIFEST)):
        ref = f"{srv.host}/alice/podman:{tag}"
        digest_file = ctenv.dir / f"digest-{tag}"
        ctenv.podman("push", *format_args, "--digestfile", digest_file, "localhost/busybox:latest", f"docker://{ref}")
        digest = digest_file.read_text().strip()
        raw = ctenv.raw_manifest(f"docker://{ref}")
        assert sha256_digest(raw) == digest, "the registry serves different manifest bytes than were pushed"
        manifest = json.loads(raw)
        assert manifest["mediaType"] == media_type
        assert len(manifest["layers"]) == 1
        pushed[tag] = (ref, digest, manifest)

    assert pushed["oci"][2]["config"]["digest"] == f"sha256:{source_id}"
    assert pushed["oci"][1] != pushed["v2s2"][1]

    fresh = ctenv_factory()
    assert fresh.podman("images", "-q").stdout.strip() == "", "the fresh environment is not empty"
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    source_layers = json.loads(ctenv.podman("image", "inspect", "localhost/busybox:latest").stdout)[0]["RootFS"]["Layers"]
    for tag, (ref, digest, manifest) in pushed.items():
        fresh.podman("pull", ref)
        info = json.loads(fresh.podman("image", "inspect", ref).stdout)[0]
        assert f"sha256:{info['Id']}" == manifest["config"]["digest"], tag
        if tag == "oci":  # the first pull of an image sets its primary digest; later ones add RepoDigests
            assert info["Digest"] == digest, tag
        assert f"{srv.host}/alice/podman@{digest}" in info["RepoDigests"], tag
        assert info["RootFS"]["Layers"] == source_layers, f"{tag}: pulled filesystem differs from the source"
    assert fresh.image_id(pushed["oci"][0]) == source_id
