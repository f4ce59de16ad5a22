"""Keyless robots (issue #17, the guide's "Keyless authentication with robot accounts") against
a real OpenID Connect provider process on loopback: set a robot federation, obtain an ID token
from the provider, exchange it at /oauth2/federation/robot/token, `podman login` with the robot
name and the returned token, push and pull; then every way an exchange must be refused, each in
Quay's error shape, and the short-lived token refused after it expires."""

import json
import re
import time

import helpers
import pytest
from helpers import ADMIN_PASSWORD, ADMIN_USER, basic, http_request
from oidc_provider import OIDCProvider, claims_of, forge

EXCHANGE = "/oauth2/federation/robot/token"
# http:// issuers on loopback are allowed only because the admin allows private targets.
ENV = {"SLIPWAY_SECURITY_ALLOW_PRIVATE_TARGETS": "true"}


@pytest.fixture
def providers(tmp_path):
    started = []

    def start(**kw):
        provider = OIDCProvider(tmp_path / "oidc", name=f"oidc{len(started)}", **kw)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()


def exchange(srv, robot, token):
    status, _, body = http_request(srv, "GET", EXCHANGE, headers={"Authorization": basic(robot, token)})
    return status, json.loads(body) if body else None


def refused(srv, robot, token, why):
    status, body = exchange(srv, robot, token)
    assert status == 401, f"{why}: {status} {body}"
    assert body["error_type"] == "invalid_token" and body["error_message"], f"{why}: not Quay's error shape: {body}"
    assert "token" not in body or body.get("token") is None, why
    return body["error_message"]


def registry_login_status(srv, user, password):
    status, _, _ = http_request(srv, "GET", f"/v2/auth?service={srv.host}", headers={"Authorization": basic(user, password)})
    return status


def wait_for_log_kinds(srv, api_token, org, kinds, timeout=30):
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        status, body = helpers.api(srv, "GET", f"/api/v1/organization/{org}/logs", api_token)
        assert status == 200, body
        seen = {entry["kind"] for entry in body["logs"]}
        if kinds <= seen:
            return body["logs"]
        time.sleep(0.2)
    raise AssertionError(f"usage logs of {org} lack {kinds - seen}")


def test_keyless_robot_push_pull_and_refusals(server, providers, ctenv, ctenv_factory):
    idp = providers()
    other = providers()  # a real issuer the robot does not trust
    srv = server(env=ENV)
    api_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    api = lambda method, path, body=None: helpers.api(srv, method, path, api_token, body)  # noqa: E731

    assert api("POST", "/api/v1/organization/", {"name": "fedtest", "email": "ops@fedtest.test"})[0] == 201
    status, robot = api("PUT", "/api/v1/organization/fedtest/robots/robot1", {"description": "keyless"})
    assert status == 201, robot
    robot_name = robot["name"]
    assert robot_name == "fedtest+robot1"
    status, _ = api("PUT", "/api/v1/organization/fedtest/robots/robot2")
    assert status == 201

    # A robot without federation cannot exchange anything.
    good = idp.id_token("ci-service-account")
    message = refused(srv, robot_name, good, "robot without federation")
    refused(srv, "fedtest+nosuchrobot", good, "robot that does not exist")
    assert refused(srv, "fedtest+nosuchrobot", good, "robot that does not exist") == message  # no existence oracle

    # The guide's dialog: issuer + subject; a second entry needs GitHub Actions-style claims.
    federation = [
        {"issuer": idp.issuer, "subject": "ci-service-account"},
        {"issuer": idp.issuer, "subject": "gha", "audience": "slipway-gha",
         "conditions": {"repository": "acme/app", "ref": "refs/heads/main"}},
    ]
    status, saved = api("POST", "/api/v1/organization/fedtest/robots/robot1/federation", federation)
    assert status == 200, saved
    assert saved == federation
    assert api("GET", "/api/v1/organization/fedtest/robots/robot1/federation") == (200, federation)
    # Bad input: not a URL, empty subject, a condition on a checked claim. Nothing changes.
    for bad in ([{"issuer": "not a url", "subject": "x"}], [{"issuer": idp.issuer, "subject": ""}],
                [{"issuer": idp.issuer, "subject": "x", "conditions": {"sub": "y"}}], {"issuer": idp.issuer}):
        status, body = api("POST", "/api/v1/organization/fedtest/robots/robot1/federation", bad)
        assert status == 400 and body["error_type"] == "invalid_request", (bad, body)
    assert api("GET", "/api/v1/organization/fedtest/robots/robot1/federation") == (200, federation)

    # The exchange: the provider's token for a robot token that lives one hour.
    status, body = exchange(srv, robot_name, good)
    assert status == 200, body
    robot_token = body["token"]
    assert robot_token and robot_token != good

    # The robot may write fedtest/app; podman logs in with the exchanged token, pushes, pulls.
    assert api("POST", "/api/v1/repository", {"namespace": "fedtest", "repository": "app", "visibility": "private",
                                              "description": ""})[0] == 201
    status, view = api("PUT", f"/api/v1/repository/fedtest/app/permissions/user/{robot_name}", {"role": "write"})
    assert status == 200, view
    bot = ctenv_factory(load_busybox=True)
    login = bot.podman("login", "-u", robot_name, "-p", robot_token, srv.host)
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
    image = f"{srv.host}/fedtest/app:keyless"
    bot.podman("push", "localhost/busybox:latest", image)
    bot.podman("rmi", "-f", image, check=False)
    bot.podman("pull", image)
    assert bot.image_id(image)

    # Audience and claim conditions (the GitHub Actions entry).
    idp.set_claims("gha", {"repository": "acme/app", "ref": "refs/heads/main"})
    assert exchange(srv, robot_name, idp.id_token("gha", client_id="slipway-gha"))[0] == 200
    refused(srv, robot_name, idp.id_token("gha", client_id="someone-else"), "wrong audience")
    idp.set_claims("gha", {"repository": "acme/app", "ref": "refs/heads/feature"})
    refused(srv, robot_name, idp.id_token("gha", client_id="slipway-gha"), "claim condition not met")

    # Wrong subject, wrong issuer (a real provider the robot does not trust), forged signature
    # (the provider's claims and key id, another key), a made-up key id, garbage.
    refused(srv, robot_name, idp.id_token("someone-else"), "wrong subject")
    refused(srv, robot_name, other.id_token("ci-service-account"), "wrong issuer")
    forged_claims = dict(claims_of(good), exp=int(time.time()) + 600)
    refused(srv, robot_name, forge(forged_claims, kid=idp.key_id()), "forged signature")
    refused(srv, robot_name, forge(forged_claims, kid="rotated-" + idp.key_id()), "unknown key id")
    refused(srv, robot_name, "not-a-jwt", "malformed token")
    # Another robot of the organization has no federation: the same token does nothing there.
    refused(srv, "fedtest+robot2", good, "other robot")

    # An expired OIDC token: a provider whose tokens live one second, trusted by the robot.
    short = providers(token_max_age=1)
    federation.append({"issuer": short.issuer, "subject": "ci-service-account"})
    assert api("POST", "/api/v1/organization/fedtest/robots/robot1/federation", federation)[0] == 200
    stale = short.id_token("ci-service-account")
    expires = claims_of(stale)["exp"]
    while time.time() <= expires + 6:  # past exp plus Slipway's 5 s clock-skew allowance
        time.sleep(0.5)
    assert "expired" in refused(srv, robot_name, stale, "expired token")
    # Changing the federation revoked the token exchanged under the old one.
    assert registry_login_status(srv, robot_name, robot_token) == 401

    # Deleting the robot: its exchanged tokens stop working and it exchanges nothing more.
    status, body = exchange(srv, robot_name, idp.id_token("ci-service-account"))
    assert status == 200, body
    fresh = body["token"]
    assert registry_login_status(srv, robot_name, fresh) == 200
    assert api("DELETE", "/api/v1/organization/fedtest/robots/robot1")[0] == 204
    assert registry_login_status(srv, robot_name, fresh) == 401
    refused(srv, robot_name, idp.id_token("ci-service-account"), "deleted robot")

    # Usage logs: federation changes, exchanges and refusals; never a token, anywhere.
    logs = wait_for_log_kinds(srv, api_token, "fedtest",
                              {"create_robot_federation", "federated_robot_token_exchange", "login_failure"})
    exchanges = [e for e in logs if e["kind"] == "federated_robot_token_exchange"]
    assert exchanges[0]["metadata"]["issuer"] == idp.issuer
    secrets = [good, robot_token, fresh, stale]
    dump = json.dumps(logs) + srv.logs()
    for secret in secrets:
        assert secret not in dump
        assert secret.split(".")[-1] not in dump


def test_disabled_owner_and_expiry_of_exchanged_tokens(server, providers, ctenv):
    idp = providers()
    # Exchanged tokens live 5 s here (auth.robotFederationTokenSeconds).
    srv = server(env=dict(ENV, SLIPWAY_AUTH_ROBOT_FEDERATION_TOKEN_SECONDS="5"))
    admin_token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    srv.create_user("bob", "bobpass12")
    bob_token = srv.cli("admin", "create-token", "--user", "bob").stdout.strip()
    status, robot = helpers.api(srv, "PUT", "/api/v1/user/robots/ci", bob_token)
    assert status == 201, robot
    federation = [{"issuer": idp.issuer, "subject": "bob-ci"}]
    assert helpers.api(srv, "POST", "/api/v1/user/robots/ci/federation", bob_token, federation) == (200, federation)

    # A token exchanged now is accepted at once and refused once its lifetime has passed.
    status, body = exchange(srv, "bob+ci", idp.id_token("bob-ci"))
    assert status == 200, body
    issued_at = time.time()
    assert registry_login_status(srv, "bob+ci", body["token"]) == 200
    deadline = time.monotonic() + 60
    while registry_login_status(srv, "bob+ci", body["token"]) == 200:
        assert time.monotonic() < deadline, "the exchanged token never expired"
        time.sleep(0.5)
    assert time.time() - issued_at >= 4  # it did live (about) its configured lifetime
    assert registry_login_status(srv, "bob+ci", body["token"]) == 401

    # A disabled owner's robot exchanges nothing.
    status, body = helpers.api(srv, "PUT", "/api/v1/superuser/users/bob", admin_token, {"enabled": False})
    assert status == 200, body
    refused(srv, "bob+ci", idp.id_token("bob-ci"), "disabled owner")

    # DELETE removes the federation (user namespace route).
    assert helpers.api(srv, "PUT", "/api/v1/superuser/users/bob", admin_token, {"enabled": True})[0] == 200
    assert helpers.api(srv, "DELETE", "/api/v1/user/robots/ci/federation", bob_token)[0] == 204
    assert helpers.api(srv, "GET", "/api/v1/user/robots/ci/federation", bob_token) == (200, [])
    refused(srv, "bob+ci", idp.id_token("bob-ci"), "federation deleted")
