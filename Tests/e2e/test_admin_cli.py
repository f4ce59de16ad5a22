"""The operator CLI: create-user, create-token, gc, migrate, --help and configuration errors."""

import os
import re
import subprocess
import uuid

import pytest

from helpers import basic, describe, http_request, run

# Issue #16: `slipway admin create-user` crashed in 5 of 7 runs (a second, unawaited close of the
# SQLite connections). Every command runs this many times in a row, on each backend. The crash
# needs SQLite built without API armor, as in release builds (sqlite-nio turns armor on in debug
# builds): run this file with SLIPWAY_BIN pointing at a release binary to see it.
REPEATS = 25
CRASH_SIGNS = ("Program crashed", "Bad pointer dereference", "Backtrace", "Fatal error", "Segmentation fault")


def test_create_user_while_serving(server):
    srv = server()
    first = srv.create_user("carol", "carolpass1")
    assert first.returncode == 0
    assert "carol" in first.stdout

    # The new account works against the running server at once.
    status, _, body = http_request(srv, "GET", f"/v2/auth?service={srv.host}",
                                   headers={"Authorization": basic("carol", "carolpass1")})
    assert status == 200, body
    status, _, _ = http_request(srv, "GET", f"/v2/auth?service={srv.host}",
                                headers={"Authorization": basic("carol", "wrongpass1")})
    assert status == 401

    again = srv.create_user("carol", "otherpass1", check=False)
    assert again.returncode != 0
    assert re.search(r"carol.*already exists", again.stderr), again.stderr
    # The original password still works: the failed attempt changed nothing.
    status, _, _ = http_request(srv, "GET", f"/v2/auth?service={srv.host}",
                                headers={"Authorization": basic("carol", "carolpass1")})
    assert status == 200

    short = srv.create_user("dave", "short", check=False)
    assert short.returncode != 0
    assert "at least 8 characters" in short.stderr, short.stderr
    status, _, _ = http_request(srv, "GET", f"/v2/auth?service={srv.host}",
                                headers={"Authorization": basic("dave", "short")})
    assert status == 401, "a rejected user can log in"

    spaced = srv.create_user("erin", "pass word1", check=False)
    assert spaced.returncode != 0
    assert "whitespace" in spaced.stderr, spaced.stderr

    token = srv.cli("admin", "create-token", "--user", "carol")
    lines = token.stdout.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) >= 20 and " " not in lines[0], token.stdout
    second = srv.cli("admin", "create-token", "--user", "carol")
    assert second.stdout.strip() != lines[0], "two create-token calls printed the same token"
    nobody = srv.cli("admin", "create-token", "--user", "nobody", check=False)
    assert nobody.returncode != 0
    assert "nobody" in nobody.stderr, nobody.stderr
    assert srv.running


def test_help_lists_commands(slipway_bin):
    out = run([slipway_bin, "--help"]).stdout
    for command in ("serve", "admin", "migrate", "config"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), f"--help does not list {command}:\n{out}"
    keys = run([slipway_bin, "config"]).stdout
    assert "registry.readOnly" in keys and "SLIPWAY_REGISTRY_READ_ONLY" in keys


def test_unknown_config_key_is_rejected(slipway_bin, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("server:\n  prot: 1\n")
    proc = run([slipway_bin, "serve", "--config", config, "--host", "127.0.0.1", "--port", "0",
                "--data-dir", tmp_path / "data"], check=False, timeout=30, cwd=tmp_path)
    assert proc.returncode != 0
    assert "server.prot" in proc.stderr, proc.stderr
    assert "Slipway is ready" not in proc.stdout


def cli_environment(tmp_path, backend: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env["SLIPWAY_AUTH_BCRYPT_COST"] = "4"
    if backend == "postgres":
        base = os.environ.get("SLIPWAY_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("SLIPWAY_TEST_POSTGRES_URL is not set (scripts/test.sh starts a throwaway PostgreSQL)")
        name = "slipway_cli_" + uuid.uuid4().hex[:10]
        subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        env["SLIPWAY_DATABASE_DRIVER"] = "postgres"
        env["SLIPWAY_DATABASE_POSTGRES_URL"] = base.rsplit("/", 1)[0] + "/" + name
    return env


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_admin_command_exits_cleanly_many_times(slipway_bin, tmp_path, backend):
    """Each operator command, 25 times in a row: exit 0, its output, and no crash report."""
    env = cli_environment(tmp_path, backend)
    data = tmp_path / "data"

    def cli(*args, input=None) -> str:
        proc = run([slipway_bin, *args, "--data-dir", data], env=env, input=input, check=False, timeout=60, cwd=tmp_path)
        assert proc.returncode == 0, f"run {i + 1} of {REPEATS} failed\n" + describe(proc)
        crash = [sign for sign in CRASH_SIGNS if sign in proc.stderr]
        assert not crash, f"run {i + 1} of {REPEATS} printed a crash report\n" + describe(proc)
        return proc.stdout

    for i in range(REPEATS):
        assert "schema is at version" in cli("migrate")
        user = f"user{i}"
        assert cli("admin", "create-user", user, "--password-stdin", input="long-password-1\n").strip() == f"created user {user}"
        token = cli("admin", "create-token", "--user", user).strip()
        assert len(token) >= 20 and "\n" not in token
        assert "pass 2:" in cli("admin", "gc", "--grace", "0", "--tombstone", "0")


def test_admin_gc_removes_expired_file_drops(server):
    """An uploaded build context nobody built from is deleted by `slipway admin gc` once it is
    older than `builds.fileDropTTLSeconds`: its row and its bytes on disk. A fresh one stays."""
    import hashlib
    import sqlite3

    from helpers import ADMIN_USER, api

    srv = server(env={"SLIPWAY_GC_INTERVAL_SECONDS": "0"})
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()

    def upload(data: bytes) -> tuple[str, str]:
        status, drop = api(srv, "POST", "/api/v1/filedrop/", token, {"mimeType": "application/x-tar"})
        assert status == 200, drop
        status, _, body = http_request(srv, "PUT", drop["url"].split(srv.host, 1)[1], body=data)
        assert status == 200, body
        digest = hashlib.sha256(data).hexdigest()
        return drop["file_id"], srv.data_dir / "storage" / "blobs" / "sha256" / digest[:2] / digest

    old_id, old_bytes = upload(b"FROM scratch\n# an abandoned upload\n")
    new_id, new_bytes = upload(b"FROM scratch\n# a fresh upload\n")
    assert old_bytes.is_file() and new_bytes.is_file()
    srv.stop()

    # The first upload was made two hours ago (the default TTL is one hour).
    with sqlite3.connect(srv.data_dir / "slipway.db") as db:
        db.execute("UPDATE filedrops SET created_at = created_at - 7200000 WHERE file_id = ?", (old_id,))

    out = srv.cli("admin", "gc", "--tombstone", "0").stdout
    assert "pass 2:" in out, out
    assert not old_bytes.exists(), f"the expired drop's bytes are still on disk\n{out}"
    assert new_bytes.is_file(), "a drop within its TTL lost its bytes"
    with sqlite3.connect(srv.data_dir / "slipway.db") as db:
        left = {row[0] for row in db.execute("SELECT file_id FROM filedrops")}
    assert left == {new_id}
