"""Scan workers through real processes (issue #14 item 3): `slipway serve` with
`security.scanConcurrency: 0` leaves every scan to `slipway worker --roles scan`, which leases the
scan over HTTP, streams the layers the server has not indexed from it, indexes them and hands the
contents back; the server's report is then exactly what an in-process scan produces. One
`slipway worker --roles build,scan` process builds an image with real buildah and scans it too.
"""

from __future__ import annotations

import json

from helpers import ADMIN_PASSWORD, ADMIN_USER
from test_layer_cache import RealWorker
from test_scanning import (CRITICAL_FEED, DEBIAN_FEED, OSV_FEED, build_and_scan, build_debianish, features, layer_digests,
                           manifest_digest, prepare_farm_build, security, vulns, wait_for_report)

WORKER_TOKEN = "scan-worker-test-token"


def scan_env():
    """No scans and no builds in the server process: only workers do them."""
    return {"SLIPWAY_SECURITY_SCAN_CONCURRENCY": "0", "SLIPWAY_BUILDS_IN_PROCESS_WORKERS": "0",
            "SLIPWAY_BUILDS_WORKER_TOKEN": WORKER_TOKEN, "SLIPWAY_SECURITY_REMATCH_CHECK_SECONDS": "1"}


def test_a_scan_worker_scans_what_the_server_leaves_to_workers(server, ctenv, tmp_path):
    srv = server(env=scan_env())
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    (tmp_path / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    (tmp_path / "osv.json").write_text(json.dumps(OSV_FEED))
    srv.cli("admin", "vulns", "import", tmp_path / "debian.json", tmp_path / "osv.json")
    build_debianish(ctenv, tmp_path)
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    repo = f"{ADMIN_USER}/debianish"
    ctenv.podman("push", "localhost/debianish", f"docker://{srv.host}/{repo}:v1")
    digest = manifest_digest(srv, token, repo, "v1")
    layers = layer_digests(srv, repo, "v1")
    # Nothing in the server scans: the push queued the scan, and there it stays until a worker comes.
    assert security(srv, token, repo, digest)["status"] == "queued"

    worker = RealWorker(srv, "scanner", tmp_path, token=WORKER_TOKEN, roles="scan")
    try:
        report = wait_for_report(srv, token, repo, digest)
    finally:
        worker.stop()
    log = worker.log.read_text(errors="replace")
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
    token, repo, file_id = prepare_farm_build(srv, ctenv, tmp_path)
    worker = RealWorker(srv, "both", tmp_path, token=WORKER_TOKEN, roles="build,scan")
    try:
        report = build_and_scan(srv, token, repo, file_id)
        # The busybox base pushed before the worker started was scanned by it as well.
        base = wait_for_report(srv, token, f"{ADMIN_USER}/busybox", manifest_digest(srv, token, f"{ADMIN_USER}/busybox", "latest"))
    finally:
        worker.stop()
    assert report["status"] == "scanned", (report, worker.log.read_text(errors="replace")[-3000:])
    assert vulns(features(report)["libssl3"]) == [("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")]
    assert base["status"] == "scanned", base
    metrics = srv.metrics()
    assert metrics.get('slipway_scan_layers_indexed_total{by="server"}', 0) == 0, metrics
    assert metrics.get('slipway_scan_layers_indexed_total{by="worker"}', 0) >= 2, metrics
