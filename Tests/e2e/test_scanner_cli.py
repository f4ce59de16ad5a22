"""The scanner over a real image: built with buildah from the busybox fixture plus a dpkg
status, an os-release and a Python package, exported with skopeo to a `dir:` layout, and
scanned offline with `slipway admin scan-layers` against feed files written here (issue #14)."""

import json

from helpers import run

DPKG_STATUS = """Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u2

Package: bash
Status: install ok installed
Version: 5.2.15-2+b2

"""

DEBIAN_FEED = {"openssl": {"CVE-2023-5678": {"description": "DH checks are slow", "releases": {
    "bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low"}}}}}

OSV_FEED = [{"id": "GHSA-h5c8-rqwp-cp95", "modified": "2024-01-11T15:20:48Z", "summary": "Jinja HTML attribute injection",
             "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
             "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}]}]}]


def test_scan_layers_of_a_built_image(ctenv, slipway_bin, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "status").write_text(DPKG_STATUS)
    (context / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    (context / "METADATA").write_text("Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n")
    (context / "Containerfile").write_text(
        "FROM localhost/busybox\n"
        "COPY status /var/lib/dpkg/status\n"
        "COPY os-release /etc/os-release\n"
        "COPY METADATA /usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA\n")
    ctenv.buildah("bud", "--isolation", "chroot", "--layers=false", "-f", context / "Containerfile",
                  "-t", "localhost/scanme", context)
    export = tmp_path / "export"
    ctenv.skopeo("copy", "containers-storage:localhost/scanme", f"dir:{export}")
    manifest = json.loads((export / "manifest.json").read_text())
    layers = [str(export / layer["digest"].split(":", 1)[1]) for layer in manifest["layers"]]
    assert len(layers) >= 2

    (tmp_path / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    (tmp_path / "osv.json").write_text(json.dumps(OSV_FEED))
    result = run([slipway_bin, "admin", "scan-layers", "--feed", tmp_path / "debian.json", "--feed", tmp_path / "osv.json",
                  *layers])
    response = json.loads(result.stdout)
    assert response["status"] == "scanned"
    report = response["data"]["Layer"]
    assert report["NamespaceName"] == "debian:12"
    features = {f["Name"]: f for f in report["Features"]}
    assert set(features) == {"libssl3", "bash", "Jinja2"}, features.keys()
    top = layers[-1].rsplit("/", 1)[1]
    assert {f["AddedBy"] for f in features.values()} == {top}, "all three came with the image's own layer, not busybox's"
    [ssl] = features["libssl3"]["Vulnerabilities"]
    assert (ssl["Name"], ssl["Severity"], ssl["FixedBy"]) == ("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")
    [jinja] = features["Jinja2"]["Vulnerabilities"]
    assert (jinja["Name"], jinja["Severity"], jinja["FixedBy"]) == ("GHSA-h5c8-rqwp-cp95", "Critical", "3.1.3")
    assert features["bash"]["Vulnerabilities"] == []

    # Without feeds: the index alone (distribution and packages).
    index = json.loads(run([slipway_bin, "admin", "scan-layers", *layers]).stdout)
    assert index["distribution"]["id"] == "debian"
    assert sorted(p["package"]["name"] for p in index["packages"]) == ["bash", "jinja2", "openssl"]

    # A file that is not a layer is a clear error, not a crash.
    bad = run([slipway_bin, "admin", "scan-layers", tmp_path / "debian.json"], check=False)
    assert bad.returncode != 0 and "not a (compressed) tar archive" in bad.stderr, bad.stderr


def test_vulns_import_and_status(server, tmp_path):
    srv = server()
    assert "no vulnerability data imported" in srv.cli("admin", "vulns", "status").stdout
    (tmp_path / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    osv = OSV_FEED + [{"id": "RUSTSEC-2024-0001", "modified": "2024-01-01T00:00:00Z",
                       "affected": [{"package": {"ecosystem": "crates.io", "name": "x"},
                                     "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}]
    (tmp_path / "osv.json").write_text(json.dumps(osv))
    imported = srv.cli("admin", "vulns", "import", tmp_path / "debian.json", tmp_path / "osv.json").stdout
    assert "debian:debian.json: 1 advisories imported, 0 entries skipped" in imported, imported
    assert "osv:osv.json: 1 advisories imported, 1 entries skipped" in imported, imported
    assert "skipped RUSTSEC-2024-0001: unsupported ecosystem crates.io" in imported
    again = srv.cli("admin", "vulns", "import", tmp_path / "debian.json").stdout
    assert "unchanged" in again
    status = srv.cli("admin", "vulns", "status").stdout
    assert "debian:debian.json\tdebian\t1\t0" in status and "osv:osv.json\tosv\t1\t1" in status, status

    # A bad file among good ones imports nothing: the good file's new content is not applied.
    (tmp_path / "debian.json").write_text(json.dumps({"zlib": DEBIAN_FEED["openssl"], **DEBIAN_FEED}))  # 2 advisories
    (tmp_path / "broken.json").write_text("{not json")
    failed = srv.cli("admin", "vulns", "import", tmp_path / "debian.json", tmp_path / "broken.json", check=False)
    assert failed.returncode != 0 and "broken.json" in failed.stderr, failed.stderr
    assert "debian:debian.json\tdebian\t1\t0" in srv.cli("admin", "vulns", "status").stdout
