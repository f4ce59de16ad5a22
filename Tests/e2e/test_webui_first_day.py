"""A new user's first day with the web UI, in a real headless Chromium (the CDP `Browser` of
test_webui.py): the signed-out "Sign in" button is readable; copied podman commands work
against a plain-HTTP server as they are (a podman that was never told the registry is insecure
logs in and pulls with them); usage logs read as one sentence per action under a chart of
actions per day, with the time on one line and nothing cut off; a build's Source row names the
trigger that started it; and axe-core finds no serious or critical accessibility violation on
the main pages.

axe-core is the copy bundled by the PyPI package `axe-selenium-python` (scripts/install-deps.sh
--test installs it; no network at test time). Its `Axe` class drives a Selenium driver; here it
drives the same Chromium over the DevTools pipe through `ScriptDriver`, which offers the two
calls it makes (`execute_script`, `execute_async_script`), so no chromedriver is needed.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timezone

import pytest

from helpers import ADMIN_USER, api
from test_webui import Browser, browser, push_image, sign_in  # noqa: F401 (browser is a fixture)

GIT_SOURCE = "git://127.0.0.1:9/acme/app.git"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def contrast_ratio(browser: Browser, selector: str) -> float:
    """WCAG contrast of the element's text colour on the first opaque background behind it."""
    return browser.eval(f"""(() => {{
        const parse = (c) => c.match(/[\\d.]+/g).map(Number);
        const luminance = ([r, g, b]) => [r, g, b].map((v) => {{ v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }})
            .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
        const el = document.querySelector({json.dumps(selector)});
        let bg = null;
        for (let e = el; e && !bg; e = e.parentElement) {{
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c.length < 4 || c[3] > 0.99) bg = c;
        }}
        const fg = luminance(parse(getComputedStyle(el).color));
        const back = luminance(bg || [255, 255, 255]);
        return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
    }})()""")


def test_signed_out_sign_in_button_is_readable(server, browser):
    srv = server()
    for path in ("/explore", "/signin"):
        browser.goto(f"{srv.url}{path}")
        if not browser.exists("#signin-link"):
            continue
        ratio = contrast_ratio(browser, "#signin-link")
        browser.screenshot("signed-out-header")
        # WCAG AA for normal text.
        assert ratio >= 4.5, f"the Sign in button's text has a contrast of {ratio:.2f}:1 on {path}"
    assert browser.exists("#signin-link")
    browser.assert_clean()


def strict_podman(ctenv_factory):
    """A podman environment as a new user has it: nothing says 127.0.0.1 speaks plain HTTP."""
    env = ctenv_factory()
    plain = 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
    for path in (env.dir / "registries.conf", env.dir / "home" / ".config" / "containers" / "registries.conf"):
        path.write_text(plain)
    return env


def test_copied_podman_commands_work_against_a_plain_http_server(server, ctenv, ctenv_factory, browser):
    srv = server()
    repo = f"{ADMIN_USER}/app"
    push_image(ctenv, srv, repo, "v1")
    sign_in(browser, srv, then=f"/repository/{repo}?tab=tags")

    browser.wait_for("document.querySelector('tr.tag-row[data-tag=\"v1\"]')", message="the v1 row")
    browser.click("tr[data-tag='v1'] .fetch-tag")
    pull = browser.eval("document.getElementById('fetch-command').value")
    assert pull == f"podman pull --tls-verify=false {srv.host}/{repo}:v1", pull
    browser.set_value("#fetch-kind", "docker-tag")
    assert browser.eval("document.getElementById('fetch-command').value") == f"docker pull {srv.host}/{repo}:v1"
    browser.set_value("#fetch-kind", "podman-digest")
    assert browser.eval("document.getElementById('fetch-command').value").startswith(f"podman pull --tls-verify=false {srv.host}/{repo}@sha256:")
    browser.click("#fetch-dialog [data-close]")

    browser.goto(f"{srv.url}/repository/{repo}/tag/v1")
    assert browser.eval("document.getElementById('cmd-podman-tag').value") == pull
    browser.screenshot("tag-details-pull-commands")

    # The robot credentials' podman login carries the flag too.
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    robot = f"{ADMIN_USER}+puller"
    assert api(srv, "PUT", "/api/v1/user/robots/puller", token, {"description": ""})[0] in (200, 201)
    assert api(srv, "PUT", f"/api/v1/repository/{repo}/permissions/user/{robot}", token, {"role": "read"})[0] == 200
    browser.goto(f"{srv.url}/user/{ADMIN_USER}?tab=robots")
    browser.click(f"tr[data-robot='{robot}'] button.robot-credentials")
    browser.wait_for("document.getElementById('robot-token').value.length > 10", message="the robot token")
    browser.click("#robot-credentials-tabs [data-cred='podman']")
    login = browser.text("#robot-podman")
    assert login.startswith(f"podman login --tls-verify=false -u='{robot}' -p='"), login
    browser.assert_clean()

    # Both commands, as copied, work from a podman that does not know this registry is insecure.
    strict = strict_podman(ctenv_factory)
    refused = strict.podman("pull", f"{srv.host}/{repo}:v1", check=False)
    assert refused.returncode != 0 and "HTTP response to HTTPS client" in refused.stderr, refused.stderr
    strict.run(*shlex.split(login))
    strict.run(*shlex.split(pull))
    assert strict.image_id(f"{srv.host}/{repo}:v1")


def create_active_trigger(srv, token, repo_name="app"):
    assert api(srv, "POST", "/api/v1/repository", token,
               {"repository": repo_name, "visibility": "private", "description": ""})[0] == 201
    base = f"/api/v1/repository/{ADMIN_USER}/{repo_name}/trigger"
    status, view = api(srv, "POST", base + "/", token, {"service": "custom-git"})
    assert status == 201, view
    uuid = view["id"]
    status, view = api(srv, "POST", f"{base}/{uuid}/activate", token, {"config": {"build_source": GIT_SOURCE, "dockerfile_path": "/Dockerfile",
                                                                                 "context": "/"}})
    assert status == 200, view
    return base, uuid


def test_build_page_names_the_trigger_and_shows_the_commit_on_its_own_row(server, browser):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    base, uuid = create_active_trigger(srv, token)
    status, build = api(srv, "POST", f"{base}/{uuid}/start", token, {"commit_sha": COMMIT})
    assert status == 201, build

    sign_in(browser, srv, then=f"/repository/{ADMIN_USER}/app/build/{build['id']}")
    browser.wait_for("document.getElementById('build-source')", message="the Source row")
    source = browser.text("#build-source")
    assert f"custom-git trigger: push to repository {GIT_SOURCE}" in source, source
    assert COMMIT[:7] not in source, f"the Source row shows the commit: {source}"
    assert browser.text("#build-commit").startswith(COMMIT), browser.text("#build-commit")
    browser.screenshot("build-source")
    browser.assert_clean()


def test_usage_logs_read_as_sentences_under_a_chart_of_actions_per_day(server, ctenv, browser):
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repo = f"{ADMIN_USER}/app"
    base, uuid = create_active_trigger(srv, token)
    assert api(srv, "PUT", f"{base}/{uuid}", token, {"enabled": False})[0] == 200
    assert api(srv, "POST", f"/api/v1/repository/{repo}/changevisibility", token, {"visibility": "public"})[0] == 200
    push_image(ctenv, srv, repo, "v1")
    assert api(srv, "POST", "/api/v1/organization/", token, {"name": "acme", "email": "registry@acme.example"})[0] == 201
    assert api(srv, "PUT", "/api/v1/organization/acme/team/devs", token, {"role": "member"})[0] == 200

    sign_in(browser, srv, then=f"/repository/{repo}?tab=logs")
    browser.wait_for("document.querySelector('#logs-table tbody tr')", message="the log rows")
    browser.wait_for("!document.getElementById('logs-chart').hidden", message="the chart")
    browser.screenshot("repository-logs")
    sentences = browser.eval("Array.from(document.querySelectorAll('#logs-table tbody tr')).map(r => r.cells[1].innerText)")
    for expected in (f"Created build trigger custom-git for {repo}",
                     f"Setup build trigger - push to repository {GIT_SOURCE}",
                     f"Build trigger disabled - push to repository {GIT_SOURCE}",
                     f"Change visibility for repository {repo} to public",
                     f"Push of v1 to repository {repo}",
                     f"Create Repository {repo}"):
        assert expected in sentences, f"{expected!r} not among {sentences}"
    table_text = browser.text("#logs-table")
    assert "\\/" not in table_text, "JSON escapes in the logs table"
    for sentence in sentences:
        assert not re.search(r"\b[a-z_.]+=", sentence), f"raw key=value metadata: {sentence}"

    # One short line of time; the description column is whole (nothing to scroll sideways to).
    times = browser.eval("Array.from(document.querySelectorAll('#logs-table tbody time')).map(t => [t.textContent, t.getClientRects().length])")
    for text, lines in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", text), f"the time is not compact: {text!r}"
        assert lines == 1, f"the time {text!r} wraps onto {lines} lines"
    assert_logs_table_fits(browser)

    # The chart: today's bar counts what the aggregate API counts.
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    mdy = datetime.now(timezone.utc).strftime("%m/%d/%Y")
    status, aggregate = api(srv, "GET", f"/api/v1/repository/{repo}/aggregatelogs?starttime={mdy}&endtime={mdy}", token)
    assert status == 200, aggregate
    expected_today = sum(e["count"] for e in aggregate["aggregated"])
    assert expected_today >= 6, aggregate
    bar = browser.eval(f"(g => g && [Number(g.dataset.count), g.querySelectorAll('rect').length])"
                       f"(document.querySelector('#logs-chart g.chart-day[data-day=\"{today}\"]'))")
    assert bar and bar[0] == expected_today and bar[1] >= 1, (bar, expected_today)
    legend = browser.text("#logs-chart-legend")
    assert "Create build trigger (1)" in legend and "Push to repository (1)" in legend, legend

    # A phone-sized window: the description stays visible and wraps inside the page.
    browser.call("Emulation.setDeviceMetricsOverride", {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    browser.goto(f"{srv.url}/repository/{repo}?tab=logs")
    browser.wait_for("document.querySelector('#logs-table tbody tr')")
    assert browser.eval("getComputedStyle(document.querySelector('#logs-table td.log-description')).display") != "none"
    assert_logs_table_fits(browser)
    browser.screenshot("repository-logs-narrow")
    browser.call("Emulation.clearDeviceMetricsOverride")

    # The organization's and the user's logs speak the same way.
    browser.goto(f"{srv.url}/organization/acme?tab=logs")
    browser.wait_for("!document.getElementById('logs-chart').hidden", message="the organization chart")
    org_sentences = browser.text("#logs-table")
    assert "Create team devs in organization acme" in org_sentences, org_sentences
    browser.goto(f"{srv.url}/user/{ADMIN_USER}?tab=logs")
    browser.wait_for("!document.getElementById('logs-chart').hidden", message="the user chart")
    user_sentences = browser.text("#logs-table")
    assert "Login to Slipway" in user_sentences and "Login to registry" in user_sentences, user_sentences
    browser.screenshot("user-logs")
    browser.assert_clean()


def assert_logs_table_fits(browser: Browser):
    overflow = browser.eval("""(() => {
        const wrap = document.querySelector('#usage-logs .table-wrap');
        const cells = Array.from(document.querySelectorAll('#logs-table td.log-description'));
        return {wrap: [wrap.scrollWidth, wrap.clientWidth],
                cells: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText)};
    })()""")
    assert overflow["wrap"][0] <= overflow["wrap"][1] + 1, f"the logs table is cut off: {overflow}"
    assert not overflow["cells"], f"descriptions cut off: {overflow['cells']}"


# ---------------------------------------------------------------------------------------------
# Accessibility
# ---------------------------------------------------------------------------------------------


class ScriptDriver:
    """The two calls `axe_selenium_python.Axe` makes on a Selenium driver, answered by the CDP
    browser: the script runs as a function body in the page (`arguments` as Selenium passes
    them; the last one of an async script is its callback)."""

    def __init__(self, browser: Browser):
        self.browser = browser

    def execute_script(self, script: str, *args):
        return self.browser.eval(f"(function() {{ {script}\n}}).apply(window, {json.dumps(list(args))})")

    def execute_async_script(self, script: str, *args):
        return self.browser.eval(f"new Promise((resolve) => (function() {{ {script}\n}}).apply(window, {json.dumps(list(args))}.concat([resolve])))")


def axe_violations(browser: Browser) -> tuple[list[dict], str]:
    from axe_selenium_python import Axe
    axe = Axe(ScriptDriver(browser))
    axe.inject()
    results = axe.run(options=json.dumps({"resultTypes": ["violations"]}))
    serious = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    return serious, axe.report(serious)


def test_main_pages_have_no_serious_or_critical_accessibility_violations(server, ctenv, browser):
    pytest.importorskip("axe_selenium_python", reason="pip install axe-selenium-python (scripts/install-deps.sh --test)")
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    repo = f"{ADMIN_USER}/app"
    base, uuid = create_active_trigger(srv, token)
    push_image(ctenv, srv, repo, "v1")
    status, build = api(srv, "POST", f"{base}/{uuid}/start", token, {"commit_sha": COMMIT})
    assert status == 201, build
    assert api(srv, "POST", "/api/v1/organization/", token, {"name": "acme", "email": "registry@acme.example"})[0] == 201
    assert api(srv, "PUT", "/api/v1/organization/acme/team/devs", token, {"role": "member"})[0] == 200
    assert api(srv, "PUT", "/api/v1/organization/acme/robots/deployer", token, {"description": "ci"})[0] == 201
    assert api(srv, "POST", "/api/v1/repository", token, {"repository": "svc", "namespace": "acme", "visibility": "public",
                                                           "description": "a public one"})[0] == 201
    # Axe runs from the DevTools protocol and compiles its message templates with `new Function`,
    # which the pages' CSP (rightly) forbids to page scripts: let this browser ignore the CSP.
    browser.call("Page.setBypassCSP", {"enabled": True})

    pages = {"sign-in": "/signin", "explore (signed out)": "/explore"}
    signed_in = {
        "explore": "/explore",
        "repository list": "/repository/",
        "tags": f"/repository/{repo}?tab=tags",
        "tag details": f"/repository/{repo}/tag/v1",
        "history": f"/repository/{repo}?tab=history",
        "builds": f"/repository/{repo}?tab=builds",
        "build": f"/repository/{repo}/build/{build['id']}",
        "settings": f"/repository/{repo}?tab=settings",
        "logs": f"/repository/{repo}?tab=logs",
        "organization list": "/organization/",
        **{f"organization {tab}": f"/organization/acme?tab={tab}"
           for tab in ("repositories", "teams", "robots", "defaultpermissions", "settings", "logs")},
        **{f"user {tab}": f"/user/{ADMIN_USER}?tab={tab}" for tab in ("settings", "robots", "tokens", "logs")},
    }
    failures = []
    for name, path in pages.items():
        browser.goto(f"{srv.url}{path}")
        failures += check_page(browser, name)
    sign_in(browser, srv)
    for name, path in signed_in.items():
        browser.goto(f"{srv.url}{path}")
        failures += check_page(browser, name)
    assert not failures, "serious or critical accessibility violations:\n" + "\n".join(failures)


# Resolves once the page has stopped changing for 300 ms (its scripts have filled in the tables,
# charts and panels they load), or after 5 s.
SETTLED = """new Promise((resolve) => {
    let quiet;
    const done = () => { observer.disconnect(); resolve(true); };
    const observer = new MutationObserver(() => { clearTimeout(quiet); quiet = setTimeout(done, 300); });
    observer.observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
    quiet = setTimeout(done, 300);
    setTimeout(done, 5000);
})"""


def check_page(browser: Browser, name: str) -> list[str]:
    browser.wait_loaded()
    browser.eval(SETTLED)
    violations, report = axe_violations(browser)
    browser.screenshot("a11y-" + re.sub(r"[^a-z0-9]+", "-", name))
    print(f"axe: {name}: {len(violations)} serious or critical violations")
    return [f"--- {name} ({browser.url()}):\n{report}"] if violations else []
