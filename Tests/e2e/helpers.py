"""Shared helpers for the Slipway end-to-end suite: the server process, isolated
podman/buildah/skopeo environments, and small HTTP clients (http.client and raw sockets).

Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CTENV_SCRIPT = REPO_ROOT / "Tests" / "Fixtures" / "ctenv.sh"
BUSYBOX_BASE = REPO_ROOT / "Tests" / "Fixtures" / "busybox-base"

ADMIN_USER = "alice"
ADMIN_PASSWORD = "alicepass1"
CREDS_ALICE = f"{ADMIN_USER}:{ADMIN_PASSWORD}"

# Generous upper bound for any single CLI call; a hang must fail the test, not the CI run.
COMMAND_TIMEOUT = 180


class CommandFailed(AssertionError):
    pass


def describe(proc: subprocess.CompletedProcess) -> str:
    cmd = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
    return f"$ {cmd}\n[exit {proc.returncode}]\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def run(args, *, env=None, input=None, check=True, timeout=COMMAND_TIMEOUT, cwd=None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            [str(a) for a in args], env=env, input=input, capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"command timed out after {timeout}s: {' '.join(map(str, args))}\n"
                            f"stdout: {e.stdout}\nstderr: {e.stderr}") from None
    if check and proc.returncode != 0:
        raise CommandFailed("command failed unexpectedly\n" + describe(proc))
    return proc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + sha256_hex(data)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# The Slipway server
# ---------------------------------------------------------------------------


class SlipwayServer:
    """One `slipway serve` process on 127.0.0.1:<port> with its own data dir."""

    def __init__(self, binary: Path, data_dir: Path, log_dir: Path, *, env: dict | None = None,
                 config: Path | None = None, admin=(ADMIN_USER, ADMIN_PASSWORD), name: str = "slipway"):
        self.binary = binary
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.name = name
        self.extra_env = dict(env or {})
        self.config = config
        self.admin = admin
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        # Set to keep the same port across restarts (remote workers keep their URL).
        self.fixed_port: int | None = None
        self.stdout_path = self.log_dir / f"{name}.stdout.log"
        self.stderr_path = self.log_dir / f"{name}.stderr.log"

    # -- environment shared by `serve` and the operator CLI -------------------
    def base_env(self) -> dict:
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("SLIPWAY_"):
                del env[k]
        env["SLIPWAY_AUTH_BCRYPT_COST"] = "4"
        env.update(self.extra_env)
        return env

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout: float = 60.0) -> "SlipwayServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):
            self.port = self.fixed_port or free_port()
            env = self.base_env()
            if self.admin:
                env["SLIPWAY_ADMIN_USER"], env["SLIPWAY_ADMIN_PASSWORD"] = self.admin
            args = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                    "--data-dir", str(self.data_dir)]
            if self.config:
                args += ["--config", str(self.config)]
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                banner = f"=== {' '.join(args)} ===\n".encode()
                out.write(banner)
                err.write(banner)
                out.flush()
                err.flush()
                self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    status, _, _ = http_request(self, "GET", "/health/instance", timeout=2)
                    if status == 200:
                        self._wait_for_banner()
                        return self
                except OSError:
                    pass
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.stop()
                raise AssertionError(f"slipway did not become ready within {timeout}s\n{self.logs()}")
            last_error = self.logs()
            if "address already in use" not in last_error.lower():
                break
        raise AssertionError(f"slipway exited during start-up with code {self.proc.returncode}\n{last_error}")

    def _wait_for_banner(self):
        expected = f"Slipway is ready at {self.url}"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if expected in self.stdout_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise AssertionError(f"/health/instance answered but stdout lacks {expected!r}\n{self.logs()}")

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        parts = []
        for p in (self.stdout_path, self.stderr_path):
            text = p.read_text(errors="replace") if p.exists() else "(missing)"
            parts.append(f"--- {p.name} ---\n{text}")
        return "\n".join(parts)

    # -- operator CLI --------------------------------------------------------
    def cli(self, *args, input=None, check=True) -> subprocess.CompletedProcess:
        return run([self.binary, *args, "--data-dir", self.data_dir], env=self.base_env(), input=input, check=check)

    def create_user(self, name: str, password: str, check=True) -> subprocess.CompletedProcess:
        return self.cli("admin", "create-user", name, "--password-stdin", input=password + "\n", check=check)

    # -- HTTP ------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        status, _, body = http_request(self, "GET", "/metrics")
        assert status == 200, f"GET /metrics -> {status}: {body[:500]!r}"
        values: dict[str, float] = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\S+?)(\{.*\})?\s+(\S+)$", line)
            if m:
                values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return values

    def token(self, user: str, password: str, *scopes: str) -> str:
        """A registry bearer token; each scope goes in its own `scope` parameter (as Docker clients do)."""
        query = urllib.parse.urlencode([("service", self.host)] + [("scope", s) for s in scopes])
        status, _, body = http_request(self, "GET", f"/v2/auth?{query}", headers={"Authorization": basic(user, password)})
        assert status == 200, f"token request failed: {status} {body!r}"
        token = json.loads(body)["token"]
        assert token
        return token


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def http_request(server: SlipwayServer, method: str, path: str, *, headers=None, body: bytes | None = None,
                 timeout: float = 30):
    """One request on a fresh connection; returns (status, headers as a case-insensitive-ish dict, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, hdrs, data
    finally:
        conn.close()


def send_truncated(server: SlipwayServer, method: str, path: str, headers: dict, declared_length: int,
                   sent: bytes) -> None:
    """Raw socket: announce `declared_length` body bytes, send only `sent`, then close the connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", f"Content-Length: {declared_length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(head)
        sock.sendall(sent)
        # Let the bytes reach the server before we hang up, so it is truly a mid-body cut.
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


# ---------------------------------------------------------------------------
# Isolated container-tool environments (Tests/Fixtures/ctenv.sh)
# ---------------------------------------------------------------------------

_DROP_VARS = {"_", "SHLVL", "PWD", "OLDPWD"}


def ctenv_environment(directory: Path) -> dict:
    """Sources ctenv.sh for `directory` (it writes the config files there) and returns the exported
    environment, so Python stays in sync with whatever the script sets."""
    proc = run(["bash", "-c", '. "$1" "$2" >/dev/null && env -0', "ctenv", CTENV_SCRIPT, directory])
    env = {}
    for entry in proc.stdout.split("\0"):
        if "=" in entry:
            k, v = entry.split("=", 1)
            if k not in _DROP_VARS:
                env[k] = v
    for required in ("CT", "HOME", "CONTAINERS_STORAGE_CONF", "REGISTRY_AUTH_FILE"):
        assert required in env, f"ctenv.sh did not export {required}"
    return env


class CtEnv:
    """A private podman/buildah/skopeo world in a temp dir (storage driver vfs)."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.env = ctenv_environment(self.dir)

    def run(self, *args, check=True, input=None, timeout=COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        return run(list(args), env=self.env, check=check, input=input, timeout=timeout)

    def podman(self, *args, **kw):
        return self.run("podman", *args, **kw)

    def buildah(self, *args, **kw):
        return self.run("buildah", *args, **kw)

    def skopeo(self, *args, **kw):
        return self.run("skopeo", *args, **kw)

    def login(self, server: SlipwayServer, user: str, password: str, check=True):
        return self.podman("login", "-u", user, "--password-stdin", server.host, input=password + "\n", check=check)

    def env_file_text(self, variable: str) -> str:
        path = Path(self.env[variable])
        return path.read_text() if path.exists() else ""

    def load(self, archive: Path) -> None:
        out = self.podman("load", "-i", archive).stdout
        assert "localhost/busybox:latest" in out, out

    def image_id(self, ref: str) -> str:
        return self.podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def raw_manifest(self, ref: str, creds: str | None = None) -> bytes:
        args = ["skopeo", "inspect", "--raw"]
        if creds:
            args += ["--creds", creds]
        proc = subprocess.run(args + [ref], env=self.env, capture_output=True, timeout=COMMAND_TIMEOUT)
        if proc.returncode != 0:
            raise CommandFailed(f"skopeo inspect --raw {ref} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def teardown(self) -> None:
        try:
            self.podman("system", "reset", "-f", check=False, timeout=120)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def new_ctenv_dir() -> Path:
    # Short paths under /tmp: podman keeps sockets and locks under XDG_RUNTIME_DIR/runroot.
    return Path(tempfile.mkdtemp(prefix="slipway-ct.", dir="/tmp"))


# ---------------------------------------------------------------------------
# Registry content helpers
# ---------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def make_labeled_image(env: CtEnv, ref: str, label: str = "x=y") -> str:
    """A second image: busybox plus a label (buildah from/config/commit). Returns its image id."""
    container = env.buildah("from", "localhost/busybox:latest").stdout.strip().splitlines()[-1]
    try:
        env.buildah("config", "--label", label, container)
        env.buildah("commit", "-q", container, ref)
    finally:
        env.buildah("rm", container, check=False)
    return env.image_id(ref)


def fetch_blob(server: SlipwayServer, token: str, repo: str, digest: str) -> bytes:
    status, headers, body = http_request(server, "GET", f"/v2/{repo}/blobs/{digest}",
                                         headers={"Authorization": f"Bearer {token}"})
    assert status == 200, f"GET blob {digest} in {repo} -> {status}: {body[:300]!r}"
    assert headers.get("docker-content-digest") == digest
    assert sha256_digest(body) == digest, f"blob {digest} served with wrong content"
    return body


def error_codes(body: bytes) -> list[str]:
    return [e.get("code") for e in json.loads(body).get("errors", [])]


def request_count(server: SlipwayServer, method: str, route: str) -> float:
    """Finished requests by method and route label, from slipway_http_requests_total."""
    total = 0.0
    for key, value in server.metrics().items():
        if not key.startswith("slipway_http_requests_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', key))
        if labels.get("method") == method and labels.get("route") == route:
            total += value
    return total


def wait_for_request_count(server: SlipwayServer, method: str, route: str, at_least: float, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request_count(server, method, route) >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server did not finish a {method} {route} request within {timeout}s "
                         f"(count stays at {request_count(server, method, route)})")


def api(server: SlipwayServer, method: str, path: str, token: str, body=None):
    """`/api/v1` call with a bearer token and an optional JSON body → (status, decoded JSON or None)."""
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    status, _, raw = http_request(server, method, path, headers=headers, body=data)
    return status, (json.loads(raw) if raw else None)
