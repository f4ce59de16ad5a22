"""scripts/run.sh (the README's first command) in a copy of the checkout, with a stand-in `swift`
that records each build (a real release build takes many minutes): it builds only when a
source is newer than the binary, leaves `slipway` on PATH through a link, and starts
`slipway serve` with the caller's arguments (issue #16)."""

import os
import shutil
import time
from pathlib import Path

from helpers import REPO_ROOT, run

STUB_SWIFT = """#!/bin/sh
# Stand-in for `swift build -c release --product slipway --scratch-path .build-release`: records the
# call and, like a build with nothing to recompile, leaves an existing binary untouched.
echo "$*" >> "$SWIFT_CALLS"
bin=.build-release/release/slipway
if [ ! -x "$bin" ]; then
  mkdir -p .build-release/release
  printf '#!/bin/sh\\necho "slipway-stub $*"\\n' > "$bin"
  chmod +x "$bin"
fi
"""


def checkout_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "checkout"
    (repo / "scripts").mkdir(parents=True)
    for script in ("run.sh", "install-deps.sh"):
        shutil.copy2(REPO_ROOT / "scripts" / script, repo / "scripts" / script)
    (repo / "Sources" / "slipway").mkdir(parents=True)
    (repo / "Sources" / "slipway" / "Slipway.swift").write_text("// main\n")
    (repo / "Package.swift").write_text("// package\n")
    return repo


def test_run_script_builds_only_when_sources_change_and_links_slipway(tmp_path):
    repo = checkout_copy(tmp_path)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "swift").write_text(STUB_SWIFT)
    (stubs / "swift").chmod(0o755)
    calls = tmp_path / "swift-calls.log"
    link_dir = tmp_path / "bin"
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "SWIFT_CALLS": str(calls), "SLIPWAY_LINK_DIR": str(link_dir)}
    binary = repo / ".build-release" / "release" / "slipway"

    def start(*args) -> str:
        proc = run(["bash", repo / "scripts" / "run.sh", *args], env=env, cwd=tmp_path, timeout=120)
        return proc.stdout

    def builds() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    out = start("--port", "5000")
    assert builds() == 1, "the first start builds"
    assert "build -c release --product slipway --scratch-path .build-release" in calls.read_text()
    assert out.strip() == "slipway-stub serve --data-dir ./data --port 5000", out
    link = link_dir / "slipway"
    assert link.is_symlink() and Path(os.readlink(link)) == binary, "run.sh must leave `slipway` on PATH"
    assert run([link, "--help"]).stdout.startswith("slipway-stub"), "the link runs the release binary"

    began = time.monotonic()
    start()
    assert builds() == 1, "a restart with nothing changed must not build"
    assert time.monotonic() - began < 10

    # An edited source (older binary) builds again; a build that changed nothing still marks the
    # binary current, so the start after it does not build.
    past = time.time() - 100
    os.utime(binary, (past, past))
    os.utime(repo / "Sources" / "slipway" / "Slipway.swift", (past + 50, past + 50))
    start()
    assert builds() == 2, "a changed source must rebuild"
    start()
    assert builds() == 2, "the binary was not marked current after the build"

    os.utime(binary, (past, past))
    os.utime(repo / "Package.swift", (past + 50, past + 50))
    start()
    assert builds() == 3, "a changed Package.swift must rebuild"
    start()
    assert builds() == 3
