"""Single sign-on for the web UI (issue #17 item 1) against a real OpenID Connect provider
process on loopback (PyPI `oidc-provider-mock`, see oidc_provider.py), in headless Chromium:

- first sign-in: "Sign in with mock" on /signin, the provider's form (the test types the `sub`),
  back at Slipway the username confirmation page with the generated name, then the repository
  list with the offer of an app token; sign out; the second sign-in goes straight in;
- the usage logs hold the SSO sign-ins and the account link;
- refusals over plain HTTP: a state that is not this browser's, a replayed callback, an ID token
  minted for another sign-in (wrong nonce), password sign-in with `auth.internalLogin: false`.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse

import helpers
import pytest
from helpers import ADMIN_PASSWORD, ADMIN_USER, http_request
from oidc_provider import OIDCProvider
from test_webui import Browser, browser  # noqa: F401 (browser is a fixture)

PROVIDER = "mock"


@pytest.fixture
def idp(tmp_path):
    provider = OIDCProvider(tmp_path / "oidc", name="sso-idp")
    yield provider
    provider.stop()


def sso_server(server, tmp_path, idp, *, internal_login=True):
    config = tmp_path / "sso.yaml"
    config.write_text(
        "security:\n  allowPrivateTargets: true\n"  # the provider is on loopback
        f"auth:\n  internalLogin: {'true' if internal_login else 'false'}\n"
        f"  oidc:\n    - name: {PROVIDER}\n      issuer: {idp.discovery['issuer']}\n"
        "      clientID: slipway-web\n      clientSecret: web-secret\n")
    return server(config=config)


def provider_sign_in(browser: Browser, idp: OIDCProvider, subject: str):
    """At the provider's authorization form: type the subject and authorize."""
    browser.wait_for(f"location.href.startsWith({json.dumps(idp.issuer + '/oauth2/authorize')}) && document.querySelector('input[name=sub]')",
                     message="the provider's authorization form")
    browser.type("input[name=sub]", subject)
    browser.click("form[method=post] button[type=submit]:not([name])")


def user_logs(srv, user):
    token = srv.cli("admin", "create-token", "--user", user).stdout.strip()
    deadline = time.monotonic() + 30
    while True:
        status, body = helpers.api(srv, "GET", "/api/v1/user/logs", token)
        assert status == 200, body
        kinds = [(e["kind"], e.get("metadata", {})) for e in body["logs"]]
        if sum(1 for k, m in kinds if k == "login_success" and m.get("type") == "oidc") >= 2 or time.monotonic() > deadline:
            return kinds
        time.sleep(0.2)


def test_first_sign_in_confirms_username_then_second_goes_straight_in(server, tmp_path, idp, browser):
    srv = sso_server(server, tmp_path, idp)
    idp.set_claims("bea-1234", {"preferred_username": "Bea.Lopez", "email": "bea@example.com"})

    browser.goto(f"{srv.url}/repository/")
    browser.wait_for("location.pathname === '/signin'", message="the sign-in page")
    assert browser.text(f"#sso-{PROVIDER}") == f"Sign in with {PROVIDER}"
    browser.screenshot("sso-signin")
    browser.click(f"#sso-{PROVIDER}")
    provider_sign_in(browser, idp, "bea-1234")

    # First sign-in: confirm (here: change) the generated username.
    browser.wait_for("location.pathname === '/signin/confirm-username' && document.getElementById('confirm-username')",
                     message="the username confirmation")
    assert browser.eval("document.getElementById('confirm-username').value") == "bea.lopez"
    browser.screenshot("sso-confirm-username")
    browser.type("#confirm-username", ADMIN_USER)  # taken: the form says so and keeps the sign-up
    browser.click("#confirm-username-submit")
    browser.wait_for("document.getElementById('confirm-username-error')", message="the taken-name error")
    assert "is taken" in browser.text("#confirm-username-error")
    browser.type("#confirm-username", "bea")
    browser.click("#confirm-username-submit")

    # The repository list, offering an app token for registry logins.
    browser.wait_for("location.pathname === '/repository/' && document.getElementById('sso-welcome')", message="the repository list")
    assert "bea" in browser.eval("document.getElementById('user-menu').textContent")
    browser.screenshot("sso-welcome")
    browser.click("#sso-create-token")
    browser.wait_for("location.pathname === '/user/bea' && document.getElementById('create-token-open')", message="the app tokens tab")
    browser.assert_clean()

    # Sign out, sign in again: straight in, no confirmation.
    browser.click("#user-menu")
    browser.click("#signout")
    browser.wait_for("location.pathname === '/signin' && !document.getElementById('user-menu')", message="signed out")
    browser.goto(f"{srv.url}/repository/")
    browser.wait_for("location.pathname === '/signin' && document.readyState === 'complete'", message="the sign-in page again")
    browser.click(f"#sso-{PROVIDER}")
    provider_sign_in(browser, idp, "bea-1234")
    browser.wait_for("location.pathname === '/repository/' && document.getElementById('user-menu')", message="the second sign-in")
    assert not browser.exists("#sso-welcome")
    browser.assert_clean()

    kinds = user_logs(srv, "bea")
    assert ("user_create" in [k for k, _ in kinds]) and ("attach_external_login" in [k for k, _ in kinds]), kinds
    sso = [m for k, m in kinds if k == "login_success" and m.get("type") == "oidc"]
    assert len(sso) == 2 and all(m.get("service") == PROVIDER for m in sso), kinds
    # The client secret never reaches the server log.
    assert "web-secret" not in srv.logs()


# ---- refusals over plain HTTP -------------------------------------------------------------


def start(srv):
    status, headers, body = http_request(srv, "GET", f"/signin/oidc/{PROVIDER}")
    assert status == 303, body
    location = headers["location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
    cookie = headers["set-cookie"].split(";")[0]
    assert cookie == f"slipway_oidc_state={query['state']}"
    return location, query, cookie


def authorize(idp: OIDCProvider, query: dict, subject: str, **override) -> str:
    """Posts the provider's consent form for `subject` (as the browser would) and returns the
    callback URL (path and query) it redirects to."""
    params = {k: query[k] for k in ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                                     "code_challenge", "code_challenge_method")}
    params.update(override)
    conn = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    try:
        conn.request("POST", "/oauth2/authorize?" + urllib.parse.urlencode(params), body=urllib.parse.urlencode({"sub": subject}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        assert response.status == 302, response.status
        target = urllib.parse.urlparse(response.getheader("Location"))
        return f"{target.path}?{target.query}"
    finally:
        conn.close()


def callback(srv, path, cookie):
    status, headers, body = http_request(srv, "GET", path, headers={"Cookie": cookie} if cookie else {})
    return status, headers, body.decode(errors="replace")


def test_refusals_state_mismatch_replay_and_wrong_nonce(server, tmp_path, idp):
    srv = sso_server(server, tmp_path, idp, internal_login=False)

    # The happy path over HTTP, then the same callback again: the state was spent.
    _, query, cookie = start(srv)
    back = authorize(idp, query, "carl-1")
    status, headers, _ = callback(srv, back, cookie)
    assert status == 303 and headers["location"] == "/signin/confirm-username", (status, headers)
    status, _, body = callback(srv, back, cookie)
    assert status == 400 and "already used" in body, (status, body)

    # A callback whose state is not this browser's (someone else's link, login CSRF).
    _, query, cookie = start(srv)
    back = authorize(idp, query, "carl-1")
    status, _, body = callback(srv, back, "slipway_oidc_state=not-mine")
    assert status == 400 and "state mismatch" in body, (status, body)
    status, _, body = callback(srv, back, None)
    assert status == 400, (status, body)

    # An ID token minted for another sign-in: the provider puts the nonce it was given.
    _, query, cookie = start(srv)
    back = authorize(idp, query, "carl-1", nonce="a-nonce-slipway-never-sent")
    status, _, body = callback(srv, back, cookie)
    assert status == 403 and "nonce" in body, (status, body)

    # None of it signed anybody in or created a user; refusals are usage-log entries.
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    status, body = helpers.api(srv, "GET", "/api/v1/superuser/users/", token)
    assert status == 200 and [u["username"] for u in body["users"]] == [ADMIN_USER], body

    # auth.internalLogin: false: the password form is folded away and refused for non-superusers;
    # the superuser keeps it.
    status, _, page = http_request(srv, "GET", "/signin")
    assert status == 200 and b'id="superuser-signin"' in page and b"Sign in with mock" in page
    status, pat = helpers.api(srv, "POST", "/api/v1/superuser/users/", token, {"username": "pat", "email": "pat@example.com"})
    assert status == 200, pat
    status, _, body = http_request(srv, "POST", "/api/v1/signin", headers={"Content-Type": "application/json"},
                                   body=json.dumps({"username": "pat", "password": pat["password"]}).encode())
    assert status == 403 and b"Password sign-in is disabled" in body, body
    status, _, body = http_request(srv, "POST", "/api/v1/signin", headers={"Content-Type": "application/json"},
                                   body=json.dumps({"username": ADMIN_USER, "password": ADMIN_PASSWORD}).encode())
    assert status == 200, body
