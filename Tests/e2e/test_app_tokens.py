"""App-specific tokens with a real client: created through the API, then `podman login -u '$app'`."""

import json

from helpers import ADMIN_USER, api, http_request



def test_app_token_login_push_and_revoke(server, ctenv, ctenv_factory):
    srv = server()
    api_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()

    status, created = api(srv, "POST", "/api/v1/user/apptoken", api_token, {"title": "podman on my laptop"})
    assert status == 200, created
    token = created["token"]
    code, uuid = token["token_code"], token["uuid"]
    assert len(code) == 120
    status, listed = api(srv, "GET", "/api/v1/user/apptoken", api_token)
    assert status == 200 and [t["uuid"] for t in listed["tokens"]] == [uuid]
    assert code not in json.dumps(listed), "the code is shown once only"

    # The code is a registry password for the `$app` user name, and it acts as alice.
    bad = ctenv.login(srv, "$app", code[:-1] + ("A" if code[-1] != "A" else "B"), check=False)
    assert bad.returncode != 0, bad.stdout
    good = ctenv.login(srv, "$app", code)
    assert "Login Succeeded" in good.stdout
    ref = f"{srv.host}/{ADMIN_USER}/apptoken:v1"
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{ref}")
    fresh = ctenv_factory()
    fresh.login(srv, "$app", code)
    fresh.podman("pull", ref)

    # It is also an API bearer token for alice.
    status, me = api(srv, "GET", "/api/v1/user/", code)
    assert status == 200 and me["username"] == ADMIN_USER
    status, seen = api(srv, "GET", f"/api/v1/user/apptoken/{uuid}", api_token)
    assert status == 200 and seen["token"]["last_accessed"], "the use was not recorded"

    # Revoked: the next login fails at once (registry JWTs already issued live out their
    # short lifetime, auth.tokenLifetimeSeconds).
    status, _ = api(srv, "DELETE", f"/api/v1/user/apptoken/{uuid}", api_token)
    assert status == 204
    again = ctenv_factory()
    refused = again.login(srv, "$app", code, check=False)
    assert refused.returncode != 0, refused.stdout
    status, _ = api(srv, "GET", "/api/v1/user/", code)
    assert status == 401
