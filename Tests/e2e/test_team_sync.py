"""Team sync by an OIDC group claim and identity notices (issue #17 items 1 and 4), against a
real OpenID Connect provider process on loopback (oidc-provider-mock, see oidc_provider.py) and
a real SMTP server (aiosmtpd):

- the org admin binds team `devs` of `acme` to the group `devs` in headless Chromium (the
  "Enable Directory Synchronization" control of the team's members dialog, then its notice);
- a person signs in through the provider with groups [devs]: after the username confirmation
  they are a member; the new sign-in method is in their notifications (the bell's API) and in
  a mail read from the SMTP sink;
- they sign in again without the group: removed; adding them by hand to the synced team is a
  400 in Quay's shape; the organization's usage logs name the group that decided.
"""

from __future__ import annotations

import http.client
import time

import helpers
import pytest
from helpers import ADMIN_USER, http_request
from oidc_provider import OIDCProvider
from test_webui import Browser, browser, sign_in  # noqa: F401 (browser is a fixture)
from test_webui_signup import smtp_sink  # noqa: F401 (a fixture)
from test_notifications import wait_for_mail
from test_webui_sso import PROVIDER, authorize, start


@pytest.fixture
def idp(tmp_path):
    provider = OIDCProvider(tmp_path / "oidc", name="teamsync-idp")
    yield provider
    provider.stop()


def sync_server(server, tmp_path, idp, smtp_port):
    config = tmp_path / "teamsync.yaml"
    config.write_text(
        "security:\n  allowPrivateTargets: true\n"  # the provider is on loopback
        f"auth:\n  oidc:\n    - name: {PROVIDER}\n      issuer: {idp.discovery['issuer']}\n"
        "      clientID: slipway-web\n      clientSecret: web-secret\n      groupsClaim: groups\n")
    return server(config=config, env={
        "SLIPWAY_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "SLIPWAY_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "SLIPWAY_NOTIFICATIONS_SMTP_FROM": "registry@slipway.test",
    })


def provider_sign_in(srv, idp, subject):
    """One sign-in over HTTP as a browser makes it: start, the provider's consent as `subject`,
    the callback. Returns the callback's redirect target and the cookies it set (by name)."""
    _, query, cookie = start(srv)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("GET", authorize(idp, query, subject), headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 303, (response.status, body)
        cookies = dict(v.split(";")[0].split("=", 1) for k, v in response.getheaders() if k.lower() == "set-cookie")
        return response.getheader("Location"), cookies
    finally:
        conn.close()


def team_members(srv, token):
    status, body = helpers.api(srv, "GET", "/api/v1/organization/acme/team/devs/members", token)
    assert status == 200, body
    return body


def test_team_follows_the_group_claim_and_identity_notices(server, tmp_path, idp, smtp_sink, browser):
    collector, smtp_port = smtp_sink
    srv = sync_server(server, tmp_path, idp, smtp_port)
    admin = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    assert helpers.api(srv, "POST", "/api/v1/organization/", admin, {"name": "acme"})[0] == 201
    assert helpers.api(srv, "PUT", "/api/v1/organization/acme/team/devs", admin, {"role": "member"})[0] == 200

    # The org admin binds the team in the UI: the members dialog's directory synchronization.
    sign_in(browser, srv, then="/organization/acme?tab=teams")
    browser.click("tr[data-team='devs'] details.kebab summary")
    browser.click("tr[data-team='devs'] .team-members")
    browser.wait_for("document.getElementById('team-members-dialog').open && !document.getElementById('team-sync-enable').hidden",
                     message="the directory synchronization control")
    browser.type("#team-sync-group", "devs")
    browser.click("#team-sync-enable-button")
    browser.wait_for("!document.getElementById('team-sync-notice').hidden", message="the synced notice")
    assert "read-only" in browser.text("#team-sync-notice") and "Group: devs at mock" in browser.text("#team-sync-notice")
    browser.screenshot("team-sync-enabled")
    browser.assert_clean()
    synced = team_members(srv, admin)["synced"]
    assert synced["service"] == "oidc" and synced["config"] == {"group_name": "devs"} and synced["last_updated"] is None, synced

    # First sign-in, in the group: a member once the username is confirmed.
    idp.set_claims("dana-1", {"preferred_username": "dana", "email": "dana@example.com", "groups": ["devs", "ops"]})
    location, cookies = provider_sign_in(srv, idp, "dana-1")
    assert location == "/signin/confirm-username", location
    signup = f"slipway_oidc_signup={cookies['slipway_oidc_signup']}"
    status, headers, body = http_request(srv, "POST", "/signin/confirm-username", body=b"username=dana",
                                         headers={"Cookie": signup, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, body
    assert [m["name"] for m in team_members(srv, admin)["members"]] == ["dana"]

    # The new sign-in method: in dana's notifications and in a mail to her address.
    dana = srv.cli("admin", "create-token", "--user", "dana").stdout.strip()
    status, body = helpers.api(srv, "GET", "/api/v1/user/notifications", dana)
    assert status == 200 and [n["kind"] for n in body["notifications"]] == ["external_login_linked"], body
    assert body["notifications"][0]["metadata"]["service"] == PROVIDER
    _, recipients, mail = wait_for_mail(collector, 1)
    assert recipients == ["dana@example.com"] and mail["Subject"] == "A sign-in method was linked to your account dana"
    assert "Sign-in through mock" in mail.get_content()

    # Her only way in cannot be unlinked (Quay's detachexternal, refused: she has no password).
    status, body = helpers.api(srv, "POST", f"/api/v1/detachexternal/{PROVIDER}", dana)
    assert status == 400 and "only way to sign in" in body["error_message"], body

    # Signed in again, no longer in the group: removed.
    idp.set_claims("dana-1", {"preferred_username": "dana", "email": "dana@example.com", "groups": ["ops"]})
    location, cookies = provider_sign_in(srv, idp, "dana-1")
    assert location == "/repository/" and cookies.get("slipway_session"), (location, cookies)
    assert team_members(srv, admin)["members"] == []

    # A synced team's users are not edited by hand (Quay's 400).
    status, body = helpers.api(srv, "PUT", "/api/v1/organization/acme/team/devs/members/dana", admin)
    assert status == 400 and body["error_message"] == "Cannot call this method on an auth-synced team", body

    # The organization's usage logs: the binding, and each change with the group that decided.
    deadline = time.monotonic() + 30
    while True:
        status, body = helpers.api(srv, "GET", "/api/v1/organization/acme/logs", admin)
        assert status == 200, body
        logs = [(e["kind"], e.get("metadata", {})) for e in body["logs"]]
        if any(k == "org_remove_team_member" for k, _ in logs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    enabled = [m for k, m in logs if k == "org_enable_team_sync"]
    assert enabled and enabled[0]["group_name"] == "devs" and enabled[0]["service"] == PROVIDER, logs
    added = [m for k, m in logs if k == "org_add_team_member"]
    removed = [m for k, m in logs if k == "org_remove_team_member"]
    assert added and added[0]["synced_group"] == "devs" and added[0]["member"] == "dana", logs
    assert removed and removed[0]["synced_group"] == "devs", logs
    # Only one notice and one mail: later sign-ins are not new sign-in methods.
    status, body = helpers.api(srv, "GET", "/api/v1/user/notifications", dana)
    assert len(body["notifications"]) == 1, body
    assert len(collector.messages) == 1
    assert "web-secret" not in srv.logs()
