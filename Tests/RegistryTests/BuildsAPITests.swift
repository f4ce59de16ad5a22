import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The builds API and the worker protocol, driven by a scripted worker over HTTP.
@Suite("Builds API and worker protocol")
struct BuildsAPITests {
    static let json: HTTPFields = [.contentType: "application/json"]

    static func apiToken(_ registry: TestRegistry, _ user: String = "admin") async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    /// Reserves a file drop; returns its id and the path of its upload URL.
    static func reserveDrop(_ c: RegistryClient, _ api: String) async throws -> (fileID: String, uploadPath: String) {
        let drop = try await c.send(.post, "/api/v1/filedrop/", token: api, headers: json, body: ByteBuffer(string: #"{"mimeType":"application/x-tar"}"#))
        let view = try #require(drop.json as? [String: Any])
        let fileID = try #require(view["file_id"] as? String)
        let url = try #require((view["url"] as? String).flatMap(URLComponents.init(string:)))
        return (fileID, url.path)
    }

    /// Uploads `bytes` through the file drop and returns the file id.
    static func upload(_ c: RegistryClient, _ api: String, _ bytes: [UInt8]) async throws -> String {
        let (fileID, uploadPath) = try await reserveDrop(c, api)
        let put = try await c.client.executeRequest(uri: uploadPath, method: .put, headers: [:], body: ByteBuffer(bytes: bytes))
        #expect(put.status == .ok)
        return fileID
    }

    struct Worker {
        let c: RegistryClient
        let token: String
        var id = "worker-1"
        func call(_ path: String, lease: String? = nil, _ body: some Encodable) async throws -> TestResponse {
            var h: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            if let lease { h[HTTPField.Name(WorkerProtocol.leaseHeader)!] = lease }
            return try await c.client.executeRequest(uri: path, method: .post, headers: h, body: ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        func lease() async throws -> BuildPack? {
            let r = try await call(WorkerProtocol.leasePath, LeaseRequest(workerID: id))
            guard r.status == .ok else { return nil }
            return try JSONDecoder().decode(BuildPack.self, from: Data(buffer: r.body))
        }
    }

    /// Behind a load balancer (`server.publicURL`), a worker that reached a replica under another
    /// name (here `localhost`) still fetches the context from, and pushes to, the public URL: the
    /// pack's registry is the public URL's host, with TLS verification as its scheme says.
    @Test(arguments: TestBackend.available)
    func aWorkerPushesToThePublicURLWhicheverAddressItLeasedThrough(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: {
            $0.builds.inProcessWorkers = 0
            $0.server.publicURL = "https://registry.example.test:8443/"
        }) { registry, c in
            let api = try await Self.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: Self.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await Self.upload(c, api, Array("FROM scratch\n".utf8))
            #expect(try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json,
                                     body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#)).status == .created)
            let pack = try #require(try await Worker(c: c, token: registry.buildFarm.workerToken).lease())
            #expect(pack.registry == "registry.example.test:8443")
            #expect(pack.tlsVerify)
            guard case .upload(let url) = pack.source else { Issue.record("expected an upload source"); return }
            #expect(url.hasPrefix("https://registry.example.test:8443/"))
        }
    }

    @Test(arguments: TestBackend.available)
    func uploadBuildLeaseLogAndComplete(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await Self.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            let context = Array("FROM scratch\n".utf8)
            let (fileID, uploadPath) = try await Self.reserveDrop(c, api)
            #expect(try await c.client.executeRequest(uri: uploadPath, method: .put, headers: [:], body: ByteBuffer(bytes: context)).status == .ok)
            #expect(try await c.client.executeRequest(uri: uploadPath, method: .put, headers: [:], body: ByteBuffer(string: "again")).status == .notFound,
                    "a file drop takes one upload")

            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)","docker_tags":["v1","feature/x"]}"#))
            #expect(start.status == .created)
            let view = try #require(start.json as? [String: Any])
            let buildID = try #require(view["id"] as? String)
            #expect(view["phase"] as? String == "waiting")
            // Quay's keys are all there, null where there is no value.
            #expect(view["error"] is NSNull && view["pull_robot"] is NSNull && view["trigger"] is NSNull && view["manual_user"] as? String == "admin")
            #expect(view["tags"] as? [String] == ["v1", "feature_x"])
            #expect(start.headers[.location] == "/api/v1/repository/admin/app/build/\(buildID)/status")

            // A worker with a wrong token gets nothing.
            let intruder = Worker(c: c, token: "nope")
            #expect(try await intruder.call(WorkerProtocol.leasePath, LeaseRequest(workerID: "x")).status == .unauthorized)

            let worker = Worker(c: c, token: registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            #expect(pack.buildID == buildID)
            #expect(pack.tags == ["v1", "feature_x"])
            #expect(pack.repository == "admin/app")
            #expect(pack.attempt == 1)
            guard case .upload(let url) = pack.source else { Issue.record("expected an upload source"); return }
            let contextPath = String(url.dropFirst("http://localhost".count))
            #expect(contextPath.hasSuffix("?lease=\(pack.leaseID)"))
            let fetched = try await c.client.executeRequest(uri: contextPath, method: .get, headers: [:], body: nil)
            #expect(Array(buffer: fetched.body) == context)
            let forged = contextPath.replacingOccurrences(of: pack.leaseID, with: "forged")
            #expect(try await c.client.executeRequest(uri: forged, method: .get, headers: [:], body: nil).status == .forbidden)
            // The push credentials are a write token for exactly this repository.
            let workerToken = try #require(try await c.token(.init(pack.pushCredentials.username, pack.pushCredentials.password), scopes: ["repository:admin/app:pull,push", "repository:admin/other:pull"]))
            let claims = try await registry.services.tokens.verify(workerToken, audience: "localhost")
            #expect(claims.actions(for: "admin/app") == [.pull, .push])
            #expect(claims.actions(for: "admin/other").isEmpty)

            let path = { (a: String) in WorkerProtocol.buildPath(buildID, a) }
            #expect(try await worker.call(path("phase"), lease: pack.leaseID, PhaseUpdate(phase: .building)).status == .noContent)
            #expect(try await worker.call(path("phase"), lease: "stolen", PhaseUpdate(phase: .pushing)).status == .conflict)
            let batch = LogBatch(firstSequence: 0, entries: [.init(message: "building", type: "phase"), .init(message: "STEP 1/1: FROM scratch", type: "command"), .init(message: "ok")])
            let l1 = try await worker.call(path("logs"), lease: pack.leaseID, batch)
            #expect(try JSONDecoder().decode(LogBatchResponse.self, from: Data(buffer: l1.body)).nextSequence == 3)
            let dup = try await worker.call(path("logs"), lease: pack.leaseID, batch)
            #expect(try JSONDecoder().decode(LogBatchResponse.self, from: Data(buffer: dup.body)).nextSequence == 3, "duplicates are ignored")
            let gap = try await worker.call(path("logs"), lease: pack.leaseID, LogBatch(firstSequence: 7, entries: [.init(message: "lost")]))
            #expect(try JSONDecoder().decode(LogBatchResponse.self, from: Data(buffer: gap.body)).nextSequence == 3, "a gap asks for a resend")
            let beat = try await worker.call(path("heartbeat"), lease: pack.leaseID, Heartbeat(workerID: worker.id))
            #expect(try JSONDecoder().decode(HeartbeatResponse.self, from: Data(buffer: beat.body)).stop == nil)

            let logs = try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)/logs?start=1", token: api)
            let logJSON = try #require(logs.json as? [String: Any])
            #expect(logJSON["start"] as? Int == 1)
            #expect(logJSON["total"] as? Int == 3)
            #expect((logJSON["logs"] as? [[String: Any]])?.first?["type"] as? String == "command")
            #expect((try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])?["phase"] as? String == "building")

            var h: HTTPFields = [.authorization: "Bearer \(worker.token)", .contentType: "application/json", HTTPField.Name(WorkerProtocol.leaseHeader)!: pack.leaseID]
            h[HTTPField.Name("X-Slipway-Worker")!] = worker.id
            let done = try await c.client.executeRequest(uri: path("complete"), method: .post, headers: h,
                                                         body: ByteBuffer(bytes: try JSONEncoder().encode(Completion(outcome: .complete, manifestDigests: ["v1": "sha256:abc"]))))
            #expect(done.status == .noContent)
            let final = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)/status", token: api).json as? [String: Any])
            #expect(final["phase"] as? String == "complete")
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(buildID)", token: api).status == .badRequest, "a finished build cannot be cancelled")
            // The finished build's log moved to blob storage (compressed) and is served from there.
            let rows = try await registry.services.store.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n, MAX(b.log_archive_digest) AS d FROM builds b LEFT JOIN build_logs l ON l.build_id = b.id WHERE b.uuid = \(bind: buildID) AND l.seq IS NOT NULL").first()
            }
            #expect(try rows?.decode(column: "n", as: Int.self) == 0, "live log rows are dropped once archived")
            let archived = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)/logs?start=1", token: api).json as? [String: Any])
            #expect(archived["total"] as? Int == 3)
            #expect((archived["logs"] as? [[String: Any]])?.map { $0["message"] as? String } == ["STEP 1/1: FROM scratch", "ok"])
            let text = try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)/logs/text", token: api)
            #expect(String(buffer: text.body).contains("STEP 1/1: FROM scratch"))
            let events = try await registry.services.events.events()
            let kinds = events.map(\.kind)
            #expect(kinds.contains("build_queued") && kinds.contains("build_start") && kinds.contains("build_success"))
            // Quay's payload fields on the internal event path.
            let success = try #require(events.first { $0.kind == "build_success" }?.payload)
            #expect(success["build_id"] == .string(buildID))
            #expect(success["docker_tags"] == .strings(["v1", "feature_x"]))
            if case .strings(let refs)? = success["manifest_digests"] {
                #expect(refs.count == 1 && refs[0].hasSuffix("/admin/app@sha256:abc"), "\(refs)")
            } else {
                Issue.record("manifest_digests missing")
            }
            #expect(success["homepage"]?.stringValue?.hasSuffix("/repository/admin/app/build/\(buildID)") == true)
            #expect(success["docker_url"]?.stringValue?.hasSuffix("/admin/app") == true)
            #expect(success["manual_user"] == .string("admin"))
            // Build metrics (the registry is process-wide, so only presence is asserted).
            let metrics = String(buffer: try await c.client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).body)
            for series in ["slipway_builds_finished_total{phase=\"complete\"}", "slipway_build_heartbeats_total{worker=\"worker-1\"}",
                           "slipway_build_queue_wait_seconds_count", "slipway_build_duration_seconds_count", "slipway_builds_queued{namespace=\"admin\"}"] {
                #expect(metrics.contains(series), "\(series) missing from /metrics")
            }
            // The push token died with the build.
            #expect(try await c.token(.init("$token", pack.pushCredentials.password), scopes: ["repository:admin/app:push"]) == nil)
            let list = try await c.send(.get, "/api/v1/repository/admin/app/build/?limit=5", token: api)
            #expect(((list.json as? [String: Any])?["builds"] as? [Any])?.count == 1)

            // Deleting the repository takes its archived build logs out of blob storage too.
            let archive = try await registry.services.store.database.read { db in
                try await db.raw("SELECT log_archive_digest AS d FROM builds WHERE uuid = \(bind: buildID)").first()?.decode(column: "d", as: String?.self)
            }
            let archiveDigest = try Digest(parsing: try #require(archive ?? nil))
            #expect(try await registry.services.storage.stat(archiveDigest) != nil)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            try await registry.services.accounts.markForDeletion(repositoryID: repo.id)
            // The first round lets go of the archive, the next deletes its bytes.
            var settings = CollectorSettings()
            settings.tombstoneSeconds = 0
            try await registry.collector(settings).runPass()
            try await Task.sleep(for: .milliseconds(2))
            try await registry.collector(settings).runPass()
            #expect(try await registry.services.storage.stat(archiveDigest) == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func validationCancelAndQueueCap(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.maxQueuedPerNamespace = 2; $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await Self.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            let fileID = try await Self.upload(c, api, Array("FROM scratch\n".utf8))
            for (body, fragment) in [
                (#"{}"#, "file_id or archive_url required"),
                (#"{"archive_url":"ftp://example.com/x.tgz"}"#, "Must be http or https"),
                (#"{"archive_url":"http://127.0.0.1/x.tgz"}"#, "Invalid Archive URL"),
                (#"{"archive_url":"http://169.254.169.254/latest"}"#, "Invalid Archive URL"),
                (#"{"file_id":"unknown"}"#, "File unknown could not be found or is invalid"),
                (#"{"file_id":"\#(fileID)","docker_tags":["a","a"]}"#, "unique"),
                (#"{"file_id":"\#(fileID)","dockerfile_path":"../../etc/passwd"}"#, ".."),
            ] {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json, body: ByteBuffer(string: body))
                #expect(r.status == .badRequest, "\(body)")
                #expect(((r.json as? [String: Any])?["detail"] as? String)?.contains(fragment) == true, "\(body): \(String(buffer: r.body))")
            }
            var ids: [String] = []
            for _ in 0..<2 {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json, body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
                #expect(r.status == .created)
                ids.append(try #require((r.json as? [String: Any])?["id"] as? String))
            }
            let full = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json, body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
            #expect(full.status == .tooManyRequests)
            #expect(String(buffer: full.body).contains("Maximum queued build rate exceeded."))

            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(ids[0])", token: api).status == .created)
            let cancelled = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(ids[0])", token: api).json as? [String: Any])
            #expect(cancelled["phase"] as? String == "cancelled")
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(ids[0])", token: api).status == .badRequest)
            #expect(try await c.send(.get, "/api/v1/repository/admin/app/build/not-a-build", token: api).status == .notFound)

            // A restart rebuilds the queue from the database: the remaining build is leased.
            let restarted = BuildFarmModule(services: registry.services)
            let lease = try await restarted.queue.lease(workerID: "w", wait: .milliseconds(100))
            #expect(lease?.0.uuid == ids[1])
        }
    }

    /// Heartbeats that ask to be held (long-poll) are answered as soon as the build must stop:
    /// at once when this replica cancels it, and within the database poll (about a second) when
    /// another replica sharing the PostgreSQL queue does. Heartbeats without a wait (older
    /// workers) are answered at once, as before.
    @Test(arguments: TestBackend.available)
    func heldHeartbeatCarriesACancelAtOnce(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await Self.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            // Its own worker id: the heartbeat counter below is process-wide.
            let worker = Worker(c: c, token: registry.buildFarm.workerToken, id: "held-heartbeat-\(backend)-\(UUID().uuidString.prefix(8))")
            let clock = ContinuousClock()
            func startAndLease() async throws -> BuildPack {
                let fileID = try await Self.upload(c, api, Array("FROM scratch\n".utf8))
                let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: Self.json,
                                             body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
                #expect(start.status == .created)
                return try #require(try await worker.lease())
            }
            @Sendable func heartbeat(_ pack: BuildPack, wait: Int?) async throws -> (answer: HeartbeatResponse, at: ContinuousClock.Instant) {
                let r = try await worker.call(WorkerProtocol.buildPath(pack.buildID, "heartbeat"), lease: pack.leaseID,
                                              Heartbeat(workerID: worker.id, waitSeconds: wait))
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                return (try JSONDecoder().decode(HeartbeatResponse.self, from: Data(buffer: r.body)), clock.now)
            }
            func heartbeatsCounted() async throws -> Int {
                let metrics = String(buffer: try await c.client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).body)
                let prefix = "slipway_build_heartbeats_total{worker=\"\(worker.id)\"} "
                return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }.map { Int($0) } ?? 0
            }
            /// Starts a held heartbeat and returns once the orchestrator has it (its counter moved).
            func holdHeartbeat(_ pack: BuildPack) async throws -> Task<(answer: HeartbeatResponse, at: ContinuousClock.Instant), any Error> {
                let before = try await heartbeatsCounted()
                let held = Task { try await heartbeat(pack, wait: 5) }
                let deadline = clock.now + .seconds(10)
                while try await heartbeatsCounted() == before {
                    #expect(clock.now < deadline, "the held heartbeat never arrived")
                    if clock.now >= deadline { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return held
            }

            let pack = try await startAndLease()
            let sent = clock.now
            let plain = try await heartbeat(pack, wait: nil)
            // (Time bounds here are far from the 5 s hold, so a loaded machine does not fail them.)
            #expect(plain.answer == HeartbeatResponse(stop: nil) && plain.at - sent < .seconds(3), "answered at once without a wait")
            let quietSent = clock.now
            let quiet = try await heartbeat(pack, wait: 1)
            #expect(quiet.answer == HeartbeatResponse(stop: nil, held: true))
            #expect(quiet.at - quietSent >= .milliseconds(900), "held for the wait when nothing happens")

            // Cancelled through the API of the replica that holds the heartbeat.
            let held = try await holdHeartbeat(pack)
            let cancelAt = clock.now
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(pack.buildID)", token: api).status == .created)
            let stopped = try await held.value
            #expect(stopped.answer.stop == .cancelled)
            // Well under a second on a quiet machine; the bound leaves room for a loaded CI host and
            // still fails the old behaviour (the cancel waited for the next heartbeat, ~7 s).
            #expect(stopped.at - cancelAt < .seconds(5), "the cancel took \(stopped.at - cancelAt) to reach the worker")
            let done = try await worker.call(WorkerProtocol.buildPath(pack.buildID, "complete"), lease: pack.leaseID, Completion(outcome: .cancelled))
            #expect(done.status == .noContent)

            guard backend == .postgres else { return }
            // Another replica on the same PostgreSQL queue cancels: the holding replica reads the
            // stop from the build's row.
            let otherReplica = BuildFarmModule(services: registry.services)
            let second = try await startAndLease()
            let heldOnThisReplica = try await holdHeartbeat(second)
            let otherCancelAt = clock.now
            #expect(try await otherReplica.queue.cancel(uuid: second.buildID) == .signalledWorker)
            let stoppedByOther = try await heldOnThisReplica.value
            #expect(stoppedByOther.answer.stop == .cancelled)
            #expect(stoppedByOther.at - otherCancelAt < .seconds(3), "the other replica's cancel took \(stoppedByOther.at - otherCancelAt)")
        }
    }

    /// A file drop is its creator's: another user who may build the repository, knowing the
    /// file id (writers see it as a build's `resource_key`), can neither build from it nor upload
    /// into it, and gets the answer an unknown id gets. The creator uses it on any repository
    /// they may build.
    @Test(arguments: TestBackend.available)
    func fileDropsBelongToTheirCreator(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let adminAPI = try await Self.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push", "repository:admin/other:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            try await c.pushImage("admin/other", tag: "base", token: push)
            let bob = try await registry.createUser("bob")
            let bobAPI = try await Self.apiToken(registry, "bob")
            let app = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            try await registry.services.accounts.setPermission(repositoryID: app.id, userID: bob.id, role: .write)

            let adminDrop = try await Self.upload(c, adminAPI, Array("FROM scratch\n".utf8))
            let start = { (token: String, repo: String, fileID: String) in
                try await c.send(.post, "/api/v1/repository/\(repo)/build/", token: token, headers: Self.json,
                                 body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
            }
            // Bob may build admin/app, but not from admin's upload: Quay's 400, as for an unknown id.
            let refused = try await start(bobAPI, "admin/app", adminDrop)
            #expect(refused.status == .badRequest, "\(String(buffer: refused.body))")
            let body = try #require(refused.json as? [String: Any])
            #expect(body["error_type"] as? String == "invalid_request")
            #expect(body["error_message"] as? String == "File \(adminDrop) could not be found or is invalid")
            #expect(body["detail"] as? String == body["error_message"] as? String && body["status"] as? Int == 400)
            let unknown = try await start(bobAPI, "admin/app", "no-such-drop")
            #expect(unknown.status == .badRequest && (unknown.json as? [String: Any])?["error_message"] as? String == "File no-such-drop could not be found or is invalid")
            // His own upload works there.
            let bobDrop = try await Self.upload(c, bobAPI, Array("FROM scratch\n".utf8))
            #expect(try await start(bobAPI, "admin/app", bobDrop).status == .created)
            // The creator uses the same drop on every repository they may build.
            #expect(try await start(adminAPI, "admin/app", adminDrop).status == .created)
            #expect(try await start(adminAPI, "admin/other", adminDrop).status == .created)

            // Uploading: the file id is not the credential. Bob knows the id of admin's drop that
            // is still empty, and holds a valid upload key of his own: neither opens it.
            let (pendingID, pendingPath) = try await Self.reserveDrop(c, adminAPI)
            let (_, bobPath) = try await Self.reserveDrop(c, bobAPI)
            let bobKey = try #require(bobPath.split(separator: "/").last)
            for path in ["/userfiles/\(pendingID)", "/userfiles/\(pendingID)/\(bobKey)", "/userfiles/\(pendingID)/" + String(repeating: "0", count: 64),
                         "/userfiles/\(pendingID)/" + (pendingPath.split(separator: "/").last ?? "").uppercased()] {
                let put = try await c.client.executeRequest(uri: path, method: .put, headers: [.authorization: "Bearer \(bobAPI)"],
                                                            body: ByteBuffer(string: "FROM evil\n"))
                #expect(put.status == .notFound, "PUT \(path): \(put.status)")
            }
            let forged = try await c.client.executeRequest(uri: "/userfiles/\(pendingID)/\(bobKey)", method: .put, headers: [:], body: ByteBuffer(string: "x"))
            #expect((forged.json as? [String: Any])?["error_type"] as? String == "not_found", "\(String(buffer: forged.body))")
            #expect(try await registry.buildFarm.store.fileDrop(id: pendingID)?.digest == nil, "admin's drop is untouched")
            #expect(try await c.client.executeRequest(uri: pendingPath, method: .put, headers: [:], body: ByteBuffer(string: "FROM scratch\n")).status == .ok)
        }
    }

    @Test func tagEscapingAndPaths() throws {
        #expect(TagEscapingProbe.escape("feature/x") == "feature_x")
        #expect(TagEscapingProbe.escape(".hidden") == "_hidden")
        #expect(TagEscapingProbe.escape("") == "latest")
        #expect(TagEscapingProbe.escape(String(repeating: "a", count: 300)).count == 127)
    }
}

/// Reaches the internal escaping through the public module surface.
enum TagEscapingProbe {
    static func escape(_ s: String) -> String { BuildRequestRules.escapeTag(s) }
}
