"""The scanner over a real image: built with buildah from the busybox fixture plus a dpkg
status, an os-release and a Python package (or an rpm database written by Debian's `rpm`),
exported with skopeo to a `dir:` layout, and scanned offline with `slipway admin scan-layers`
against feed files written here; and the server's feed updater fetching from a Python HTTP
server with conditional requests (issue #14)."""

import http.server
import json
import re
import shutil
import threading
import time
import zipfile

import pytest

from helpers import http_request, run

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


RPM_SPEC = """Name: {name}
{epoch}
Version: {version}
Release: {release}
Summary: test package
License: MIT
BuildArch: noarch
%description
test
%files
"""

ROCKY_FEED = [{"id": "RLSA-2024:0310", "modified": "2024-01-22T00:00:00Z", "summary": "openssl security update",
               "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl-libs"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]}],
                             "ecosystem_specific": {"urgency": "high"}}]}]


def export_layers(ctenv, context, tag, tmp_path):
    ctenv.buildah("bud", "--isolation", "chroot", "--layers=false", "-f", context / "Containerfile", "-t", tag, context)
    export = tmp_path / "export"
    ctenv.skopeo("copy", f"containers-storage:{tag}", f"dir:{export}")
    manifest = json.loads((export / "manifest.json").read_text())
    return [str(export / layer["digest"].split(":", 1)[1]) for layer in manifest["layers"]]


def test_scan_layers_of_an_rpm_image(ctenv, slipway_bin, tmp_path):
    """An rpmdb.sqlite made by Debian's rpm (packages from rpmbuild, installed with --justdb)."""
    top = tmp_path / "rpmbuild"
    for name, epoch, version, release in [("openssl-libs", "1", "3.0.7", "24.el9"), ("bash", "", "5.1.8", "6.el9_1")]:
        spec = tmp_path / f"{name}.spec"
        spec.write_text(RPM_SPEC.format(name=name, epoch=f"Epoch: {epoch}" if epoch else "", version=version, release=release))
        run(["rpmbuild", "--quiet", "--define", f"_topdir {top}", "-bb", spec])
    context = tmp_path / "context"
    (context / "db").mkdir(parents=True)
    db = ["--define", "_db_backend sqlite", "--dbpath", context / "db"]
    run(["rpm", *db, "--initdb"])
    run(["rpm", *db, "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos", *sorted((top / "RPMS" / "noarch").glob("*.rpm"))])
    (context / "os-release").write_text('NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n')
    (context / "Containerfile").write_text(
        "FROM localhost/busybox\n"
        "COPY os-release /etc/os-release\n"
        "COPY db/rpmdb.sqlite /var/lib/rpm/rpmdb.sqlite\n")
    layers = export_layers(ctenv, context, "localhost/rpmscan", tmp_path)
    (tmp_path / "rocky.json").write_text(json.dumps(ROCKY_FEED))

    response = json.loads(run([slipway_bin, "admin", "scan-layers", "--feed", tmp_path / "rocky.json", *layers]).stdout)
    report = response["data"]["Layer"]
    features = {f["Name"]: f for f in report["Features"]}
    assert set(features) == {"openssl-libs", "bash"}, features.keys()
    ssl = features["openssl-libs"]
    assert (ssl["Version"], ssl["VersionFormat"], ssl["NamespaceName"]) == ("1:3.0.7-24.el9", "rpm", "rocky:9"), ssl
    [vuln] = ssl["Vulnerabilities"]
    assert (vuln["Name"], vuln["FixedBy"]) == ("RLSA-2024:0310", "1:3.0.7-25.el9_3"), vuln
    assert features["bash"]["Version"] == "5.1.8-6.el9_1" and features["bash"]["Vulnerabilities"] == []


def test_scan_layers_of_debians_go_binary(ctenv, slipway_bin, tmp_path):
    """A real Go executable without Go installed: Debian's skopeo (a test dependency). The Go it
    was built with comes from its package's Built-Using field, not from the binary."""
    built_using = run(["dpkg-query", "-W", "-f", "${Built-Using}", "skopeo"]).stdout
    match = re.search(r"golang-1\.\d+ \(= (\d+)\.(\d+)\.(\d+)", built_using)
    assert match, built_using
    major, minor, patch = match.groups()
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(shutil.which("skopeo"), context / "skopeo")
    (context / "Containerfile").write_text("FROM localhost/busybox\nCOPY skopeo /usr/local/bin/skopeo\n")
    layers = export_layers(ctenv, context, "localhost/skopeoscan", tmp_path)
    fixed = f"{major}.{minor}.{int(patch) + 1}"
    (tmp_path / "go.json").write_text(json.dumps([{
        "id": "GO-2099-0001", "modified": "2099-01-01T00:00:00Z", "summary": "a stdlib flaw fixed in the next patch release",
        "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}]))
    response = json.loads(run([slipway_bin, "admin", "scan-layers", "--feed", tmp_path / "go.json", *layers]).stdout)
    features = [f for f in response["data"]["Layer"]["Features"] if f["Name"] == "stdlib"]
    assert len(features) == 1, response["data"]["Layer"]["Features"]
    [stdlib] = features
    assert (stdlib["Version"], stdlib["VersionFormat"]) == (f"{major}.{minor}.{patch}", "semver"), stdlib
    assert [(v["Name"], v["FixedBy"]) for v in stdlib["Vulnerabilities"]] == [("GO-2099-0001", fixed)]


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed: the crafted-ELF unit tests cover Go binaries")
def test_scan_layers_of_a_go_binary(ctenv, slipway_bin, tmp_path):
    """A real Go executable with one dependency, built here when Go is installed."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/hello\n\ngo 1.18\n")
    (src / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOPATH": str(tmp_path / "gopath"), "GOCACHE": str(tmp_path / "gocache"),
           "PATH": "/usr/bin:/bin:/usr/local/go/bin", "HOME": str(tmp_path)}
    run(["go", "build", "-o", src / "hello", "."], cwd=src, env=env)
    version = run(["go", "env", "GOVERSION"], env=env).stdout.strip()
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(src / "hello", context / "hello")
    (context / "Containerfile").write_text("FROM localhost/busybox\nCOPY hello /usr/local/bin/hello\n")
    layers = export_layers(ctenv, context, "localhost/goscan", tmp_path)
    index = json.loads(run([slipway_bin, "admin", "scan-layers", *layers]).stdout)
    found = {(p["package"]["name"], p["package"]["version"]) for p in index["packages"] if p["package"]["namespace"]["name"] == "go"}
    assert ("stdlib", version.removeprefix("go")) in found, found


class FeedHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the test's feed directory with Last-Modified / If-Modified-Since (304), recording requests."""
    directory_path = ""
    requests: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=self.directory_path, **kwargs)

    def do_GET(self):
        self.requests.append((self.path, self.headers.get("If-Modified-Since")))
        super().do_GET()

    def log_message(self, *args):
        pass


def test_feed_updater_in_the_server(server, tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "debian.json").write_text(json.dumps(DEBIAN_FEED))
    with zipfile.ZipFile(feeds / "all.zip", "w", zipfile.ZIP_DEFLATED) as export:  # OSV's per-ecosystem export
        for advisory in OSV_FEED:
            export.writestr(f"{advisory['id']}.json", json.dumps(advisory))
    handler = type("Handler", (FeedHandler,), {"directory_path": str(feeds), "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        config = tmp_path / "slipway.yaml"
        config.write_text(f"""security:
  allowPrivateTargets: true
  maxFeedAgeSeconds: 3600
  feeds:
    - name: tracker
      url: http://127.0.0.1:{port}/debian.json
      format: debian
    - name: missing
      url: http://127.0.0.1:{port}/missing.json
    - name: osv-pypi
      url: http://127.0.0.1:{port}/all.zip
""")
        srv = server(config=config)
        # The updater checks every feed when the server starts.
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline:
            status = srv.cli("admin", "vulns", "status").stdout
            if "tracker\tdebian\t1\t0" in status and "osv-pypi\tosv\t1\t0" in status and "HTTP status 404" in status:
                break
            time.sleep(0.5)
        assert "tracker\tdebian\t1\t0" in status and "osv-pypi\tosv\t1\t0" in status, status
        assert ("/debian.json", None) in handler.requests and ("/missing.json", None) in handler.requests, handler.requests
        # The failed feed is listed with its error; the data of the good one is there.
        assert re.search(r"^missing\t[0-9.]+ h\t-\tHTTP status 404$", status, re.M), status
        assert re.search(r"^tracker\t[0-9.]+ h\t[0-9.]+ h\t-$", status, re.M), status

        code, _, body = http_request(srv, "GET", "/health/instance")
        health = json.loads(body)
        assert code == 200 and health["data"]["services"]["vulnerability_feeds"] is False, health
        # The age gauge is recorded right after the check.
        while 'slipway_scanner_feed_age_seconds{source="tracker"}' not in srv.metrics() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert 'slipway_scanner_feed_age_seconds{source="tracker"}' in srv.metrics()
    finally:
        httpd.shutdown()
        httpd.server_close()
