"""The README's quick start and its "Builds through the API" walk-through, run as written: the
shell blocks between the `e2e:begin` / `e2e:end` markers are taken from README.md itself. The
only changes are the addresses: the server's port replaces 127.0.0.1:8080, and a local file
server replaces the example `CONTEXT_URL`. `slipway` is on PATH (as scripts/run.sh leaves it)
and the commands run in a directory whose ./data is the server's, under a terminal (podman
login prompts for the password) and in an isolated podman/buildah environment."""

import functools
import http.server
import os
import re
import select
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import REPO_ROOT, CtEnv, api, free_port, new_ctenv_dir

README = REPO_ROOT / "README.md"
README_HOST = "127.0.0.1:8080"
README_CONTEXT_URL = "https://files.example.com/hello.tar.gz"
ADMIN = ("admin", "admin-password-1")


def readme_blocks(name: str) -> str:
    text = README.read_text()
    section = re.search(rf"<!-- e2e:begin {re.escape(name)}\b.*?-->(.*?)<!-- e2e:end {re.escape(name)} -->", text, re.S)
    assert section, f"README.md has no e2e:begin/e2e:end markers for {name!r}"
    blocks = re.findall(r"```sh\n(.*?)```", section.group(1), re.S)
    assert blocks, f"README.md section {name!r} has no sh blocks"
    return "\n".join(blocks)


def substitute(script: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in script, f"the README no longer mentions {old}: update this test's substitutions"
        script = script.replace(old, new)
    return script


def run_in_terminal(script: str, *, env: dict, cwd: Path, answers: dict[str, str], timeout: float) -> str:
    """Runs `script` with bash (errexit, pipefail) on a pseudo-terminal, typing each answer once
    after its prompt appears. Returns the output; fails on a non-zero exit or a timeout."""
    master, slave = os.openpty()
    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    output = b""
    pending = dict(answers)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"the README commands did not finish within {timeout}s\n{output.decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer to the terminal has gone
                    chunk = b""
                if not chunk:
                    break
                output += chunk
                for prompt in list(pending):
                    if prompt.encode() in output:
                        os.write(master, (pending.pop(prompt) + "\n").encode())
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    code = proc.wait(30)
    text = output.decode(errors="replace")
    assert code == 0, f"the README commands failed with exit {code}:\n{text}"
    return text


@pytest.fixture
def file_server(tmp_path):
    """A plain HTTP server for files under tmp_path/work (for `archive_url`)."""
    root = tmp_path / "work"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_quick_start_and_build_api_walkthrough_run_as_written(server, slipway_bin, container_tools, file_server, tmp_path):
    work, files_url = file_server
    srv = server(admin=ADMIN, data_dir=work / "data",
                 # The walk-through's archive_url is served from loopback here.
                 env={"SLIPWAY_SECURITY_ALLOW_PRIVATE_TARGETS": "true"})
    path_dir = tmp_path / "path"
    path_dir.mkdir()
    (path_dir / "slipway").symlink_to(slipway_bin)
    ct = CtEnv(new_ctenv_dir())
    try:
        env = {**srv.base_env(), **ct.env, "PATH": f"{path_dir}:{os.environ['PATH']}", "TERM": "dumb"}
        replacements = {README_HOST: srv.host}

        quick = substitute(readme_blocks("quick-start"), replacements)
        run_in_terminal(quick, env=env, cwd=work, answers={"Password:": ADMIN[1]}, timeout=300)
        token = srv.cli("admin", "create-token", "--user", "admin").stdout.strip()
        status, tags = api(srv, "GET", "/api/v1/repository/admin/busybox/tag/?onlyActiveTags=true", token)
        assert status == 200 and [t["name"] for t in tags["tags"]] == ["latest"], tags

        walkthrough = substitute(readme_blocks("builds-api"), {**replacements, README_CONTEXT_URL: f"{files_url}/hello.tar.gz"})
        out = run_in_terminal(walkthrough, env=env, cwd=work, answers={}, timeout=600)

        status, listing = api(srv, "GET", "/api/v1/repository/admin/hello/build/?limit=10", token)
        assert status == 200, listing
        builds = {tuple(b["tags"]): b for b in listing["builds"]}
        assert set(builds) == {("v1", "latest"), ("from-url",), ("slow",)}, listing
        assert builds[("v1", "latest")]["phase"] == "complete", (builds, out)
        assert builds[("from-url",)]["phase"] == "complete", (builds, out)
        assert builds[("slow",)]["phase"] == "cancelled", (builds, out)
        for line in ("complete", "cancelled", '"Okay"', "STEP 1/3: FROM"):
            assert line in out, f"{line!r} missing from the walk-through's output:\n{out}"
        assert "hello from a Slipway build" in (work / "build.log").read_text(), "the plain-text log lacks the RUN output"
        # The image the walk-through pulled is in the local storage, with the uploaded file.
        assert ct.podman("image", "exists", f"{srv.host}/admin/hello:v1", check=False).returncode == 0, out
        status, tags = api(srv, "GET", "/api/v1/repository/admin/hello/tag/?onlyActiveTags=true", token)
        assert {t["name"] for t in tags["tags"]} == {"v1", "latest", "from-url"}, tags
    finally:
        ct.teardown()
