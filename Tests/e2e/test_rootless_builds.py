"""Rootless build isolation and per-build resource limits (issue #18, item 5), through the real
build farm: `slipway serve`'s in-process worker (running as root) builds with buildah as the
unprivileged build user, each RUN step in user, mount and PID namespaces of its own.

The escape probe is a Dockerfile whose RUN step tries what a hostile build would: read the
server's configuration (which holds the worker token) directly and through
`/proc/<worker pid>/root`, read the worker's environment and command line, and signal it. Under rootless
isolation every attempt fails; the same probe under `builds.isolation: chroot` reads the worker's
command line and may signal it, which proves the probe sees an escape when there is one.

Limits come from the server's configuration (`builds.namespaceLimits`) and are enforced by a
control group per build: a build that forks past its process limit, one that allocates past its
memory limit and one that runs past its namespace's wall time each fail with a message that
names the limit, and the next build of the namespace still works."""

import os
import subprocess

import pytest

from helpers import ADMIN_PASSWORD, ADMIN_USER, api
from test_builds import tar_gz, upload_context, wait_for_build

WORKER_SECRET = "wtok-7d1e55c2-rootless-probe"


def write_config(tmp_path, text: str):
    path = tmp_path / "slipway.yaml"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def prepare(srv, ctenv):
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    ctenv.podman("push", "localhost/busybox:latest", f"docker://{srv.host}/{ADMIN_USER}/busybox:latest")
    assert api(srv, "POST", f"/api/v1/repository/{ADMIN_USER}/busybox/changevisibility", token, {"visibility": "public"})[0] == 200
    return token


def build(srv, token, repo_name: str, dockerfile: str, build_args=None):
    file_id = upload_context(srv, token, tar_gz({"Dockerfile": dockerfile.encode()}))
    status, _ = api(srv, "POST", "/api/v1/repository", token, {"repository": repo_name, "visibility": "private", "description": ""})
    assert status in (201, 400)
    repo = f"{ADMIN_USER}/{repo_name}"
    body = {"file_id": file_id, "docker_tags": ["latest"]}
    if build_args:
        body["build_args"] = build_args
    status, started = api(srv, "POST", f"/api/v1/repository/{repo}/build/", token, body)
    assert status == 201, started
    final = wait_for_build(srv, token, repo, started["id"], timeout=240)
    status, logs = api(srv, "GET", f"/api/v1/repository/{repo}/build/{started['id']}/logs", token)
    assert status == 200
    return final, [e["message"] for e in logs["logs"]]


PROBE = ("ARG WORKER_PID\nARG CONFIG_PATH\n"
         "RUN cat /proc/self/uid_map; "
         "if cat \"$CONFIG_PATH\" 2>/dev/null; then echo PROBE-READ-DIRECT; else echo probe-no-direct; fi; "
         "if cat \"/proc/$WORKER_PID/root$CONFIG_PATH\" 2>/dev/null; then echo PROBE-READ-PROC-ROOT; else echo probe-no-proc-root; fi; "
         "if cat \"/proc/$WORKER_PID/environ\" >/dev/null 2>&1; then echo PROBE-READ-ENVIRON; else echo probe-no-environ; fi; "
         "if tr '\\0' ' ' < \"/proc/$WORKER_PID/cmdline\" 2>/dev/null; then echo; echo PROBE-READ-CMDLINE; else echo probe-no-cmdline; fi; "
         "if kill -0 \"$WORKER_PID\" 2>/dev/null; then echo PROBE-SIGNAL; else echo probe-no-signal; fi\n")


def run_probe(srv, token, config_path, repo_name):
    dockerfile = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n" + PROBE
    return build(srv, token, repo_name, dockerfile, {"WORKER_PID": str(srv.proc.pid), "CONFIG_PATH": str(config_path)})


def test_a_rootless_run_step_cannot_reach_the_worker(server, ctenv, tmp_path):
    config = write_config(tmp_path, f"builds:\n  workerToken: {WORKER_SECRET}\n")
    srv = server(config=config)
    token = prepare(srv, ctenv)
    final, log = run_probe(srv, token, config, "probe")
    assert final["phase"] == "complete", (final, log[-30:])
    text = "\n".join(log)
    assert WORKER_SECRET not in text
    for refused in ("probe-no-direct", "probe-no-proc-root", "probe-no-environ", "probe-no-cmdline", "probe-no-signal"):
        assert refused in log, (refused, log[-30:])
    assert not [line for line in log if line.startswith("PROBE-")], log[-30:]
    # The step's root is not the host's: uid 0 inside maps to an unprivileged id outside.
    maps = [line.split() for line in log if len(line.split()) == 3 and all(f.isdigit() for f in line.split())]
    assert maps and all(m[1] != "0" for m in maps), log[-30:]
    # The build user is a real, unprivileged account with a subordinate id range.
    user = subprocess.run(["id", "-u", "slipway-build"], capture_output=True, text=True, check=True).stdout.strip()
    assert user != "0"
    assert any(line.startswith("slipway-build:") for line in open("/etc/subuid"))


def test_the_same_probe_escapes_chroot_isolation(server, ctenv, tmp_path):
    """The control: chroot isolation shares the worker's process table, and the probe sees it: it
    reads the worker's command line (where a `--token` would be) and may signal it."""
    config = write_config(tmp_path, f"builds:\n  workerToken: {WORKER_SECRET}\n  isolation: chroot\n")
    srv = server(config=config)
    token = prepare(srv, ctenv)
    final, log = run_probe(srv, token, config, "probe")
    assert final["phase"] == "complete", (final, log[-30:])
    assert "PROBE-SIGNAL" in log and "PROBE-READ-CMDLINE" in log, "\n".join(log)
    assert any(str(config) in line and "slipway" in line for line in log), "\n".join(log)


def cgroups_writable() -> bool:
    probe = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
    return os.geteuid() == 0 and os.access(probe, os.W_OK)


@pytest.mark.skipif(not cgroups_writable(), reason="the control groups of this machine are not writable")
def test_namespace_limits_stop_a_build_and_say_which(server, ctenv, tmp_path):
    config = write_config(tmp_path, (
        "builds:\n"
        "  namespaceLimits:\n"
        f"    - namespace: {ADMIN_USER}\n"
        "      pids: 64\n"
        "      memoryBytes: 268435456\n"
        "      timeoutSeconds: 20\n"))
    srv = server(config=config)
    token = prepare(srv, ctenv)
    base = f"FROM {srv.host}/{ADMIN_USER}/busybox:latest\n"

    final, log = build(srv, token, "forks", base + "RUN for i in $(seq 200); do sleep 30 & done; wait\n")
    assert final["phase"] == "error", (final, log[-20:])
    assert "limit of 64 processes" in final["error"], final

    # 512 MiB into a shell variable, twice the limit.
    final, log = build(srv, token, "memory", base + "RUN x=$(head -c 536870912 /dev/zero | tr '\\0' a); echo ${#x}\n")
    assert final["phase"] == "error", (final, log[-20:])
    assert "ran out of memory" in final["error"] and "256 MiB" in final["error"], final

    final, log = build(srv, token, "slow", base + "RUN sleep 120\n")
    assert final["phase"] == "error", (final, log[-20:])
    assert "within 20 seconds" in final["error"], final
    assert any(line.startswith("resource limits: ") and "64 processes" in line for line in log), log[:10]

    # The namespace still builds within its limits.
    final, log = build(srv, token, "fine", base + "RUN echo fine > /fine\n")
    assert final["phase"] == "complete", (final, log[-20:])
