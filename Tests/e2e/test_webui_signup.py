"""Self sign-up (issue #17 item 2) in headless Chromium with the confirmation mail read from a
real SMTP server (aiosmtpd) on loopback: /signin's "Create account", the form, the repository
list saying a link was mailed; the registry grants the new account pull but not push until the
link is opened; then push is granted. Refusals (taken name, weak password) show in the form."""

from __future__ import annotations

import base64
import json
import re

import pytest
from helpers import ADMIN_USER, basic, free_port, http_request
from test_notifications import MailCollector, wait_for_mail
from test_webui import Browser, browser  # noqa: F401 (browser is a fixture)


@pytest.fixture
def smtp_sink():
    try:
        import aiosmtpd.controller as aiosmtpd_controller
    except ImportError:
        pytest.fail("aiosmtpd is missing: pip install aiosmtpd (the SMTP server this test sends mail to)", pytrace=False)
    collector = MailCollector()
    port = free_port()
    controller = aiosmtpd_controller.Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


def granted(srv, user, password, repo):
    """The actions the registry's token endpoint grants `user` on `repo` when asked for pull,push."""
    status, _, body = http_request(srv, "GET", f"/v2/auth?service={srv.host}&scope=repository:{repo}:pull,push",
                                   headers={"Authorization": basic(user, password)})
    assert status == 200, body
    token = json.loads(body)["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return sorted(a for entry in claims.get("access", []) if entry["name"] == repo for a in entry["actions"])


def test_sign_up_confirm_by_mail_then_push(server, smtp_sink, browser):
    collector, port = smtp_sink
    srv = server(env={
        "SLIPWAY_AUTH_USER_CREATION": "true",
        "SLIPWAY_AUTH_MAIL_VERIFICATION": "true",
        "SLIPWAY_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "SLIPWAY_NOTIFICATIONS_SMTP_PORT": str(port),
        "SLIPWAY_NOTIFICATIONS_SMTP_FROM": "registry@slipway.test",
    })
    browser.goto(f"{srv.url}/signin")
    browser.click("#create-account")
    browser.wait_for("location.pathname === '/signup' && document.getElementById('signup-form')", message="the sign-up form")
    browser.type("#signup-username", ADMIN_USER)  # taken
    browser.type("#signup-email", "newbie@example.test")
    browser.type("#signup-password", "long-enough-1")
    browser.type("#signup-confirm", "long-enough-1")
    browser.click("#signup-submit")
    browser.wait_for("!document.getElementById('signup-error').hidden", message="the taken-name error")
    assert "already taken" in browser.text("#signup-error")
    browser.type("#signup-username", "newbie")
    browser.type("#signup-password", "short")
    browser.type("#signup-confirm", "short")
    browser.click("#signup-submit")
    browser.wait_for("document.getElementById('signup-error').innerText.includes('password')", message="the password rule")
    browser.type("#signup-password", "long-enough-1")
    browser.type("#signup-confirm", "long-enough-1")
    browser.click("#signup-submit")
    browser.wait_for("location.pathname === '/repository/' && document.getElementById('verify-welcome')", message="the signed-in repository list")
    browser.screenshot("signup-welcome")
    browser.assert_clean()

    # Signed in and able to pull, not to push, until the address is confirmed.
    assert granted(srv, "newbie", "long-enough-1", "newbie/app") == ["pull"]

    _, recipients, mail = wait_for_mail(collector, 1)
    assert recipients == ["newbie@example.test"]
    assert mail["Subject"] == "Confirm your e-mail address for newbie"
    link = re.search(r"(http://\S+/confirm\?code=\S+)", mail.get_content()).group(1)
    browser.goto(link)
    browser.wait_for("document.body.innerText.includes('E-mail address confirmed')", message="the confirmation page")
    assert granted(srv, "newbie", "long-enough-1", "newbie/app") == ["pull", "push"]
    # The link works once.
    status, _, _ = http_request(srv, "GET", link.split(srv.host, 1)[1])
    assert status == 400
