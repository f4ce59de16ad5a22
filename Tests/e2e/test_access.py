"""Private repositories: other users and anonymous clients can neither pull nor push them."""

import json
import re

from helpers import ADMIN_PASSWORD, ADMIN_USER, api, http_request

BOB_PASSWORD = "bobpass123"
# Anonymous clients are asked to sign in.
LOGIN_NEEDED = re.compile(r"unauthorized|authentication required", re.IGNORECASE)


def assert_access_denied(stderr: str, repository: str):
    """A signed-in user without access is told so, about that repository (podman reads the
    challenge's `insufficient_scope`), and is not sent to check their password."""
    assert "denied: requested access to the resource is denied" in stderr, stderr
    assert repository in stderr, stderr
    assert "authentication required" not in stderr, stderr


def test_private_repositories_are_private(server, ctenv, ctenv_factory):
    srv = server()
    created = srv.create_user("bob", BOB_PASSWORD)
    assert "bob" in created.stdout

    # alice pushes a private repository (created on push).
    ctenv.login(srv, ADMIN_USER, ADMIN_PASSWORD)
    private = f"{srv.host}/alice/private:v1"
    digest_file = ctenv.dir / "digest"
    ctenv.podman("push", "--digestfile", digest_file, "localhost/busybox:latest", private)
    alice_digest = digest_file.read_text().strip()

    # Anonymous: no login at all.
    anonymous = ctenv_factory()
    anon_pull = anonymous.podman("pull", private, check=False)
    assert anon_pull.returncode != 0
    assert LOGIN_NEEDED.search(anon_pull.stderr), anon_pull.stderr
    assert anonymous.podman("images", "-q").stdout.strip() == ""

    bob = ctenv_factory(load_busybox=True)
    assert "Login Succeeded" in bob.login(srv, "bob", BOB_PASSWORD).stdout

    bob_pull = bob.podman("pull", private, check=False)
    assert bob_pull.returncode != 0
    assert_access_denied(bob_pull.stderr, "alice/private")

    bob_overwrite = bob.podman("push", "localhost/busybox:latest", f"{srv.host}/alice/private:bob", check=False)
    assert bob_overwrite.returncode != 0
    assert_access_denied(bob_overwrite.stderr, "alice/private")
    bob_new = bob.podman("push", "localhost/busybox:latest", f"{srv.host}/alice/from-bob:v1", check=False)
    assert bob_new.returncode != 0
    assert_access_denied(bob_new.stderr, "alice/from-bob")

    # Nothing of bob's landed in alice's namespace.
    tags = json.loads(ctenv.skopeo("list-tags", f"docker://{srv.host}/alice/private").stdout)["Tags"]
    assert tags == ["v1"]
    assert ctenv.skopeo("inspect", "--format", "{{.Digest}}", f"docker://{private}").stdout.strip() == alice_digest
    from_bob = ctenv.skopeo("list-tags", f"docker://{srv.host}/alice/from-bob", check=False)
    assert from_bob.returncode != 0, f"bob's refused push created alice/from-bob: {from_bob.stdout}"

    # bob cannot mount alice's private blob into his own repository by naming it as the source.
    layer = json.loads(ctenv.raw_manifest(f"docker://{private}"))["layers"][0]["digest"]
    token = srv.token("bob", BOB_PASSWORD, "repository:bob/stolen:pull,push", "repository:alice/private:pull")
    auth = {"Authorization": f"Bearer {token}"}
    status, headers, body = http_request(srv, "POST", f"/v2/bob/stolen/blobs/uploads/?mount={layer}&from=alice/private",
                                         headers={**auth, "Content-Length": "0"})
    assert status == 202, f"cross-user mount was not refused: {status} {headers} {body!r}"
    assert "/blobs/uploads/" in headers.get("location", "")
    status, _, _ = http_request(srv, "HEAD", f"/v2/bob/stolen/blobs/{layer}", headers=auth)
    assert status == 404, "alice's private blob became readable through bob's repository"

    # bob may push to his own namespace, and his repository is private to him in turn.
    own = f"{srv.host}/bob/mine:v1"
    bob.podman("push", "localhost/busybox:latest", own)
    assert json.loads(bob.skopeo("list-tags", f"docker://{srv.host}/bob/mine").stdout)["Tags"] == ["v1"]
    anon_own = anonymous.podman("pull", own, check=False)
    assert anon_own.returncode != 0
    assert LOGIN_NEEDED.search(anon_own.stderr), anon_own.stderr

    # A public repository of alice's: bob reads it, and his push is refused at the upload.
    ctenv.podman("push", "localhost/busybox:latest", f"{srv.host}/alice/open:v1")
    token = srv.cli("admin", "create-token", "--user", ADMIN_USER).stdout.strip()
    assert api(srv, "POST", "/api/v1/repository/alice/open/changevisibility", token, {"visibility": "public"})[0] == 200
    bob.podman("pull", f"{srv.host}/alice/open:v1")
    bob_public = bob.podman("push", "localhost/busybox:latest", f"{srv.host}/alice/open:bob", check=False)
    assert bob_public.returncode != 0
    assert_access_denied(bob_public.stderr, "you may not push to alice/open")
