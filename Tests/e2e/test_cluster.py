"""Slipway as a cluster (issue 13): two `slipway serve` replicas on one PostgreSQL and one blob
store behind examples/haproxy.cfg, three remote `slipway worker` processes, every process in a
network namespace of its own (Tests/e2e/cluster.py), set up as docs/deploying.md describes.

Under load (podman pushes and pulls of distinct images through the load balancer, 20 real buildah
builds across 3 namespaces, repo_push webhooks to a receiver in the client namespace) one replica
and one worker are killed with SIGKILL. Then:
- every push that got a success answer pulls back byte-identical through the surviving replica;
- every build ends `complete` (retried where its worker died) and none ran twice at once;
- the per-namespace cap held throughout (sampled from the database while the load ran);
- no blob is visible half-written (every stored blob hashes to its name and size);
- every successful push's notification was delivered exactly once after deduplicating by
  delivery id (duplicates seen are reported).
Before the load: a chunked upload PATCHed through replica 1 and finished through replica 2, and a
running build's live log read through each replica.

Storage is chosen in ONE place, `cluster_storage()`: SLIPWAY_CLUSTER_STORAGE=s3 (default:
moto_server in a namespace of its own, checking every request's signature, one bucket the
replicas share) or filesystem (one shared directory: the namespaces share the filesystem).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster import SUBNET, Cluster, ClusterUnavailable, check_available, preclean
from helpers import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, CtEnv, new_ctenv_dir

HAPROXY_CFG = REPO_ROOT / "examples" / "haproxy.cfg"
WORKER_TOKEN = "cluster-test-worker-token-6f1d2c"
PORT = 8080
FINAL = ("complete", "error", "internalerror", "cancelled")
NAMESPACE_CAP = 2
BUILD_PLAN = {ADMIN_USER: 10, "team-b": 6, "team-c": 4}  # 20 builds
PUSHES = 8  # distinct images, two tags in each of four repositories


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path, request):
    try:
        check_available()
    except ClusterUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the cluster test cannot run: {e}", pytrace=False)
        pytest.skip(str(e))
    for tool in ("haproxy", "psql"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/install-deps.sh --test installs it)", pytrace=False)
    preclean()
    c = Cluster(tmp_path / "logs")
    request.node._slipway_cluster = c
    try:
        yield c
    finally:
        c.teardown()


# ---------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------


DEFAULT_CLUSTER_STORAGE = "s3"

# moto checks signatures once the provisioning script has made an IAM user and its key (the
# script is shared with the Swift tests); the key is printed for the replicas' settings.
MOTO_PROVISION = Path(__file__).resolve().parent.parent / "Fixtures" / "moto_provision.py"


def cluster_storage(tmp_path: Path, cluster: Cluster) -> dict:
    """The replicas' storage settings: the one place the cluster's storage is chosen
    (SLIPWAY_CLUSTER_STORAGE overrides the default)."""
    kind = os.environ.get("SLIPWAY_CLUSTER_STORAGE", DEFAULT_CLUSTER_STORAGE)
    if kind == "filesystem":
        shared = tmp_path / "shared-storage"
        shared.mkdir()
        return {"SLIPWAY_STORAGE_PATH": str(shared)}
    if kind == "s3":
        s3 = cluster.add_host("s3")
        moto = shutil.which("moto_server")
        assert moto, "moto_server is not installed (scripts/install-deps.sh --test installs moto[server])"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
        proc = s3.start("moto", [moto, "-H", s3.address, "-p", "5000"], env=env)
        s3.wait_port(5000, proc=proc)
        endpoint = f"http://{s3.address}:5000"
        # The python next to moto_server has boto3 (a moto dependency).
        python = str(Path(moto).resolve().parent / "python3") if (Path(moto).resolve().parent / "python3").exists() else "python3"
        access_key, secret_key = s3.run([python, str(MOTO_PROVISION), endpoint, "slipway-cluster"]).stdout.split()
        return {"SLIPWAY_STORAGE_DRIVER": "s3", "SLIPWAY_STORAGE_S3_ENDPOINT": endpoint,
                "SLIPWAY_STORAGE_S3_REGION": "us-east-1", "SLIPWAY_STORAGE_S3_BUCKET": "slipway-cluster",
                "SLIPWAY_STORAGE_S3_ACCESS_KEY": access_key, "SLIPWAY_STORAGE_S3_SECRET_KEY": secret_key,
                "SLIPWAY_STORAGE_S3_PATH_STYLE": "true"}
    raise AssertionError(f"SLIPWAY_CLUSTER_STORAGE={kind!r}: expected filesystem or s3")


class Postgres:
    """PostgreSQL listening on its namespace's address; psql reaches it over its Unix socket."""

    def __init__(self, cluster: Cluster):
        self.host = cluster.add_host("pg")
        self.dir = Path(tempfile.mkdtemp(prefix="slw-pg."))
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres")
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        subprocess.run(["runuser", "-u", "postgres", "--", str(bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], check=True, capture_output=True, timeout=120)
        with open(self.dir / "data" / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")  # the cluster's hosts only
        self.proc = self.host.start("postgres", [
            "runuser", "-u", "postgres", "--", str(bindir / "postgres"), "-D", str(self.dir / "data"),
            "-c", f"listen_addresses={self.host.address}", "-p", "5432", "-k", str(self.dir), "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400"])
        self.host.wait_port(5432, proc=self.proc)
        self.psql("CREATE DATABASE slipway", database="postgres")
        self.url = f"postgres://postgres@{self.host.address}:5432/slipway"

    def psql(self, sql: str, database: str = "slipway") -> list[list[str]]:
        out = subprocess.run(["psql", "-h", str(self.dir), "-p", "5432", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                              "-At", "-F", "\t", "-c", sql], check=True, capture_output=True, text=True, timeout=60).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Replica:
    def __init__(self, cluster: Cluster, name: str, binary: Path, env: dict, data_dir: Path):
        self.host = cluster.add_host(name)
        self.name = name
        self.binary = binary
        self.env = env
        self.data_dir = data_dir
        self.proc = None

    @property
    def addr(self) -> str:
        return f"{self.host.address}:{PORT}"

    def start(self):
        self.proc = self.host.start(self.name, [self.binary, "serve", "--host", self.host.address, "--port", PORT,
                                                "--data-dir", self.data_dir], env=self.env)
        wait_http(self.host, self.host.address, "/health/instance", proc=self.proc)
        return self

    def cli(self, *args, input=None) -> str:
        return self.host.run([self.binary, *args, "--data-dir", self.data_dir], env=self.env, input=input).stdout


def wait_http(host, address, path, proc=None, timeout=90):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.running():
            raise AssertionError(f"{proc.name} exited with {proc.proc.returncode}\n{proc.output()[-4000:]}")
        try:
            status, _, body = request(host, f"{address}:{PORT}" if ":" not in address else address, "GET", path, timeout=3)
            if status == 200:
                return
            last = (status, body[:200])
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{address}{path} never answered 200: {last}")


def request(host, addr: str, method: str, path: str, *, headers=None, body=None, timeout=60):
    """One HTTP request from inside `host` to `addr` (host:port) → (status, headers, body)."""
    address, port = addr.rsplit(":", 1)
    conn = HTTPConnection(address, int(port), timeout=timeout)
    conn.sock = host.connect(address, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class Client:
    """The client namespace: podman/skopeo/buildah with their own storage, and API calls."""

    def __init__(self, cluster: Cluster, lb: str):
        self.host = cluster.add_host("client")
        self.lb = lb
        self.ct = CtEnv(new_ctenv_dir())
        lb_host = lb.split(":")[0]
        for conf in (Path(self.ct.env["CONTAINERS_REGISTRIES_CONF"]), Path(self.ct.env["HOME"]) / ".config/containers/registries.conf"):
            conf.write_text(conf.read_text() + f'[[registry]]\nlocation = "{lb}"\ninsecure = true\n'
                            f'[[registry]]\nlocation = "{lb_host}"\ninsecure = true\n')

    def tool(self, *args, check=True, timeout=180):
        return self.host.run(list(args), env=self.ct.env, check=check, timeout=timeout)

    def api(self, method, path, token, body=None, addr=None):
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        status, _, raw = request(self.host, addr or self.lb, method, path, headers=headers, body=data)
        return status, (json.loads(raw) if raw else None)

    def teardown(self):
        self.ct.teardown()


class Receiver:
    """Webhook receiver listening in the client namespace; records every POST with its delivery id."""

    def __init__(self, client: Client):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append({"delivery": self.headers.get("X-Slipway-Delivery"),
                                              "event": self.headers.get("X-Slipway-Event"), "json": json.loads(body or b"null")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        sock = client.host.listen(0)
        self.httpd = ThreadingHTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = sock
        self.url = f"http://{client.host.address}:{sock.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def pushes(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["event"] == "repo_push"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Sampler(threading.Thread):
    """Reads the running builds from the database every 0.25 s while the load runs."""

    def __init__(self, pg: Postgres):
        super().__init__(daemon=True)
        self.pg = pg
        self.samples: list[tuple[float, list[list[str]]]] = []
        self.stopping = threading.Event()
        self.errors: list[str] = []

    def run(self):
        while not self.stopping.is_set():
            try:
                rows = self.pg.psql("SELECT b.uuid, n.name, b.worker_id, b.lease_id, b.attempts FROM builds b "
                                    "JOIN namespaces n ON n.id = b.namespace_id WHERE b.lease_id IS NOT NULL AND b.finished_at IS NULL")
                self.samples.append((time.monotonic(), rows))
            except subprocess.SubprocessError as e:
                self.errors.append(str(e))
            self.stopping.wait(0.25)

    def running_on(self, worker: str) -> list[str]:
        return [r[0] for r in (self.samples[-1][1] if self.samples else []) if r[2] == worker]


def tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def poll(what, fn, timeout=60, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout}s (last: {last})")


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------


def test_cluster_survives_a_killed_replica_and_worker_under_load(cluster, slipway_bin, busybox_archive, tmp_path):
    started = time.monotonic()
    pg = Postgres(cluster)
    storage = cluster_storage(tmp_path, cluster)
    lb_host = cluster.add_host("lb")
    lb = f"{lb_host.address}:{PORT}"
    # The settings docs/deploying.md says must match on every replica.
    replica_env = dict(os.environ)
    for k in list(replica_env):
        if k.startswith("SLIPWAY_"):
            del replica_env[k]
    replica_env.update(storage)
    replica_env.update({
        "SLIPWAY_DATABASE_DRIVER": "postgres",
        "SLIPWAY_DATABASE_POSTGRES_URL": pg.url,
        "SLIPWAY_SERVER_PUBLIC_URL": f"http://{lb}",
        "SLIPWAY_REGISTRY_SERVICE_NAME": lb,
        "SLIPWAY_BUILDS_WORKER_TOKEN": WORKER_TOKEN,
        "SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0",
        "SLIPWAY_BUILDS_MAX_CONCURRENT_PER_NAMESPACE": str(NAMESPACE_CAP),
        # Short enough that the killed worker's builds are retried within the test, long enough
        # (heartbeats every lease/6 s) that a busy machine never lets a live worker's lease lapse.
        "SLIPWAY_BUILDS_LEASE_TIMEOUT_SECONDS": "12",
        "SLIPWAY_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true",
        "SLIPWAY_AUTH_BCRYPT_COST": "4",
        "SLIPWAY_ADMIN_USER": ADMIN_USER,
        "SLIPWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
    })
    r1 = Replica(cluster, "r1", slipway_bin, replica_env, tmp_path / "r1").start()
    r2 = Replica(cluster, "r2", slipway_bin, replica_env, tmp_path / "r2").start()
    haproxy_env = dict(os.environ, SLIPWAY_LB_BIND=lb, SLIPWAY_REPLICA1=r1.addr, SLIPWAY_REPLICA2=r2.addr)
    lb_proc = lb_host.start("haproxy", ["haproxy", "-db", "-f", HAPROXY_CFG], env=haproxy_env)
    wait_http(lb_host, lb, "/health/instance", proc=lb_proc)

    client = Client(cluster, lb)
    receiver = Receiver(client)
    workers = []
    try:
        run_cluster_scenario(cluster, pg, r1, r2, client, receiver, workers, slipway_bin, busybox_archive, tmp_path, storage)
    finally:
        receiver.close()
        client.teardown()
        cluster.teardown()
        pg.remove()
    print(f"cluster test wall time: {time.monotonic() - started:.1f}s")


def run_cluster_scenario(cluster, pg, r1, r2, client, receiver, workers, slipway_bin, busybox_archive, tmp_path, storage):
    lb = client.lb
    tokens = {ADMIN_USER: r1.cli("admin", "create-token", "--user", ADMIN_USER).strip()}
    for ns in ("team-b", "team-c"):
        r1.cli("admin", "create-user", ns, "--password-stdin", input=f"password-{ns}\n")
        tokens[ns] = r1.cli("admin", "create-token", "--user", ns).strip()
    token = tokens[ADMIN_USER]

    # Tokens, realm and Location headers name the load balancer, whichever replica answers.
    for replica in (r1, r2):
        status, headers, _ = request(client.host, replica.addr, "GET", "/v2/")
        assert status == 401 and f'realm="http://{lb}/v2/auth"' in headers["www-authenticate"], headers

    # The base image of every build, public so builds pull it anonymously.
    client.tool("podman", "load", "-i", busybox_archive)
    client.host.run(["podman", "login", "-u", ADMIN_USER, "--password-stdin", lb], env=client.ct.env, input=ADMIN_PASSWORD + "\n")
    client.tool("podman", "push", "localhost/busybox:latest", f"docker://{lb}/{ADMIN_USER}/busybox:latest")
    assert client.api("POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200

    chunked_upload_across_replicas(client, r1, r2)

    # Distinct images to push under load: busybox plus a random layer each (made before the load).
    images = []
    for i in range(PUSHES):
        ctx = tmp_path / f"img{i}"
        ctx.mkdir()
        (ctx / "payload").write_bytes(random.randbytes(200_000 + i))
        (ctx / "Dockerfile").write_text(f"FROM localhost/busybox:latest\nCOPY payload /payload{i}\nLABEL n={i}\n")
        client.tool("buildah", "bud", "--isolation", "chroot", "-t", f"localhost/img{i}:latest", ctx)
        images.append((f"localhost/img{i}:latest", f"{ADMIN_USER}/pushed{i // 2}", f"t{i}"))
    for repo in sorted({r for _, r, _ in images}):
        status, body = client.api("POST", "/api/v1/repository", token,
                                  {"namespace": ADMIN_USER, "repository": repo.split("/")[1], "visibility": "private", "description": ""})
        assert status == 201, body
        status, body = client.api("POST", f"/api/v1/repository/{repo}/notification/", token,
                                  {"event": "repo_push", "method": "webhook", "config": {"url": receiver.url}, "eventConfig": {}})
        assert status == 201, body

    # 20 builds across 3 namespaces, queued before any worker runs.
    builds = queue_builds(client, tokens, lb)

    sampler = Sampler(pg)
    sampler.start()
    for i in (1, 2, 3):
        host = cluster.add_host(f"w{i}")
        work = tmp_path / f"w{i}"
        (work / "home").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "CONTAINERS_", "REGISTRY_AUTH"))}
        env["HOME"] = str(work / "home")
        env["TMPDIR"] = str(work)
        workers.append(host.start(f"worker{i}", [slipway_bin, "worker", "--orchestrator", f"http://{lb}", "--token", WORKER_TOKEN,
                                                 "--id", f"w{i}", "--concurrency", "2", "--work-dir", work / "builds",
                                                 "--shutdown-grace", "0"], env=env))

    # Live logs of a running build, read through each replica while the worker writes them
    # (through whichever replica the load balancer picked).
    live_log_through_both_replicas(client, pg, r1, r2, builds, tokens)

    # The load: pushes and pulls through the load balancer while the builds run.
    pushed: dict[int, str] = {}
    push_errors: dict[int, str] = {}

    def pusher():
        for i, (image, repo, tag) in enumerate(images):
            digest_file = tmp_path / f"digest{i}"
            proc = client.tool("podman", "push", "--digestfile", digest_file, image, f"docker://{lb}/{repo}:{tag}", check=False)
            if proc.returncode == 0:
                pushed[i] = digest_file.read_text().strip()
            else:
                push_errors[i] = proc.stderr[-500:]

    pulls = {"ok": 0, "failed": []}

    def puller():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (push_thread.is_alive() or not pulls["ok"]):
            done = list(pushed)
            if not done:
                time.sleep(0.5)
                continue
            i = random.choice(done)
            proc = client.tool("podman", "pull", "-q", f"{lb}/{images[i][1]}:{images[i][2]}", check=False)
            if proc.returncode == 0:
                pulls["ok"] += 1
            else:
                pulls["failed"].append(proc.stderr[-300:])

    push_thread = threading.Thread(target=pusher)
    pull_thread = threading.Thread(target=puller)
    push_thread.start()
    pull_thread.start()

    # Mid-load: a replica and a worker that holds a running build die without warning.
    poll("two pushes and four running builds", lambda: len(pushed) >= 2 and len(sampler.samples[-1][1]) >= 4 if sampler.samples else False,
         timeout=120)
    holders = [r[0] for r in pg.psql("SELECT worker_id FROM builds WHERE lease_id IS NOT NULL AND finished_at IS NULL "
                                     "AND worker_id IS NOT NULL ORDER BY started_at")]
    victim_worker = next(w for w in workers if w.name.replace("worker", "w") in holders)
    victim_id = victim_worker.name.replace("worker", "w")
    interrupted = start_interrupted_upload(client, r1)
    r1.proc.kill()
    victim_worker.kill()
    # What the dead worker held, read after its death (it can lease nothing more); its leases
    # last 12 s, so none has been requeued yet.
    victim_builds = [r[0] for r in pg.psql(f"SELECT uuid FROM builds WHERE worker_id = '{victim_id}' AND finished_at IS NULL")]
    assert victim_builds, "the killed worker held no build"
    print(f"killed r1 and {victim_worker.name} (holding {victim_builds}) after {len(pushed)} pushes")
    # A worker that dies takes its builders with it: nothing of it keeps building (or pushing)
    # beside the retry on another worker.
    victim_host = cluster.hosts[victim_id]
    poll(f"every process of the killed worker's host to be gone",
         lambda: not _netns_pids(victim_host.ns), timeout=20)

    resume_interrupted_upload(client, interrupted)
    push_thread.join(240)
    pull_thread.join(120)
    final = {}
    for ns, repo, build_id in builds:
        final[build_id] = poll(f"build {build_id} to finish", lambda: (lambda v: v if v["phase"] in FINAL else None)(
            client.api("GET", f"/api/v1/repository/{repo}/build/{build_id}/status", tokens[ns])[1]), timeout=180, interval=0.5)
    sampler.stopping.set()
    sampler.join(5)

    # --- every push that got a success answer pulls back byte-identical through the survivor
    assert not r1.proc.running() and r2.proc.running()
    assert pushed, f"no push succeeded: {push_errors}"
    for i, digest in pushed.items():
        _, repo, tag = images[i]
        out = tmp_path / f"pulled{i}"
        client.tool("skopeo", "copy", "--src-tls-verify=false", "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                    f"docker://{lb}/{repo}:{tag}", f"dir:{out}")
        manifest = (out / "manifest.json").read_bytes()
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest, f"push {i}: manifest differs from what was pushed"
        for layer in [json.loads(manifest)["config"]] + json.loads(manifest)["layers"]:
            blob = (out / layer["digest"].split(":")[1]).read_bytes()
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"] and len(blob) == layer["size"]

    # --- every build complete; retried where its worker died; none ran twice at once
    not_complete = {b: v["phase"] for b, v in final.items() if v["phase"] != "complete"}
    for ns, repo, build_id in builds:
        if build_id in not_complete:
            _, logs = client.api("GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", tokens[ns])
            print(f"log of build {build_id} ({not_complete[build_id]}):")
            for entry in (logs or {}).get("logs", [])[-15:]:
                print("   ", entry.get("type"), entry.get("message"))
    assert not not_complete, f"builds not complete: {not_complete}"
    rows = pg.psql("SELECT b.uuid, n.name, b.started_at, b.finished_at, b.attempts, b.worker_id FROM builds b "
                   "JOIN namespaces n ON n.id = b.namespace_id")
    assert len(rows) == sum(BUILD_PLAN.values())
    retried = {r[0]: r for r in rows if int(r[4]) > 1}
    for uuid in victim_builds:
        assert uuid in retried and retried[uuid][5] != victim_id, f"build {uuid} of the dead worker was not retried elsewhere: {rows}"
    # Other retries are builds whose worker lost a request to the killed replica (a context
    # download cut mid-way fails that attempt): allowed, within the 3 attempts, and reported.
    assert all(int(r[4]) <= 3 for r in rows), f"a build was leased more than 3 times: {rows}"
    for _, sample in sampler.samples:
        uuids = [r[0] for r in sample]
        assert len(uuids) == len(set(uuids)), f"a build held by two leases at once: {sample}"

    # --- per-namespace caps held throughout
    for at, sample in sampler.samples:
        per_ns = {}
        for r in sample:
            per_ns[r[1]] = per_ns.get(r[1], 0) + 1
        assert all(n <= NAMESPACE_CAP for n in per_ns.values()), f"namespace cap exceeded: {sample}"
    for r in rows:
        running = [o for o in rows if o[1] == r[1] and int(o[2]) <= int(r[2]) < int(o[3])]
        assert len(running) <= NAMESPACE_CAP, f"namespace cap exceeded: {running}"

    # --- no upload left visible half-written
    blob_rows = pg.psql("SELECT digest, size FROM blobs")
    referenced = {r[0] for r in pg.psql("SELECT DISTINCT digest FROM manifest_blobs")}
    dangling = assert_blobs_whole(storage, blob_rows, cluster, referenced)
    served_blobs_whole(client, pg, dangling)

    # --- no replica failed a request on its own (502/503 from the load balancer for requests
    # the killed replica held are expected; a 500 from a replica is a bug)
    server_errors = [line for line in (cluster.log_dir / "haproxy.log").read_text().splitlines()
                     if re.search(r" slipway/replica\d \S+ 5\d\d ", line) and not re.search(r" -?\d+/-?\d+/-?\d+/-1/", line)]
    assert not server_errors, "replicas answered 5xx:\n" + "\n".join(server_errors[:20])

    # --- a notification for every successful push, exactly once after dedupe by delivery id
    expected = {(images[i][1], images[i][2]) for i in pushed}

    def delivered():
        seen = {}
        for r in receiver.pushes():
            for tag in r["json"].get("updated_tags", []):
                seen.setdefault((r["json"]["repository"], tag), set()).add(r["delivery"])
        return seen if expected <= set(seen) else None

    seen = poll("a repo_push notification for every successful push", delivered, timeout=60)
    time.sleep(2)  # let a duplicate show up
    seen = delivered()
    raw = receiver.pushes()
    duplicates = len(raw) - len({r["delivery"] for r in raw})
    print(f"notifications: {len(raw)} repo_push requests, {duplicates} duplicate deliveries (same delivery id)")
    twice = {k: v for k, v in seen.items() if k in expected and len(v) != 1}
    assert not twice, f"pushes notified under more than one delivery id: {twice}"
    print(f"pushes ok {len(pushed)}, failed {len(push_errors)}; pulls ok {pulls['ok']}, failed {len(pulls['failed'])}; "
          f"retried builds {sorted(retried)}")
    for i, err in push_errors.items():
        print(f"push {i} failed (allowed: no success answer): {err.strip().splitlines()[-1] if err.strip() else err}")


def _netns_pids(ns: str) -> list[str]:
    return subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30).stdout.split()


def served_blobs_whole(client, pg, dangling=frozenset()):
    """Whatever the storage driver: every blob a repository links is served whole (its bytes
    hash to its digest, at its recorded size) through the load balancer; a dangling link (see
    assert_blobs_whole) answers 404, so a client uploads the blob again."""
    rows = pg.psql("SELECT n.name, r.name, rb.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest "
                   "JOIN repositories r ON r.id = rb.repository_id JOIN namespaces n ON n.id = r.namespace_id")
    assert rows, "no blobs recorded"
    passwords = {ADMIN_USER: ADMIN_PASSWORD, "team-b": "password-team-b", "team-c": "password-team-c"}
    auth = {}
    for ns, name, digest, size in rows:
        repo = f"{ns}/{name}"
        if repo not in auth:
            auth[repo] = registry_auth(client, repo, user=ns, password=passwords[ns])
        status, _, body = request(client.host, client.lb, "GET", f"/v2/{repo}/blobs/{digest}", headers=auth[repo])
        if digest in dangling:
            assert status == 404, (repo, digest, status, "a link without bytes must not be served")
            continue
        assert status == 200, (repo, digest, status, body[:200])
        assert len(body) == int(size) and "sha256:" + hashlib.sha256(body).hexdigest() == digest, f"{repo}@{digest} is not whole"


# Every object under blobs/ of the bucket, read from inside the S3 host: name -> (size, sha256).
S3_BLOB_LISTING = """
import hashlib, json, sys
import boto3
from botocore.config import Config
endpoint, bucket, access, secret = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access,
                  aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))
out = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for item in page.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        out[item["Key"]] = [len(body), hashlib.sha256(body).hexdigest()]
print(json.dumps(out))
"""


def assert_blobs_whole(storage: dict, blob_rows, cluster, referenced: set) -> set:
    """Every stored blob hashes to its name, and every blob a manifest references is stored at
    its recorded size. Returns the dangling links: blob rows without bytes that no manifest
    references. The registry links a blob before it publishes the bytes (so a concurrent
    collector cannot delete what it publishes), so a replica killed between the two leaves a
    link without bytes: HEAD/GET answer 404 for it (they check the store), the client's retry
    uploads the bytes again, and the collector drops the link if nobody does."""
    if storage.get("SLIPWAY_STORAGE_DRIVER") == "s3":
        s3 = cluster.hosts["s3"]
        moto = Path(shutil.which("moto_server")).resolve().parent
        python = str(moto / "python3") if (moto / "python3").exists() else "python3"
        objects = json.loads(s3.run([python, "-c", S3_BLOB_LISTING, storage["SLIPWAY_STORAGE_S3_ENDPOINT"],
                                     storage["SLIPWAY_STORAGE_S3_BUCKET"], storage["SLIPWAY_STORAGE_S3_ACCESS_KEY"],
                                     storage["SLIPWAY_STORAGE_S3_SECRET_KEY"]], timeout=600).stdout)
        stored = {}
        for key, (size, sha) in objects.items():
            if key.startswith("blobs/sha256/"):
                name = key.rsplit("/", 1)[1]
                assert sha == name, f"stored blob {key} does not hash to its name"
                stored["sha256:" + name] = size
        # Uploads in progress are private scratch space (uploads.<id>.*), never under blobs/.
        print(f"s3 bucket: {len(stored)} blobs, {len(objects) - len(stored)} upload objects")
    elif "SLIPWAY_STORAGE_PATH" in storage:
        root = Path(storage["SLIPWAY_STORAGE_PATH"]) / "blobs" / "sha256"
        stored = {}
        for path in root.glob("*/*"):
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == path.name, f"stored blob {path.name} does not hash to its name"
            stored["sha256:" + path.name] = len(data)
    else:
        raise AssertionError(f"unknown storage settings {sorted(storage)}")
    dangling = set()
    for digest, size in blob_rows:
        if stored.get(digest) is None and digest not in referenced:
            dangling.add(digest)
            continue
        assert stored.get(digest) == int(size), f"blob {digest} is recorded ({size} bytes) but stored as {stored.get(digest)}"
    if dangling:
        print(f"dangling blob links (bytes not published when a replica died; no manifest uses them): {sorted(dangling)}")
    return dangling


def queue_builds(client, tokens, lb):
    builds = []
    for ns, count in BUILD_PLAN.items():
        repos = []
        for i in range(max(3, count // 2)):
            status, body = client.api("POST", "/api/v1/repository", tokens[ns],
                                      {"namespace": ns, "repository": f"built{i}", "visibility": "private", "description": ""})
            assert status == 201, body
            repos.append(f"{ns}/built{i}")
        for i in range(count):
            dockerfile = f"FROM {lb}/{ADMIN_USER}/busybox:latest\nCOPY stamp /stamp\n".encode()
            context = tar_gz({"Dockerfile": dockerfile, "stamp": f"{ns}-{i}-{random.random()}\n".encode()})
            status, drop = client.api("POST", "/api/v1/filedrop/", tokens[ns], {"mimeType": "application/gzip"})
            assert status == 200, drop
            assert drop["url"].startswith(f"http://{lb}/"), drop["url"]
            status, _, body = request(client.host, lb, "PUT", drop["url"].split(lb, 1)[1], body=context)
            assert status == 200, body
            repo = repos[i % len(repos)]
            status, build = client.api("POST", f"/api/v1/repository/{repo}/build/", tokens[ns], {"file_id": drop["file_id"]})
            assert status == 201, build
            builds.append((ns, repo, build["id"]))
    return builds


def chunked_upload_across_replicas(client, r1, r2):
    """A blob upload started and PATCHed through replica 1, PATCHed and finished through replica 2."""
    repo = f"{ADMIN_USER}/chunked"
    auth = registry_auth(client, repo)
    data = random.randbytes(3 * 1024 * 1024 + 17)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    parts = [data[:1024 * 1024], data[1024 * 1024:2 * 1024 * 1024], data[2 * 1024 * 1024:]]
    status, headers, body = request(client.host, r1.addr, "POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
    assert status == 202, body
    location = headers["location"]
    path = location.split(client.lb, 1)[1] if location.startswith("http") else location
    offset = 0
    for part, replica in zip(parts[:2], (r1, r2)):
        status, headers, body = request(client.host, replica.addr, "PATCH", path, body=part, headers={
            **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(part) - 1}"})
        assert status == 202, (replica.name, status, body)
        offset += len(part)
        assert headers["range"] == f"0-{offset - 1}", headers
        location = headers["location"]
        path = location.split(client.lb, 1)[1] if location.startswith("http") else location
    sep = "&" if "?" in path else "?"
    status, headers, body = request(client.host, r2.addr, "PUT", f"{path}{sep}digest={digest}", body=parts[2], headers={
        **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{len(data) - 1}"})
    assert status == 201, (status, body)
    for replica in (r1, r2):
        status, headers, body = request(client.host, replica.addr, "GET", f"/v2/{repo}/blobs/{digest}", headers=auth)
        assert status == 200 and body == data, (replica.name, status, len(body))


def registry_auth(client, repo, user=ADMIN_USER, password=ADMIN_PASSWORD):
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    status, _, body = request(client.host, client.lb, "GET", f"/v2/auth?service={client.lb}&scope=repository:{repo}:pull,push",
                              headers={"Authorization": "Basic " + basic})
    assert status == 200, body
    return {"Authorization": "Bearer " + json.loads(body)["token"]}


def upload_path(client, headers):
    location = headers["location"]
    return location.split(client.lb, 1)[1] if location.startswith("http") else location


def start_interrupted_upload(client, replica):
    """Through `replica`: an upload with one chunk stored and a second one arriving when the
    replica is killed (half its body sent)."""
    repo = f"{ADMIN_USER}/interrupted"
    auth = registry_auth(client, repo)
    data = random.randbytes(2 * 1024 * 1024)
    status, headers, body = request(client.host, replica.addr, "POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
    assert status == 202, body
    path = upload_path(client, headers)
    half = len(data) // 2
    status, headers, body = request(client.host, replica.addr, "PATCH", path, body=data[:half], headers={
        **auth, "Content-Type": "application/octet-stream", "Content-Range": f"0-{half - 1}"})
    assert status == 202, body
    path = upload_path(client, headers)
    address, port = replica.addr.rsplit(":", 1)
    sock = client.host.connect(address, int(port))
    head = (f"PATCH {path} HTTP/1.1\r\nHost: {client.lb}\r\nAuthorization: {auth['Authorization']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Range: {half}-{len(data) - 1}\r\n"
            f"Content-Length: {len(data) - half}\r\n\r\n").encode()
    sock.sendall(head + data[half:half + half // 2])
    return {"repo": repo, "data": data, "path": path, "sock": sock}


def resume_interrupted_upload(client, interrupted):
    """The client retries the cut chunk through the load balancer (the survivor): the upload
    resumes where the dead replica last acknowledged, and completes with the right digest."""
    interrupted["sock"].close()
    repo, data, path = interrupted["repo"], interrupted["data"], interrupted["path"]
    auth = registry_auth(client, repo)
    status, headers, body = request(client.host, client.lb, "GET", path, headers=auth)
    assert status == 204, (status, body)
    half = len(data) // 2
    assert headers["range"] == f"0-{half - 1}", f"the upload does not resume where the dead replica acknowledged: {headers}"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    sep = "&" if "?" in path else "?"
    # The dead replica's claim on the upload holds until it expires (15 s, docs/deploying.md):
    # until then the retry is refused with 416 and changes nothing.
    deadline = time.monotonic() + 60
    refused = 0
    while True:
        status, _, body = request(client.host, client.lb, "PUT", f"{path}{sep}digest={digest}", body=data[half:], headers={
            **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{half}-{len(data) - 1}"})
        if status != 416 or time.monotonic() > deadline:
            break
        refused += 1
        time.sleep(1)
    assert status == 201, (status, body, f"after {refused} refusals")
    print(f"interrupted upload resumed after {refused} refusal(s) while the dead replica's claim held")
    status, _, body = request(client.host, client.lb, "GET", f"/v2/{repo}/blobs/{digest}", headers=auth)
    assert status == 200 and body == data


def live_log_through_both_replicas(client, pg, r1, r2, builds, tokens):
    """While a build runs, its log (written by a worker through whichever replica the load balancer
    chose) reads the same through each replica."""
    def running():
        for ns, repo, build_id in builds:
            status, view = client.api("GET", f"/api/v1/repository/{repo}/build/{build_id}/status", tokens[ns])
            if view["phase"] not in FINAL and view["phase"] not in ("waiting", "queued"):
                status, logs = client.api("GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", tokens[ns], addr=r1.addr)
                if status == 200 and logs["logs"]:
                    return ns, repo, build_id, logs
        return None

    ns, repo, build_id, first = poll("a running build with log entries", running, timeout=90)
    status, second = client.api("GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", tokens[ns], addr=r2.addr)
    assert status == 200, second
    n = len(first["logs"])
    assert second["logs"][:n] == first["logs"], "replica 2 serves a different log than replica 1"
