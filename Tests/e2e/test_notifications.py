"""Repository notifications against real receivers: a push with podman and a real build reach an
HTTPS webhook receiver that requires Slipway's client certificate (HMAC-signed bodies, events in
order, the guide's fields); e-mail goes through aiosmtpd with STARTTLS and AUTH PLAIN after the
address is confirmed; a delivery pending when the server stops is sent by the next process."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, free_port, http_request
from test_builds import upload_context, tar_gz, wait_for_build


# ---------------------------------------------------------------------------
# Receivers
# ---------------------------------------------------------------------------


class WebhookReceiver:
    """Records every POST; answers with scripted statuses, then 200. With `tls`, HTTPS that
    requires a client certificate signed by the test CA."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer = None
                if tls is not None:
                    cert = self.connection.getpeercert()
                    peer = dict(x[0] for x in cert["subject"])["commonName"] if cert else None
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "json": json.loads(body or b"null"), "peer": peer})
                    status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def events(self, kind: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["headers"].get("x-slipway-event") == kind]

    def wait_for(self, predicate, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.requests):
                    return
            time.sleep(0.1)
        with self.lock:
            seen = [(r["headers"].get("x-slipway-event"), r["json"]) for r in self.requests]
        raise AssertionError(f"webhook receiver: {what} did not happen within {timeout}s; received {seen}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pki(tmp_path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path / "pki"
    d.mkdir()

    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Slipway Test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        ossl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=slipway-{name}")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return {n: d / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def server_tls(pki, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server.crt"], pki["server.key"])
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca.crt"])
    return ctx


def signature_ok(request: dict, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"].get("x-slipway-signature-256", ""), expected)


def create_notification(srv, token, repo, event, method, config, event_config=None):
    status, view = api(srv, "POST", f"/api/v1/repository/{repo}/notification/", token,
                       {"event": event, "method": method, "config": config, "eventConfig": event_config or {}})
    assert status == 201, view
    return view


def create_repo(srv, token, name):
    status, body = api(srv, "POST", "/api/v1/repository", token, {"repository": name, "visibility": "private", "description": ""})
    assert status == 201, body


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_push_and_build_events_reach_an_https_webhook(server, ctenv, pki):
    receiver = WebhookReceiver(tls=server_tls(pki, require_client_cert=True))
    try:
        srv = server(env={
            "SLIPWAY_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true",
            "SLIPWAY_NOTIFICATIONS_TRUST_ROOTS_PATH": str(pki["ca.crt"]),
            "SLIPWAY_NOTIFICATIONS_CLIENT_CERTIFICATE_PATH": str(pki["client.crt"]),
            "SLIPWAY_NOTIFICATIONS_CLIENT_KEY_PATH": str(pki["client.key"]),
        })
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
        assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
        repo = f"{ADMIN_USER}/notified"
        create_repo(srv, token, "notified")
        view = create_notification(srv, token, repo, "repo_push", "webhook", {"url": receiver.url, "secret": "hook-secret"})
        assert view["has_secret"] is True and "secret" not in view["config"]
        for event in ("build_queued", "build_start", "build_success"):
            create_notification(srv, token, repo, event, "webhook", {"url": receiver.url})

        # podman push → exactly one repo_push, signed, with the pushed tag, over mutual TLS.
        ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{repo}:v1")
        receiver.wait_for(lambda rs: any(r["headers"].get("x-slipway-event") == "repo_push" for r in rs), "repo_push")
        time.sleep(2)  # long enough for a duplicate to show up
        pushes = receiver.events("repo_push")
        assert len(pushes) == 1, [p["json"] for p in pushes]
        push = pushes[0]
        assert push["peer"] == "slipway-client", "the call did not present Slipway's client certificate"
        assert signature_ok(push, "hook-secret")
        assert push["json"]["updated_tags"] == ["v1"]
        assert push["json"]["repository"] == repo
        assert push["json"]["namespace"] == ADMIN_USER and push["json"]["name"] == "notified"
        assert push["json"]["docker_url"] == f"{srv.host}/{repo}"
        assert push["json"]["homepage"] == f"{srv.url}/repository/{repo}"

        # A real build → build_queued, build_start, build_success in that order, then its push.
        dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo notified > /n.txt\n".encode()
        file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile}))
        status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id, "docker_tags": ["v2"]})
        assert status == 201, build
        final = wait_for_build(srv, token, repo, build["id"])
        assert final["phase"] == "complete", final
        receiver.wait_for(lambda rs: any(r["headers"].get("x-slipway-event") == "build_success" for r in rs), "build_success")
        receiver.wait_for(lambda rs: sum(r["headers"].get("x-slipway-event") == "repo_push" for r in rs) == 2, "the build's repo_push")
        with receiver.lock:
            order = [r["headers"]["x-slipway-event"] for r in receiver.requests if r["headers"]["x-slipway-event"].startswith("build_")]
        assert order == ["build_queued", "build_start", "build_success"], order
        for kind in ("build_queued", "build_start", "build_success"):
            [event] = receiver.events(kind)
            body = event["json"]
            assert event["peer"] == "slipway-client"
            assert body["build_id"] == build["id"], body
            assert body["docker_tags"] == ["v2"], body
            assert body["repository"] == repo and body["namespace"] == ADMIN_USER and body["name"] == "notified"
            assert body["homepage"].endswith(f"/repository/{repo}/build/{build['id']}"), body
            assert "x-slipway-signature-256" not in event["headers"], "unsigned without a secret"
        assert receiver.events("build_queued")[0]["json"]["is_manual"] is True
        assert receiver.events("build_success")[0]["json"]["manifest_digests"], "build_success lists the pushed manifests"
        assert receiver.events("repo_push")[1]["json"]["updated_tags"] == ["v2"]

        status, listed = api(srv, "GET", f"/api/v1/repository/{repo}/notification/", token)
        assert status == 200 and all(n["number_of_failures"] == 0 for n in listed["notifications"]), listed
    finally:
        receiver.close()


class MailCollector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


def wait_for_mail(collector, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(collector.messages) >= count:
            return collector.messages[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} mails, got {[m[2]['Subject'] for m in collector.messages]}")


def test_email_after_confirming_the_address(server, ctenv, pki):
    try:
        import aiosmtpd.controller as aiosmtpd_controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError:
        pytest.fail("aiosmtpd is missing: pip install aiosmtpd (the SMTP server this test sends mail to)", pytrace=False)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"slipway" and auth_data.password == b"mail-pass"
        return AuthResult(success=ok)

    collector = MailCollector()
    port = free_port()
    controller = aiosmtpd_controller.Controller(
        collector, hostname="127.0.0.1", port=port, tls_context=server_tls(pki, require_client_cert=False),
        require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        srv = server(env={
            "SLIPWAY_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "SLIPWAY_NOTIFICATIONS_SMTP_PORT": str(port),
            "SLIPWAY_NOTIFICATIONS_SMTP_FROM": "registry@slipway.test",
            "SLIPWAY_NOTIFICATIONS_SMTP_USERNAME": "slipway",
            "SLIPWAY_NOTIFICATIONS_SMTP_PASSWORD": "mail-pass",
            "SLIPWAY_NOTIFICATIONS_SMTP_SECURITY": "starttls",
            "SLIPWAY_NOTIFICATIONS_TRUST_ROOTS_PATH": str(pki["ca.crt"]),
        })
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        repo = f"{ADMIN_USER}/mailed"
        create_repo(srv, token, "mailed")
        view = create_notification(srv, token, repo, "repo_push", "email", {"email": "ops@example.test"})
        assert view["email_confirmed"] is False

        sender, recipients, verification = wait_for_mail(collector, 1)
        assert sender == "registry@slipway.test" and recipients == ["ops@example.test"]
        assert verification["Subject"] == f"Verify e-mail address for notifications on {repo}"
        link = re.search(r"(http://\S+/authrepoemail\?code=\S+)", verification.get_content()).group(1)
        parsed = urllib.parse.urlsplit(link)
        assert parsed.netloc == srv.host
        status, _, page = http_request(srv, "GET", f"{parsed.path}?{parsed.query}")
        assert status == 200 and b"ops@example.test will now receive" in page, page
        status, record = api(srv, "GET", f"/api/v1/repository/{repo}/authorizedemail/ops@example.test", token)
        assert status == 200 and record["confirmed"] is True, record

        ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{repo}:mail-v1")
        _, recipients, event_mail = wait_for_mail(collector, 2)
        assert recipients == ["ops@example.test"]
        assert event_mail["Subject"] == f"Repository {repo} updated"
        text = event_mail.get_content()
        assert "Tags pushed: mail-v1" in text and f"/repository/{repo}" in text, text
    finally:
        controller.stop()


def test_pending_delivery_survives_a_restart(server):
    receiver = WebhookReceiver()
    receiver.script = [500]
    try:
        env = {"SLIPWAY_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true"}
        first = server(env=env)
        token = first.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        create_repo(first, token, "durable")
        view = create_notification(first, token, f"{ADMIN_USER}/durable", "repo_push", "webhook", {"url": receiver.url})
        status, _ = api(first, "POST", f"/api/v1/repository/{ADMIN_USER}/durable/notification/{view['uuid']}/test", token)
        assert status == 200
        receiver.wait_for(lambda rs: len(rs) == 1, "the first (failing) attempt", timeout=20)
        first.stop()

        # The retry is in the database, not in the stopped process.
        second = server(env=env, data_dir=first.data_dir)
        receiver.wait_for(lambda rs: len(rs) == 2, "the retry from the restarted server", timeout=30)
        assert receiver.requests[1]["json"]["updated_tags"] == ["latest", "foo"]
        status, got = api(second, "GET", f"/api/v1/repository/{ADMIN_USER}/durable/notification/{view['uuid']}", token)
        assert status == 200 and got["number_of_failures"] == 0 and "500" in (got["last_error"] or ""), got
    finally:
        receiver.close()
