"""A real OpenID Connect provider on loopback for the identity tests: PyPI's
`oidc-provider-mock` (authlib + flask under uvicorn) as a child process, plus the two things
the tests do with it: mint an ID token for a subject through the authorization-code flow (the
provider's consent form posted directly, as a browser would), and forge a token it never signed.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import helpers


class OIDCProvider:
    """`python3 -m oidc_provider_mock` on 127.0.0.1:<free port>. Its issuer is the base URL."""

    def __init__(self, log_dir: Path, *, token_max_age: int = 3600, name: str = "oidc"):
        self.port = helpers.free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(self.port),
             "--token-max-age", str(token_max_age)],
            stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.issuer + "/.well-known/openid-configuration", timeout=2) as r:
                    self.discovery = json.load(r)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the OIDC provider did not start:\n{self.log_path.read_text(errors='replace')}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def set_claims(self, subject: str, claims: dict) -> None:
        """The extra claims the provider puts in this subject's tokens (e.g. GitHub Actions' `ref`)."""
        request = urllib.request.Request(f"{self.issuer}/users/{urllib.parse.quote(subject, safe='')}",
                                         data=json.dumps(claims).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 204, r.status

    def id_token(self, subject: str, client_id: str = "slipway-ci") -> str:
        """An ID token for `subject`, audience `client_id`: authorize (consent posted as that
        subject), then the code at the token endpoint."""
        redirect = "http://127.0.0.1:1/callback"
        query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": redirect, "response_type": "code",
                                        "scope": "openid", "state": "s", "nonce": "n"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", "/oauth2/authorize?" + query, body=urllib.parse.urlencode({"sub": subject}),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            assert response.status == 302, response.status
            code = urllib.parse.parse_qs(urllib.parse.urlparse(response.getheader("Location")).query)["code"][0]
            credentials = base64.b64encode(f"{client_id}:secret".encode()).decode()
            conn.request("POST", "/oauth2/token",
                         body=urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}),
                         headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {credentials}"})
            response = conn.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            return body["id_token"]
        finally:
            conn.close()

    def key_id(self) -> str:
        with urllib.request.urlopen(self.discovery["jwks_uri"], timeout=10) as r:
            return json.load(r)["keys"][0]["kid"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def forge(claims: dict, kid: str) -> str:
    """An RS256 token with `claims`, signed by a fresh key no JWKS has, under `kid`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)
