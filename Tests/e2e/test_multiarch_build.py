"""Multi-architecture builds (issue #18 item 1) with real buildah, podman, skopeo and qemu-user.

A git push to a trigger whose config lists linux/amd64 and linux/arm64 builds the Dockerfile once
per platform (the arm64 RUN step under qemu-user emulation through binfmt_misc) and pushes one
OCI image index whose children are the two platform manifests. The base image is a multi-arch
index too: the amd64 busybox every e2e test uses, plus an arm64 one made offline from Debian's
busybox-static:arm64 package (downloaded by scripts/install-deps.sh --test). Then:

- `skopeo inspect --raw` shows the index with both children and their platforms;
- `podman pull --arch arm64` gets the arm64 child, whose /arch (written by `RUN uname -m`) says
  aarch64, and the amd64 child's says x86_64: emulation really ran;
- the build's log names each platform, and its provenance/SBOM refer to the index;
- a Dockerfile step that fails only on arm64 fails the build and leaves its tag absent;
- an unknown platform is a 400 in Quay's error body, for a manual build and a trigger.

Skipped (with the reason) only where binfmt_misc has no enabled qemu-aarch64 entry.
"""

import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, OCI_INDEX, api, free_port, run
from test_build_attestations import registry_get
from test_triggers import bare_repo, commit_and_push, create_trigger, hook_answer, stop, wait_for_build, wait_for_port

BUSYBOX_ARM64_CACHE = Path("/var/cache/slipway-test")
QEMU_AARCH64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def require_emulation():
    entry = QEMU_AARCH64.read_text() if QEMU_AARCH64.exists() else ""
    if not entry.startswith("enabled") or "F" not in next((l for l in entry.splitlines() if l.startswith("flags:")), ""):
        pytest.skip("no enabled qemu-aarch64 binfmt_misc entry with the F flag (install qemu-user-static; scripts/install-deps.sh registers it)")


def busybox_arm64_deb() -> Path:
    debs = sorted(BUSYBOX_ARM64_CACHE.glob("busybox-static_*_arm64.deb"))
    if not debs:
        pytest.fail(f"no busybox-static arm64 package in {BUSYBOX_ARM64_CACHE}: run scripts/install-deps.sh --test", pytrace=False)
    return debs[-1]


def arm64_rootfs_tar(tmp_path: Path) -> Path:
    """One layer: /bin/busybox from the arm64 package and the applet links the tests use."""
    extracted = tmp_path / "busybox-arm64"
    run(["dpkg-deb", "-x", busybox_arm64_deb(), extracted])
    binary = extracted / "bin" / "busybox"
    assert b"\x7fELF" == binary.read_bytes()[:4]
    out = tmp_path / "rootfs-arm64.tar"
    with tarfile.open(out, "w") as tar:
        for directory in ("bin", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(binary, arcname="bin/busybox")
        for applet in ("sh", "uname", "cat", "test", "echo", "["):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out


def push_multiarch_base(srv, ctenv, token, tmp_path) -> str:
    """admin/base:latest: an index of the amd64 busybox and the arm64 one made from the package."""
    container = ctenv.buildah("from", "--arch", "arm64", "scratch").stdout.strip().splitlines()[-1]
    ctenv.buildah("add", container, arm64_rootfs_tar(tmp_path), "/")
    ctenv.buildah("config", "--os", "linux", "--arch", "arm64", "--cmd", "/bin/sh", container)
    ctenv.buildah("commit", "-q", container, "localhost/busybox-arm64:latest")
    ctenv.buildah("rm", container)
    ctenv.buildah("manifest", "create", "localhost/base-index:latest")
    ctenv.buildah("manifest", "add", "localhost/base-index:latest", "containers-storage:localhost/busybox:latest")
    ctenv.buildah("manifest", "add", "--arch", "arm64", "localhost/base-index:latest", "containers-storage:localhost/busybox-arm64:latest")
    ref = f"{srv.host}/{ADMIN_USER}/base:latest"
    ctenv.buildah("manifest", "push", "--all", "--format", "oci", "--tls-verify=false", "localhost/base-index:latest", f"docker://{ref}")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/base/changevisibility", token, {"visibility": "public"})[0] == 200
    index = json.loads(ctenv.raw_manifest(f"docker://{ref}"))
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}, index
    return ref


def file_in_image(ctenv, ref: str, arch: str, tmp_path: Path, path: str) -> str:
    """`podman pull --arch` of `ref`, then `path` read from the pulled image's layers."""
    ctenv.podman("pull", "--tls-verify=false", "--arch", arch, ref)
    inspect = json.loads(ctenv.podman("image", "inspect", ref).stdout)[0]
    assert inspect["Architecture"] == arch, inspect["Architecture"]
    saved = tmp_path / f"saved-{arch}"
    ctenv.podman("save", "--format", "oci-dir", "-o", saved, ref)
    index = json.loads((saved / "index.json").read_text())
    manifest = json.loads((saved / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    found = None
    for layer in manifest["layers"]:  # the last layer that has the file wins
        blob = saved / "blobs" / "sha256" / layer["digest"].split(":")[1]
        with tarfile.open(fileobj=io.BytesIO(blob.read_bytes()), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.name.lstrip("./") == path.lstrip("/") and member.isfile():
                    found = tar.extractfile(member).read().decode()
    assert found is not None, f"{path} is not in {ref} ({arch})"
    ctenv.podman("rmi", "-f", ref, check=False)
    return found


def test_a_trigger_builds_amd64_and_arm64_into_one_index(server, ctenv, tmp_path):
    require_emulation()
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    assert re.search(r"worker platforms: native linux/amd64; emulated .*linux/arm64 \(qemu-aarch64\)", srv.logs()), srv.logs()[-3000:]
    base = push_multiarch_base(srv, ctenv, token, tmp_path)

    port = free_port()
    trigger_base, trigger_uuid, creds = create_trigger(srv, token, "multi", {
        "build_source": f"git://127.0.0.1:{port}/repo.git", "dockerfile_path": "/Dockerfile", "context": "/",
        "tag_templates": ["${commit_info.short_sha}"], "platforms": ["linux/amd64", "linux/arm64"],
    })
    status, view = api(srv, "GET", f"{trigger_base}/{trigger_uuid}", token)
    assert status == 200 and view["config"]["platforms"] == ["linux/amd64", "linux/arm64"], view
    bare, tree = bare_repo(tmp_path, creds["Webhook Endpoint URL"])
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                               f"--base-path={bare.parent}", "--export-all", str(bare.parent)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    repo = f"{ADMIN_USER}/multi"
    ref = f"{srv.host}/{repo}"
    try:
        wait_for_port(port, daemon, "git daemon")
        sha, output = commit_and_push(tree, {"Dockerfile": f"FROM {base}\nRUN uname -m > /arch\n"}, "two platforms")
        build_id = re.search(r'"build_id":"([0-9a-f-]+)"', hook_answer(output)).group(1)
        final = wait_for_build(srv, token, repo, build_id, timeout=600)
        status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", token)
        assert final["phase"] == "complete", (final, json.dumps(logs)[-4000:])
        assert final["platforms"] == ["linux/amd64", "linux/arm64"], final
        assert final["platform_phases"] == {"linux/amd64": "complete", "linux/arm64": "complete"}, final
        short = sha[:7]
        index_digest = final["manifest_digests"][short]
        assert final["manifest_digests"]["latest"] == index_digest, final["manifest_digests"]

        # Each platform's lines and phase changes name it.
        messages = [e["message"] for e in logs["logs"]]
        for platform in ("linux/amd64", "linux/arm64"):
            assert any(m.startswith(f"[{platform}] ") for m in messages), messages
            assert any(e.get("type") == "phase" and e["message"] == "building" and (e.get("data") or {}).get("platform") == platform
                       for e in logs["logs"]), logs["logs"]

        # One OCI index, a child per platform, each a manifest with its platform.
        raw = ctenv.raw_manifest(f"docker://{ref}:{short}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == index_digest
        index = json.loads(raw)
        assert index["mediaType"] == OCI_INDEX, index
        children = {f'{m["platform"]["os"]}/{m["platform"]["architecture"]}': m for m in index["manifests"]}
        assert set(children) == {"linux/amd64", "linux/arm64"}, index
        assert all(m["mediaType"] == "application/vnd.oci.image.manifest.v1+json" for m in children.values()), index

        # The arm64 child ran its RUN step under emulation; the amd64 one natively.
        assert file_in_image(ctenv, f"{ref}:{short}", "arm64", tmp_path, "/arch").strip() == "aarch64"
        assert file_in_image(ctenv, f"{ref}:{short}", "amd64", tmp_path, "/arch").strip() == "x86_64"

        # Provenance and SBOM are attached to the index.
        pull = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:pull")
        _, referrers = registry_get(srv, pull, f"/v2/{repo}/referrers/{index_digest}")
        assert {m["artifactType"] for m in json.loads(referrers)["manifests"]} == {"application/vnd.in-toto+json", "application/spdx+json"}

        # A step that fails on arm64 only fails the build, and its tag is never pushed.
        failing = f"FROM {base}\nRUN test \"$(uname -m)\" = x86_64\n"
        sha2, output = commit_and_push(tree, {"Dockerfile": failing}, "x86_64 only")
        build_id = re.search(r'"build_id":"([0-9a-f-]+)"', hook_answer(output)).group(1)
        final = wait_for_build(srv, token, repo, build_id, timeout=600)
        assert final["phase"] == "error", final
        assert final["error"].startswith("[linux/arm64] "), final["error"]
        assert final["platform_phases"] == {"linux/amd64": "building", "linux/arm64": "error"}, final
        assert final["manifest_digests"] == {}, final
        missing = subprocess.run(["skopeo", "inspect", "--raw", f"docker://{ref}:{sha2[:7]}"], env=ctenv.env, capture_output=True, timeout=60)
        assert missing.returncode != 0 and b"manifest unknown" in missing.stderr.lower(), missing.stderr
        status, tags = api(srv, "GET", f"/api/v1/repository/{repo}/tag/?specificTag={sha2[:7]}", token)
        assert status == 200 and tags["tags"] == [], tags
        # The earlier index still holds latest: nothing half-pushed replaced it.
        assert "sha256:" + hashlib.sha256(ctenv.raw_manifest(f"docker://{ref}:latest")).hexdigest() == index_digest
    finally:
        stop(daemon)


def test_an_unknown_platform_is_a_400(server, tmp_path):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "plat", "visibility": "private", "description": ""})[0] == 201
    status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "text/plain"})
    assert status == 200, drop
    for platforms, words in ((["linux/m68k"], "linux/m68k"), (["linux/arm64", "linux/arm64"], "listed twice"), (["linux/arm64"] * 9, "at most 8")):
        status, body = api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/plat/build/", token,
                           {"file_id": drop["file_id"], "platforms": platforms})
        assert status == 400, body
        assert words in body["error_message"] and body["error_type"] == "invalid_request", body
    status, builds = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/plat/build/", token)
    assert status == 200 and builds["builds"] == [], builds  # nothing was queued

    status, _ = api(srv, "POST", "/api/v1/repository", token, {"repository": "plat2", "visibility": "private", "description": ""})
    base = f"/api/v1/repository/{ADMIN_USER}/plat2/trigger"
    status, view = api(srv, "POST", base + "/", token, {"service": "custom-git"})
    assert status == 201, view
    status, body = api(srv, "POST", f"{base}/{view['id']}/activate", token, {"config": {
        "build_source": "https://git.example.com/a/b.git", "platforms": ["windows/amd64"]}})
    assert status == 400 and "windows/amd64" in json.dumps(body), body
