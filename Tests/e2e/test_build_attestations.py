"""Build provenance and SBOM as OCI referrers (issue #18 item 4), through a real build: after the
in-process worker pushes the image, the image has two referrers: an SPDX 2.3 SBOM and a SLSA v1
provenance statement in a DSSE envelope signed with the instance's attestation key. The test
finds them the way `oras discover` does (the referrers API), checks the statement against the
build (subject digest, source digest, Dockerfile digest, base image digest, build arguments, no
secret), and verifies the signature twice: with Python's cryptography and with `openssl dgst`."""

import base64
import hashlib
import json
import subprocess

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, http_request
from test_builds import tar_gz, upload_context, wait_for_build

SECRET = "provenance-must-not-hold-this-7q"


def registry_get(srv, token, path, accept=None):
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept"] = accept
    status, response_headers, body = http_request(srv, "GET", path, headers=headers)
    assert status == 200, (path, status, body[:300])
    return response_headers, body


def pae(payload_type: str, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d " % (len(payload_type.encode()), payload_type.encode(), len(payload)) + payload


def test_built_image_has_signed_provenance_and_an_sbom_as_referrers(server, ctenv, tmp_path):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "attested", "visibility": "private", "description": ""})[0] == 201

    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nARG FLAVOR\n"
                  "RUN --mount=type=secret,id=token echo \"$FLAVOR\" > /flavor\n").encode()
    context = tar_gz({"Dockerfile": dockerfile})
    file_id = upload_context(srv, token, context)
    repo = f"{ADMIN_USER}/attested"
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token,
                        {"file_id": file_id, "build_args": {"FLAVOR": "mint"}, "build_secrets": {"token": SECRET}})
    assert status == 201, build
    final = wait_for_build(srv, token, repo, build["id"])
    assert final["phase"] == "complete", final
    image_digest = final["manifest_digests"]["latest"]

    pull = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:pull")
    _, index_body = registry_get(srv, pull, f"/v2/{repo}/referrers/{image_digest}")
    index = json.loads(index_body)
    by_type = {m["artifactType"]: m for m in index["manifests"]}
    assert set(by_type) == {"application/vnd.in-toto+json", "application/spdx+json"}, index

    def artifact(artifact_type):
        _, manifest_body = registry_get(srv, pull, f"/v2/{repo}/manifests/{by_type[artifact_type]['digest']}",
                                        accept="application/vnd.oci.image.manifest.v1+json")
        manifest = json.loads(manifest_body)
        assert manifest["subject"]["digest"] == image_digest and manifest["artifactType"] == artifact_type
        _, blob = registry_get(srv, pull, f"/v2/{repo}/blobs/{manifest['layers'][0]['digest']}")
        assert hashlib.sha256(blob).hexdigest() == manifest["layers"][0]["digest"].split(":")[1]
        return manifest, blob

    # The provenance: a DSSE envelope around an in-toto statement about this image.
    manifest, blob = artifact("application/vnd.in-toto+json")
    assert manifest["layers"][0]["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert manifest["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v1"
    envelope = json.loads(blob)
    assert SECRET not in blob.decode() and SECRET not in base64.b64decode(envelope["payload"]).decode()
    payload = base64.b64decode(envelope["payload"])
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"sha256": image_digest.split(":")[1]}
    assert statement["subject"][0]["name"].endswith(f"/{repo}")
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["buildArgs"] == {"FLAVOR": "mint"}
    assert definition["externalParameters"]["source"] == {"kind": "upload", "fileID": file_id}
    dependencies = definition["resolvedDependencies"]
    assert {"name": "build context", "digest": {"sha256": hashlib.sha256(context).hexdigest()}} in dependencies
    assert {"name": "Dockerfile", "uri": "Dockerfile", "digest": {"sha256": hashlib.sha256(dockerfile).hexdigest()}} in dependencies
    _, base_manifest = registry_get(srv, srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{ADMIN_USER}/busybox:pull"),
                                    f"/v2/{ADMIN_USER}/busybox/manifests/latest",
                                    accept="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
    base = next(d for d in dependencies if d.get("name") == "base image")
    assert base["digest"] == {"sha256": hashlib.sha256(base_manifest).hexdigest()}, (base, "the base image's digest")
    run = statement["predicate"]["runDetails"]
    assert run["metadata"]["invocationId"] == build["id"] and run["builder"]["id"].endswith("/buildworker/" + run["builder"]["id"].split("/")[-1])

    # The signature, with the published key: Python's cryptography, then openssl.
    status, _, pem = http_request(srv, "GET", "/.well-known/slipway/attestation-key.pem")
    assert status == 200 and pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(pem)
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    message = pae(envelope["payloadType"], payload)
    key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert envelope["signatures"][0]["keyid"] == hashlib.sha256(der).hexdigest()
    (tmp_path / "key.pem").write_bytes(pem)
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "pae.bin").write_bytes(message)
    verified = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "key.pem"), "-signature", str(tmp_path / "sig.der"),
                               str(tmp_path / "pae.bin")], capture_output=True, text=True)
    assert verified.returncode == 0 and "Verified OK" in verified.stdout, verified
    tampered = message.replace(b"mint", b"mine")
    try:
        key.verify(signature, tampered, ec.ECDSA(hashes.SHA256()))
        raise AssertionError("a changed statement still verified")
    except Exception as error:  # cryptography raises InvalidSignature
        assert type(error).__name__ == "InvalidSignature"

    # The SBOM: SPDX 2.3 describing the image, descended from its base.
    _, sbom_blob = artifact("application/spdx+json")
    sbom = json.loads(sbom_blob)
    assert sbom["spdxVersion"] == "SPDX-2.3" and sbom["dataLicense"] == "CC0-1.0"
    image = next(p for p in sbom["packages"] if p["SPDXID"] == "SPDXRef-Image")
    assert image["versionInfo"] == image_digest
    assert {"spdxElementId": "SPDXRef-Image", "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": "SPDXRef-BaseImage"} in sbom["relationships"]
