"""Fixtures for the Slipway end-to-end suite (real podman, buildah, skopeo against a real server).

Run from the repository root:  python3 -m pytest Tests/e2e -q
The server binary is $SLIPWAY_BIN, default .build/debug/slipway (build it first).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import BUSYBOX_BASE, CTENV_SCRIPT, REPO_ROOT, CtEnv, SlipwayServer, new_ctenv_dir

REQUIRED_TOOLS = ("podman", "buildah", "skopeo", "runc", "bash")
BUSYBOX_BINARY = Path("/bin/busybox")


@pytest.fixture(scope="session")
def slipway_bin() -> Path:
    path = Path(os.environ.get("SLIPWAY_BIN") or REPO_ROOT / ".build" / "debug" / "slipway")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"Slipway binary not found or not executable at {path}: build it with `swift build` "
                    f"or point SLIPWAY_BIN at it", pytrace=False)
    return path


@pytest.fixture(scope="session")
def container_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"required tools are missing from PATH: {', '.join(missing)} "
                    f"(install podman, buildah, skopeo and runc)", pytrace=False)
    if not CTENV_SCRIPT.is_file():
        pytest.fail(f"{CTENV_SCRIPT} is missing", pytrace=False)


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


@pytest.fixture
def server(slipway_bin, tmp_path_factory, request):
    """Factory: `server(env=..., config=..., data_dir=...)` starts Slipway and returns it. Every
    server is stopped (SIGTERM, SIGKILL after 10 s) at teardown; logs go into failure reports."""
    started: list[SlipwayServer] = []
    request.node._slipway_servers = started
    base = tmp_path_factory.mktemp("slipway")

    def start(*, env: dict | None = None, config: Path | None = None, data_dir: Path | None = None,
              admin=None) -> SlipwayServer:
        n = len(started)
        kwargs = {"admin": admin} if admin is not None else {}
        srv = SlipwayServer(slipway_bin, data_dir or base / f"data{n}", base / "logs", env=env, config=config,
                            name=f"slipway{n}", **kwargs)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed or hasattr(report, "wasxfail"):
        for srv in getattr(item, "_slipway_servers", []):
            if report.when == "call":
                # Stop the server first (fixture teardown then has nothing left to do) so the
                # attached log is complete, shutdown included.
                srv.stop()
            report.sections.append((f"{srv.name} log ({report.when})", srv.logs()))
        cluster = getattr(item, "_slipway_cluster", None)
        if cluster is not None and report.when == "call":
            report.sections.append(("cluster process logs", cluster.logs()))


# ---------------------------------------------------------------------------
# Container-tool environments
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def busybox_archive(container_tools, tmp_path_factory) -> Path:
    """Builds localhost/busybox:latest offline once (buildah bud from Tests/Fixtures/busybox-base plus
    /bin/busybox) and saves it as an OCI archive that each test loads into its own environment."""
    if not BUSYBOX_BINARY.is_file():
        pytest.fail(f"{BUSYBOX_BINARY} is missing (install busybox-static)", pytrace=False)
    work = tmp_path_factory.mktemp("busybox")
    context = work / "context"
    shutil.copytree(BUSYBOX_BASE, context)
    shutil.copy2(BUSYBOX_BINARY, context / "busybox")
    archive = work / "busybox.oci.tar"
    env = CtEnv(new_ctenv_dir())
    try:
        env.buildah("bud", "--isolation", "chroot", "-t", "localhost/busybox:latest", context)
        env.podman("save", "--format", "oci-archive", "-o", archive, "localhost/busybox:latest")
    finally:
        env.teardown()
    assert archive.stat().st_size > 100_000
    return archive


@pytest.fixture
def ctenv_factory(container_tools, busybox_archive):
    """Factory: `ctenv_factory(load_busybox=True)` makes another isolated environment."""
    made: list[CtEnv] = []

    def make(load_busybox: bool = False) -> CtEnv:
        env = CtEnv(new_ctenv_dir())
        made.append(env)
        if load_busybox:
            env.load(busybox_archive)
        return env

    yield make
    for env in made:
        env.teardown()


@pytest.fixture
def ctenv(ctenv_factory) -> CtEnv:
    """An isolated podman/buildah/skopeo environment with localhost/busybox:latest loaded."""
    return ctenv_factory(load_busybox=True)
