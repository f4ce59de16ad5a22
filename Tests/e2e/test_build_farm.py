"""The build farm through real processes: `slipway serve` with remote `slipway worker`
processes leasing over HTTP. The builder is a stub script (Tests/Fixtures/stub-builder.sh) so
scheduling, crashes and retries are what's measured; test_builds.py covers real buildah.

- fairness and caps: 20 builds across 3 namespaces with a cap of 2 running per namespace
- a worker killed with SIGKILL mid-build: the build is retried on another worker
- the server killed mid-build and restarted: the queue and the running build resume
- two replicas sharing one PostgreSQL queue
"""

import os
import sqlite3
import subprocess
import time
import uuid

import pytest

from helpers import ADMIN_USER, REPO_ROOT, api, http_request

STUB = REPO_ROOT / "Tests" / "Fixtures" / "stub-builder.sh"
WORKER_TOKEN = "farm-test-worker-token"
FINAL = ("complete", "error", "internalerror", "cancelled")


def farm_env(**extra):
    env = {
        "SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0",
        "SLIPWAY_BUILDS_WORKER_TOKEN": WORKER_TOKEN,
        "SLIPWAY_BUILDS_LEASE_TIMEOUT_SECONDS": "4",
        "SLIPWAY_BUILDS_MAX_CONCURRENT_PER_NAMESPACE": "2",
    }
    env.update(extra)
    return env


class WorkerProcess:
    def __init__(self, srv, name, tmp_path, concurrency=1):
        self.name = name
        self.log = tmp_path / f"{name}.log"
        args = [str(srv.binary), "worker", "--orchestrator", srv.url, "--token", WORKER_TOKEN, "--id", name,
                "--concurrency", str(concurrency), "--work-dir", str(tmp_path / f"work-{name}"),
                "--builder-executable", str(STUB), "--shutdown-grace", "0",
                # The stub isolates nothing (and cannot run `buildah unshare`): scheduling only.
                "--isolation", "chroot"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, env=srv.base_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_build(srv, token, repo, sleep_seconds):
    dockerfile = f"FROM scratch\n# stub-sleep {sleep_seconds}\n".encode()
    status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "text/plain"})
    assert status == 200, drop
    status, _, body = http_request(srv, "PUT", drop["url"].split(srv.host, 1)[1], body=dockerfile)
    assert status == 200, body
    status, build = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": drop["file_id"]})
    assert status == 201, build
    return build["id"]


def wait_phase(srv, token, repo, build_id, phases, timeout=90):
    deadline = time.time() + timeout
    view = None
    while time.time() < deadline:
        status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/status", token)
        assert status == 200, view
        if view["phase"] in phases:
            return view
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} never reached {phases}: {view}")


def build_rows(srv):
    db = sqlite3.connect(f"file:{srv.data_dir / 'slipway.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT b.uuid, n.name, b.started_at, b.finished_at, b.phase, b.worker_id, b.attempts "
                          "FROM builds b JOIN namespaces n ON n.id = b.namespace_id").fetchall()
    finally:
        db.close()


def make_repos(srv, token, namespace, count):
    repos = []
    for i in range(count):
        status, body = api(srv, "POST", "/api/v1/repository", token,
                           {"namespace": namespace, "repository": f"farm{i}", "visibility": "private", "description": ""})
        assert status == 201, body
        repos.append(f"{namespace}/farm{i}")
    return repos


def test_cap_and_fairness_across_namespaces(server, tmp_path):
    srv = server(env=farm_env())
    tokens = {ADMIN_USER: srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()}
    for name in ("team-b", "team-c"):
        srv.create_user(name, "password-" + name)
        tokens[name] = srv.cli("admin", "create-token", "--user", name).stdout.strip()
    # 12 + 6 + 2 builds, queued in that order: the big namespace first.
    plan = {ADMIN_USER: 12, "team-b": 6, "team-c": 2}
    builds = []
    for ns, count in plan.items():
        repos = make_repos(srv, tokens[ns], ns, 4)
        for i in range(count):
            repo = repos[i % len(repos)]
            builds.append((ns, repo, start_build(srv, tokens[ns], repo, 1)))
    workers = [WorkerProcess(srv, f"w{i}", tmp_path, concurrency=4) for i in range(2)]
    try:
        for ns, repo, build_id in builds:
            assert wait_phase(srv, tokens[ns], repo, build_id, FINAL, timeout=120)["phase"] == "complete"
    finally:
        for w in workers:
            w.stop()

    rows = build_rows(srv)
    assert len(rows) == 20 and all(r[4] == "complete" for r in rows), rows
    # Never more than 2 running in a namespace: check at every start instant.
    for _, ns, start, _, _, _, _ in rows:
        running = [r for r in rows if r[1] == ns and r[2] <= start < r[3]]
        assert len(running) <= 2, (ns, start, running)
    # Fairness: every namespace's first build started before any namespace's fifth.
    starts = {ns: sorted(r[2] for r in rows if r[1] == ns) for ns in plan}
    fifths = [s[4] for s in starts.values() if len(s) >= 5]
    assert all(s[0] < min(fifths) for s in starts.values()), starts
    # Both worker processes did work.
    assert {r[5] for r in rows} == {"w0", "w1"}, {r[5] for r in rows}


def test_killed_worker_build_is_retried_on_another_worker(server, tmp_path):
    srv = server(env=farm_env())
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repo = make_repos(srv, token, ADMIN_USER, 1)[0]
    doomed = WorkerProcess(srv, "doomed", tmp_path)
    build_id = start_build(srv, token, repo, 3)
    wait_phase(srv, token, repo, build_id, ("building",))
    doomed.kill()  # mid-build, no goodbye
    rescuer = WorkerProcess(srv, "rescuer", tmp_path)
    try:
        final = wait_phase(srv, token, repo, build_id, FINAL, timeout=60)
    finally:
        rescuer.stop()
    assert final["phase"] == "complete", final
    (_, _, _, _, phase, worker, attempts), = build_rows(srv)
    assert (phase, worker, attempts) == ("complete", "rescuer", 2)
    # Whatever the dead worker's builder left running was its own process group's business;
    # the retry's log is the one served.
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/logs", token)
    assert status == 200 and any("stub-build" in e["message"] for e in logs["logs"]), logs


def test_server_killed_mid_build_queue_resumes(server, tmp_path):
    srv = server(env=farm_env())
    srv.fixed_port = srv.port
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repos = make_repos(srv, token, ADMIN_USER, 2)
    worker = WorkerProcess(srv, "steady", tmp_path)
    try:
        running = start_build(srv, token, repos[0], 4)
        waiting = start_build(srv, token, repos[1], 1)
        wait_phase(srv, token, repos[0], running, ("building",))
        srv.kill()
        time.sleep(1)
        srv.start()
        # The worker kept its lease through the outage (heartbeats resume); the queued build
        # is still queued and runs next.
        assert wait_phase(srv, token, repos[0], running, FINAL, timeout=60)["phase"] == "complete"
        assert wait_phase(srv, token, repos[1], waiting, FINAL, timeout=60)["phase"] == "complete"
    finally:
        worker.stop()
    assert sorted(r[6] for r in build_rows(srv)) == [1, 1], "nothing had to be retried"


def test_two_replicas_share_one_postgres_queue(server, tmp_path):
    """Two `slipway serve` replicas on one PostgreSQL database and one blob store: builds queued
    through replica A are leased by a worker of replica B, the namespace cap holds across both,
    and no build is leased twice."""
    base = os.environ.get("SLIPWAY_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("SLIPWAY_TEST_POSTGRES_URL is not set (scripts/test.sh starts a throwaway PostgreSQL)")
    name = "slipway_e2e_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    url = base.rsplit("/", 1)[0] + "/" + name
    # A lease long enough that a loaded machine never lets one run out: a second lease of a
    # build here can only be the replicas leasing it twice, which is what this test is about.
    env = farm_env(SLIPWAY_DATABASE_DRIVER="postgres", SLIPWAY_DATABASE_POSTGRES_URL=url,
                   SLIPWAY_STORAGE_PATH=str(tmp_path / "shared-storage"), SLIPWAY_BUILDS_LEASE_TIMEOUT_SECONDS="60")
    a = server(env=env)
    b = server(env=env)
    token = a.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repos = make_repos(a, token, ADMIN_USER, 6)
    worker_b = WorkerProcess(b, "worker-b", tmp_path, concurrency=3)
    worker_a = None
    try:
        builds = [(repo, start_build(a, token, repo, 1.5)) for repo in repos]
        wait_phase(b, token, builds[0][0], builds[0][1], ("building", "complete"))
        worker_a = WorkerProcess(a, "worker-a", tmp_path, concurrency=3)
        for repo, build_id in builds:
            assert wait_phase(b, token, repo, build_id, FINAL, timeout=120)["phase"] == "complete"
    finally:
        worker_b.stop()
        if worker_a:
            worker_a.stop()
    out = subprocess.run(["psql", url, "-At", "-F", ",", "-c",
                          "SELECT uuid, started_at, finished_at, attempts, worker_id FROM builds"],
                         check=True, capture_output=True, text=True).stdout
    rows = [line.split(",") for line in out.strip().splitlines()]
    assert len(rows) == 6, rows
    assert all(r[3] == "1" for r in rows), f"a build was leased more than once: {rows}"
    assert "worker-b" in {r[4] for r in rows}, "replica B's worker never got a build queued through replica A"
    for r in rows:
        start = int(r[1])
        running = [o for o in rows if int(o[1]) <= start < int(o[2])]
        assert len(running) <= 2, f"namespace cap exceeded across replicas: {running}"
