"""Build arguments and secrets (issue #18) through the real build farm: an uploaded context whose
Dockerfile uses an `ARG` and a `RUN --mount=type=secret`, built by the in-process worker with
buildah. The argument reaches the image; the secret is mounted for the step (the image keeps only
its SHA-256, written by the step) and its bytes are nowhere: not in any pushed blob, not in the
build log (the step prints it on purpose: the worker redacts it), not in the build view, not in
the server's log."""

import gzip
import hashlib
import io
import json
import tarfile

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, http_request
from test_builds import tar_gz, upload_context, wait_for_build

SECRET = "tok-9f3a1c77-DO-NOT-LEAK"


def layer_files(blob: bytes) -> dict[str, bytes]:
    """The regular files of a (possibly gzip-compressed) layer tarball."""
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                files[member.name.lstrip("./")] = tar.extractfile(member).read()
    return files


def test_build_args_and_secrets_reach_the_build_and_nothing_else(server, ctenv, tmp_path):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200

    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                  "ARG GREETING=none\n"
                  "RUN echo \"greeting=$GREETING\" > /greeting.txt\n"
                  # Prints the secret into the log on purpose: the worker must redact it.
                  "RUN --mount=type=secret,id=token sha256sum /run/secrets/token > /token.sha && cat /run/secrets/token && echo\n").encode()
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile}))
    repo = f"{ADMIN_USER}/secrets"
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "secrets", "visibility": "private", "description": ""})[0] == 201
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token,
                        {"file_id": file_id, "docker_tags": ["latest"], "build_args": {"GREETING": "hello-args"},
                         "build_secrets": {"token": SECRET}})
    assert status == 201, build
    assert SECRET not in json.dumps(build)
    final = wait_for_build(srv, token, repo, build["id"])
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}/logs", token)
    assert final["phase"] == "complete", (final, json.dumps(logs)[:4000])
    assert final["build_args"] == {"GREETING": "hello-args"} and final["build_secrets"] == ["token"], final

    # The log: the step's output is there, the secret is not.
    log_json = json.dumps(logs)
    assert SECRET not in log_json
    assert any(e["message"] == "[secret]" for e in logs["logs"]), [e["message"] for e in logs["logs"]][-20:]
    status, _, text = http_request(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}/logs/text",
                                   headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and SECRET.encode() not in text and b"[secret]" in text

    # Every pushed blob, decompressed: the argument is in a layer, the secret in none; the step
    # saw the secret (its hash).
    dest = tmp_path / "image"
    ctenv.skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                 f"docker://{srv.host}/{repo}:latest", f"dir:{dest}")
    found = {}
    blobs = [p for p in dest.iterdir() if p.name not in ("version",)]
    assert len(blobs) >= 4, [p.name for p in blobs]
    for path in blobs:
        raw = path.read_bytes()
        assert SECRET.encode() not in raw, path.name
        if raw[:2] == b"\x1f\x8b":
            assert SECRET.encode() not in gzip.decompress(raw), path.name
            found.update(layer_files(raw))
    assert found["greeting.txt"] == b"greeting=hello-args\n", sorted(found)
    assert found["token.sha"].split()[0].decode() == hashlib.sha256(SECRET.encode()).hexdigest()
    assert not any(name.startswith("run/secrets/") for name in found), sorted(found)

    # Nothing the server wrote or answers has it either.
    status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build['id']}", token)
    assert status == 200 and SECRET not in json.dumps(view)
    assert SECRET not in srv.logs()
