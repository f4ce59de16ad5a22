"""The maintenance banner and the superuser panel in a real headless Chromium.

A superuser posts a hostile Markdown message through the API; every page (signed in or not)
shows it as a banner with the Markdown rendered and nothing of its HTML or `javascript:` link
made live. The superuser panel creates, disables, enables and deletes a user, deletes an
organization, posts and deletes a banner message, and shows the registry status and usage logs;
another user gets "not found" for the panel and 403 from its API.
"""

from __future__ import annotations

import json

from helpers import ADMIN_USER, api
from test_webui import Browser, browser, sign_in  # noqa: F401  (browser is a fixture)

HOSTILE = ("**Maintenance** tonight <img src=x onerror=\"window.__xss=1\"> <script>window.__xss=2</script> "
           "[click me](javascript:window.__xss=3) [docs](https://example.com/docs) [sneaky](JaVaScRiPt:alert(1))")


def banner_state(b: Browser) -> dict:
    return json.loads(b.eval("""JSON.stringify((() => {
        const el = document.querySelector('.banner.message');
        if (!el) return {present: false};
        return {present: true, severity: el.className, strong: el.querySelector('strong')?.textContent || '',
                imgs: el.querySelectorAll('img').length, scripts: el.querySelectorAll('script').length,
                links: [...el.querySelectorAll('a')].map(a => a.getAttribute('href')),
                text: el.textContent, xss: window.__xss === undefined ? null : window.__xss};
    })())"""))


def test_banner_renders_markdown_safely_on_every_page(server, browser):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    status, message = api(srv, "POST", "/api/v1/messages", token,
                          {"message": {"content": HOSTILE, "media_type": "text/markdown", "severity": "warning"}})
    assert status == 201, message
    for path in ("/explore", "/signin", "/repository/", "/repository/nobody/nothing"):
        browser.goto(f"{srv.url}{path}")
        browser.wait_loaded()
        state = banner_state(browser)
        assert state["present"], path
        assert "warning" in state["severity"]
        assert state["strong"] == "Maintenance"
        assert state["imgs"] == 0 and state["scripts"] == 0, state
        assert state["links"] == ["https://example.com/docs"], state
        assert "<img" in state["text"] and "javascript:" in state["text"], state
        assert state["xss"] is None, state
    browser.screenshot("banner")
    browser.assert_clean()
    assert api(srv, "DELETE", f"/api/v1/message/{message['uuid']}", token)[0] == 204
    browser.goto(f"{srv.url}/explore")
    browser.wait_loaded()
    assert not banner_state(browser)["present"]


def test_superuser_panel(server, browser):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    srv.create_user("bob", "bobpassword1")
    bob = srv.cli("admin", "create-token", "--user", "bob").stdout.strip()
    assert api(srv, "POST", "/api/v1/organization/", bob, {"name": "doomed"})[0] == 201
    sign_in(browser, srv, then="/superuser")

    # Users: create, disable, enable, delete.
    browser.type("#new-user-name", "carol")
    browser.type("#new-user-email", "carol@example.com")
    browser.click("#create-user-submit")
    browser.wait_for("!document.getElementById('new-user-password').hidden", message="the new password")
    assert len(browser.text("#new-user-password-value")) >= 12
    assert api(srv, "GET", "/api/v1/superuser/users/carol", token)[1]["enabled"] is True
    browser.goto(f"{srv.url}/superuser?tab=users")
    browser.wait_for("document.querySelector('tr[data-user=\"carol\"] .user-disable')", message="carol's row")
    browser.click("tr[data-user='carol'] .user-disable")
    browser.wait_for("document.querySelector('tr[data-user=\"carol\"] .user-enable')", message="carol disabled")
    assert api(srv, "GET", "/api/v1/superuser/users/carol", token)[1]["enabled"] is False
    browser.click("tr[data-user='carol'] .user-enable")
    browser.wait_for("document.querySelector('tr[data-user=\"carol\"] .user-disable')", message="carol enabled")
    assert api(srv, "GET", "/api/v1/superuser/users/carol", token)[1]["enabled"] is True
    # The signed-in superuser has no buttons on their own row.
    assert not browser.exists(f"tr[data-user='{ADMIN_USER}'] button")
    browser.screenshot("superuser-users")
    browser.click("tr[data-user='carol'] .user-delete")
    browser.wait_for("!document.querySelector('tr[data-user=\"carol\"]')", message="carol deleted")
    assert api(srv, "GET", "/api/v1/superuser/users/carol", token)[0] == 404

    # Organizations: delete.
    browser.goto(f"{srv.url}/superuser?tab=organizations")
    browser.wait_for("document.querySelector('tr[data-org=\"doomed\"]')", message="the organization row")
    browser.click("tr[data-org='doomed'] .org-delete")
    browser.wait_for("!document.querySelector('tr[data-org=\"doomed\"]')", message="the organization deleted")
    assert api(srv, "GET", "/api/v1/organization/doomed", token)[0] == 404

    # Messages: post one (it becomes the banner), then delete it.
    browser.goto(f"{srv.url}/superuser?tab=messages")
    browser.wait_for("document.getElementById('new-message-content')", message="the message form")
    browser.type("#new-message-content", "Upgrade at **noon**")
    browser.set_value("#new-message-severity", "error")
    browser.click("#create-message-submit")
    browser.wait_for("document.querySelector('.banner.message.error strong')?.textContent === 'noon'", message="the banner")
    browser.screenshot("superuser-messages")
    browser.click("#messages-table .message-delete")
    browser.wait_for("!document.querySelector('.banner.message') && document.getElementById('messages-table')", message="no banner")
    assert api(srv, "GET", "/api/v1/messages", token)[1]["messages"] == []

    # Status and usage logs.
    browser.goto(f"{srv.url}/superuser?tab=status")
    browser.wait_for("document.getElementById('registry-status')", message="the status")
    assert "ready" in browser.text("#registry-status")
    browser.goto(f"{srv.url}/superuser?tab=logs")
    browser.wait_for("document.body.innerText.includes('Create user carol')", message="the usage logs")
    browser.assert_clean()

    # Someone else: no panel, no API.
    assert api(srv, "GET", "/api/v1/superuser/users/", bob)[0] == 403
    b2 = Browser()
    try:
        sign_in(b2, srv, user="bob", password="bobpassword1", then="/repository/")
        b2.goto(f"{srv.url}/superuser")
        b2.wait_loaded()
        assert "Not found" in b2.text("main")
        assert not b2.exists("#superuser-link")
    finally:
        b2.close()
