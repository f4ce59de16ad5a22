"""Quay's own tooling, unmodified, against a live Slipway: Red Hat's pubtools-quay (`QuayClient`,
`QuayApiClient`), docker-registry-client-async and the ORAS Python SDK. Each relies on a Quay
quirk: pubtools-quay sends `Host: http://host:port` and reads untyped manifests by trying types in
turn; docker-registry-client-async follows absolute upload `Location`s only; `delete_repository`
expects 204 for a repository that is not there.

The packages come from scripts/install-deps.sh --test (pinned there)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, OCI_MANIFEST, make_labeled_image, sha256_digest


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        pytest.fail(f"{module} is missing ({error}): run scripts/install-deps.sh --test", pytrace=False)


def _push_single_and_multi(srv, ctenv) -> tuple[str, str]:
    """alice/single:v1 (one image) and alice/multi:v1 (a two-image list), pushed by podman."""
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/alice/single:v1")
    make_labeled_image(ctenv, "localhost/bb-labeled:latest")
    ctenv.podman("manifest", "create", "localhost/multi:latest")
    ctenv.podman("manifest", "add", "--arch", "amd64", "localhost/multi:latest", "containers-storage:localhost/busybox:latest")
    ctenv.podman("manifest", "add", "--arch", "arm64", "localhost/multi:latest", "containers-storage:localhost/bb-labeled:latest")
    ctenv.podman("manifest", "push", "--all", "localhost/multi:latest", f"docker://{srv.host}/alice/multi:v1")
    return f"{srv.host}/alice/single:v1", f"{srv.host}/alice/multi:v1"


def test_pubtools_quay(server, ctenv):
    quay_client = _require("pubtools._quay.quay_client")
    quay_api_client = _require("pubtools._quay.quay_api_client")
    exceptions = _require("pubtools._quay.exceptions")
    srv = server()
    single, multi = _push_single_and_multi(srv, ctenv)
    single_raw = ctenv.raw_manifest(f"docker://{single}").decode()
    multi_raw = ctenv.raw_manifest(f"docker://{multi}").decode()
    single_type = json.loads(single_raw)["mediaType"]
    multi_type = json.loads(multi_raw)["mediaType"]

    # The URL form pubtools is configured with: its session then sends `Host: http://127.0.0.1:PORT`.
    client = quay_client.QuayClient(ADMIN_USER, ADMIN_PASSWORD, f"http://{srv.host}")
    assert client.session.session.headers["Host"] == f"http://{srv.host}"

    # Token auth through the realm of the challenge, then typed reads.
    assert client.get_manifest(single, media_type=single_type, raw=True) == single_raw
    assert client.get_manifest(multi, media_type=multi_type, raw=True) == multi_raw
    with pytest.raises(exceptions.ManifestTypeError):
        client.get_manifest(single, media_type=multi_type)
    # Untyped: pubtools tries list, v2s2, OCI index, OCI manifest in turn; every answer is a 200
    # with the stored type (never a 404 that would read as "not pushed yet").
    assert client.get_manifest(single, raw=True) == single_raw
    assert client.get_manifest(multi, raw=True) == multi_raw
    assert len(client.get_manifest(multi)["manifests"]) == 2
    assert client.get_manifest_digest(single) == sha256_digest(single_raw.encode())

    # upload_manifest: the same manifest under a new tag, and the list under another repository's tag.
    client.upload_manifest(single_raw, f"{srv.host}/alice/single:v2", raw=True)
    assert client.get_manifest(f"{srv.host}/alice/single:v2", raw=True) == single_raw
    client.upload_manifest(json.loads(single_raw), f"{srv.host}/alice/single:v3")
    assert client.get_manifest(f"{srv.host}/alice/single:v3")["config"] == json.loads(single_raw)["config"]
    assert sorted(client.get_repository_tags("alice/single")["tags"]) == ["v1", "v2", "v3"]

    api_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    api = quay_api_client.QuayApiClient(api_token, f"http://{srv.host}")
    assert api.delete_tag("alice/single", "v2").status_code == 204
    assert api.delete_tag("alice/single", "never-was").status_code == 404  # tolerated by pubtools
    assert sorted(client.get_repository_tags("alice/single")["tags"]) == ["v1", "v3"]
    # delete_repository raises on anything but 2xx: a missing repository is a 204, as on Quay.
    assert api.delete_repository("alice/never-pushed").status_code == 204
    assert api.delete_repository("alice/multi").status_code == 204
    with pytest.raises(Exception):
        client.get_manifest(multi, media_type=multi_type)


OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def test_docker_registry_client_async(server):
    drca = _require("docker_registry_client_async")
    srv = server()

    async def scenario():
        client = drca.DockerRegistryClientAsync()
        try:
            await client.add_credentials(credentials=base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode(),
                                         endpoint=srv.host)
            image = drca.ImageName.parse(f"{srv.host}/alice/drca:v1")
            # docker-registry-client-async 1.0.3 asks for a pull-only token for PATCH (its own bug:
            # distribution and Quay refuse a PATCH under it too); hand it a pull,push token for
            # that scope, as its users do with add_token.
            await client.add_token(endpoint=srv.host, scope="repository:alice/drca:pull",
                                   token=srv.token(ADMIN_USER, ADMIN_PASSWORD, "repository:alice/drca:pull,push"))
            # A layer in three chunks, each PATCH sent to the Location of the previous answer.
            layer = b"layer bytes " * 5000
            started = await client.post_blob(image, protocol="http")
            assert started.location.startswith(f"http://{srv.host}/v2/alice/drca/blobs/uploads/"), started.location
            location, offset = started.location, 0
            for chunk in (layer[:20000], layer[20000:40000], layer[40000:]):
                patched = await client.patch_blob_upload(location, chunk, offset=offset)
                location, offset = patched.location, offset + len(chunk)
            layer_digest = drca.FormattedSHA256.calculate(layer)
            put = await client.put_blob_upload(location, layer_digest)
            assert put.digest == layer_digest
            config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
            config_digest = drca.FormattedSHA256.calculate(config)
            config_upload = await client.post_blob(image, protocol="http")
            stored = await client.put_blob_upload(config_upload.location, config_digest, data=config)
            assert stored.location == f"http://{srv.host}/v2/alice/drca/blobs/{config_digest}"

            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": str(config_digest), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": str(layer_digest), "size": len(layer)}],
            }).encode()
            pushed = await client.put_manifest(image, drca.Manifest(manifest, media_type=OCI_MANIFEST), protocol="http")
            assert str(pushed.digest) == sha256_digest(manifest)
            fetched = await client.get_manifest(image, protocol="http")
            assert fetched.manifest.get_bytes() == manifest
            tags = await client.get_tags(image, protocol="http")
            assert tags.tags["tags"] == ["v1"], tags.tags
            listed = await client.get_tag_list(image, protocol="http")
            assert [name.tag for name in listed.tags] == ["v1"]
            blob = await client.get_blob(image, layer_digest, protocol="http")
            assert blob.blob == layer
        finally:
            await client.close()

    asyncio.run(scenario())


def test_oras_python_sdk(server, tmp_path, monkeypatch):
    """The ORAS project's Python SDK (PyPI `oras`; the oras CLI has no Debian package and its
    release binary cannot be fetched here): artifacts pushed monolithically and in chunks that
    follow each `Location`, pulled back, listed and untagged."""
    oras_client = _require("oras.client")
    srv = server()
    client = oras_client.OrasClient(hostname=srv.host, insecure=True)
    client.login(ADMIN_USER, ADMIN_PASSWORD, hostname=srv.host, config_path=str(tmp_path / "auth.json"))
    monkeypatch.chdir(tmp_path)  # oras-py wants artifact paths relative to the working directory
    # oras-py 0.2.43 keeps one token per client and, on a 401, re-sends it; only a 403 makes it
    # fetch another. Slipway answers a token without push with 401 + insufficient_scope (as
    # distribution does), so the pull token of its first HEAD would stick: start it with one
    # that covers what it is about to do.
    client.auth.token = srv.token(ADMIN_USER, ADMIN_PASSWORD, "repository:alice/artifact:pull,push,*")
    (tmp_path / "notes.txt").write_text("release notes\n")
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 4096)
    assert client.push(target=f"{srv.host}/alice/artifact:v1", files=["notes.txt"]).status_code == 201
    assert client.push(target=f"{srv.host}/alice/artifact:v2", files=["big.bin"], do_chunked=True,
                       chunk_size=256 * 1024).status_code == 201
    out = tmp_path / "out"
    pulled = client.pull(target=f"{srv.host}/alice/artifact:v2", outdir=str(out))
    assert [p.split("/")[-1] for p in pulled] == ["big.bin"]
    assert (out / "big.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
    client.pull(target=f"{srv.host}/alice/artifact:v1", outdir=str(out))
    assert (out / "notes.txt").read_text() == "release notes\n"
    assert sorted(client.get_tags(f"{srv.host}/alice/artifact")) == ["v1", "v2"]
    assert client.delete_tag(f"{srv.host}/alice/artifact", "v1")
    assert client.get_tags(f"{srv.host}/alice/artifact") == ["v2"]
