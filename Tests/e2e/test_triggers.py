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
