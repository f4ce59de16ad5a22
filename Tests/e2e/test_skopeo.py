"""skopeo copy / inspect / list-tags / delete, and a cross-repository blob mount."""

import json

from helpers import ADMIN_PASSWORD, ADMIN_USER, make_labeled_image, sha256_digest

CREDS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"


def list_tags(env, repo_ref):
    return sorted(json.loads(env.skopeo("list-tags", "--creds", CREDS, repo_ref).stdout)["Tags"])


def test_skopeo_copy_inspect_list_delete(server, ctenv, busybox_archive):
    srv = server()
    repo = f"docker://{srv.host}/alice/sk"
    labeled_id = make_labeled_image(ctenv, "localhost/bb-labeled:latest")

    ctenv.skopeo("copy", "--dest-creds", CREDS, f"oci-archive:{busybox_archive}", f"{repo}:v1")
    ctenv.skopeo("copy", "--dest-creds", CREDS, "containers-storage:localhost/busybox:latest", f"{repo}:v2")
    ctenv.skopeo("copy", "--dest-creds", CREDS, "containers-storage:localhost/bb-labeled:latest", f"{repo}:other")
    # Same manifest under a second tag (registry-to-registry copy within the repository).
    ctenv.skopeo("copy", "--src-creds", CREDS, "--dest-creds", CREDS, f"{repo}:v1", f"{repo}:v1-again")

    digests = {}
    for tag in ("v1", "v2", "other", "v1-again"):
        raw = ctenv.raw_manifest(f"{repo}:{tag}", creds=CREDS)
        info = json.loads(ctenv.skopeo("inspect", "--creds", CREDS, f"{repo}:{tag}").stdout)
        manifest = json.loads(raw)
        assert info["Digest"] == sha256_digest(raw), f"{tag}: inspect digest != sha256 of the raw manifest"
        assert info["Layers"] == [layer["digest"] for layer in manifest["layers"]], tag
        digests[tag] = info["Digest"]
        if tag == "other":
            assert info["Labels"].get("x") == "y"
            assert manifest["config"]["digest"] == f"sha256:{labeled_id}"
    assert digests["v1-again"] == digests["v1"]
    assert digests["other"] != digests["v1"]

    assert list_tags(ctenv, repo) == ["other", "v1", "v1-again", "v2"]

    # skopeo delete removes the manifest by digest: every tag pointing at it goes with it.
    ctenv.skopeo("delete", "--creds", CREDS, f"{repo}:v1")
    expected = sorted(t for t, d in digests.items() if d != digests["v1"])
    assert "other" in expected
    assert list_tags(ctenv, repo) == expected

    gone = ctenv.skopeo("inspect", "--raw", "--creds", CREDS, f"{repo}:v1", check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower(), gone.stderr
    by_digest = ctenv.skopeo("inspect", "--raw", "--creds", CREDS, f"{repo}@{digests['v1']}", check=False)
    assert by_digest.returncode != 0, "the deleted manifest is still served by digest"
    # The surviving tag still resolves to the same bytes.
    assert sha256_digest(ctenv.raw_manifest(f"{repo}:other", creds=CREDS)) == digests["other"]


def test_skopeo_copy_between_repositories_mounts_blobs(server, ctenv, ctenv_factory):
    srv = server()
    source = f"docker://{srv.host}/alice/mount-src:v1"
    target = f"docker://{srv.host}/alice/mount-dst:copied"
    labeled_id = make_labeled_image(ctenv, "localhost/bb-labeled:latest")
    ctenv.skopeo("copy", "--dest-creds", CREDS, "containers-storage:localhost/bb-labeled:latest", source)

    raw_source = ctenv.raw_manifest(source, creds=CREDS)
    big_layer = max(json.loads(raw_source)["layers"], key=lambda layer: layer["size"])
    assert big_layer["size"] > 500_000

    before = srv.metrics()["slipway_registry_bytes_pushed_total"]
    ctenv.skopeo("copy", "--src-creds", CREDS, "--dest-creds", CREDS, source, target)
    after = srv.metrics()["slipway_registry_bytes_pushed_total"]
    assert after - before < big_layer["size"], (
        f"copying to a second repository pushed {after - before:.0f} bytes: the "
        f"{big_layer['size']}-byte layer was uploaded again instead of mounted")

    raw_target = ctenv.raw_manifest(target, creds=CREDS)
    assert raw_target == raw_source, "the copied manifest differs byte for byte"

    fresh = ctenv_factory()
    fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ref = target.removeprefix("docker://")
    fresh.podman("pull", ref)
    info = json.loads(fresh.podman("image", "inspect", ref).stdout)[0]
    assert info["Id"] == labeled_id
    assert info["Digest"] == sha256_digest(raw_source)
    assert info["Labels"].get("x") == "y"
