"""Quay drop-in, part A, with real clients: `podman search` over Docker's v1 search (podman calls
it without credentials, so it lists public repositories; Basic credentials, as Docker sends
them, add the caller's private ones), and a user
a superuser disabled through `/api/v1/superuser/users/{name}` cannot log in, push or pull with
podman (nor through a robot of theirs) until enabled again."""

from __future__ import annotations

import json

from helpers import ADMIN_USER, api, basic, http_request


def test_podman_search_uses_v1_search(server, ctenv):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    srv.create_user("carol", "carolpassword1")
    ctenv.login(srv, "carol", "carolpassword1")
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/carol/searchable-public:1")
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/carol/searchable-private:1")
    carol_token = srv.cli("admin", "create-token", "--user", "carol").stdout.strip()
    assert api(srv, "POST", "/api/v1/repository/carol/searchable-public/changevisibility", carol_token, {"visibility": "public"})[0] == 200

    status, headers, body = http_request(srv, "GET", "/v1/_ping")
    assert status == 200 and body == b"true"

    # podman sends no credentials to /v1/search (containers/image calls it without auth, even
    # after `podman login`), so it sees what anonymous callers see: the public repository.
    out = ctenv.podman("search", "--format", "{{.Name}}", f"{srv.host}/searchable").stdout
    names = sorted(line.strip() for line in out.splitlines() if line.strip())
    assert names == [f"{srv.host}/carol/searchable-public"], out
    ctenv.podman("logout", srv.host)
    out = ctenv.podman("search", "--format", "{{.Name}}", f"{srv.host}/searchable").stdout
    assert sorted(line.strip() for line in out.splitlines() if line.strip()) == [f"{srv.host}/carol/searchable-public"], out

    # Docker's client sends Basic credentials: then the private repository is found too.
    status, _, body = http_request(srv, "GET", "/v1/search?q=searchable", headers={"Authorization": basic("carol", "carolpassword1")})
    assert status == 200, body
    found = json.loads(body)
    assert sorted(r["name"] for r in found["results"]) == ["carol/searchable-private", "carol/searchable-public"], found
    assert found["num_results"] == 2 and found["query"] == "searchable"
    status, _, body = http_request(srv, "GET", "/v1/search?q=searchable", headers={"Authorization": basic("carol", "wrong")})
    assert status == 401, body
    assert token


def test_disabled_user_cannot_log_in_push_or_pull(server, ctenv):
    srv = server()
    admin = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    status, created = api(srv, "POST", "/api/v1/superuser/users/", admin, {"username": "dave", "email": "dave@example.com"})
    assert status == 200, created
    password = created["password"]
    ctenv.login(srv, "dave", password)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/dave/app:1")
    dave = srv.cli("admin", "create-token", "--user", "dave").stdout.strip()
    status, robot = api(srv, "PUT", "/api/v1/user/robots/ci", dave, {})
    assert status == 201, robot
    assert api(srv, "PUT", "/api/v1/repository/dave/app/permissions/user/dave+ci", dave, {"role": "read"})[0] == 200

    assert api(srv, "PUT", "/api/v1/superuser/users/dave", admin, {"enabled": False})[0] == 200
    # The stored login no longer works for a push or a pull, a fresh login is refused, and the
    # robot and the API token are cut off too.
    assert ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/dave/app:2", check=False).returncode != 0
    assert ctenv.podman("pull", f"docker://{srv.host}/dave/app:1", check=False).returncode != 0
    assert ctenv.login(srv, "dave", password, check=False).returncode != 0
    assert ctenv.login(srv, "dave+ci", robot["token"], check=False).returncode != 0
    assert api(srv, "GET", "/api/v1/user/", dave)[0] == 401

    assert api(srv, "PUT", "/api/v1/superuser/users/dave", admin, {"enabled": True})[0] == 200
    ctenv.login(srv, "dave", password)
    ctenv.podman("pull", f"docker://{srv.host}/dave/app:1")
    ctenv.login(srv, "dave+ci", robot["token"])
    assert api(srv, "GET", "/api/v1/user/", dave)[0] == 200
