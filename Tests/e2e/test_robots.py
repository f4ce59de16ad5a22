"""Robot accounts with real clients: a robot granted read on one repository logs in with podman,
pulls it, cannot push, and cannot pull another private repository."""

import json
import re

import helpers
from helpers import ADMIN_PASSWORD, ADMIN_USER, http_request

DENIED = re.compile(r"unauthorized|authentication required|denied", re.IGNORECASE)


def api(srv, token, method, path, body=None):
    return helpers.api(srv, method, path, token, body)


def test_robot_pulls_only_what_it_was_granted(server, ctenv, ctenv_factory):
    srv = server()
    api_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    assert api_token

    # alice pushes two private repositories.
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    shared = f"{srv.host}/alice/shared:v1"
    secret = f"{srv.host}/alice/secret:v1"
    ctenv.podman("push", "localhost/busybox:latest", shared)
    ctenv.podman("push", "localhost/busybox:latest", secret)

    status, robot = api(srv, api_token, "PUT", "/api/v1/user/robots/ci", {"description": "CI pulls"})
    assert status == 201, robot
    assert robot["name"] == "alice+ci"
    token = robot["token"]
    assert re.fullmatch(r"[A-Z0-9]{64}", token), token

    status, view = api(srv, api_token, "PUT", "/api/v1/repository/alice/shared/permissions/user/alice+ci", {"role": "read"})
    assert status == 200, view
    assert view["is_robot"] is True and view["role"] == "read"

    bot = ctenv_factory(load_busybox=True)
    login = bot.podman("login", "-u", "alice+ci", "-p", token, srv.host)
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr

    bot.podman("pull", shared)
    assert bot.image_id(shared)

    pushed = bot.podman("push", "localhost/busybox:latest", f"{srv.host}/alice/shared:from-robot", check=False)
    assert pushed.returncode != 0
    assert DENIED.search(pushed.stderr), pushed.stderr

    other = bot.podman("pull", secret, check=False)
    assert other.returncode != 0
    assert DENIED.search(other.stderr), other.stderr

    # The robot shows its grant; revoking it stops the pulls.
    status, perms = api(srv, api_token, "GET", "/api/v1/user/robots/ci/permissions")
    assert status == 200
    assert perms == {"permissions": [{"repository": {"name": "shared", "is_public": False}, "role": "read"}]}
    status, _ = api(srv, api_token, "DELETE", "/api/v1/repository/alice/shared/permissions/user/alice+ci")
    assert status == 204
    bot.podman("rmi", "-f", shared)
    revoked = bot.podman("pull", shared, check=False)
    assert revoked.returncode != 0
    assert DENIED.search(revoked.stderr), revoked.stderr

    # A wrong token does not log in.
    wrong = bot.podman("login", "-u", "alice+ci", "-p", "X" * 64, srv.host, check=False)
    assert wrong.returncode != 0


def test_robots_disallow_blocks_creation_and_login(server, ctenv_factory):
    srv = server()
    api_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    status, robot = api(srv, api_token, "PUT", "/api/v1/user/robots/ci")
    assert status == 201, robot
    srv.stop()

    locked = server(env={"SLIPWAY_AUTH_ROBOTS_DISALLOW": "true"}, data_dir=srv.data_dir)
    status, body = api(locked, api_token, "PUT", "/api/v1/user/robots/another")
    assert status == 400
    assert "Robot accounts have been disabled" in body["error_message"]

    bot = ctenv_factory()
    refused = bot.podman("login", "-u", "alice+ci", "-p", robot["token"], locked.host, check=False)
    assert refused.returncode != 0
    assert DENIED.search(refused.stderr) or "invalid username/password" in refused.stderr.lower(), refused.stderr
