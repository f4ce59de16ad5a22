#!/usr/bin/env python3
"""Side-by-side benchmark of OCI Distribution API registries.

Runs the same measurements against every ``--target`` (the first one is the
*subject*, the last one the *baseline*) and prints a table with ratios.

Standard library only; ``wrk`` is used as a subprocess for the manifest
requests/second measurement.

Example::

    python3 Benchmarks/registry_bench.py \\
        --target slipway=http://127.0.0.1:8080 \\
        --target reference=http://127.0.0.1:5000 \\
        --creds slipway=bench:benchpass123 --pid slipway=1234 --quick

Progress goes to stderr, the result table to stdout.  The exit status is
non-zero if any target failed any measurement (the table is still printed).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MiB = 1024 * 1024
CHUNK = 1 * MiB

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# Conservative refresh margin for bearer tokens (seconds before expiry).
TOKEN_MARGIN = 15.0
# Docker token spec: when expires_in is absent the token lives 60 seconds.
DEFAULT_TOKEN_TTL = 60.0

_REPO_PATH_RE = re.compile(r"^/v2/(.+?)/(blobs|manifests|tags|referrers)(/|$)")


def log(msg: str) -> None:
    ts = time.strftime("%H:%M:%S")
    print(f"[{ts}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A measurement failed for a target."""


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    if n % (1024 * MiB) == 0:
        return f"{n // (1024 * MiB)} GiB"
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    return f"{n} B"


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[min(k, len(s)) - 1]


def parse_www_authenticate(value: str):
    """Parse a WWW-Authenticate header into (scheme, {param: value})."""
    value = value.strip()
    if not value:
        return None, {}
    parts = value.split(None, 1)
    scheme = parts[0].lower()
    params = {}
    if len(parts) > 1:
        for m in re.finditer(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', parts[1]):
            params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme, params


def scope_for_path(path: str):
    """Token scope for a /v2/<name>/... path, or None for non-repository paths."""
    p = urllib.parse.urlsplit(path).path
    m = _REPO_PATH_RE.match(p)
    if not m:
        return None
    return f"repository:{m.group(1)}:pull,push"


class FileSlice:
    """Read-only, rewindable view on a region of a file (for streamed bodies)."""

    def __init__(self, path: str, offset: int = 0, length: int | None = None):
        self.path = path
        self.offset = offset
        self.length = os.path.getsize(path) - offset if length is None else length
        self._f = open(path, "rb")
        self.rewind()

    def rewind(self) -> None:
        self._f.seek(self.offset)
        self._remaining = self.length

    def read(self, n: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if n is None or n < 0 or n > self._remaining:
            n = self._remaining
        data = self._f.read(n)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Blob:
    """A random blob on disk with its digest."""

    def __init__(self, path: str, size: int, digest: str):
        self.path = path
        self.size = size
        self.digest = digest

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def make_blob(tmpdir: str, size: int, tag: str) -> Blob:
    """Write `size` random bytes (1 MiB pieces) and hash them on the way."""
    path = os.path.join(tmpdir, f"blob-{tag}-{secrets.token_hex(4)}.bin")
    h = hashlib.sha256()
    remaining = size
    with open(path, "wb") as f:
        while remaining > 0:
            piece = os.urandom(min(CHUNK, remaining))
            h.update(piece)
            f.write(piece)
            remaining -= len(piece)
        f.flush()
        # Flush to disk so writeback of the generated file does not compete
        # with the registry's own writes during the timed upload.
        os.fsync(f.fileno())
    return Blob(path, size, "sha256:" + h.hexdigest())


def settle(pause: float = 0.5) -> None:
    """Flush dirty pages (earlier uploads) so background writeback does not
    land in the middle of the next target's measurement, then pause briefly."""
    try:
        os.sync()
    except (AttributeError, OSError):
        pass
    time.sleep(pause)


def read_rss_kib(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class RssSampler:
    """Samples VmRSS of a process every `interval` seconds in a thread."""

    def __init__(self, pid: int | None, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.start_kib = None
        self.peak_kib = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.pid is None:
            return self
        self.start_kib = read_rss_kib(self.pid)
        self.peak_kib = self.start_kib
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            v = read_rss_kib(self.pid)
            if v is not None:
                self.samples += 1
                if self.peak_kib is None or v > self.peak_kib:
                    self.peak_kib = v
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            v = read_rss_kib(self.pid)
            if v is not None and (self.peak_kib is None or v > self.peak_kib):
                self.peak_kib = v

    def growth_mib(self):
        if self.start_kib is None or self.peak_kib is None:
            return None
        return (self.peak_kib - self.start_kib) / 1024.0


# --------------------------------------------------------------------------
# Registry client
# --------------------------------------------------------------------------


class Response:
    def __init__(self, status, reason, headers, body, nbytes):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body  # bytes, or None when discarded
        self.nbytes = nbytes

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def snippet(self) -> str:
        if not self.body:
            return ""
        return self.body[:300].decode("utf-8", "replace").strip()


class Target:
    """A registry under test plus its (thread-safe) auth state."""

    def __init__(self, name: str, url: str, creds=None, pid=None):
        self.name = name
        u = urllib.parse.urlsplit(url.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise SystemExit(f"invalid URL for target {name}: {url}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.netloc = u.netloc
        self.base = f"{u.scheme}://{u.netloc}"
        self.creds = creds  # (user, password) or None
        self.pid = pid
        self.auth_scheme = None  # None (no auth seen), "basic" or "bearer"
        self.bearer_params = {}  # realm, service from the challenge
        self._tokens = {}  # scope -> (token, expires_at_monotonic, lifetime_s)
        self._lock = threading.Lock()
        self.token_fetches = 0
        self.retries = 0

    # -- auth -------------------------------------------------------------

    def basic_header(self):
        if not self.creds:
            raise BenchError(f"{self.name}: registry requires Basic auth but no --creds given")
        raw = f"{self.creds[0]}:{self.creds[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def handle_challenge(self, header_value: str, scope):
        """Record a challenge from a 401 response; drop stale tokens."""
        scheme, params = parse_www_authenticate(header_value or "")
        with self._lock:
            if scheme == "bearer":
                self.auth_scheme = "bearer"
                self.bearer_params = {"realm": params.get("realm"), "service": params.get("service")}
                if not self.bearer_params["realm"]:
                    raise BenchError(f"{self.name}: Bearer challenge without realm: {header_value!r}")
                self._tokens.pop(scope, None)
            elif scheme == "basic":
                self.auth_scheme = "basic"
            else:
                raise BenchError(f"{self.name}: 401 with unsupported WWW-Authenticate: {header_value!r}")

    def auth_header(self, scope, min_validity: float = 0.0, force_refresh: bool = False):
        """Authorization header value for a request in `scope` (or None)."""
        if self.auth_scheme is None:
            return None
        if self.auth_scheme == "basic":
            return self.basic_header()
        with self._lock:
            tok = self._tokens.get(scope)
            now = time.monotonic()
            if tok and not force_refresh:
                token, expires_at, ttl = tok
                # Refresh a little before expiry (15 s, or a quarter of a short lifetime).
                if expires_at - now > max(min(TOKEN_MARGIN, ttl / 4), min_validity):
                    return "Bearer " + token
            token, ttl = self._fetch_token(scope)
            self._tokens[scope] = (token, time.monotonic() + ttl, ttl)
            if min_validity and ttl < min_validity:
                log(f"  warning: {self.name}: token lifetime {ttl:.0f}s is shorter than the {min_validity:.0f}s needed")
            return "Bearer " + token

    def _fetch_token(self, scope):
        realm = urllib.parse.urljoin(self.base + "/", self.bearer_params["realm"])
        q = {}
        if self.bearer_params.get("service"):
            q["service"] = self.bearer_params["service"]
        if scope:
            q["scope"] = scope
        u = urllib.parse.urlsplit(realm)
        path = u.path or "/"
        query = u.query
        if q:
            query = (query + "&" if query else "") + urllib.parse.urlencode(q)
        if query:
            path += "?" + query
        headers = {"Accept": "application/json"}
        if self.creds:
            headers["Authorization"] = self.basic_header()
        conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(u.hostname, u.port or (443 if u.scheme == "https" else 80), timeout=60)
        try:
            t0 = time.monotonic()
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            raise BenchError(f"{self.name}: token request to {realm} failed: {e!r}")
        finally:
            conn.close()
        if r.status != 200:
            raise BenchError(
                f"{self.name}: token request {realm} scope={scope} -> {r.status} "
                f"{body[:200].decode('utf-8', 'replace')}"
            )
        try:
            data = json.loads(body)
        except ValueError:
            raise BenchError(f"{self.name}: token endpoint returned non-JSON: {body[:200]!r}")
        token = data.get("token") or data.get("access_token")
        if not token:
            raise BenchError(f"{self.name}: token endpoint response has no token: {list(data)}")
        try:
            ttl = float(data.get("expires_in") or DEFAULT_TOKEN_TTL)
        except (TypeError, ValueError):
            ttl = DEFAULT_TOKEN_TTL
        # Measure validity from the moment we sent the request.
        ttl -= time.monotonic() - t0
        self.token_fetches += 1
        return token, ttl

    def connect(self) -> "Client":
        return Client(self)


class Client:
    """One keep-alive HTTP connection to a target (not thread-safe)."""

    def __init__(self, target: Target, timeout: float = 900.0):
        self.t = target
        self.timeout = timeout
        self._conns = {}
        self._buf = memoryview(bytearray(CHUNK))

    def close(self):
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def _conn(self, scheme, host, port):
        key = (scheme, host, port)
        c = self._conns.get(key)
        if c is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            c = cls(host, port, timeout=self.timeout, blocksize=CHUNK)
            self._conns[key] = c
        return c

    def _split(self, url_or_path):
        """Return (scheme, host, port, path+query) for a URL or a path."""
        u = urllib.parse.urlsplit(url_or_path)
        if u.scheme:
            scheme, host = u.scheme, u.hostname
            port = u.port or (443 if scheme == "https" else 80)
        else:
            scheme, host, port = self.t.scheme, self.t.host, self.t.port
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        return scheme, host, port, path

    def request(self, method, url_or_path, body=None, headers=None, keep_body=True,
                expect=None, min_validity: float = 0.0, follow_redirects: bool = False,
                auth: bool = True):
        """Send a request, handling auth challenges, stale connections and redirects.

        `body` may be None, bytes, or a FileSlice (streamed, rewound on retry).
        The response body is always read completely; with keep_body=False it is
        read in 1 MiB chunks into a reusable buffer and discarded.
        """
        headers = dict(headers or {})
        scheme, host, port, path = self._split(url_or_path)
        scope = scope_for_path(path)
        same_origin = (host, port) == (self.t.host, self.t.port)
        if body is None:
            if method in ("POST", "PUT", "PATCH"):
                headers.setdefault("Content-Length", "0")
        elif isinstance(body, (bytes, bytearray)):
            headers["Content-Length"] = str(len(body))
        else:
            headers["Content-Length"] = str(body.length)

        auth_attempts = 0
        conn_attempts = 0
        force_refresh = False
        redirects = 0
        while True:
            h = dict(headers)
            if same_origin and auth:
                a = self.t.auth_header(scope, min_validity=min_validity, force_refresh=force_refresh)
                if a:
                    h["Authorization"] = a
            force_refresh = False
            if hasattr(body, "rewind"):
                body.rewind()
            conn = self._conn(scheme, host, port)
            try:
                conn.request(method, path, body=body, headers=h)
                r = conn.getresponse()
                resp = self._read(r, keep_body)
            except ConnectionRefusedError as e:
                conn.close()
                raise BenchError(f"{method} {path.split('?')[0]}: connection refused ({self.t.base})")
            except socket.timeout as e:
                conn.close()
                raise BenchError(f"{method} {path.split('?')[0]}: timed out after {self.timeout:.0f}s ({e!r})")
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine,
                    http.client.IncompleteRead) as e:
                conn.close()
                conn_attempts += 1
                if conn_attempts > 2:
                    raise BenchError(f"{method} {path}: connection failed: {e!r}")
                # The server may have rejected a streamed body early (e.g. an
                # expired token) and closed the connection: retry with a fresh
                # connection and, for bearer auth, a fresh token.
                self.t.retries += 1
                log(f"  {self.t.name}: retrying {method} {path.split('?')[0]} after {e!r}")
                force_refresh = self.t.auth_scheme == "bearer"
                continue
            except OSError as e:
                conn.close()
                raise BenchError(f"{method} {path}: {e!r}")

            if resp.status == 401 and same_origin and auth:
                auth_attempts += 1
                if auth_attempts > 2:
                    raise BenchError(f"{method} {path}: still 401 after authenticating: {resp.snippet()}")
                self.t.handle_challenge(resp.header("WWW-Authenticate", ""), scope)
                continue
            if follow_redirects and resp.status in (301, 302, 303, 307, 308):
                loc = resp.header("Location")
                redirects += 1
                if not loc or redirects > 5:
                    raise BenchError(f"{method} {path}: bad redirect ({resp.status}, Location={loc!r})")
                loc = urllib.parse.urljoin(f"{scheme}://{host}:{port}{path}", loc)
                scheme, host, port, path = self._split(loc)
                same_origin = (host, port) == (self.t.host, self.t.port)
                if resp.status == 303:
                    method, body = "GET", None
                    headers.pop("Content-Length", None)
                continue
            if expect is not None:
                ok = resp.status in expect if isinstance(expect, (tuple, list, set)) else resp.status == expect
                if not ok:
                    raise BenchError(f"{method} {path.split('?')[0]} -> {resp.status} {resp.reason}: {resp.snippet()}")
            return resp

    def _read(self, r, keep_body):
        if keep_body:
            data = r.read()
            return Response(r.status, r.reason, r.headers, data, len(data))
        mv = self._buf
        total = 0
        first = b""
        while True:
            n = r.readinto(mv)
            if not n:
                break
            if total < 300:
                first += bytes(mv[: min(n, 300 - total)])
            total += n
        return Response(r.status, r.reason, r.headers, first, total)

    # -- registry operations ---------------------------------------------

    def ping(self):
        """GET /v2/ without, then with credentials; returns the unauthenticated response."""
        r = self.request("GET", "/v2/", auth=False)
        if r.status not in (200, 401):
            raise BenchError(f"GET /v2/ -> {r.status} {r.reason}: {r.snippet()}")
        if r.status == 401:
            self.t.handle_challenge(r.header("WWW-Authenticate", ""), None)
            self.request("GET", "/v2/", expect=200)
        return r

    def start_upload(self, repo):
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", expect=202)
        loc = r.header("Location")
        if not loc:
            raise BenchError(f"POST /v2/{repo}/blobs/uploads/ returned 202 without Location")
        return loc

    @staticmethod
    def with_digest(location, digest):
        sep = "&" if "?" in location else "?"
        return f"{location}{sep}digest={urllib.parse.quote(digest, safe='')}"

    def push_monolithic(self, repo, blob: Blob, body=None):
        """POST + PUT ?digest= with the whole blob (streamed from disk)."""
        loc = self.start_upload(repo)
        owns = body is None
        if body is None:
            body = FileSlice(blob.path)
        try:
            r = self.request(
                "PUT", self.with_digest(loc, blob.digest), body=body,
                headers={"Content-Type": "application/octet-stream"}, expect=(201, 204),
            )
        finally:
            if owns:
                body.close()
        got = r.header("Docker-Content-Digest")
        if got and got != blob.digest:
            raise BenchError(f"registry stored digest {got}, expected {blob.digest}")
        return r

    def push_bytes(self, repo, data: bytes):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        loc = self.start_upload(repo)
        self.request("PUT", self.with_digest(loc, digest), body=data,
                     headers={"Content-Type": "application/octet-stream"}, expect=(201, 204))
        return digest

    def push_chunked(self, repo, blob: Blob, chunk_size: int):
        loc = self.start_upload(repo)
        offset = 0
        while offset < blob.size:
            n = min(chunk_size, blob.size - offset)
            with FileSlice(blob.path, offset, n) as body:
                r = self.request(
                    "PATCH", loc, body=body,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + n - 1}",
                    },
                    expect=202,
                )
            loc = r.header("Location") or loc
            offset += n
        r = self.request("PUT", self.with_digest(loc, blob.digest), body=None,
                         headers={"Content-Type": "application/octet-stream"}, expect=(201, 204))
        got = r.header("Docker-Content-Digest")
        if got and got != blob.digest:
            raise BenchError(f"registry stored digest {got}, expected {blob.digest}")
        return r

    def pull_blob(self, repo, digest, size):
        r = self.request("GET", f"/v2/{repo}/blobs/{digest}", keep_body=False,
                         expect=200, follow_redirects=True)
        if r.nbytes != size:
            raise BenchError(f"GET blob {digest}: got {r.nbytes} bytes, expected {size}")
        return r

    def put_manifest(self, repo, ref, data: bytes, media_type=OCI_MANIFEST):
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", body=data,
                            headers={"Content-Type": media_type}, expect=(201, 204))


# --------------------------------------------------------------------------
# Benchmark orchestration
# --------------------------------------------------------------------------


class Metric:
    def __init__(self, key, label, unit, better, fmt="{:.1f}"):
        self.key = key
        self.label = label
        self.unit = unit
        self.better = better  # "higher" or "lower"
        self.fmt = fmt


class Bench:
    def __init__(self, args, targets):
        self.args = args
        self.targets = targets
        self.quick = args.quick
        self.run_id = secrets.token_hex(3)
        self.metrics = []  # ordered Metric definitions
        self.results = {t.name: {} for t in targets}  # name -> key -> dict
        self.errors = {t.name: [] for t in targets}  # name -> [str]
        self.notes = []
        self.dead = set()  # targets that failed the connectivity check
        self.tmpdir = tempfile.mkdtemp(prefix="registry-bench-", dir=args.tmpdir)
        self.t_start = time.monotonic()
        self.elapsed = 0.0

    # -- bookkeeping ------------------------------------------------------

    def metric(self, key, label, unit, better, fmt="{:.1f}"):
        if not any(m.key == key for m in self.metrics):
            self.metrics.append(Metric(key, label, unit, better, fmt))

    def record(self, t, key, value, **extra):
        d = {"value": value}
        d.update(extra)
        self.results[t.name][key] = d

    def fail(self, t, key, err):
        msg = f"{key}: {err}"
        self.errors[t.name].append(msg)
        self.results[t.name].setdefault(key, {"value": None})["error"] = str(err)
        log(f"  ERROR {t.name}: {msg}")

    def repo(self, kind):
        return f"{self.args.namespace}/{kind}-{self.run_id}"

    def alive(self):
        return [t for t in self.targets if t.name not in self.dead]

    def order(self, rep):
        """Targets in alternating order per repetition, so no target always goes first."""
        ts = self.alive()
        return ts if rep % 2 == 0 else ts[::-1]

    # -- measurements -----------------------------------------------------

    def check_targets(self):
        for t in self.targets:
            c = t.connect()
            try:
                r = c.ping()
                api = r.header("Docker-Distribution-API-Version", "-")
                if r.status == 401:
                    scheme, params = parse_www_authenticate(r.header("WWW-Authenticate", ""))
                    auth = f"{scheme} challenge" + (f" (realm {params.get('realm')})" if params.get("realm") else "")
                else:
                    auth = "none"
                log(f"{t.name}: {t.base} reachable, API version {api}, auth: {auth}")
            except (BenchError, OSError) as e:
                self.dead.add(t.name)
                self.errors[t.name].append(f"connectivity: {e}")
                log(f"  ERROR {t.name}: not reachable: {e}")
            finally:
                c.close()

    def bench_push_pull(self):
        """Monolithic push and pull throughput for several blob sizes."""
        if self.quick:
            plan = [(1 * MiB, 5), (64 * MiB, 1)]
        else:
            plan = [(1 * MiB, 20), (64 * MiB, 3), (512 * MiB, 1)]
        largest = plan[-1][0]
        repo = self.repo("blobs")
        clients = {t.name: t.connect() for t in self.alive()}
        pushed = {t.name: {} for t in self.alive()}  # size -> [digest]
        try:
            for size, reps in plan:
                push_key = f"push_{size // MiB}m"
                pull_key = f"pull_{size // MiB}m"
                stat = f"median of {reps}" if reps > 1 else "1 run"
                # A pull is cheap next to a push (no new blob to write), so large pulls are
                # repeated more often than pushes: a single disk-bound run varies by ±20%.
                pull_reps = max(reps, 5)
                self.metric(push_key, f"Monolithic push {fmt_size(size)} ({stat})", "MiB/s", "higher")
                self.metric(pull_key, f"Blob pull {fmt_size(size)} (median of {pull_reps})", "MiB/s", "higher")
                rss_key = None
                if size == largest:
                    rss_key = f"rss_push_{size // MiB}m"
                    self.metric(rss_key, f"Peak RSS growth during {fmt_size(size)} push", "MiB", "lower")
                log(f"monolithic push {fmt_size(size)} x{reps} -> {repo}")
                samples = {t.name: [] for t in self.alive()}
                rss = {t.name: [] for t in self.alive()}
                for rep in range(reps):
                    for t in self.order(rep):
                        if push_key in self.results[t.name] and self.results[t.name][push_key].get("error"):
                            continue
                        blob = make_blob(self.tmpdir, size, f"{t.name}-{size // MiB}m-{rep}")
                        if size >= 64 * MiB:
                            settle()
                        try:
                            with FileSlice(blob.path) as body:
                                sampler = RssSampler(t.pid if rss_key else None)
                                with sampler:
                                    t0 = time.perf_counter()
                                    clients[t.name].push_monolithic(repo, blob, body=body)
                                    dt = time.perf_counter() - t0
                            samples[t.name].append(size / MiB / dt)
                            pushed[t.name].setdefault(size, []).append(blob.digest)
                            if rss_key and sampler.growth_mib() is not None:
                                rss[t.name].append(sampler.growth_mib())
                            if size >= 64 * MiB:
                                log(f"  {t.name}: {fmt_size(size)} pushed in {dt:.2f}s ({size / MiB / dt:.1f} MiB/s)")
                        except BenchError as e:
                            self.fail(t, push_key, e)
                        finally:
                            blob.delete()
                for t in self.alive():
                    s = samples[t.name]
                    if s and not self.results[t.name].get(push_key, {}).get("error"):
                        self.record(t, push_key, statistics.median(s), samples=s, reps=len(s), stat="median")
                        if reps > 1:
                            log(f"  {t.name}: median {statistics.median(s):.1f} MiB/s (min {min(s):.1f}, max {max(s):.1f})")
                    if rss_key:
                        if t.pid is None:
                            pass
                        elif rss[t.name]:
                            self.record(t, rss_key, max(rss[t.name]), pid=t.pid, samples=rss[t.name])
                            log(f"  {t.name}: peak RSS growth {max(rss[t.name]):.1f} MiB")
                        elif not self.results[t.name].get(push_key, {}).get("error"):
                            self.fail(t, rss_key, f"could not read /proc/{t.pid}/status")

                log(f"blob pull {fmt_size(size)} x{pull_reps}")
                settle()
                samples = {t.name: [] for t in self.alive()}
                for rep in range(pull_reps):
                    for t in self.order(rep):
                        digests = pushed[t.name].get(size, [])
                        if not digests:
                            if pull_key not in self.results[t.name]:
                                self.fail(t, pull_key, "skipped: no blob of this size was pushed")
                            continue
                        if self.results[t.name].get(pull_key, {}).get("error"):
                            continue
                        digest = digests[rep % len(digests)]
                        try:
                            t0 = time.perf_counter()
                            clients[t.name].pull_blob(repo, digest, size)
                            dt = time.perf_counter() - t0
                            samples[t.name].append(size / MiB / dt)
                        except BenchError as e:
                            self.fail(t, pull_key, e)
                for t in self.alive():
                    s = samples[t.name]
                    if s and not self.results[t.name].get(pull_key, {}).get("error"):
                        self.record(t, pull_key, statistics.median(s), samples=s, reps=len(s), stat="median")
                        log(f"  {t.name}: median {statistics.median(s):.1f} MiB/s")
        finally:
            for c in clients.values():
                c.close()

    def bench_chunked(self):
        size = 64 * MiB if self.quick else 256 * MiB
        reps = 1 if self.quick else 2
        chunk = 16 * MiB
        key = "push_chunked"
        rss_key = "rss_push_chunked"
        stat = f"median of {reps}" if reps > 1 else "1 run"
        self.metric(key, f"Chunked push {fmt_size(size)}: {size // chunk} PATCHes of {fmt_size(chunk)} ({stat})",
                    "MiB/s", "higher")
        self.metric(rss_key, f"Peak RSS growth during chunked push", "MiB", "lower")
        repo = self.repo("chunked")
        log(f"chunked push {fmt_size(size)} in {fmt_size(chunk)} chunks x{reps} -> {repo}")
        samples = {t.name: [] for t in self.alive()}
        rss = {t.name: [] for t in self.alive()}
        for rep in range(reps):
            for t in self.order(rep):
                if self.results[t.name].get(key, {}).get("error"):
                    continue
                blob = make_blob(self.tmpdir, size, f"{t.name}-chunked-{rep}")
                settle()
                c = t.connect()
                try:
                    sampler = RssSampler(t.pid)
                    with sampler:
                        t0 = time.perf_counter()
                        c.push_chunked(repo, blob, chunk)
                        dt = time.perf_counter() - t0
                    samples[t.name].append(size / MiB / dt)
                    g = sampler.growth_mib()
                    if t.pid is not None and g is not None:
                        rss[t.name].append(g)
                    log(f"  {t.name}: {dt:.2f}s ({size / MiB / dt:.1f} MiB/s)"
                        + (f", peak RSS growth {g:.1f} MiB" if t.pid is not None and g is not None else ""))
                    # Verify the assembled blob has the uploaded size.
                    r = c.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}", expect=200, follow_redirects=True)
                    cl = r.header("Content-Length")
                    if cl is not None and int(cl) != size:
                        raise BenchError(f"HEAD after chunked upload: Content-Length {cl}, expected {size}")
                except BenchError as e:
                    self.fail(t, key, e)
                finally:
                    c.close()
                    blob.delete()
        for t in self.alive():
            s = samples[t.name]
            if s and not self.results[t.name].get(key, {}).get("error"):
                self.record(t, key, statistics.median(s), samples=s, chunks=math.ceil(size / chunk))
            if rss[t.name]:
                self.record(t, rss_key, max(rss[t.name]), pid=t.pid, samples=rss[t.name])

    def _push_small_image(self, c: Client, repo):
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
        }, sort_keys=True).encode()
        layer = os.urandom(4096)
        config_digest = c.push_bytes(repo, config)
        layer_digest = c.push_bytes(repo, layer)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            "annotations": {"org.opencontainers.image.title": "registry-bench"},
        }, indent=2).encode()
        return manifest, "sha256:" + hashlib.sha256(manifest).hexdigest()

    def bench_manifest_rps(self):
        duration = self.args.wrk_duration or (3 if self.quick else 10)
        rounds = max(1, self.args.wrk_rounds)
        cooldown = 1.0 if self.quick else 3.0
        conns, threads = 32, 2
        k_rps, k_p50, k_p99 = "manifest_rps", "manifest_p50", "manifest_p99"
        rtxt = f", mean of {rounds} rounds" if rounds > 1 else ""
        self.metric(k_rps, f"Manifest GET: wrk -t{threads} -c{conns} -d{duration}s{rtxt}", "req/s", "higher", "{:.0f}")
        self.metric(k_p50, f"Manifest GET: latency p50{rtxt}", "ms", "lower", "{:.2f}")
        self.metric(k_p99, f"Manifest GET: latency p99{rtxt}", "ms", "lower", "{:.2f}")
        wrk = shutil.which("wrk")
        repo = self.repo("manifest")
        path = f"/v2/{repo}/manifests/v1"
        log(f"manifest GET throughput (wrk, {conns} connections, {rounds} x {duration}s per target) -> {repo}:v1")
        ready = []
        for t in self.alive():
            c = t.connect()
            try:
                if not wrk:
                    raise BenchError("wrk not found in PATH")
                manifest, mdigest = self._push_small_image(c, repo)
                c.put_manifest(repo, "v1", manifest)
                r = c.request("GET", path, headers={"Accept": OCI_MANIFEST}, expect=200)
                if r.body != manifest:
                    raise BenchError("GET manifest returned different bytes than were pushed")
                dcd = r.header("Docker-Content-Digest")
                if dcd and dcd != mdigest:
                    raise BenchError(f"Docker-Content-Digest {dcd} != {mdigest}")
                ct = (r.header("Content-Type") or "").split(";")[0].strip()
                if ct and ct != OCI_MANIFEST:
                    self.notes.append(f"{t.name}: manifest GET returned Content-Type {ct!r}")
                ready.append(t)
            except BenchError as e:
                self.fail(t, k_rps, e)
            finally:
                c.close()
        runs = {t.name: [] for t in ready}
        failed = set()
        # Rounds in alternating order (A B, B A, ...) so that slow drifts of the
        # machine's speed (CPU throttling on small VMs) hit all targets equally.
        for rnd in range(rounds):
            order = ready if rnd % 2 == 0 else ready[::-1]
            for t in order:
                if t.name in failed:
                    continue
                try:
                    auth = t.auth_header(scope_for_path(path), min_validity=duration + 30)
                    cmd = [wrk, f"-t{threads}", f"-c{conns}", "--latency", "--timeout", "5s",
                           "-H", f"Accept: {OCI_MANIFEST}"]
                    if auth:
                        cmd += ["-H", f"Authorization: {auth}"]
                    url = t.base + path
                    settle(cooldown)
                    if not self.quick:
                        # Short warm-up (connection setup, caches) that is not measured.
                        subprocess.run(cmd + ["-d1s", url], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=60)
                    p = subprocess.run(cmd + [f"-d{duration}s", url], capture_output=True,
                                       text=True, timeout=duration + 60)
                    if p.returncode != 0:
                        raise BenchError(f"wrk exited {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
                    res = parse_wrk(p.stdout)
                    if res.get("rps") is None:
                        raise BenchError(f"could not parse wrk output:\n{p.stdout}")
                    runs[t.name].append(res)
                    log(f"  {t.name} round {rnd + 1}: {res['rps']:.0f} req/s, p50 {res.get('p50')} ms, "
                        f"p99 {res.get('p99')} ms, non-2xx {res.get('non2xx', 0)}, "
                        f"socket errors {sum((res.get('socket_errors') or {}).values())}")
                except (BenchError, subprocess.TimeoutExpired) as e:
                    failed.add(t.name)
                    self.fail(t, k_rps, e)
        for t in ready:
            rs = runs[t.name]
            if not rs:
                continue
            def mean(k):
                vals = [r[k] for r in rs if r.get(k) is not None]
                return statistics.mean(vals) if vals else None
            non2xx = sum(r.get("non2xx", 0) for r in rs)
            requests = sum(r.get("requests") or 0 for r in rs)
            sock = {}
            for r in rs:
                for k, v in (r.get("socket_errors") or {}).items():
                    sock[k] = sock.get(k, 0) + v
            err = self.results[t.name].get(k_rps, {}).get("error")
            self.record(t, k_rps, mean("rps"), rounds=[r.get("rps") for r in rs], requests=requests,
                        non2xx=non2xx, socket_errors=sock)
            if err:
                self.results[t.name][k_rps]["error"] = err
            if mean("p50") is not None:
                self.record(t, k_p50, mean("p50"), rounds=[r.get("p50") for r in rs])
            if mean("p99") is not None:
                self.record(t, k_p99, mean("p99"), rounds=[r.get("p99") for r in rs])
            if non2xx:
                self.fail(t, k_rps, f"{non2xx} of {requests} responses were not 2xx/3xx")
            if sum(sock.values()) > 0:
                self.fail(t, k_rps, f"wrk socket errors: {sock}")
            if self.results[t.name][k_rps].get("error"):
                for k in (k_p50, k_p99):
                    if k in self.results[t.name]:
                        self.results[t.name][k]["error"] = "see manifest_rps"

    def bench_tags(self, ntags=None, suffix="", repo_name="tags"):
        ntags = ntags or self.args.tags or (1000 if self.quick else 10000)
        nreq = 20
        k_create = "tags_create" + suffix
        k_full_p50, k_full_p90 = "tags_full_p50" + suffix, "tags_full_p90" + suffix
        k_page_p50, k_page_p90 = "tags_page_p50" + suffix, "tags_page_p90" + suffix
        self.metric(k_create, f"Create {ntags:,} tags: PUT manifest, 8 threads", "tags/s", "higher", "{:.0f}")
        self.metric(k_full_p50, f"tags/list, {ntags:,} tags, full list: median of {nreq}", "ms", "lower", "{:.2f}")
        self.metric(k_full_p90, f"tags/list, {ntags:,} tags, full list: p90 of {nreq}", "ms", "lower", "{:.2f}")
        self.metric(k_page_p50, f"tags/list?n=100, {ntags:,} tags: median of {nreq}", "ms", "lower", "{:.2f}")
        self.metric(k_page_p90, f"tags/list?n=100, {ntags:,} tags: p90 of {nreq}", "ms", "lower", "{:.2f}")
        repo = self.repo(repo_name)
        log(f"tags/list with {ntags} tags -> {repo}")
        names = [f"t{i:05d}" for i in range(ntags)]
        # Create the tags in two halves, in A B / B A order, to cancel drift.
        halves = [names[: ntags // 2], names[ntags // 2:]]
        ready, manifests, elapsed = [], {}, {}
        for t in self.alive():
            c = t.connect()
            try:
                manifests[t.name], _ = self._push_small_image(c, repo)
                ready.append(t)
                elapsed[t.name] = 0.0
            except BenchError as e:
                self.fail(t, k_create, e)
            finally:
                c.close()
        for half_no, half in enumerate(halves):
            order = ready if half_no % 2 == 0 else ready[::-1]
            for t in order:
                if self.results[t.name].get(k_create, {}).get("error"):
                    continue
                manifest = manifests[t.name]
                local = threading.local()
                made = []
                lock = threading.Lock()

                def put(tag, t=t, local=local, made=made, lock=lock, manifest=manifest):
                    cl = getattr(local, "client", None)
                    if cl is None:
                        cl = local.client = t.connect()
                        with lock:
                            made.append(cl)
                    cl.put_manifest(repo, tag, manifest)

                settle()
                t0 = time.perf_counter()
                failed, first_err = 0, None
                ex = concurrent.futures.ThreadPoolExecutor(max_workers=8)
                try:
                    for f in [ex.submit(put, n) for n in half]:
                        try:
                            f.result()
                        except Exception as e:  # noqa: BLE001 - report the first one
                            failed += 1
                            first_err = first_err or e
                finally:
                    ex.shutdown(wait=True, cancel_futures=True)
                dt = time.perf_counter() - t0
                for cl in made:
                    cl.close()
                elapsed[t.name] += dt
                log(f"  {t.name}: tagged {len(half)} in {dt:.1f}s ({len(half) / dt:.0f} tags/s)")
                if failed:
                    self.fail(t, k_create, f"{failed} of {len(half)} tag PUTs failed, first: {first_err}")
        ready = [t for t in ready if not self.results[t.name].get(k_create, {}).get("error")]
        for t in ready:
            self.record(t, k_create, ntags / elapsed[t.name], seconds=elapsed[t.name], tags=ntags)
            log(f"  {t.name}: created {ntags} tags in {elapsed[t.name]:.1f}s ({ntags / elapsed[t.name]:.0f} tags/s)")

        settle()
        clients = {t.name: t.connect() for t in ready}
        try:
            for key50, key90, query in ((k_full_p50, k_full_p90, ""), (k_page_p50, k_page_p90, "?n=100")):
                lat = {t.name: [] for t in ready}
                count = {}
                link = {}
                bad = set()
                # Interleave the targets request by request (A B, B A, ...).
                for i in range(nreq):
                    for t in (ready if i % 2 == 0 else ready[::-1]):
                        if t.name in bad:
                            continue
                        try:
                            t0 = time.perf_counter()
                            r = clients[t.name].request("GET", f"/v2/{repo}/tags/list{query}", expect=200)
                            lat[t.name].append((time.perf_counter() - t0) * 1000.0)
                            try:
                                count[t.name] = len(json.loads(r.body).get("tags") or [])
                            except (ValueError, AttributeError):
                                raise BenchError(f"tags/list returned invalid JSON: {r.snippet()}")
                            link[t.name] = r.header("Link")
                        except BenchError as e:
                            bad.add(t.name)
                            self.fail(t, key50, e)
                for t in ready:
                    if t.name in bad:
                        continue
                    n = count.get(t.name)
                    if not query and n != ntags:
                        self.fail(t, key50, f"full tags/list returned {n} tags, expected {ntags}")
                        continue
                    l = lat[t.name]
                    self.record(t, key50, statistics.median(l), samples=l, returned_tags=n,
                                link_header=link.get(t.name))
                    self.record(t, key90, percentile(l, 90), returned_tags=n)
                    log(f"  {t.name}: tags/list{query or ' (full)'}: median {statistics.median(l):.2f} ms, "
                        f"p90 {percentile(l, 90):.2f} ms, {n} tags returned")
                    if query and n > 100:
                        self.notes.append(
                            f"{t.name} ignores ?n=100 on tags/list (returned {n} tags), so its "
                            "'tags/list?n=100' numbers are for the full list."
                        )
        finally:
            for c in clients.values():
                c.close()

    def bench_tags_large(self):
        """The full tag list at 100,000 tags (issue: faster than the reference, memory flat)."""
        if self.quick:
            log("tags100k: skipped in --quick mode")
            return
        self.bench_tags(ntags=self.args.large_tags, suffix="_large", repo_name="tags-large")

    def bench_concurrent_pull(self):
        """C clients pull the same blob at once: aggregate MiB/s (median of rounds)."""
        size = (16 if self.quick else 64) * MiB
        nclients, rounds = 16, (2 if self.quick else 3)
        key = f"pull_concurrent_{size // MiB}m"
        self.metric(key, f"{nclients} clients pulling one {fmt_size(size)} blob at once, aggregate "
                         f"(median of {rounds})", "MiB/s", "higher")
        repo = self.repo("concurrent")
        digests = {}
        for t in self.alive():
            c = t.connect()
            blob = make_blob(self.tmpdir, size, f"{t.name}-concurrent")
            try:
                with FileSlice(blob.path) as body:
                    c.push_monolithic(repo, blob, body=body)
                digests[t.name] = blob.digest
            except BenchError as e:
                self.fail(t, key, e)
            finally:
                blob.delete()
                c.close()
        log(f"concurrent pull: {nclients} clients x {fmt_size(size)} x{rounds}")
        samples = {t.name: [] for t in self.alive()}
        for rnd in range(rounds):
            for t in self.order(rnd):
                if t.name not in digests or self.results[t.name].get(key, {}).get("error"):
                    continue
                settle()
                clients = [t.connect() for _ in range(nclients)]
                try:
                    barrier = threading.Barrier(nclients)

                    def pull(cl, digest=digests[t.name]):
                        barrier.wait()
                        cl.pull_blob(repo, digest, size)

                    t0 = time.perf_counter()
                    with concurrent.futures.ThreadPoolExecutor(max_workers=nclients) as ex:
                        for f in [ex.submit(pull, cl) for cl in clients]:
                            f.result()
                    dt = time.perf_counter() - t0
                    samples[t.name].append(nclients * size / MiB / dt)
                    log(f"  {t.name}: {nclients * size / MiB / dt:.0f} MiB/s aggregate")
                except (BenchError, threading.BrokenBarrierError) as e:
                    self.fail(t, key, e)
                finally:
                    for cl in clients:
                        cl.close()
        for t in self.alive():
            s = samples[t.name]
            if s and not self.results[t.name].get(key, {}).get("error"):
                self.record(t, key, statistics.median(s), samples=s, reps=len(s), stat="median")

    # -- run / report ------------------------------------------------------

    def run(self):
        steps = [
            ("blobs", self.bench_push_pull),
            ("chunked", self.bench_chunked),
            ("manifest", self.bench_manifest_rps),
            ("tags", self.bench_tags),
            ("tags100k", self.bench_tags_large),
            ("concurrent", self.bench_concurrent_pull),
        ]
        only = set(self.args.only.split(",")) if self.args.only else None
        try:
            self.check_targets()
            for name, fn in steps:
                if only and name not in only:
                    continue
                if not self.alive():
                    break
                try:
                    fn()
                except BenchError as e:  # unexpected, step-wide
                    for t in self.alive():
                        self.fail(t, name, e)
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.elapsed = time.monotonic() - self.t_start
        for t in self.targets:
            if t.retries:
                self.notes.append(f"{t.name}: {t.retries} request(s) were retried after a connection error.")
            if t.auth_scheme:
                self.notes.append(f"{t.name}: auth {t.auth_scheme}" +
                                  (f", {t.token_fetches} token fetch(es)" if t.auth_scheme == "bearer" else ""))

    def value(self, tname, key):
        return self.results[tname].get(key, {}).get("value")

    def cell(self, tname, m):
        d = self.results[tname].get(m.key)
        if tname in self.dead:
            return "ERROR"
        if d is None:
            return "-"
        if d.get("error"):
            return "ERROR" if d.get("value") is None else m.fmt.format(d["value"]) + " (ERR)"
        return m.fmt.format(d["value"])

    def ratio(self, m):
        """Ratio where > 1 always means the subject is better."""
        if len(self.targets) < 2:
            return None
        subj, base = self.targets[0].name, self.targets[-1].name
        a, b = self.value(subj, m.key), self.value(base, m.key)
        if a is None or b is None:
            return None
        if m.unit == "MiB" and (abs(a) < 1.0 or abs(b) < 1.0):
            return None  # RSS growth near zero: ratio meaningless
        if m.better == "higher":
            return a / b if b > 0 else None
        return b / a if a > 0 else None

    def rows(self):
        rows = []
        for m in self.metrics:
            if all(m.key not in self.results[t.name] for t in self.targets):
                continue  # e.g. RSS rows without any --pid
            r = self.ratio(m)
            rows.append({
                "metric": m.label,
                "key": m.key,
                "unit": m.unit,
                "better": m.better,
                "values": {t.name: self.value(t.name, m.key) for t in self.targets},
                "cells": [self.cell(t.name, m) for t in self.targets],
                "ratio": r,
                "ratio_cell": ratio_cell(r, m),
            })
        return rows

    def machine(self):
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = None
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemTotal:"):
                        mem = round(int(line.split()[1]) / 1024 / 1024, 1)
        except OSError:
            pass
        return {
            "cpu": cpu, "cpus": os.cpu_count(), "mem_gib": mem,
            "os": platform.platform(), "python": platform.python_version(),
        }

    def header_lines(self):
        subj, base = self.targets[0], self.targets[-1]
        return [
            f"subject: {subj.name} ({subj.base})   baseline: {base.name} ({base.base})",
            "ratio column: > 1.00 means the subject is better. Throughput/req/s/tags/s: subject / baseline "
            "(higher is better). Latency and RSS: baseline / subject, i.e. the subject's speedup (lower is better).",
        ]

    def text_table(self):
        names = [t.name for t in self.targets]
        head = ["metric", "unit", "better"] + names + [f"ratio {names[0]}/{names[-1]}" if len(names) > 1 else "ratio"]
        body = [[r["metric"], r["unit"], r["better"]] + r["cells"] + [r["ratio_cell"]] for r in self.rows()]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        out = []
        def line(cells):
            parts = []
            for i, (c, w) in enumerate(zip(cells, widths)):
                parts.append(str(c).ljust(w) if i < 3 else str(c).rjust(w))
            return "  ".join(parts).rstrip()
        out.append(line(head))
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(b) for b in body)
        return "\n".join(out)

    def markdown(self):
        names = [t.name for t in self.targets]
        mach = self.machine()
        lines = [
            f"Measured {datetime.datetime.now().strftime('%Y-%m-%d')} on {mach['cpu']}, {mach['cpus']} CPUs, "
            f"{mach['mem_gib']} GiB RAM, {mach['os']}" + (" (--quick)" if self.quick else "") + ".",
            "",
            "| metric | " + " | ".join(f"{n} (subject)" if i == 0 else (f"{n} (baseline)" if i == len(names) - 1 else n)
                                      for i, n in enumerate(names))
            + " | ratio (>1 = subject better) |",
            "|---|" + "---:|" * len(names) + "---:|",
        ]
        for r in self.rows():
            arrow = "higher is better" if r["better"] == "higher" else "lower is better"
            lines.append(f"| {r['metric']} [{r['unit']}, {arrow}] | " + " | ".join(r["cells"]) +
                         f" | {r['ratio_cell']} |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def to_json(self):
        return {
            "run_id": self.run_id,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "quick": self.quick,
            "elapsed_seconds": round(self.elapsed, 1),
            "machine": self.machine(),
            "targets": [{"name": t.name, "url": t.base, "pid": t.pid, "auth": t.auth_scheme}
                        for t in self.targets],
            "subject": self.targets[0].name,
            "baseline": self.targets[-1].name,
            "ratio_semantics": "ratio > 1 means the subject is better (higher-is-better: subject/baseline; "
                               "lower-is-better: baseline/subject)",
            "metrics": [{"key": m.key, "label": m.label, "unit": m.unit, "better": m.better}
                        for m in self.metrics],
            "results": self.results,
            "rows": [{k: v for k, v in r.items() if k not in ("cells", "ratio_cell")} for r in self.rows()],
            "errors": self.errors,
            "notes": self.notes,
        }


def ratio_cell(r, m):
    if r is None:
        return "n/a"
    if m.better == "higher":
        return f"{r:.2f}x"
    return f"{r:.2f}x speedup" if m.unit == "ms" else f"{r:.2f}x (base/subj)"


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _wrk_time(s):
    m = re.match(r"^([\d.]+)(us|ms|s|m|h)$", s)
    if not m:
        return None
    return float(m.group(1)) * _WRK_UNITS[m.group(2)]


def parse_wrk(out: str):
    res = {}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    else:
        res["socket_errors"] = {}
    in_dist = False
    for line in out.splitlines():
        if "Latency Distribution" in line:
            in_dist = True
            continue
        if in_dist:
            pm = re.match(r"^\s*([\d.]+)%\s+(\S+)\s*$", line)
            if not pm:
                break
            res["p%g" % float(pm.group(1))] = _wrk_time(pm.group(2))
    return res


def parse_kv(items, what):
    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit(f"--{what} expects NAME=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Benchmark OCI registries side by side (first --target = subject, last = baseline).")
    ap.add_argument("--target", action="append", required=True, metavar="NAME=URL",
                    help="registry to benchmark, e.g. slipway=http://127.0.0.1:8080 (repeatable, ordered)")
    ap.add_argument("--creds", action="append", metavar="NAME=USER:PASSWORD",
                    help="credentials for a target (Basic auth or for the Bearer token endpoint)")
    ap.add_argument("--pid", action="append", metavar="NAME=PID",
                    help="server process of a target; its VmRSS is sampled during the largest pushes")
    ap.add_argument("--quick", action="store_true", help="smaller, faster run (~1 minute)")
    ap.add_argument("--json", metavar="FILE", help="write machine-readable results here")
    ap.add_argument("--markdown", metavar="FILE", help="write a README-ready Markdown table here")
    ap.add_argument("--namespace", default="bench", help="repository namespace (default: bench)")
    ap.add_argument("--tmpdir", default=None, help="where to write the random blobs (default: system temp dir)")
    ap.add_argument("--only", default=None, help="comma list of steps to run: blobs,chunked,manifest,tags,tags100k,concurrent")
    ap.add_argument("--large-tags", type=int, default=100000, help="number of tags of the large tag-list step (default 100000)")
    ap.add_argument("--tags", type=int, default=None, help="override the number of tags (default 10000, quick 1000)")
    ap.add_argument("--wrk-duration", type=int, default=None, help="override wrk duration in seconds (default 10, quick 3)")
    ap.add_argument("--wrk-rounds", type=int, default=2,
                    help="wrk runs per target, in alternating target order; the mean is reported (default 2)")
    args = ap.parse_args(argv)

    targets_kv = []
    for it in args.target:
        if "=" not in it:
            raise SystemExit(f"--target expects NAME=URL, got {it!r}")
        k, v = it.split("=", 1)
        targets_kv.append((k.strip(), v.strip()))
    names = [k for k, _ in targets_kv]
    if len(set(names)) != len(names):
        raise SystemExit("target names must be unique")
    creds = parse_kv(args.creds, "creds")
    pids = parse_kv(args.pid, "pid")
    for k in list(creds) + list(pids):
        if k not in names:
            raise SystemExit(f"--creds/--pid refers to unknown target {k!r}")
    targets = []
    for name, url in targets_kv:
        c = None
        if name in creds:
            if ":" not in creds[name]:
                raise SystemExit(f"--creds {name}= expects USER:PASSWORD")
            c = tuple(creds[name].split(":", 1))
        pid = None
        if name in pids:
            pid = int(pids[name])
            if read_rss_kib(pid) is None:
                raise SystemExit(f"--pid {name}={pid}: cannot read /proc/{pid}/status")
        targets.append(Target(name, url, c, pid))

    def _on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _on_term)

    bench = Bench(args, targets)
    log(f"run id {bench.run_id}; targets: " + ", ".join(f"{t.name}={t.base}" for t in targets)
        + (" (quick)" if args.quick else ""))
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted; printing partial results")
        bench.elapsed = time.monotonic() - bench.t_start
        for t in targets:
            bench.errors[t.name].append("interrupted")

    print()
    for l in bench.header_lines():
        print(l)
    print()
    print(bench.text_table())
    if bench.notes:
        print()
        for n in bench.notes:
            print(f"note: {n}")
    failed = {k: v for k, v in bench.errors.items() if v}
    if failed:
        print()
        print("ERRORS:")
        for name, errs in failed.items():
            for e in errs:
                print(f"  {name}: {e}")
    print(f"\ntotal time {bench.elapsed:.0f}s")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(bench.to_json(), f, indent=2)
            f.write("\n")
        log(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(bench.markdown())
        log(f"wrote {args.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
