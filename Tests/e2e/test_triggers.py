"""Build triggers end to end: a bare git repository with examples/post-receive installed, `git push`
→ the hook posts the custom-git webhook → the in-process worker clones (git:// from `git daemon`,
or ssh with the trigger's deploy key against a real sshd) and builds with buildah → the tags the
trigger computed are pulled with podman. Pushes with [skip build] or outside the branch filter
build nothing and show up in the trigger's activity."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, api, free_port, run

HOOK = REPO_ROOT / "examples" / "post-receive"
GIT = ["git", "-c", "user.name=Dev Eloper", "-c", "user.email=dev@example.com", "-c", "init.defaultBranch=main"]


def wait_for_build(srv, token, repo, build_id, timeout=180):
    deadline = time.time() + timeout
    view = None
    while time.time() < deadline:
        status, view = api(srv, "GET", f"/api/v1/repository/{repo}/build/{build_id}/status", token)
        assert status == 200, view
        if view["phase"] in ("complete", "error", "internalerror", "cancelled"):
            return view
        time.sleep(0.5)
    raise AssertionError(f"build {build_id} did not finish: {view}")


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout=15):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port}")


def stop(proc: subprocess.Popen | None):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def setup_registry(server, ctenv):
    """A server with the busybox base image (public) and an API token."""
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    return srv, token


def create_trigger(srv, token, repo_name, config):
    status, _ = api(srv, "POST", "/api/v1/repository", token, {"repository": repo_name, "visibility": "private", "description": ""})
    assert status == 201
    base = f"/api/v1/repository/{ADMIN_USER}/{repo_name}/trigger"
    status, view = api(srv, "POST", base + "/", token, {"service": "custom-git"})
    assert status == 201 and view["is_active"] is False, view
    uuid = view["id"]
    status, view = api(srv, "POST", f"{base}/{uuid}/activate", token, {"config": config})
    assert status == 200, view
    creds = {c["name"]: c["value"] for c in view["config"]["credentials"]}
    assert creds["SSH Public Key"].startswith("ssh-ed25519 ")
    assert f"/webhooks/push/trigger/{uuid}" in creds["Webhook Endpoint URL"]
    return base, uuid, creds


def bare_repo(tmp: Path, webhook_url: str) -> tuple[Path, Path]:
    """srv/repo.git with the example hook installed, and a work tree pushing to it."""
    bare = tmp / "srv" / "repo.git"
    run([*GIT, "init", "-q", "--bare", "-b", "main", bare])
    (bare / "git-daemon-export-ok").touch()
    shutil.copy2(HOOK, bare / "hooks" / "post-receive")
    (bare / "hooks" / "post-receive").chmod(0o755)
    run(["git", "-C", bare, "config", "slipway.webhookurl", webhook_url])
    run(["git", "-C", bare, "config", "slipway.weburl", "https://git.example.com/alice/app"])
    tree = tmp / "tree"
    run([*GIT, "init", "-q", "-b", "main", tree])
    run(["git", "-C", tree, "remote", "add", "origin", bare])
    return bare, tree


def commit_and_push(tree: Path, files: dict[str, str], message: str, branch: str = "main") -> tuple[str, str]:
    """Commits and pushes; returns (commit sha, the push's stderr with the hook's output)."""
    for name, content in files.items():
        (tree / name).write_text(content)
    run([*GIT, "-C", tree, "add", "-A"])
    run([*GIT, "-C", tree, "commit", "-q", "-m", message])
    sha = run(["git", "-C", tree, "rev-parse", "HEAD"]).stdout.strip()
    pushed = run(["git", "-C", tree, "push", "origin", f"HEAD:refs/heads/{branch}"])
    return sha, pushed.stderr


def hook_answer(push_output: str) -> str:
    lines = [line for line in push_output.splitlines() if "slipway:" in line]
    assert lines, f"the hook printed nothing:\n{push_output}"
    return "\n".join(lines)


def test_git_push_through_the_example_hook_builds_and_pulls(server, ctenv, ctenv_factory, tmp_path):
    srv, token = setup_registry(server, ctenv)
    port = free_port()
    base, uuid, creds = create_trigger(srv, token, "app", {
        "build_source": f"git://127.0.0.1:{port}/repo.git", "dockerfile_path": "/Dockerfile", "context": "/",
        "branchtag_regex": "heads/main|tags/v.+", "tag_templates": ["${commit_info.short_sha}", "by-${commit_info.author.username}"],
    })
    bare, tree = bare_repo(tmp_path, creds["Webhook Endpoint URL"])
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                               f"--base-path={bare.parent}", "--export-all", str(bare.parent)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, daemon, "git daemon")
        dockerfile = (f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"
                      "LABEL org.opencontainers.image.title=from-a-push\n"
                      "COPY stamp /stamp\n")
        sha, output = commit_and_push(tree, {"Dockerfile": dockerfile, "stamp": "one\n"}, "first \"quoted\" commit\n\nwith a body")
        answer = hook_answer(output)
        assert "HTTP 200" in answer and '"status":"queued"' in answer, answer
        build_id = re.search(r'"build_id":"([0-9a-f-]+)"', answer).group(1)
        final = wait_for_build(srv, token, f"{ADMIN_USER}/app", build_id)
        status, logs = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/app/build/{build_id}/logs", token)
        assert final["phase"] == "complete", (final, json.dumps(logs)[-4000:])
        short = sha[:7]
        assert sorted(final["tags"]) == sorted([short, "by-dev", "main", "latest"]), final["tags"]
        meta = final["trigger_metadata"]
        assert meta["commit"] == sha and meta["ref"] == "refs/heads/main" and meta["default_branch"] == "main"
        assert meta["commit_info"]["message"].startswith('first "quoted" commit')
        assert meta["commit_info"]["url"] == f"https://git.example.com/alice/app/commit/{sha}"
        assert final["trigger"]["id"] == uuid

        fresh = ctenv_factory()
        fresh.login(srv, ADMIN_USER, ADMIN_PASSWORD)
        for tag in (short, "latest"):
            fresh.podman("pull", f"{srv.host}/{ADMIN_USER}/app:{tag}")
        info = json.loads(fresh.podman("image", "inspect", f"{srv.host}/{ADMIN_USER}/app:{short}").stdout)[0]
        assert info["Labels"]["org.opencontainers.image.title"] == "from-a-push"

        # A [skip build] commit and a branch outside the filter build nothing, visibly.
        _, output = commit_and_push(tree, {"stamp": "two\n"}, "docs only [skip build]")
        assert '"status":"skipped"' in hook_answer(output) and "[skip build]" in hook_answer(output)
        _, output = commit_and_push(tree, {"stamp": "three\n"}, "an experiment", branch="experiment")
        assert "does not match the branch/tag filter" in hook_answer(output)
        status, builds = api(srv, "GET", f"{base}/{uuid}/builds?limit=10", token)
        assert status == 200 and [b["id"] for b in builds["builds"]] == [build_id], builds
        status, activity = api(srv, "GET", f"{base}/{uuid}/activity", token)
        outcomes = [(a["outcome"], a["ref"]) for a in activity["activity"]]
        assert outcomes == [("skipped", "refs/heads/experiment"), ("skipped", "refs/heads/main"), ("queued", "refs/heads/main")], outcomes

        # "Run Trigger Now" with a commit id builds that commit.
        status, view = api(srv, "POST", f"{base}/{uuid}/start", token, {"commit_sha": sha})
        assert status == 201, view
        final = wait_for_build(srv, token, f"{ADMIN_USER}/app", view["id"])
        assert final["phase"] == "complete" and final["tags"] == [short], final  # no ref, no commit_info: the short SHA
    finally:
        stop(daemon)


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server is not installed")
def test_the_worker_clones_over_ssh_with_the_deploy_key(server, ctenv, tmp_path):
    srv, token = setup_registry(server, ctenv)
    ssh_dir = tmp_path / "ssh"
    ssh_dir.mkdir()
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    port = free_port()
    bare_path = tmp_path / "srv" / "repo.git"
    _, uuid, creds = create_trigger(srv, token, "viassh", {"build_source": f"ssh://root@127.0.0.1:{port}{bare_path}"})
    bare, tree = bare_repo(tmp_path, creds["Webhook Endpoint URL"])
    assert bare == bare_path
    # Only the trigger's public key may log in.
    (ssh_dir / "authorized_keys").write_text(creds["SSH Public Key"] + "\n")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh_dir / "hostkey"])
    (ssh_dir / "sshd_config").write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {ssh_dir}/hostkey
PidFile {ssh_dir}/sshd.pid
AuthorizedKeysFile {ssh_dir}/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers root
LogLevel VERBOSE
""")
    run(["/usr/sbin/sshd", "-t", "-f", ssh_dir / "sshd_config"])
    log = open(ssh_dir / "sshd.log", "wb")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(ssh_dir / "sshd_config")], stdout=log, stderr=log)
    try:
        wait_for_port(port, sshd, "sshd")
        sha, output = commit_and_push(tree, {"Dockerfile": f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nLABEL via=ssh\n"}, "over ssh")
        answer = hook_answer(output)
        build_id = re.search(r'"build_id":"([0-9a-f-]+)"', answer).group(1)
        final = wait_for_build(srv, token, f"{ADMIN_USER}/viassh", build_id)
        status, logs = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/viassh/build/{build_id}/logs", token)
        assert final["phase"] == "complete", (final, json.dumps(logs)[-3000:], (ssh_dir / "sshd.log").read_text()[-2000:])
        assert sorted(final["tags"]) == ["latest", "main"]
        assert "Accepted publickey for root" in (ssh_dir / "sshd.log").read_text()
        ctenv.skopeo("inspect", "--tls-verify=false", f"docker://{srv.host}/{ADMIN_USER}/viassh:main")
    finally:
        stop(sshd)
        log.close()


# ---------------------------------------------------------------------------
# Issue #16: ssh host keys (item 6), manual runs tagged like webhooks (item 3), private base
# images and editing an active trigger (item 11).
# ---------------------------------------------------------------------------


class SSHServer:
    """A real sshd on a fixed loopback port whose ed25519 host key can be replaced (an operator
    rebuilding the git server), letting one authorized key in as root."""

    def __init__(self, directory: Path, port: int):
        self.dir = directory
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.log = None
        directory.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        (directory / "authorized_keys").write_text("")
        (directory / "sshd_config").write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {directory}/hostkey
PidFile {directory}/sshd.pid
AuthorizedKeysFile {directory}/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers root
LogLevel VERBOSE
""")
        self.new_host_key()

    def new_host_key(self):
        for f in (self.dir / "hostkey", self.dir / "hostkey.pub"):
            f.unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.dir / "hostkey"])

    @property
    def fingerprint(self) -> str:
        return run(["ssh-keygen", "-l", "-E", "sha256", "-f", self.dir / "hostkey.pub"]).stdout.split()[1]

    def authorize(self, public_key: str):
        (self.dir / "authorized_keys").write_text(public_key + "\n")

    def start(self):
        run(["/usr/sbin/sshd", "-t", "-f", self.dir / "sshd_config"])
        self.log = open(self.dir / "sshd.log", "ab")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                     stdout=self.log, stderr=self.log)
        wait_for_port(self.port, self.proc, "sshd")

    def stop(self):
        stop(self.proc)
        if self.log:
            self.log.close()
            self.log = None

    def logs(self) -> str:
        path = self.dir / "sshd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def trigger_view(srv, token, base, uuid):
    status, view = api(srv, "GET", f"{base}/{uuid}", token)
    assert status == 200, view
    return view


def pinned_fingerprints(view) -> set[str]:
    return {k["fingerprint"] for k in (view.get("ssh_host_keys") or {}).get("keys", [])}


def build_id_from(answer: str) -> str:
    return re.search(r'"build_id":"([0-9a-f-]+)"', answer).group(1)


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server is not installed")
def test_ssh_host_key_is_pinned_and_a_changed_key_fails_until_accepted(server, ctenv, tmp_path):
    srv, token = setup_registry(server, ctenv)
    sshd = SSHServer(tmp_path / "ssh", free_port())
    bare_path = tmp_path / "srv" / "repo.git"
    repo = f"{ADMIN_USER}/pinned"
    try:
        sshd.start()
        first_key = sshd.fingerprint
        # The trigger: only the short-SHA template tags (no ref name, no latest).
        base, uuid, creds = create_trigger(srv, token, "pinned", {
            "build_source": f"ssh://root@127.0.0.1:{sshd.port}{bare_path}", "default_tag_from_ref": False,
            "latest_for_default_branch": False, "tag_templates": ["ssh-${commit_info.short_sha}"],
        })
        view = trigger_view(srv, token, base, uuid)
        keys = view["ssh_host_keys"]
        assert keys["status"] == "recorded" and keys["source"] == "scanned", keys
        assert pinned_fingerprints(view) == {first_key}, (keys, first_key)
        assert keys["endpoint"] == f"127.0.0.1:{sshd.port}"
        sshd.authorize(creds["SSH Public Key"])
        bare, tree = bare_repo(tmp_path, creds["Webhook Endpoint URL"])
        assert bare == bare_path

        # A push builds over ssh with the recorded key.
        dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\nLABEL via=ssh\n"
        sha, output = commit_and_push(tree, {"Dockerfile": dockerfile}, "over ssh")
        final = wait_for_build(srv, token, repo, build_id_from(hook_answer(output)))
        assert final["phase"] == "complete", (final, sshd.logs())
        assert final["tags"] == [f"ssh-{sha[:7]}"], final["tags"]

        # Item 3: "Run Trigger Now" by branch gives the webhook's tags, and builds that commit.
        status, run_view = api(srv, "POST", f"{base}/{uuid}/start", token, {"refs": {"kind": "branch", "name": "main"}})
        assert status == 201, run_view
        assert run_view["tags"] == [f"ssh-{sha[:7]}"], run_view["tags"]
        final = wait_for_build(srv, token, repo, run_view["id"])
        assert final["phase"] == "complete" and final["trigger_metadata"]["commit"] == sha, final

        # The git server gets a new host key: the next build fails and says what to do.
        sshd.stop()
        sshd.new_host_key()
        second_key = sshd.fingerprint
        assert second_key != first_key
        sshd.start()
        sha2, output = commit_and_push(tree, {"Dockerfile": dockerfile + "LABEL second=yes\n"}, "after the key change")
        failed = wait_for_build(srv, token, repo, build_id_from(hook_answer(output)))
        assert failed["phase"] == "error", failed
        message = failed["error"]
        assert "has changed" in message and first_key in message and second_key in message, message
        assert f"/api/v1/repository/{repo}/trigger/{uuid}/hostkeys" in message and '"fingerprint"' in message, message
        status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{failed['id']}/logs", token)
        assert any("has changed" in (e.get("message") or "") and e.get("type") == "error" for e in logs["logs"]), logs

        # Accepting the new key (with the fingerprint the build named) lets the next build through.
        status, view = api(srv, "POST", f"{base}/{uuid}/hostkeys", token, {"fingerprint": "SHA256:notthekey"})
        assert status == 400 and "nothing was changed" in view["error_message"], view
        status, view = api(srv, "POST", f"{base}/{uuid}/hostkeys", token, {"fingerprint": second_key})
        assert status == 200 and pinned_fingerprints(view) == {second_key}, view
        assert view["ssh_host_keys"]["source"] == "accepted"
        status, run_view = api(srv, "POST", f"{base}/{uuid}/start", token, {"commit_sha": sha2})
        assert status == 201, run_view
        final = wait_for_build(srv, token, repo, run_view["id"])
        assert final["phase"] == "complete", final
        assert final["tags"] == [f"ssh-{sha2[:7]}"]
        ctenv.skopeo("inspect", "--tls-verify=false", f"docker://{srv.host}/{repo}:ssh-{sha2[:7]}")
    finally:
        sshd.stop()


def test_a_private_base_image_names_the_remedy_and_an_edited_trigger_fixes_it(server, ctenv, tmp_path):
    """A newcomer's first trigger build: their own base image is private (every push creates a
    private repository), so the build fails saying a pull robot is needed; giving the active
    trigger one through PUT, and changing its tag rules, keeps the deploy key and webhook URL."""
    srv = server()
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/base:latest")
    status, base_repo = api(srv, "GET", f"/api/v1/repository/{ADMIN_USER}/base", token)
    assert status == 200 and base_repo["is_public"] is False, base_repo
    port = free_port()
    base, uuid, creds = create_trigger(srv, token, "fromprivate", {"build_source": f"git://127.0.0.1:{port}/repo.git"})
    bare, tree = bare_repo(tmp_path, creds["Webhook Endpoint URL"])
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                               f"--base-path={bare.parent}", "--export-all", str(bare.parent)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    repo = f"{ADMIN_USER}/fromprivate"
    try:
        wait_for_port(port, daemon, "git daemon")
        dockerfile = f"FROM {srv.host}/{ADMIN_USER}/base:latest\nLABEL from=private\n"
        _, output = commit_and_push(tree, {"Dockerfile": dockerfile}, "first build")
        failed = wait_for_build(srv, token, repo, build_id_from(hook_answer(output)))
        assert failed["phase"] == "error", failed
        message = failed["error"]
        assert f"the base image {srv.host}/{ADMIN_USER}/base:latest is private" in message, message
        assert "give the build a pull robot with read access" in message, message
        status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{failed['id']}/logs", token)
        buildah_lines = [e["message"] for e in logs["logs"] if e.get("type") == "error"]
        assert any("authentication required" in line or "unauthorized" in line for line in buildah_lines), buildah_lines

        # The remedy, as examples/TRIGGERS.md gives it: a robot with read on the base image,
        # set on the active trigger; the same PUT changes its tag rules.
        assert api(srv, "PUT", f"/api/v1/user/robots/builder", token, {"description": "pulls base images"})[0] == 201
        status, grant = api(srv, "PUT", f"/api/v1/repository/{ADMIN_USER}/base/permissions/user/{ADMIN_USER}+builder", token,
                            {"role": "read"})
        assert status == 200, grant
        status, view = api(srv, "PUT", f"{base}/{uuid}", token, {
            "pull_robot": f"{ADMIN_USER}+builder",
            "config": {"build_source": f"git://127.0.0.1:{port}/repo.git", "tag_templates": ["edited-${commit_info.short_sha}"]},
        })
        assert status == 200, view
        assert view["pull_robot"]["name"] == f"{ADMIN_USER}+builder"
        after = {c["name"]: c["value"] for c in view["config"]["credentials"]}
        assert after == creds, "the deploy key and the webhook URL did not change"

        sha, output = commit_and_push(tree, {"Dockerfile": dockerfile, "stamp": "2\n"}, "with a pull robot")
        final = wait_for_build(srv, token, repo, build_id_from(hook_answer(output)))
        assert final["phase"] == "complete", (final, json.dumps(api(srv, "GET", f"/api/v1/repository/{repo}/build/{final['id']}/logs", token)[1])[-3000:])
        assert sorted(final["tags"]) == sorted([f"edited-{sha[:7]}", "main", "latest"]), final["tags"]
        assert final["pull_robot"] == f"{ADMIN_USER}+builder"
    finally:
        stop(daemon)
