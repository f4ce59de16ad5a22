"""Scan workers through real processes (issue #14 item 3): `slipway serve` with
`security.scanConcurrency: 0` leaves every scan to `slipway worker --roles scan`, which leases the
scan over HTTP, streams the layers the server has not indexed from it, indexes them and hands the
contents back; the server's report is then exactly what an in-process scan produces. One
`slipway worker --roles build,scan` process builds an image with real buildah and scans it too.
"""

from __future__ import annotations

import json
import subprocess

from helpers import ADMIN_PASSWORD, ADMIN_USER, api
from test_builds import tar_gz, upload_context, wait_for_build
from test_notifications import create_repo
from test_scanning import (CRITICAL_FEED, DEBIAN_FEED, DPKG_STATUS, OS_RELEASE_DEBIAN, OSV_FEED, PY_METADATA, build, features, jar_with_pom,
                           layer_digests, manifest_digest, security, vulns, wait_for_report)

WORKER_TOKEN = "scan-worker-test-token"


def scan_env():
    """No scans and no builds in the server process: only workers do them."""
    return {"SLIPWAY_SECURITY_SCAN_CONCURRENCY": "0", "SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0",
            "SLIPWAY_BUILDS_WORKER_TOKEN": WORKER_TOKEN, "SLIPWAY_SECURITY_REMATCH_CHECK_SECONDS": "1"}


class WorkerProcess:
    """A `slipway worker` process with its own work directory."""

    def __init__(self, srv, name, tmp_path, roles):
        self.log = tmp_path / f"{name}.log"
        args = [str(srv.binary), "worker", "--orchestrator", srv.url, "--token", WORKER_TOKEN, "--id", name, "--roles", roles,
                "--work-dir", str(tmp_path / f"work-{name}"), "--shutdown-grace", "0"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, env=srv.base_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.log.read_text(errors="replace")


def test_a_scan_worker_scans_what_the_server_leaves_to_workers(server, ctenv, tmp_path):
    srv = server(env=scan_env())
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    (tmp_path / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    (tmp_path / "osv.json").write_text(json.dumps(OSV_FEED))
    srv.cli("admin", "vulns", "import", tmp_path / "debian.json", tmp_path / "osv.json")
    build(ctenv, tmp_path, "debianish", [
        {"etc/os-release": OS_RELEASE_DEBIAN, "var/lib/dpkg/status": DPKG_STATUS},
        {"usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA": PY_METADATA,
         "opt/app/lib/log4j-core.jar": jar_with_pom("org.apache.logging.log4j", "log4j-core", "2.14.1")},
    ])
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    repo = f"{ADMIN_USER}/debianish"
    ctenv.podman("push", "localhost/debianish", f"docker://{srv.host}/{repo}:v1")
    digest = manifest_digest(srv, token, repo, "v1")
    layers = layer_digests(srv, repo, "v1")
    # Nothing in the server scans: the push queued the scan, and there it stays until a worker comes.
    assert security(srv, token, repo, digest)["status"] == "queued"

    worker = WorkerProcess(srv, "scanner", tmp_path, "scan")
    try:
        report = wait_for_report(srv, token, repo, digest)
    finally:
        log = worker.stop()
    assert report["status"] == "scanned", (report, log[-3000:])
    assert report["data"]["Layer"]["NamespaceName"] == "debian:12"
    found = features(report)
    assert set(found) == {"libssl3", "zlib1g", "bash", "Jinja2", "org.apache.logging.log4j:log4j-core"}, found.keys()
    for name in ("libssl3", "zlib1g", "bash"):
        assert found[name]["AddedBy"] == layers[-2], (name, found[name]["AddedBy"], layers)
    for name in ("Jinja2", "org.apache.logging.log4j:log4j-core"):
        assert found[name]["AddedBy"] == layers[-1], (name, found[name]["AddedBy"], layers)
    assert vulns(found["libssl3"]) == [("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")]
    assert vulns(found["Jinja2"]) == [("GHSA-h5c8-rqwp-cp95", "Medium", "3.1.3")]
    assert vulns(found["org.apache.logging.log4j:log4j-core"]) == [("GHSA-jfh8-c2jp-5v3q", "Critical", "2.15.0")]
    # Every layer was read by the worker, none by the server.
    metrics = srv.metrics()
    assert metrics.get('slipway_scan_layers_indexed_total{by="worker"}', 0) == len(set(layers)), metrics
    assert metrics.get('slipway_scan_layers_indexed_total{by="server"}', 0) == 0, metrics
    assert "scan leased" in log and "scan reported" in log, log[-3000:]

    # Re-matching still runs in the server (it reads no layers): new data reaches the report
    # with the worker gone.
    (tmp_path / "critical.json").write_text(json.dumps(CRITICAL_FEED))
    srv.cli("admin", "vulns", "import", tmp_path / "critical.json")
    report = wait_for_report(srv, token, repo, digest, lambda body: vulns(features(body)["zlib1g"]) != [])
    assert vulns(features(report)["zlib1g"]) == [("CVE-2022-37434", "Critical", "")]
    assert srv.metrics().get('slipway_scan_layers_indexed_total{by="server"}', 0) == 0


def test_one_worker_process_builds_and_scans(server, ctenv, tmp_path):
    srv = server(env=scan_env())
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    (tmp_path / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    srv.cli("admin", "vulns", "import", tmp_path / "debian.json")
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                  "COPY os-release /etc/os-release\n"
                  "COPY status /var/lib/dpkg/status\n").encode()
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile, "os-release": OS_RELEASE_DEBIAN, "status": DPKG_STATUS}))
    repo = f"{ADMIN_USER}/farm"
    create_repo(srv, token, "farm")

    worker = WorkerProcess(srv, "both", tmp_path, "build,scan")
    try:
        status, started = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id, "docker_tags": ["v1"]})
        assert status == 201, started
        final = wait_for_build(srv, token, repo, started["id"], timeout=300)
        assert final["phase"] == "complete", final
        digest = manifest_digest(srv, token, repo, "v1")
        report = wait_for_report(srv, token, repo, digest)
        # The busybox base pushed before the worker started was scanned by it as well.
        base = wait_for_report(srv, token, f"{ADMIN_USER}/busybox", manifest_digest(srv, token, f"{ADMIN_USER}/busybox", "latest"))
    finally:
        log = worker.stop()
    assert report["status"] == "scanned", (report, log[-3000:])
    assert vulns(features(report)["libssl3"]) == [("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")]
    assert base["status"] == "scanned", base
    metrics = srv.metrics()
    assert metrics.get('slipway_scan_layers_indexed_total{by="server"}', 0) == 0, metrics
    assert metrics.get('slipway_scan_layers_indexed_total{by="worker"}', 0) >= 2, metrics
