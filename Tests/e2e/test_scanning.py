"""Scanning on push through real processes (issue #14): fixture images built with buildah from
the busybox base carry a dpkg status, an apk database, a Python dist-info and a jar with
pom.properties; podman pushes them; feeds written here (OSV, Debian Security Tracker, Alpine
SecDB) go in with `slipway admin vulns import`; Quay's security endpoint then reports exactly
the packages, the layers that added them, the vulnerabilities, their fixes and the mapped
severities. A later import that adds a vulnerability to the scanned tag reaches a webhook once
(the notification's `level` filters out a less severe one), and an image built by the build
farm is scanned after its push with no extra step."""

from __future__ import annotations

import io
import json
import time
import zipfile

from helpers import ADMIN_PASSWORD, ADMIN_USER, OCI_MANIFEST, api, http_request
from test_builds import tar_gz, upload_context, wait_for_build
from test_notifications import WebhookReceiver, create_notification, create_repo

OS_RELEASE_DEBIAN = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
OS_RELEASE_ALPINE = b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
DPKG_STATUS = (b"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n"
               b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"
               b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\n")
APK_INSTALLED = (b"P:libcrypto3\nV:3.1.4-r0\no:openssl\n\n"
                 b"P:musl\nV:1.2.4_git20230717-r4\no:musl\n\n")
PY_METADATA = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n"

CRITICAL_CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"  # 10.0

DEBIAN_FEED = {"openssl": {"CVE-2023-5678": {"description": "DH key checks are slow", "releases": {
    "bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low"}}}}}
ALPINE_FEED = {"distroversion": "v3.19", "reponame": "main", "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
               "packages": [{"pkg": {"name": "openssl", "secfixes": {"3.1.4-r1": ["CVE-2023-5678"]}}}]}
OSV_FEED = [
    {"id": "GHSA-h5c8-rqwp-cp95", "modified": "2024-01-11T15:20:48Z", "summary": "Jinja HTML attribute injection",
     "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}],
     "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}]}]},
    {"id": "GHSA-jfh8-c2jp-5v3q", "modified": "2021-12-10T00:00:00Z", "summary": "Log4Shell",
     "severity": [{"type": "CVSS_V3", "score": CRITICAL_CVSS}],
     "affected": [{"package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}]}]}]},
]
# Imported after the first scan, one at a time: a Low finding for bash (below the notification's
# level, so it never reaches the webhook), then a Critical one for zlib (delivered once).
LOW_FEED = {"bash": {"CVE-2022-3715": {"description": "bash heap overflow", "releases": {
    "bookworm": {"status": "open", "urgency": "unimportant"}}}}}
CRITICAL_FEED = {"zlib": {"CVE-2022-37434": {"description": "inflateGetHeader heap overflow", "releases": {
    "bookworm": {"status": "open", "urgency": "high"}}}}}


def jar_with_pom(group: str, artifact: str, version: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.writestr(f"META-INF/maven/{group}/{artifact}/pom.properties",
                     f"groupId={group}\nartifactId={artifact}\nversion={version}\n")
        jar.writestr("org/example/Main.class", b"\xca\xfe\xba\xbe")
    return out.getvalue()


def build(ctenv, tmp_path, name: str, layers: list[dict[str, bytes]]) -> None:
    """localhost/NAME: busybox plus one layer per dict (path → bytes), built with `--layers`."""
    context = tmp_path / name
    lines = ["FROM localhost/busybox:latest"]
    for i, files in enumerate(layers):
        for path, data in files.items():
            target = context / f"layer{i}" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        lines.append(f"COPY layer{i}/ /")
    (context / "Containerfile").write_text("\n".join(lines) + "\n")
    ctenv.buildah("bud", "--isolation", "chroot", "--layers", "-f", context / "Containerfile", "-t", f"localhost/{name}", context)


def build_debianish(ctenv, tmp_path) -> None:
    """localhost/debianish: busybox, a layer with Debian's os-release and a dpkg status, and one
    with a Python dist-info and a log4j-core jar."""
    build(ctenv, tmp_path, "debianish", [
        {"etc/os-release": OS_RELEASE_DEBIAN, "var/lib/dpkg/status": DPKG_STATUS},
        {"usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA": PY_METADATA,
         "opt/app/lib/log4j-core.jar": jar_with_pom("org.apache.logging.log4j", "log4j-core", "2.14.1")},
    ])


def layer_digests(srv, repo: str, tag: str) -> list[str]:
    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{repo}:pull")
    status, _, body = http_request(srv, "GET", f"/v2/{repo}/manifests/{tag}",
                                   headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST})
    assert status == 200, body
    return [layer["digest"] for layer in json.loads(body)["layers"]]


def manifest_digest(srv, token: str, repo: str, tag: str) -> str:
    status, tags = api(srv, "GET", f"/api/v1/repository/{repo}/tag/?specificTag={tag}&onlyActiveTags=true", token)
    assert status == 200, tags
    return tags["tags"][0]["manifest_digest"]


def security(srv, token: str, repo: str, digest: str) -> dict:
    status, body = api(srv, "GET", f"/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true", token)
    assert status == 200, body
    return body


def wait_for_report(srv, token, repo, digest, done=lambda body: body["status"] != "queued", timeout=180) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = security(srv, token, repo, digest)
        if done(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{repo}@{digest}: the report did not get there within {timeout}s: {json.dumps(body)[:2000]}")


def features(body: dict) -> dict[str, dict]:
    return {f["Name"]: f for f in body["data"]["Layer"]["Features"]}


def vulns(feature: dict) -> list[tuple[str, str, str]]:
    return sorted((v["Name"], v["Severity"], v["FixedBy"]) for v in feature["Vulnerabilities"])


def test_pushed_images_are_scanned_and_a_new_finding_is_notified_once(server, ctenv, tmp_path):
    receiver = WebhookReceiver()
    try:
        srv = server(env={"SLIPWAY_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true", "SLIPWAY_SECURITY_REMATCH_CHECK_SECONDS": "1"})
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        feeds = tmp_path / "feeds"
        feeds.mkdir()
        (feeds / "debian.json").write_text(json.dumps(DEBIAN_FEED))
        (feeds / "alpine.json").write_text(json.dumps(ALPINE_FEED))
        (feeds / "osv.json").write_text(json.dumps(OSV_FEED))
        imported = srv.cli("admin", "vulns", "import", feeds / "debian.json", feeds / "alpine.json", feeds / "osv.json").stdout
        assert "osv:osv.json: 2 advisories imported" in imported, imported

        build_debianish(ctenv, tmp_path)
        build(ctenv, tmp_path, "alpinish", [{"etc/os-release": OS_RELEASE_ALPINE, "lib/apk/db/installed": APK_INSTALLED}])
        ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        debian_repo, alpine_repo = f"{ADMIN_USER}/debianish", f"{ADMIN_USER}/alpinish"
        ctenv.podman("push", "localhost/debianish", f"docker://{srv.host}/{debian_repo}:v1")
        ctenv.podman("push", "localhost/alpinish", f"docker://{srv.host}/{alpine_repo}:v1")

        # Debian-like image: dpkg packages from the first own layer, Python and Java from the second.
        digest = manifest_digest(srv, token, debian_repo, "v1")
        layers = layer_digests(srv, debian_repo, "v1")
        assert len(layers) >= 3, layers
        report = wait_for_report(srv, token, debian_repo, digest)
        assert report["status"] == "scanned", report
        assert report["data"]["Layer"]["NamespaceName"] == "debian:12"
        found = features(report)
        assert set(found) == {"libssl3", "zlib1g", "bash", "Jinja2", "org.apache.logging.log4j:log4j-core"}, found.keys()
        for name in ("libssl3", "zlib1g", "bash"):
            assert found[name]["AddedBy"] == layers[-2], (name, found[name]["AddedBy"], layers)
            assert found[name]["NamespaceName"] == "debian:12" and found[name]["VersionFormat"] == "dpkg"
        for name in ("Jinja2", "org.apache.logging.log4j:log4j-core"):
            assert found[name]["AddedBy"] == layers[-1], (name, found[name]["AddedBy"], layers)
        assert found["libssl3"]["Version"] == "3.0.11-1~deb12u2"
        assert vulns(found["libssl3"]) == [("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")]
        assert vulns(found["Jinja2"]) == [("GHSA-h5c8-rqwp-cp95", "Medium", "3.1.3")]
        assert vulns(found["org.apache.logging.log4j:log4j-core"]) == [("GHSA-jfh8-c2jp-5v3q", "Critical", "2.15.0")]
        assert vulns(found["zlib1g"]) == [] and vulns(found["bash"]) == []
        [ssl] = found["libssl3"]["Vulnerabilities"]
        assert ssl["Link"] == "https://security-tracker.debian.org/tracker/CVE-2023-5678"
        assert ssl["Description"] == "DH key checks are slow" and ssl["NamespaceName"] == "debian:12"
        assert ssl["Metadata"]["UpdatedBy"] == "debian"

        # Alpine-like image: apk packages by origin, SecDB's fixes, Unknown severity (the guide's Alpine table).
        alpine_digest = manifest_digest(srv, token, alpine_repo, "v1")
        alpine = wait_for_report(srv, token, alpine_repo, alpine_digest)
        assert alpine["status"] == "scanned", alpine
        found = features(alpine)
        assert set(found) == {"libcrypto3", "musl"}, found.keys()
        assert found["libcrypto3"]["NamespaceName"] == "alpine:v3.19"
        assert found["libcrypto3"]["AddedBy"] == layer_digests(srv, alpine_repo, "v1")[-1]
        assert vulns(found["libcrypto3"]) == [("CVE-2023-5678", "Unknown", "3.1.4-r1")]
        assert vulns(found["musl"]) == []

        status = srv.cli("admin", "vulns", "status").stdout
        assert "manifests: scanned 2, queued 0, failed 0, unsupported 0" in status, status

        # A webhook for new findings at Medium or above (Quay's level index 3).
        create_notification(srv, token, debian_repo, "vulnerability_found", "webhook", {"url": receiver.url}, {"level": 3})
        # A Low finding first: re-matched into the report, filtered out by the level.
        (feeds / "low.json").write_text(json.dumps(LOW_FEED))
        srv.cli("admin", "vulns", "import", feeds / "low.json")
        report = wait_for_report(srv, token, debian_repo, digest, lambda body: vulns(features(body)["bash"]) != [])
        assert vulns(features(report)["bash"]) == [("CVE-2022-3715", "Low", "")]
        # Then a Critical one: exactly one webhook. Deliveries of a notification go out in event
        # order, so had the Low one passed the level, it would have arrived first.
        (feeds / "critical.json").write_text(json.dumps(CRITICAL_FEED))
        srv.cli("admin", "vulns", "import", feeds / "critical.json")
        receiver.wait_for(lambda rs: any(r["headers"].get("x-slipway-event") == "vulnerability_found" for r in rs),
                          "vulnerability_found", timeout=120)
        [hook] = receiver.events("vulnerability_found")
        payload = hook["json"]
        assert payload["repository"] == debian_repo and payload["namespace"] == ADMIN_USER and payload["name"] == "debianish"
        assert payload["docker_url"] == f"{srv.host}/{debian_repo}"
        assert payload["homepage"] == f"{srv.url}/repository/{debian_repo}"
        assert payload["tags"] == ["v1"] and payload["image"] == digest
        assert payload["vulnerability"] == {
            "id": "CVE-2022-37434", "description": "inflateGetHeader heap overflow",
            "link": "https://security-tracker.debian.org/tracker/CVE-2022-37434", "priority": "Critical", "has_fix": False,
        }
        report = security(srv, token, debian_repo, digest)
        assert vulns(features(report)["zlib1g"]) == [("CVE-2022-37434", "Critical", "")]
        # The layers were read once each: the re-matches read none.
        metrics = srv.metrics()
        assert metrics.get('slipway_scan_layers_indexed_total{by="server"}', 0) == len(set(layers) | set(layer_digests(srv, alpine_repo, "v1"))), metrics
    finally:
        receiver.close()


def prepare_farm_build(srv, ctenv, tmp_path) -> tuple[str, str, str]:
    """The Debian feed imported, busybox pushed as a public base, and a context that adds a dpkg
    status on it uploaded into a new repository: returns (API token, repository, file id)."""
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
    create_repo(srv, token, "farm")
    return token, f"{ADMIN_USER}/farm", file_id


def build_and_scan(srv, token, repo, file_id) -> dict:
    """Builds the prepared context as `repo:v1` and returns the image's report once it has one."""
    status, started = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, {"file_id": file_id, "docker_tags": ["v1"]})
    assert status == 201, started
    final = wait_for_build(srv, token, repo, started["id"], timeout=300)
    assert final["phase"] == "complete", final
    return wait_for_report(srv, token, repo, manifest_digest(srv, token, repo, "v1"))


def test_an_image_built_by_the_farm_is_scanned_after_its_push(server, ctenv, tmp_path):
    srv = server()
    report = build_and_scan(srv, *prepare_farm_build(srv, ctenv, tmp_path))
    assert report["status"] == "scanned", report
    assert vulns(features(report)["libssl3"]) == [("CVE-2023-5678", "Medium", "3.0.13-1~deb12u1")]


def test_security_column_and_scanner_page_in_the_browser(server, ctenv, tmp_path):
    # Imported here so the browser fixture is only needed by this test.
    from test_webui import Browser, sign_in

    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    for name, feed in (("debian.json", DEBIAN_FEED), ("osv.json", OSV_FEED), ("critical.json", CRITICAL_FEED)):
        (tmp_path / name).write_text(json.dumps(feed))
    srv.cli("admin", "vulns", "import", tmp_path / "debian.json", tmp_path / "osv.json", tmp_path / "critical.json")
    build_debianish(ctenv, tmp_path)
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    repo = f"{ADMIN_USER}/webscan"
    ctenv.podman("push", "localhost/debianish", f"docker://{srv.host}/{repo}:v1")
    digest = manifest_digest(srv, token, repo, "v1")
    assert wait_for_report(srv, token, repo, digest)["status"] == "scanned"

    browser = Browser()
    try:
        sign_in(browser, srv, then=f"/repository/{repo}?tab=tags")
        # The tags view: counts by severity, most severe first, linking to the scanner page.
        cell = "tr.tag-row[data-tag=\"v1\"] .tag-security a"
        browser.wait_for(f"document.querySelector('{cell}')", message="the security column")
        assert browser.text("tr.tag-row[data-tag='v1'] .tag-security").strip() == "2 Critical · 2 Medium (3 fixable)"
        browser.screenshot("security-column")
        browser.click("tr.tag-row[data-tag='v1'] .tag-security a")
        browser.wait_for(f"location.pathname === '/repository/{repo}/manifest/{digest}'", message="the Security Scanner page")
        browser.wait_for("document.getElementById('vulnerabilities-table')", message="the vulnerabilities table")
        visible = "Array.from(document.querySelectorAll('tr.vuln-row')).filter(r => !r.hidden)"
        names = f"{visible}.map(r => r.cells[1].querySelector('a').textContent)"
        # Most severe first.
        assert browser.eval(f"{visible}.map(r => r.cells[0].textContent.trim())") == ["Critical", "Critical", "Medium", "Medium"]
        browser.screenshot("security-page")
        # Only fixable: zlib's open CVE goes.
        browser.click("#only-fixable")
        assert sorted(browser.eval(names)) == ["CVE-2023-5678", "GHSA-h5c8-rqwp-cp95", "GHSA-jfh8-c2jp-5v3q"]
        browser.click("#only-fixable")
        # Text filter.
        browser.type("#vuln-filter", "jinja")
        browser.wait_for(f"{visible}.length === 1", message="the filtered list")
        assert browser.eval(names) == ["GHSA-h5c8-rqwp-cp95"]
        browser.type("#vuln-filter", "nothing-like-this")
        browser.wait_for("!document.getElementById('no-matching-vulnerabilities').hidden", message="the no-match note")
        browser.type("#vuln-filter", "")
        browser.wait_for(f"{visible}.length === 4", message="every row back")
        # Sorting by severity the other way: least severe first.
        browser.click("#sort-severity")
        assert browser.eval(f"{visible}.map(r => r.cells[0].textContent.trim())") == ["Medium", "Medium", "Critical", "Critical"]
        # The packages view, with the layer that added each.
        browser.click("#view-packages")
        browser.wait_for("document.getElementById('packages-table')", message="the packages view")
        packages = browser.eval("Array.from(document.querySelectorAll('tr.package-row')).map(r => r.cells[0].textContent)")
        assert sorted(packages) == sorted(["libssl3", "zlib1g", "bash", "Jinja2", "org.apache.logging.log4j:log4j-core"])
        layers = layer_digests(srv, repo, "v1")
        added = browser.eval("Array.from(document.querySelectorAll('tr.package-row')).map(r => r.cells[4].querySelector('code').title)")
        assert set(added) == {layers[-2], layers[-1]}
        browser.screenshot("security-packages")
        browser.assert_clean()
    finally:
        browser.close()
