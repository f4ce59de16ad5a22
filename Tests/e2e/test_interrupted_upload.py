"""Uploads cut mid-body by the client (raw sockets) keep nothing and do not hurt the server."""

import json
import os
import urllib.parse

from helpers import (ADMIN_PASSWORD, ADMIN_USER, CREDS_ALICE, error_codes, http_request, request_count,
                     send_truncated, sha256_digest, wait_for_request_count)

MiB = 1024 * 1024
REPO = "alice/cut"


def test_interrupted_uploads_keep_nothing(server, ctenv, busybox_archive):
    srv = server()
    token = srv.token(ADMIN_USER, ADMIN_PASSWORD, f"repository:{REPO}:pull,push")
    auth = {"Authorization": f"Bearer {token}"}

    status, headers, body = http_request(srv, "POST", f"/v2/{REPO}/blobs/uploads/", headers={**auth, "Content-Length": "0"})
    assert status == 202, body
    location = urllib.parse.urlsplit(headers["location"])
    upload_path = location.path + (f"?{location.query}" if location.query else "")
    assert location.path.startswith(f"/v2/{REPO}/blobs/uploads/")

    # PATCH announcing 10 MiB, 1 MiB sent, connection closed.
    chunk = os.urandom(MiB)
    patches = request_count(srv, "PATCH", "v2_upload")
    send_truncated(srv, "PATCH", upload_path, {**auth, "Content-Type": "application/octet-stream"}, 10 * MiB, chunk)
    wait_for_request_count(srv, "PATCH", "v2_upload", patches + 1)

    status, headers, body = http_request(srv, "GET", upload_path, headers=auth)
    assert status == 204, body
    assert headers.get("range") == "0-0", f"the cut PATCH left data in the upload: Range {headers.get('range')}"

    status, _, body = http_request(srv, "GET", "/health/instance")
    assert status == 200, body

    # The same upload resumes from 0 and completes.
    status, headers, body = http_request(srv, "PATCH", upload_path, body=chunk, headers={
        **auth, "Content-Type": "application/octet-stream", "Content-Range": f"0-{MiB - 1}"})
    assert status == 202, body
    assert headers.get("range") == f"0-{MiB - 1}"
    digest = sha256_digest(chunk)
    put_path = urllib.parse.urlsplit(headers["location"])
    sep = "&" if put_path.query else "?"
    put = put_path.path + (f"?{put_path.query}" if put_path.query else "") + f"{sep}digest={urllib.parse.quote(digest)}"
    status, headers, body = http_request(srv, "PUT", put, headers={**auth, "Content-Length": "0"})
    assert status == 201, body
    assert headers.get("docker-content-digest") == digest
    status, _, served = http_request(srv, "GET", f"/v2/{REPO}/blobs/{digest}", headers=auth)
    assert status == 200
    assert served == chunk

    # Monolithic POST ?digest= cut mid-body: no blob appears.
    whole = os.urandom(4 * MiB)
    whole_digest = sha256_digest(whole)
    posts = request_count(srv, "POST", "v2_upload_start")
    send_truncated(srv, "POST", f"/v2/{REPO}/blobs/uploads/?digest={urllib.parse.quote(whole_digest)}",
                   {**auth, "Content-Type": "application/octet-stream"}, len(whole), whole[:MiB])
    wait_for_request_count(srv, "POST", "v2_upload_start", posts + 1)
    status, _, _ = http_request(srv, "HEAD", f"/v2/{REPO}/blobs/{whole_digest}", headers=auth)
    assert status == 404, "a monolithic upload cut mid-body produced a blob"
    status, _, body = http_request(srv, "GET", f"/v2/{REPO}/blobs/{whole_digest}", headers=auth)
    assert status == 404
    assert error_codes(body) == ["BLOB_UNKNOWN"]
    assert srv.metrics()["slipway_registry_uploads_in_progress"] == 0, "an upload record was left behind"

    # The server keeps serving real clients.
    status, _, body = http_request(srv, "GET", "/health/instance")
    assert status == 200, body
    ctenv.skopeo("copy", "--dest-creds", CREDS_ALICE, f"oci-archive:{busybox_archive}", f"docker://{srv.host}/{REPO}:after")
    raw = ctenv.raw_manifest(f"docker://{srv.host}/{REPO}:after", creds=CREDS_ALICE)
    info = json.loads(ctenv.skopeo("inspect", "--creds", CREDS_ALICE, f"docker://{srv.host}/{REPO}:after").stdout)
    assert info["Digest"] == sha256_digest(raw)
    assert srv.running
