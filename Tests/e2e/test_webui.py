"""The web UI in a real headless Chromium (Debian package `chromium`), driven over the Chrome
DevTools Protocol on a pipe (`--remote-debugging-pipe`: no extra Python packages, no port).

Covers: sign in through the form, the repository list, the Tags tab of an image pushed with
podman, labels/expiry/delete/revert through the UI (checked through the API), a build started by
uploading a Dockerfile whose log lines appear on the build page without a reload, and that no
page raises a script error or a Content-Security-Policy violation.

Screenshots of the main pages go to $SLIPWAY_E2E_ARTIFACTS (default .build/e2e-artifacts/webui).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, api, http_request

ARTIFACTS = Path(os.environ.get("SLIPWAY_E2E_ARTIFACTS") or REPO_ROOT / ".build" / "e2e-artifacts" / "webui")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: apt-get install chromium", pytrace=False)


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page, spoken to with CDP messages (NUL-separated JSON) on
    file descriptors 3 (to the browser) and 4 (from it)."""

    def __init__(self, width: int = 1280, height: int = 900):
        self.profile = tempfile.mkdtemp(prefix="slipway-chromium.")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()

        def child_fds():
            # dup first: os.pipe() may have returned 3 or 4 themselves, and dup2 onto the same
            # number would keep their close-on-exec flag.
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking", "about:blank"]
        self.stderr = open(Path(self.profile) / "stderr.log", "wb")
        self.proc = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.out = os.fdopen(to_browser_w, "wb", buffering=0)
        self.inp = os.fdopen(from_browser_r, "rb", buffering=0)
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.next_id = 0
        self.replies: dict[int, dict] = {}
        self.problems: list[str] = []   # script exceptions and CSP violations
        self.session: str | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM"):
            self.call(f"{domain}.enable")

    # -- protocol -----------------------------------------------------------------------
    def _read(self):
        buffer = b""
        while True:
            chunk = self.inp.read(1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self.cond:
                        self.replies[message["id"]] = message
                        self.cond.notify_all()
                else:
                    self._event(message)

    def _event(self, message):
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.problems.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            text = entry.get("text", "")
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                self.problems.append("csp: " + text)
        elif method == "Page.javascriptDialogOpening":
            # window.confirm(...) in the page: accept, as a user clicking OK.
            threading.Thread(target=lambda: self.call("Page.handleJavaScriptDialog", {"accept": True}), daemon=True).start()

    def call(self, method: str, params: dict | None = None, timeout: float = 30):
        with self.lock:
            self.next_id += 1
            ident = self.next_id
            message = {"id": ident, "method": method, "params": params or {}}
            if self.session and not method.startswith("Target."):
                message["sessionId"] = self.session
            self.out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while ident not in self.replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise BrowserError(f"no answer to {method} (browser exit code {self.proc.poll()})")
                self.cond.wait(remaining)
            reply = self.replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    # -- page helpers -------------------------------------------------------------------
    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result.get("result", {}).get("value")

    def goto(self, url: str):
        self.call("Page.navigate", {"url": url})
        self.wait_loaded()

    def wait_loaded(self, timeout: float = 20):
        self.wait_for("document.readyState === 'complete' && !!document.body", timeout)

    def wait_for(self, condition: str, timeout: float = 20, message: str = ""):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                if self.eval(f"!!({condition})"):
                    return
            except BrowserError as e:  # the page is mid-navigation
                last_error = e
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {message or condition} on {self.url()} ({last_error})\n{self.text('body')[:3000]}")

    def url(self) -> str:
        try:
            return self.eval("location.href")
        except BrowserError:
            return "?"

    def text(self, selector: str) -> str:
        return self.eval(f"(document.querySelector({json.dumps(selector)})||{{}}).innerText||''")

    def exists(self, selector: str) -> bool:
        return self.eval(f"!!document.querySelector({json.dumps(selector)})")

    def click(self, selector: str):
        """A real mouse click in the middle of the element (it must be visible). Waits for the
        document to finish loading first, so the page's deferred scripts have attached their
        handlers."""
        self.wait_for(f"document.readyState === 'complete' && "
                      f"(e => e && e.getClientRects().length > 0)(document.querySelector({json.dumps(selector)}))",
                      message=f"{selector} to be visible")
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});
                              const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def type(self, selector: str, text: str, clear: bool = True):
        """Focuses the field and types `text` as keyboard input."""
        self.click(selector)
        if clear:
            self.eval(f"document.querySelector({json.dumps(selector)}).select()")
            self.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8})
            self.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8})
        self.call("Input.insertText", {"text": text})

    def set_value(self, selector: str, value: str):
        """For inputs without a keyboard path (date pickers): set the value and fire input/change."""
        self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};
                      e.dispatchEvent(new Event('input', {{bubbles: true}})); e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")

    def upload(self, selector: str, path: Path):
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def screenshot(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(data))

    def assert_clean(self):
        assert not self.problems, "the page reported problems:\n" + "\n".join(self.problems)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except BrowserError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def sign_in(browser: Browser, srv, user=ADMIN_USER, password=ADMIN_PASSWORD, then="/repository/"):
    browser.goto(f"{srv.url}{then}")
    browser.wait_for("location.pathname === '/signin'", message="the redirect to the sign-in page")
    browser.screenshot("signin")
    browser.type("#username", user)
    browser.type("#password", "wrong-password")
    browser.click("#signin-submit")
    browser.wait_for("!document.getElementById('signin-error').hidden", message="the sign-in error")
    assert "Invalid username or password" in browser.text("#signin-error")
    browser.type("#password", password)
    browser.click("#signin-submit")
    browser.wait_for(f"location.pathname === {json.dumps(then.split('?')[0])} && document.getElementById('user-menu')",
                     message="the signed-in page")


def push_image(ctenv, srv, repo: str, tag: str):
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{repo}:{tag}")


def api_tags(srv, token, repo):
    status, body = api(srv, "GET", f"/api/v1/repository/{repo}/tag/?onlyActiveTags=true&limit=100", token)
    assert status == 200, body
    return {t["name"]: t for t in body["tags"]}


def test_repositories_and_tags_in_the_browser(server, ctenv, browser):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repo = f"{ADMIN_USER}/webapp"
    push_image(ctenv, srv, repo, "v1")
    api(srv, "PUT", f"/api/v1/repository/{repo}", token, {"description": "<script>alert('x')</script> shown as text"})

    sign_in(browser, srv)
    # Repository list: the pushed repository, escaped description.
    browser.wait_for(f"document.querySelector('tr[data-repository=\"{repo}\"]')", message="the repository row")
    assert "<script>alert('x')</script> shown as text" in browser.text("#repo-table")
    browser.screenshot("repository-list")

    # Create a repository through the dialog; a bad name shows the API's error next to the field.
    browser.click("#create-repo-open")
    browser.type("#new-repo-name", "Bad Name!")
    browser.click("#create-repo-submit")
    browser.wait_for("!document.getElementById('new-repo-name-error').hidden || !document.getElementById('create-repo-error').hidden",
                     message="the create error")
    assert "Invalid repository name" in browser.text("#create-repo-dialog")
    browser.type("#new-repo-name", "created-in-ui")
    browser.click("#create-repo-submit")
    browser.wait_for(f"location.pathname === '/repository/{ADMIN_USER}/created-in-ui'", message="the new repository page")
    assert api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/created-in-ui", token)[0] == 200

    # Tags tab of the pushed image.
    browser.goto(f"{srv.url}/repository/{repo}?tab=tags")
    browser.wait_for("document.querySelector('tr.tag-row[data-tag=\"v1\"]')", message="the v1 tag row")
    digest = browser.eval("document.querySelector('tr.tag-row[data-tag=\"v1\"]').dataset.digest")
    assert digest == api_tags(srv, token, repo)["v1"]["manifest_digest"]
    browser.screenshot("tags")

    # Fetch Tag popup: pull by digest.
    browser.click("tr[data-tag='v1'] .fetch-tag")
    browser.set_value("#fetch-kind", "podman-digest")
    assert browser.eval("document.getElementById('fetch-command').value") == f"podman pull --tls-verify=false {srv.host}/{repo}@{digest}"
    browser.click("#fetch-dialog [data-close]")

    # Add a tag through the kebab menu.
    browser.click("tr[data-tag='v1'] details.kebab summary")
    browser.click("tr[data-tag='v1'] .tag-add")
    browser.type("#add-tag-name", "v2")
    browser.click("#add-tag-submit")
    browser.wait_for("document.querySelector('tr.tag-row[data-tag=\"v2\"]')", message="the v2 row")
    assert api_tags(srv, token, repo)["v2"]["manifest_digest"] == digest

    # Labels: the guide's error text for a bad label, then a good one.
    browser.click("tr[data-tag='v1'] details.kebab summary")
    browser.click("tr[data-tag='v1'] .tag-labels")
    browser.type("#label-input", "no-equals-sign")
    browser.click("#label-add")
    browser.wait_for("!document.getElementById('label-input-error').hidden")
    assert browser.text("#label-input-error") == "Invalid label format, must be key value separated by ="
    browser.type("#label-input", "com.example.release=2023-11-14")
    browser.click("#label-add")
    browser.click("#labels-save")
    browser.wait_for("document.getElementById('toast').innerText.includes('Created labels successfully')", message="the labels toast")
    status, labels = api(srv, "GET", f"/api/v1/repository/{repo}/manifest/{digest}/labels", token)
    assert {"com.example.release": "2023-11-14"}.items() <= {l["key"]: l["value"] for l in labels["labels"]}.items()

    # Expiration of v2 through the date + time picker.
    browser.click("tr[data-tag='v2'] details.kebab summary")
    browser.click("tr[data-tag='v2'] .tag-expiration")
    browser.set_value("#expiration-date", "2099-05-01T14:30")
    browser.click("#expiration-submit")
    browser.wait_for("document.getElementById('toast').innerText.includes('Successfully set expiration')", message="the expiry toast")
    assert api_tags(srv, token, repo)["v2"]["expiration"], "the expiration was not set"
    assert "2099" in browser.text("tr[data-tag='v2'] .tag-expiry")

    # Tag details page.
    browser.click("tr[data-tag='v1'] a.tag-name")
    browser.wait_for("document.getElementById('tag-details')", message="the tag details page")
    assert digest in browser.text("#detail-digest")
    assert "com.example.release=2023-11-14" in browser.text("#detail-labels")
    assert browser.eval("document.querySelectorAll('#layers-table tbody tr').length") == 1
    browser.screenshot("tag-details")

    # Delete v2 through the UI and check through the API that it is gone.
    browser.goto(f"{srv.url}/repository/{repo}?tab=tags")
    browser.click("tr[data-tag='v2'] details.kebab summary")
    browser.click("tr[data-tag='v2'] .tag-delete")
    browser.click("#delete-tags-submit")
    browser.wait_for("!document.querySelector('tr.tag-row[data-tag=\"v2\"]') && document.querySelector('tr.tag-row[data-tag=\"v1\"]')",
                     message="the tags table without v2")
    assert "v2" not in api_tags(srv, token, repo)

    # History: revert the deletion.
    browser.goto(f"{srv.url}/repository/{repo}?tab=history&filter=v2")
    browser.wait_for("document.querySelector('tr.history-row[data-tag=\"v2\"] button.revert')", message="a Revert button for v2")
    browser.screenshot("history")
    browser.click("tr.history-row[data-tag='v2'] button.revert")
    browser.click("#revert-submit")
    browser.wait_for("document.getElementById('toast').innerText.includes('Reverted v2')", message="the revert toast")
    assert api_tags(srv, token, repo)["v2"]["manifest_digest"] == digest

    # A narrow window: the page fits without sideways scrolling (tables scroll inside their box).
    browser.call("Emulation.setDeviceMetricsOverride", {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    browser.goto(f"{srv.url}/repository/{repo}?tab=tags")
    assert browser.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"), "the tags page overflows a narrow window"
    browser.screenshot("tags-narrow")
    browser.call("Emulation.clearDeviceMetricsOverride")

    # Delete the created repository from the list with "type confirm".
    browser.goto(f"{srv.url}/repository/")
    browser.click(f"input.repo-select[value='{ADMIN_USER}/created-in-ui']")
    browser.click("#delete-selected")
    assert browser.eval("document.getElementById('delete-repos-submit').disabled")
    browser.type("#delete-repos-confirm", "confirm")
    browser.click("#delete-repos-submit")
    browser.wait_for(f"!document.querySelector('tr[data-repository=\"{ADMIN_USER}/created-in-ui\"]')", message="the list without the repository")
    assert api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/created-in-ui", token)[0] == 404
    browser.assert_clean()

    # Sign out from the user menu.
    browser.click("#user-menu")
    browser.click("#signout")
    browser.wait_for("location.pathname === '/signin'", message="the sign-in page after sign out")
    browser.goto(f"{srv.url}/repository/{repo}")
    browser.wait_for("location.pathname === '/signin'", message="private content sends anonymous viewers to sign in")
    browser.assert_clean()


def test_build_log_streams_on_the_build_page(server, ctenv, browser, tmp_path):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    # The base image lives in this registry; public so the build can pull it anonymously.
    push_image(ctenv, srv, f"{ADMIN_USER}/busybox", "latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "built", "visibility": "private", "description": ""})[0] == 201
    dockerfile = tmp_path / "Dockerfile"
    # The sleeps keep the build running for a few seconds, so the page sees lines arrive.
    dockerfile.write_text(f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                          "RUN echo first-step-output && sleep 2\n"
                          "RUN echo second-step-output && sleep 2\n")

    sign_in(browser, srv, then=f"/repository/{ADMIN_USER}/built?tab=builds")
    browser.click("#start-build-open")
    browser.upload("#build-file", dockerfile)
    browser.type("#build-tags", "ui-built")
    browser.type("#build-args", "STAGE=ui")
    browser.type("#build-secrets", "token=ui-secret-value")
    browser.click("#start-build-submit")
    browser.wait_for("location.pathname.includes('/build/')", timeout=30, message="the build page")
    build_id = browser.eval("document.getElementById('build').dataset.build")
    # Mark the document: a reload would drop this, so finding it at the end proves no reload.
    browser.eval("window.__noReload = 'still-here'")
    browser.wait_for("document.querySelectorAll('#build-log .line, #build-log details').length > 0", timeout=90,
                     message="the first log lines")
    first_count = browser.eval("document.querySelectorAll('#build-log .line').length")
    browser.wait_for("document.getElementById('build-phase').textContent === 'complete'", timeout=240, message="the build to complete")
    browser.wait_for("document.getElementById('log-status').textContent.includes('complete')", timeout=10)
    assert browser.eval("window.__noReload") == "still-here", "the build page reloaded"
    final_count = browser.eval("document.querySelectorAll('#build-log .line').length")
    assert final_count > first_count, (first_count, final_count)
    log_text = browser.text("#build-log")
    assert "first-step-output" in log_text and "second-step-output" in log_text
    commands = browser.eval("Array.from(document.querySelectorAll('#build-log details.command summary')).map(s => s.textContent)")
    assert any("RUN echo first-step-output" in c for c in commands), commands
    # `command` groups collapse.
    browser.click("#build-log details.command summary")
    assert browser.eval("document.querySelector('#build-log details.command').open") is False
    browser.screenshot("build")
    # The dialog's arguments and secrets reached the build; the page shows the secret's id only.
    assert browser.text("#build-args") == "STAGE=ui"
    assert "token" in browser.text("#build-secrets") and "ui-secret-value" not in browser.eval("document.body.innerHTML")

    status, view = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/built/build/{build_id}/status", token)
    assert status == 200 and view["phase"] == "complete", view
    assert "ui-built" in api_tags(srv, token, f"{ADMIN_USER}/built")

    # The finished build's page times every phase: queued, leased, each worker phase, a total.
    browser.goto(f"{srv.url}/repository/{ADMIN_USER}/built/build/{build_id}")
    browser.wait_for("document.getElementById('build-total')", message="the build's timing")
    rows = browser.eval("Array.from(document.querySelectorAll('#build-timing tbody tr')).map(r => r.dataset.phase)")
    assert rows == ["queued", "build-scheduled", "unpacking", "pulling", "building", "pushing"], rows
    durations = browser.eval("Array.from(document.querySelectorAll('#build-timing tbody td.mono')).map(d => d.textContent)")
    assert all(d.endswith(" s") for d in durations), durations
    # The building phase ran two `sleep 2` steps.
    assert float(durations[4].split()[0]) >= 4.0, durations
    assert browser.text("#build-total").endswith(" s")

    # Builds tab lists the build.
    browser.goto(f"{srv.url}/repository/{ADMIN_USER}/built?tab=builds")
    browser.wait_for(f"document.querySelector('tr.build-row[data-build=\"{build_id}\"]')", message="the build in the history")
    browser.screenshot("builds")
    browser.assert_clean()


def test_cancel_shows_cancelling_until_the_build_stops(server, ctenv, browser):
    """Cancel on the build page: the badge and the message say "cancelling" from the click
    until the API reports the phase `cancelled` (the worker stopped the build), never
    "cancelled" before it."""
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    push_image(ctenv, srv, f"{ADMIN_USER}/busybox", "latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "slow", "visibility": "private", "description": ""})[0] == 201
    status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "text/plain"})
    assert status == 200, drop
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nRUN echo sleeping-now && sleep 600\n".encode()
    assert http_request(srv, "PUT", drop["url"].split(srv.host, 1)[1], body=dockerfile)[0] == 200
    status, build = api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/slow/build/", token, {"file_id": drop["file_id"]})
    assert status == 201, build
    build_api = f"/api/v1/repository/{ADMIN_USER}/slow/build/{build['id']}"

    sign_in(browser, srv, then=f"/repository/{ADMIN_USER}/slow/build/{build['id']}")
    browser.wait_for("document.getElementById('build-log').innerText.includes('sleeping-now')", timeout=120,
                     message="the RUN step to start")
    assert browser.text("#build-phase") == "building"
    # Every text the badge and the message show from now on, and the API's phase at that moment
    # (read by the page itself, right after each change of the badge).
    browser.eval(f"""(() => {{
        window.__seen = [];
        const pill = document.getElementById('build-phase'), note = document.getElementById('build-cancel-status');
        const record = async () => {{
            const shown = [pill.textContent, !note || note.hidden ? '' : note.textContent];
            const last = window.__seen[window.__seen.length - 1];
            if (last && last.shown[0] === shown[0] && last.shown[1] === shown[1]) return;
            const entry = {{shown, api: null}};
            window.__seen.push(entry);
            const r = await fetch({json.dumps(build_api + "/status")}, {{credentials: 'same-origin'}});
            entry.api = (await r.json()).phase;
        }};
        new MutationObserver(record).observe(pill, {{childList: true, characterData: true, subtree: true}});
        if (note) new MutationObserver(record).observe(note, {{childList: true, characterData: true, subtree: true, attributes: true}});
    }})()""")
    browser.click("#cancel-build")
    browser.wait_for("document.getElementById('build-phase').textContent === 'cancelled'", timeout=30, message="the cancelled badge")
    browser.wait_for("window.__seen.every(e => e.api !== null)", timeout=10)
    seen = browser.eval("window.__seen")
    shown = [e["shown"] for e in seen]
    assert shown[0][0] == "cancelling" and shown[0][1].startswith("Cancelling"), seen
    assert shown[-1] == ["cancelled", "Build cancelled."], seen
    assert all(s[0] in ("cancelling", "cancelled") for s in shown), seen
    # "cancelling" while the API still said building; "cancelled" only once the API said so.
    assert all(e["api"] == "cancelled" for e in seen if e["shown"][0] == "cancelled"), seen
    assert not browser.exists("#cancel-build")
    status, view = api(srv, "GET", build_api + "/status", token)
    assert view["phase"] == "cancelled", view
    browser.screenshot("build-cancelled")
    browser.assert_clean()


class HookSink:
    """A plain HTTP receiver for webhook notifications."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.bodies: list[bytes] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.httpd.shutdown()


def test_organizations_triggers_and_notifications(server, browser):
    sink = HookSink()
    try:
        srv = server(env={"SLIPWAY_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true"})
        token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
        srv.create_user("bob", "bobpassword1")
        sign_in(browser, srv, then="/organization/")

        # User settings: the time machine setting through the form, checked through the API.
        browser.goto(f"{srv.url}/user/{ADMIN_USER}?tab=settings")
        browser.set_value("#user-time-machine", "86400")
        browser.click("#time-machine-save")
        browser.wait_for("document.getElementById('toast').innerText.includes('Time machine setting saved')")
        assert api(srv, "GET", "/api/v1/user/", token)[1]["tag_expiration_s"] == 86400
        browser.type("#new-password", "short")
        browser.type("#confirm-password", "short")
        browser.click("#password-save")
        browser.wait_for("!document.getElementById('password-error').hidden", message="the password error")
        assert "Invalid password" in browser.text("#password-error")
        browser.screenshot("user-settings")

        # Create an organization.
        browser.goto(f"{srv.url}/organization/")
        browser.click("#create-org-open")
        browser.type("#new-org-name", "acme")
        browser.type("#new-org-email", "registry@acme.example")
        browser.click("#create-org-submit")
        browser.wait_for("location.pathname === '/organization/acme'", message="the organization page")
        assert api(srv, "POST", "/api/v1/repository", token, {"repository": "svc", "namespace": "acme", "visibility": "private",
                                                               "description": ""})[0] == 201

        # Team with a member and a repository permission.
        browser.goto(f"{srv.url}/organization/acme?tab=teams")
        browser.click("#create-team-open")
        browser.type("#new-team-name", "devs")
        browser.set_value("#new-team-role", "creator")
        browser.click("#create-team-submit")
        browser.wait_for("document.getElementById('team-members-dialog').open", message="the members dialog")
        browser.type("#team-member-input", "bob")
        browser.click("#team-member-add")
        browser.wait_for("document.getElementById('team-members-list').innerText.includes('bob')", message="bob in the team")
        browser.click("#team-members-dialog [data-close]")
        browser.wait_for("document.querySelector('tr[data-team=\"devs\"]')", message="the devs row")
        browser.click("tr[data-team='devs'] details.kebab summary")
        browser.click("tr[data-team='devs'] .team-permissions")
        browser.wait_for("document.querySelector('#team-permissions-rows tr[data-repo=\"acme/svc\"]')", message="the permission rows")
        browser.set_value("#team-permissions-rows tr[data-repo='acme/svc'] select", "write")
        browser.click("#team-permissions-save")
        browser.wait_for("document.getElementById('toast').innerText.includes('Successfully updated repository permission')")
        assert api(srv, "GET", "/api/v1/repository/acme/svc/permissions/team/devs", token)[1]["role"] == "write"
        status, members = api(srv, "GET", "/api/v1/organization/acme/team/devs/members", token)
        assert "bob" in [m["name"] for m in members["members"]], members
        browser.screenshot("org-teams")

        # Robot account: create, credentials, bulk repository permission.
        browser.goto(f"{srv.url}/organization/acme?tab=robots")
        browser.click("#create-robot-open")
        browser.type("#new-robot-name", "deployer")
        browser.click("#create-robot-submit")
        browser.wait_for("document.querySelector('tr[data-robot=\"acme+deployer\"]')", message="the robot row")
        browser.click("tr[data-robot='acme+deployer'] button.robot-credentials")
        browser.wait_for("document.getElementById('robot-token').value.length > 10", message="the robot token")
        robot_token = api(srv, "GET", "/api/v1/organization/acme/robots/deployer", token)[1]["token"]
        assert browser.eval("document.getElementById('robot-token').value") == robot_token
        browser.click("#robot-credentials-tabs [data-cred='podman']")
        # A plain-HTTP server: podman needs --tls-verify=false (test_webui_first_day.py runs it).
        assert f"podman login --tls-verify=false -u='acme+deployer' -p='{robot_token}' {srv.host}" in browser.text("#robot-podman")
        browser.click("#robot-credentials-tabs [data-cred='kubernetes']")
        assert "kubernetes.io/dockerconfigjson" in browser.text("#robot-kubernetes")
        browser.screenshot("robot-credentials")
        browser.click("#robot-credentials-dialog [data-close]")
        browser.click("tr[data-robot='acme+deployer'] details.kebab summary")
        browser.click("tr[data-robot='acme+deployer'] .robot-permissions")
        browser.wait_for("document.querySelector('#robot-permissions-rows tr[data-name=\"svc\"]')", message="the robot permission rows")
        browser.click("#robot-permissions-rows tr[data-name='svc'] .robot-repo-check")
        browser.set_value("#robot-permissions-bulk", "read")
        browser.click("#robot-permissions-apply")
        browser.click("#robot-permissions-save")
        browser.wait_for("document.getElementById('toast').innerText.includes('Successfully updated repository permission')")
        perms = api(srv, "GET", "/api/v1/organization/acme/robots/deployer/permissions", token)[1]["permissions"]
        assert [(p["repository"]["name"], p["role"]) for p in perms] == [("svc", "read")], perms

        # Set robot federation (the guide's dialog): "+", issuer and subject, Save; Slipway's
        # claim conditions as claim=value lines. Reopening shows what was saved.
        browser.click("tr[data-robot='acme+deployer'] details.kebab summary")
        browser.click("tr[data-robot='acme+deployer'] .robot-federation")
        browser.wait_for("document.getElementById('robot-federation-dialog').open", message="the federation dialog")
        browser.click("#robot-federation-add")
        browser.type("#robot-federation-rows [data-key='issuer']", "https://token.actions.githubusercontent.com")
        browser.type("#robot-federation-rows [data-key='subject']", "repo:acme/svc:ref:refs/heads/main")
        browser.type("#robot-federation-rows [data-key='conditions']", "ref=refs/heads/main")
        browser.click("#robot-federation-save")
        browser.wait_for("document.getElementById('toast').innerText.includes('Saved robot federation for acme+deployer')",
                         message="the federation saved")
        federation = api(srv, "GET", "/api/v1/organization/acme/robots/deployer/federation", token)[1]
        assert federation == [{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/svc:ref:refs/heads/main",
                               "conditions": {"ref": "refs/heads/main"}}], federation
        browser.click("tr[data-robot='acme+deployer'] details.kebab summary")
        browser.click("tr[data-robot='acme+deployer'] .robot-federation")
        browser.wait_for("document.querySelector('#robot-federation-rows [data-key=\"subject\"]')?.value === 'repo:acme/svc:ref:refs/heads/main'",
                         message="the saved federation entry")
        browser.screenshot("robot-federation")
        browser.click("#robot-federation-dialog [data-close]")

        # Default permission: anyone's new repositories give the team read.
        browser.goto(f"{srv.url}/organization/acme?tab=defaultpermissions")
        browser.click("#create-prototype-open")
        browser.set_value("#prototype-delegate-kind", "team")
        browser.type("#prototype-delegate", "devs")
        browser.click("#create-prototype-submit")
        browser.wait_for("document.querySelector('#prototypes-table tr[data-prototype]')", message="the default permission row")
        prototypes = api(srv, "GET", "/api/v1/organization/acme/prototypes", token)[1]["prototypes"]
        assert prototypes[0]["delegate"]["name"] == "devs" and prototypes[0]["role"] == "read", prototypes

        # Custom-git trigger through the wizard, then its credentials.
        browser.goto(f"{srv.url}/repository/acme/svc?tab=builds")
        browser.wait_for("!document.getElementById('triggers-panel').hidden", message="the triggers panel")
        browser.click("#trigger-create-open")
        browser.type("#trigger-source", "git@git.example.com:acme/svc.git")
        for _ in range(5):
            current = browser.eval("document.querySelector('#trigger-steps li.current').dataset.step")
            if current == "3":
                browser.type("#trigger-build-args", "CHANNEL=stable")
                browser.type("#trigger-build-secrets", "token=wizard-secret-1")
                browser.type("#trigger-platforms", "linux/amd64, linux/arm64")
            browser.click("#trigger-next")
            browser.wait_for(f"document.querySelector('#trigger-steps li.current').dataset.step !== '{current}' || "
                             "!document.getElementById('trigger-wizard-error').hidden", message="the next wizard step")
            assert browser.eval("document.getElementById('trigger-wizard-error').hidden"), browser.text("#trigger-wizard-error")
        assert "git@git.example.com:acme/svc.git" in browser.text("#trigger-review")
        assert "CHANNEL=stable" in browser.text("#trigger-review") and "wizard-secret-1" not in browser.text("#trigger-review")
        assert "linux/amd64, linux/arm64" in browser.text("#trigger-review")
        browser.click("#trigger-next")  # Finish
        browser.wait_for("document.getElementById('trigger-new-url').value.includes('/webhooks/push/trigger/')", message="the activation screen")
        key = browser.eval("document.getElementById('trigger-new-key').value")
        assert key.startswith("ssh-"), key
        browser.screenshot("trigger-activated")
        browser.click("#trigger-cancel")  # "Return to acme/svc"
        browser.wait_for("document.querySelector('#triggers-table tr[data-trigger]')", message="the trigger row")
        triggers = api(srv, "GET", "/api/v1/repository/acme/svc/trigger/", token)[1]["triggers"]
        assert len(triggers) == 1 and triggers[0]["is_active"], triggers
        assert triggers[0]["config"]["build_args"] == {"CHANNEL": "stable"}, triggers[0]["config"]
        assert triggers[0]["config"]["platforms"] == ["linux/amd64", "linux/arm64"], triggers[0]["config"]
        assert triggers[0]["config"]["build_secret_ids"] == ["token"] and "wizard-secret-1" not in json.dumps(triggers)
        browser.click("#triggers-table button[data-action='View Credentials']")
        browser.wait_for("document.getElementById('trigger-credentials-dialog').open")
        assert browser.eval("document.getElementById('trigger-key').value") == key
        browser.click("#trigger-credentials-dialog [data-close]")

        # Webhook notification, then Test.
        browser.goto(f"{srv.url}/repository/acme/svc?tab=settings")
        browser.wait_for("!document.getElementById('notifications-panel').hidden", message="the notifications panel")
        browser.click("#notification-create-open")
        browser.set_value("#notification-event", "repo_push")
        browser.set_value("#notification-method", "webhook")
        browser.type("#notification-url", sink.url)
        browser.type("#notification-title-input", "ci hook")
        browser.click("#notification-submit")
        browser.wait_for("document.querySelector('#notifications-table tr[data-notification]')", message="the notification row")
        browser.click("#notifications-table button[data-action='Test Notification']")
        browser.wait_for("document.getElementById('toast').innerText.includes('Test Notification Queued')")
        deadline = time.monotonic() + 30
        while not sink.bodies and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sink.bodies, "the test notification did not arrive"
        assert json.loads(sink.bodies[0])["repository"] == "acme/svc"
        browser.screenshot("repository-settings")
        browser.assert_clean()
    finally:
        sink.close()


def test_team_invitation_accepted_from_the_bell(server, browser):
    """An invitation reaches the invitee's bell; its link opens /confirminvite, whose Accept
    button joins the team (checked through the API)."""
    srv = server(env={"SLIPWAY_AUTH_REQUIRE_TEAM_INVITE": "true"})
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    srv.create_user("carol", "carolpassword1")
    assert api(srv, "POST", "/api/v1/organization/", token, {"name": "acme", "email": "registry@acme.example"})[0] == 201
    assert api(srv, "PUT", "/api/v1/organization/acme/team/devs", token, {"role": "member"})[0] == 200
    status, invited = api(srv, "PUT", "/api/v1/organization/acme/team/devs/members/carol", token)
    assert status == 200 and invited["invited"] is True, invited

    sign_in(browser, srv, user="carol", password="carolpassword1")
    browser.wait_for("!document.getElementById('bell').hidden && document.querySelector('#bell-menu a.invite-link')",
                     message="the invitation in the bell")
    browser.click("#bell-button")
    assert browser.text("#bell-menu a.invite-link") == "Invitation to join team devs in org acme"
    browser.click("#bell-menu a.invite-link")
    browser.wait_for("location.pathname === '/confirminvite' && document.getElementById('invite-accept')", message="the invitation page")
    assert f"{ADMIN_USER} invited you to join team devs in organization acme" in " ".join(browser.text("#invite-summary").split())
    browser.screenshot("confirm-invite")
    browser.click("#invite-accept")
    browser.wait_for("!document.getElementById('invite-accepted').hidden", message="the accepted message")
    assert browser.eval("document.getElementById('invite-org-link').getAttribute('href')") == "/organization/acme"

    status, members = api(srv, "GET", "/api/v1/organization/acme/team/devs/members?includePending=true", token)
    assert status == 200, members
    carol = [m for m in members["members"] if m["name"] == "carol"]
    assert carol and carol[0]["invited"] is False, members
    # The link is used up, and the notification is gone from the bell.
    browser.goto(browser.url())
    assert "Invitation not found" in browser.text("main")
    browser.wait_for("!document.getElementById('bell').hidden", message="the bell")
    assert not browser.exists("#bell-menu a.invite-link")
    browser.assert_clean()
