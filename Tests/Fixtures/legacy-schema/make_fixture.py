#!/usr/bin/env python3
"""Makes the legacy-schema fixtures: a database written by Slipway as of commit 8f6d78d (schema
versions 1, 2, 20-24, 30, 31, 40, 41, before modules owned their own migrations), with a little
of everything in it. The upgrade tests open these with today's code and check that nothing was lost.

    make_fixture.py OLD_SLIPWAY_BINARY OUT_DIR [POSTGRES_URL]

writes OUT_DIR/slipway.sqlite (+ OUT_DIR/storage/) and, given a PostgreSQL URL to an empty
database, OUT_DIR/postgres.sql (pg_dump --inserts of that database). The old binary is built
from commit 8f6d78d (`git worktree add /tmp/old 8f6d78d && cd /tmp/old && swift build`).
"""
import base64, hashlib, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Server:
    def __init__(self, binary, data, env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = dict(os.environ, **env, SLIPWAY_ADMIN_USER="admin", SLIPWAY_ADMIN_PASSWORD="fixture-password-1",
                    SLIPWAY_BUILDS_IN_PROCESS_WORKERS="0", SLIPWAY_NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS="0",
                    SLIPWAY_GC_INTERVAL_SECONDS="0", SLIPWAY_SECURITY_ALLOW_PRIVATE_TARGETS="true")
        self.log = open(os.path.join(data, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", data],
                                     env=full, stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/health/instance", timeout=1); return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM); self.proc.wait(30)

def call(srv, method, path, body=None, token=None, basic=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(srv.base + path, data=data, method=method)
    if body is not None: req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    if basic: req.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
    for k, v in (headers or {}).items(): req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read(); return r.status, (json.loads(text) if text.strip().startswith((b"{", b"[", b'"')) else text), dict(r.headers)
    except urllib.error.HTTPError as e:
        text = e.read(); raise SystemExit(f"{method} {path} -> {e.code} {text[:300]!r}")

def push_image(srv, repo, tag, user, password, layer_bytes):
    _, tok, _ = call(srv, "GET", f"/v2/auth?service=fixture&scope=repository:{repo}:pull,push", basic=f"{user}:{password}")
    t = tok["token"]
    def blob(content):
        d = "sha256:" + hashlib.sha256(content).hexdigest()
        call(srv, "POST", f"/v2/{repo}/blobs/uploads/?digest={d}", token=t, raw=content, headers={"Content-Type": "application/octet-stream"})
        return d, len(content)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "config": {"Labels": {"quay.expires-after": "30d", "fixture": "yes"}}}).encode()
    cd, cs = blob(config); ld, ls = blob(layer_bytes)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}]}).encode()
    call(srv, "PUT", f"/v2/{repo}/manifests/{tag}", token=t, raw=manifest, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    return "sha256:" + hashlib.sha256(manifest).hexdigest()

def populate(srv, binary, data, env):
    token = subprocess.run([binary, "admin", "create-token", "--user", "admin", "--data-dir", data], env=dict(os.environ, **env),
                           check=True, capture_output=True, text=True).stdout.strip()
    call(srv, "POST", "/api/v1/organization/", {"name": "acme", "email": "acme@example.com"}, token=token)
    call(srv, "PUT", "/api/v1/organization/acme/team/builders", {"role": "creator", "description": "Builders"}, token=token)
    call(srv, "PUT", "/api/v1/organization/acme/robots/ci", {"description": "CI robot"}, token=token)
    call(srv, "POST", "/api/v1/repository", {"namespace": "acme", "repository": "app", "visibility": "private", "description": "the app"}, token=token)
    call(srv, "PUT", "/api/v1/repository/acme/app/permissions/user/acme+ci", {"role": "write"}, token=token)
    digest = push_image(srv, "acme/app", "v1", "admin", "fixture-password-1", b"layer-one-bytes" * 64)
    push_image(srv, "acme/app", "latest", "admin", "fixture-password-1", b"layer-two-bytes" * 64)
    push_image(srv, "admin/tools", "1.0", "admin", "fixture-password-1", b"tools-layer" * 32)
    call(srv, "PUT", "/api/v1/repository/acme/app/tag/stable", {"manifest_digest": digest}, token=token)
    call(srv, "DELETE", "/api/v1/repository/acme/app/tag/stable", token=token)  # history: a deleted tag, restorable
    call(srv, "POST", "/api/v1/repository/acme/app/notification/", {"event": "repo_push", "method": "webhook",
         "config": {"url": "http://127.0.0.1:9/hook"}, "eventConfig": {}, "title": "push hook"}, token=token)
    _, trig, _ = call(srv, "POST", "/api/v1/repository/acme/app/trigger/", {"service": "custom-git"}, token=token)
    call(srv, "POST", f"/api/v1/repository/acme/app/trigger/{trig['id']}/activate",
         {"config": {"build_source": "https://git.example.com/acme/app.git", "dockerfile_path": "/Dockerfile", "context": "/",
                     "default_tag_from_ref": True}}, token=token)
    _, drop, _ = call(srv, "POST", "/api/v1/filedrop/", {"mimeType": "application/octet-stream"}, token=token)
    call(srv, "PUT", drop["url"].replace(srv.base, ""), raw=b"FROM scratch\nCOPY . /\n", headers={"Content-Type": "application/octet-stream"})
    call(srv, "POST", "/api/v1/repository/acme/app/build/", {"file_id": drop["file_id"], "docker_tags": ["built"]}, token=token)
    print("populated: token", token[:6] + "...", "trigger", trig["id"], "file", drop["file_id"])

def main():
    binary, out = sys.argv[1], sys.argv[2]
    pg = sys.argv[3] if len(sys.argv) > 3 else None
    os.makedirs(out, exist_ok=True)
    for backend in (["sqlite"] + (["postgres"] if pg else [])):
        data = tempfile.mkdtemp(prefix="slipway-fixture-")
        env = {"SLIPWAY_DATABASE_DRIVER": backend}
        if backend == "postgres": env["SLIPWAY_DATABASE_POSTGRES_URL"] = pg
        srv = Server(binary, data, env)
        try:
            populate(srv, binary, data, env)
        finally:
            srv.stop()
        if backend == "sqlite":
            shutil.copy(os.path.join(data, "slipway.db") if os.path.exists(os.path.join(data, "slipway.db")) else
                        next(os.path.join(data, f) for f in os.listdir(data) if f.endswith((".db", ".sqlite"))),
                        os.path.join(out, "slipway.sqlite"))
            shutil.rmtree(os.path.join(out, "storage"), ignore_errors=True)
            shutil.copytree(os.path.join(data, "storage"), os.path.join(out, "storage"))
        else:
            dump = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges", pg], check=True, capture_output=True, text=True).stdout
            open(os.path.join(out, "postgres.sql"), "w").write(dump)
        print(backend, "fixture written from", data)

main()
