"""schemathesis against a live Slipway, driven by the server's own /api/v1/openapi.json.

Every documented operation gets a bounded number of generated requests (path, query and body
from the schema), each sent as the admin and as a second user, once as generated and once with
path parameters pointing at real objects so handlers get past their 404s. Asserted:
no 5xx, every response matches the documented schema (error bodies included), and the second
user never receives anything of the admin's private repository.

Bounded for CI: SLIPWAY_FUZZ_EXAMPLES examples per operation (default 6)."""

from __future__ import annotations

import collections
import json
import os

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, api

EXAMPLES = int(os.environ.get("SLIPWAY_FUZZ_EXAMPLES", "6"))
# Operations that would remove the admin itself (and so end the run's own credentials).
SKIPPED = {("DELETE", "/api/v1/user/")}
SECRET_DESCRIPTION = "fuzz-secret-description-7f3a"


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        pytest.fail(f"{module} is missing ({error}): run scripts/install-deps.sh --test", pytrace=False)


def test_schemathesis_finds_no_server_error_schema_violation_or_leak(server, tmp_path):
    schemathesis = _require("schemathesis")
    hypothesis = _require("hypothesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.checks import response_schema_conformance

    srv = server()
    srv.create_user("mallory", "mallorypass1")
    admin = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    other = srv.cli("admin", "create-token", "--user", "mallory").stdout.strip()

    # The admin's private repository with a tag: its description and manifest digest are the
    # markers that must never reach mallory.
    digest = _push_private_image(srv)
    status, _ = api(srv, "PUT", "/api/v1/repository/alice/secret", admin, {"description": SECRET_DESCRIPTION})
    assert status == 200
    scratch_digest = _push_image(srv, "alice/scratch")
    for method, path, body in [
        ("POST", "/api/v1/organization/", {"name": "fuzzorg", "email": "fuzz@example.test"}),
        ("PUT", "/api/v1/organization/fuzzorg/team/devs", {"role": "member"}),
        ("PUT", "/api/v1/user/robots/fuzzbot", {"description": "fuzz"}),
        ("PUT", "/api/v1/organization/fuzzorg/robots/orgbot", {"description": "fuzz"}),
    ]:
        status, answer = api(srv, method, path, admin, body)
        assert status in (200, 201), f"{method} {path}: {status} {answer}"
    markers = (SECRET_DESCRIPTION, digest)

    # Real objects for path parameters: mallory aims at the secret repository and the admin's
    # organization, the admin at scratch objects it may damage. Deleting a whole repository or
    # organization aims at one made for that, so the rest of the run still has its targets.
    real = {
        other: {"repository": "alice/secret", "tag": "v1", "orgname": "fuzzorg", "teamname": "devs",
                "username": ADMIN_USER, "robot_shortname": "fuzzbot"},
        admin: {"repository": "alice/scratch", "tag": "v1", "orgname": "fuzzorg", "teamname": "devs",
                "username": "mallory", "robot_shortname": "fuzzbot", "manifestref": scratch_digest,
                "membername": "mallory"},
    }
    doomed = {("DELETE", "/api/v1/repository/{repository}"): {"repository": "alice/doomed"},
              ("DELETE", "/api/v1/organization/{orgname}"): {"orgname": "doomedorg"},
              ("DELETE", "/api/v1/organization/{orgname}/team/{teamname}"): {"teamname": "doomed"}}

    schema = schemathesis.openapi.from_url(f"{srv.url}/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    statuses: collections.Counter = collections.Counter()
    answered: set[str] = set()  # operations that answered a 2xx at least once
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1

        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck),
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        @hypothesis.given(case=operation.as_strategy())
        def exercise(case):
            generated = dict(case.path_parameters or {})
            for token in (other, admin):
                for aimed in (False, True):
                    if aimed and not generated:
                        continue
                    aim = {**real[token], **doomed.get((case.method.upper(), case.path), {})}
                    case.path_parameters = {k: aim.get(k, v) if aimed else v for k, v in generated.items()}
                    response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
                    statuses[response.status_code] += 1
                    if response.status_code < 300:
                        answered.add(f"{case.method} {case.path}")
                    where = f"{case.method} {case.formatted_path} as {'mallory' if token == other else 'admin'}"
                    try:
                        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
                    except (AssertionError, BaseExceptionGroup) as error:  # schemathesis raises a FailureGroup
                        failures.append(f"{where}: {str(error)[:600]}")
                    if token == other:
                        leaked = [m for m in markers if m in response.text]
                        if leaked:
                            failures.append(f"{where}: mallory received the admin's private data {leaked}: {response.text[:300]}")

        exercise()

    assert operations > 50
    print(f"fuzzed {operations} operations: statuses {sorted(statuses.items())}, {len(answered)} answered 2xx")
    # The aimed requests reach real handlers: a run where nearly everything is a 404 proves nothing.
    assert len(answered) > operations // 3, f"only {sorted(answered)} answered 2xx"
    assert not failures, f"{len(failures)} findings:\n" + "\n\n".join(dict.fromkeys(failures))
    # The admin still exists and still owns the secret repository.
    status, body = api(srv, "GET", "/api/v1/repository/alice/secret", admin)
    assert status == 200 and body["description"] == SECRET_DESCRIPTION


def _push_private_image(srv) -> str:
    """alice/secret:v1 (private: the namespace default)."""
    digest = _push_image(srv, "alice/secret")
    from helpers import http_request

    status, _, body = http_request(srv, "GET", "/api/v1/repository/alice/secret",
                                   headers={"Authorization": f"Bearer {srv.cli('admin', 'create-token', '--user', ADMIN_USER).stdout.strip()}"})
    assert status == 200 and json.loads(body)["is_public"] is False, body
    return digest


def _push_image(srv, repository: str) -> str:
    """`repository`:v1, an OCI image pushed over /v2; returns its manifest digest."""
    from helpers import OCI_MANIFEST, http_request, sha256_digest

    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repository}:pull,push")
    auth = {"Authorization": f"Bearer {token}"}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer of {repository}".encode()
    for blob in (config, layer):
        status, _, body = http_request(srv, "POST", f"/v2/{repository}/blobs/uploads/?digest={sha256_digest(blob)}",
                                       headers=auth, body=blob)
        assert status == 201, body
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256_digest(layer), "size": len(layer)}],
    }).encode()
    status, _, body = http_request(srv, "PUT", f"/v2/{repository}/manifests/v1", headers={**auth, "Content-Type": OCI_MANIFEST},
                                   body=manifest)
    assert status == 201, body
    return sha256_digest(manifest)
