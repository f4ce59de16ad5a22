"""A two-image manifest list / OCI index: podman manifest push --all, pull a child by digest,
skopeo copy --all of the list digest to an OCI layout."""

import json
from pathlib import Path

from helpers import (ADMIN_PASSWORD, ADMIN_USER, DOCKER_LIST, OCI_INDEX, make_labeled_image, sha256_digest,
                     sha256_hex)


def test_manifest_list_push_and_pull(server, ctenv, ctenv_factory, tmp_path):
    srv = server()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    busybox_id = ctenv.image_id("localhost/busybox:latest")
    labeled_id = make_labeled_image(ctenv, "localhost/bb-labeled:latest")

    ctenv.podman("manifest", "create", "localhost/multi:latest")
    ctenv.podman("manifest", "add", "--arch", "amd64", "localhost/multi:latest", "containers-storage:localhost/busybox:latest")
    ctenv.podman("manifest", "add", "--arch", "arm64", "localhost/multi:latest", "containers-storage:localhost/bb-labeled:latest")
    repo = f"{srv.host}/alice/multi"
    digest_file = ctenv.dir / "list-digest"
    ctenv.podman("manifest", "push", "--all", "--digestfile", digest_file, "localhost/multi:latest", f"docker://{repo}:v1")
    list_digest = digest_file.read_text().strip()

    raw_list = ctenv.raw_manifest(f"docker://{repo}:v1")
    assert sha256_digest(raw_list) == list_digest
    index = json.loads(raw_list)
    assert index["mediaType"] in (OCI_INDEX, DOCKER_LIST)
    assert len(index["manifests"]) == 2
    children = {m["platform"]["architecture"]: m for m in index["manifests"]}
    assert set(children) == {"amd64", "arm64"}

    configs = {}
    for arch, child in children.items():
        raw_child = ctenv.raw_manifest(f"docker://{repo}@{child['digest']}")
        assert sha256_digest(raw_child) == child["digest"], arch
        assert len(raw_child) == child["size"], arch
        configs[arch] = json.loads(raw_child)["config"]["digest"]
    assert configs == {"amd64": f"sha256:{busybox_id}", "arm64": f"sha256:{labeled_id}"}

    # One child, by digest, into an empty environment.
    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    child_ref = f"{repo}@{children['arm64']['digest']}"
    fresh.podman("pull", child_ref)
    info = json.loads(fresh.podman("image", "inspect", child_ref).stdout)[0]
    assert info["Id"] == labeled_id
    assert info["Digest"] == children["arm64"]["digest"]
    assert info["Labels"].get("x") == "y"

    # The whole list by its digest into an OCI layout.
    layout = tmp_path / "layout"
    fresh.skopeo("copy", "--all", f"docker://{repo}@{list_digest}", f"oci:{layout}:multi")
    top = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in top["manifests"]] == [list_digest]
    blobs = Path(layout, "blobs", "sha256")
    for blob in blobs.iterdir():
        assert sha256_hex(blob.read_bytes()) == blob.name, f"corrupt blob {blob.name} in the OCI layout"
    assert (blobs / list_digest.split(":")[1]).read_bytes() == raw_list
    for arch, child in children.items():
        child_manifest = json.loads((blobs / child["digest"].split(":")[1]).read_bytes())
        for descriptor in [child_manifest["config"], *child_manifest["layers"]]:
            path = blobs / descriptor["digest"].split(":")[1]
            assert path.is_file(), f"{arch}: blob {descriptor['digest']} missing from the copy"
            assert path.stat().st_size == descriptor["size"]
