import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OutboundHTTP
import Registry
import SlipwayCore
import SlipwayTestSupport
import Synchronization
import Testing

/// A loopback HTTP server standing in for a user's callback endpoint: `/hook` records every body
/// (and Authorization header) and answers 500 to the first `failFirst` requests; `/slow` never
/// answers in time; `/redirect` points at `/hook`.
final class CallbackReceiver: Sendable {
    private let bodies = Mutex<[Data]>([])
    private let authorizations = Mutex<[String?]>([])
    private let failuresLeft: Mutex<Int>

    init(failFirst: Int) {
        failuresLeft = Mutex(failFirst)
    }

    var received: [Data] { bodies.withLock { $0 } }
    var receivedAuthorizations: [String?] { authorizations.withLock { $0 } }

    /// Runs `body` with a receiver listening on 127.0.0.1 (ephemeral port) at `/hook`.
    static func with<T: Sendable>(failFirst: Int = 0, _ body: @Sendable @escaping (CallbackReceiver, Int) async throws -> T) async throws -> T {
        let receiver = CallbackReceiver(failFirst: failFirst)
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            var request = request
            let buffer = try await request.collectBody(upTo: 16 << 20)
            receiver.bodies.withLock { $0.append(Data(buffer: buffer)) }
            receiver.authorizations.withLock { $0.append(request.headers[.authorization]) }
            let fail = receiver.failuresLeft.withLock { left -> Bool in
                guard left > 0 else { return false }
                left -= 1
                return true
            }
            return fail ? .internalServerError : .ok
        }
        router.post("/slow") { _, _ -> HTTPResponse.Status in
            try await Task.sleep(for: .seconds(30))
            return .ok
        }
        router.post("/redirect") { _, _ in
            Response(status: .found, headers: [.location: "/hook"])
        }
        return try await LoopbackApp.with(router, label: "callback-receiver") { port in try await body(receiver, port) }
    }

    /// Waits (without sleeping blindly) until `count` callbacks have arrived.
    func waitFor(_ count: Int, within seconds: Int = 90) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while received.count < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("got \(received.count) of \(count) callbacks") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try received.map { try #require(try JSONSerialization.jsonObject(with: $0) as? [String: Any]) }
    }
}

@Suite("Usage-log export and retention")
struct LogExportTests {
    /// Seven distinct kinds, to tell the entries apart in order.
    static let sevenKinds: [AuditKind] = [.orgCreate, .orgCreateTeam, .orgAddTeamMember, .createRobot, .createPrototypePermission, .createApplication, .createOauthToken]

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    static func apiToken(_ registry: TestRegistry, _ user: String) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    static func waitUntil(_ registry: TestRegistry, _ uuid: String, within seconds: Int = 30,
                          _ done: (LogExport) -> Bool) async throws -> LogExport {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if let export = try await registry.services.auditStore.logExport(uuid: uuid), done(export) { return export }
            guard ContinuousClock.now < deadline else { throw TestFailure("export \(uuid) did not reach the expected state") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func exportID(_ response: TestResponse) throws -> String {
        try #require((response.json as? [String: Any])?["export_id"] as? String, "\(response.status) \(String(buffer: response.body))")
    }

    /// Path and query of an absolute URL, for the in-process client.
    static func pathAndQuery(_ url: String) throws -> String {
        let c = try #require(URLComponents(string: url))
        return c.percentEncodedPath + (c.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    @Test(arguments: TestBackend.available)
    func exportCallsBackWithALinkToTheLogs(backend: TestBackend) async throws {
        try await CallbackReceiver.with { receiver, port in
            try await TestRegistry.with(backend, configure: { $0.security.allowPrivateTargets = true }) { registry, c in
                let admin = try await Self.apiToken(registry, "admin")
                for name in ["app", "other"] {
                    let r = try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                             body: ByteBuffer(string: #"{"repository":"\#(name)","visibility":"private","description":""}"#))
                    #expect(r.status == .created)
                }
                let store = registry.services.store
                let accounts = registry.services.accounts
                let app = try #require(try await accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
                let actor = AuditEvent.Actor(id: nil, name: "admin", kind: "user")
                for tag in ["v1", "v2", "v3"] {
                    registry.services.auditLog.record(.repository(.pushRepo, app, performer: actor, ip: "192.0.2.1", ["tag": tag]))
                }
                var old = AuditEvent.repository(.pullRepo, app, performer: actor, ip: nil)
                old.time = Clock.nowMillis() - 5 * 86_400_000  // outside the default range (yesterday and today)
                registry.services.auditLog.record(old)

                let hook = "http://127.0.0.1:\(port)/hook?secret=s3cr3t"
                let queued = try await c.send(.post, "/api/v1/repository/admin/app/exportlogs", token: admin, headers: Self.jsonHeaders,
                                              body: ByteBuffer(string: #"{"callback_url":"\#(hook)"}"#))
                #expect(queued.status == .ok)
                let id = try Self.exportID(queued)

                let callback = try #require(try await receiver.waitFor(1).first)
                #expect(callback["export_id"] as? String == id)
                #expect(callback["status"] as? String == "success")
                #expect(callback["namespace"] as? String == "admin")
                #expect(callback["repository"] as? String == "app")
                let today = Date()
                let f = DateFormatter()
                f.locale = Locale(identifier: "en_US_POSIX")
                f.timeZone = TimeZone(identifier: "UTC")
                f.dateFormat = "MM/dd/yyyy"
                #expect(callback["end_time"] as? String == f.string(from: today))
                #expect(callback["start_time"] as? String == f.string(from: today.addingTimeInterval(-86_400)))
                let link = try #require(callback["exported_data_url"] as? String)
                #expect(link.hasPrefix("http://localhost/api/v1/exportedlogs/\(id)?token="))

                // The link is the credential: no bearer token needed.
                let download = try await c.send(.get, try Self.pathAndQuery(link))
                #expect(download.status == .ok)
                #expect(download.headers[.contentType] == "application/json")
                let document = try #require(download.json as? [String: Any])
                #expect(document["export_id"] as? String == id)
                let details = try #require(document["details"] as? [String: Any])
                #expect(details["namespace"] as? String == "admin")
                #expect(details["repository"] as? String == "app")
                let logs = try #require(document["logs"] as? [[String: Any]])
                let kinds = logs.compactMap { $0["kind"] as? String }
                #expect(kinds.sorted() == ["create_repo", "export_logs_success", "push_repo", "push_repo", "push_repo"])
                #expect(logs.allSatisfy { ($0["metadata"] as? [String: String])?["repo"] == "app" })
                let push = try #require(logs.first { $0["kind"] as? String == "push_repo" })
                #expect(push["ip"] as? String == "192.0.2.1")
                #expect((push["performer"] as? [String: Any])?["name"] as? String == "admin")
                #expect(push["datetime"] is String)

                // Recorded: delivered on the first attempt, the file's digest kept.
                let record = try await Self.waitUntil(registry, id) { $0.status == .done }
                #expect(record.callbackStatus == "delivered")
                #expect(record.callbackAttempts == 1)
                #expect(record.result == .success)
                #expect(record.storageDigest != nil)
                #expect(Int(record.size ?? 0) == download.body.readableBytes)

                // Forged, re-targeted, expired and missing tokens are all 403s.
                let token = String(link[link.range(of: "token=")!.upperBound...])
                let parts = token.split(separator: ".").map(String.init)
                var mac = Array(parts[1])
                mac[10] = mac[10] == "A" ? "B" : "A"
                let forged: String = parts[0] + "." + String(mac)
                let expired = try await LogExportLinks(keys: InstanceKeys(database: store.database)).token(exportID: id, expiresAt: Int64(Date().timeIntervalSince1970) - 1)
                let otherID = UUID().uuidString.lowercased()
                let otherToken = try await LogExportLinks(keys: InstanceKeys(database: store.database)).token(exportID: otherID, expiresAt: Int64(Date().timeIntervalSince1970) + 600)
                for path in ["/api/v1/exportedlogs/\(id)?token=\(forged)", "/api/v1/exportedlogs/\(id)?token=\(expired)",
                             "/api/v1/exportedlogs/\(id)?token=\(otherToken)", "/api/v1/exportedlogs/\(id)",
                             "/api/v1/exportedlogs/\(id)?token=9999999999.\(token.split(separator: ".")[1])"] {
                    let r = try await c.send(.get, path, token: admin)
                    #expect(r.status == .forbidden, "\(path)")
                    #expect((r.json as? [String: Any])?["error_type"] as? String == "insufficient_scope")
                }
                // A valid link to an export that has no file is a 404.
                #expect(try await c.send(.get, "/api/v1/exportedlogs/\(otherID)?token=\(otherToken)").status == .notFound)

                // The usage log names the callback without its query (it may hold a secret).
                let logsPage = try await c.send(.get, "/api/v1/repository/admin/app/logs", token: admin)
                let entries = try #require((logsPage.json as? [String: Any])?["logs"] as? [[String: Any]])
                let exportEntry = try #require(entries.first { $0["kind"] as? String == "export_logs_success" })
                #expect((exportEntry["metadata"] as? [String: String])?["url"] == "http://127.0.0.1:\(port)/hook")
                #expect((exportEntry["metadata"] as? [String: String])?["export_id"] == id)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func failingCallbackIsRetriedUntilDelivered(backend: TestBackend) async throws {
        try await CallbackReceiver.with(failFirst: 2) { receiver, port in
            try await TestRegistry.with(backend, configure: { $0.security.allowPrivateTargets = true }) { registry, c in
                let admin = try await Self.apiToken(registry, "admin")
                let queued = try await c.send(.post, "/api/v1/user/exportlogs", token: admin, headers: Self.jsonHeaders,
                                              body: ByteBuffer(string: #"{"callback_url":"http://127.0.0.1:\#(port)/hook"}"#))
                let id = try Self.exportID(queued)
                let calls = try await receiver.waitFor(3)
                #expect(calls.allSatisfy { $0["export_id"] as? String == id && $0["status"] as? String == "success" })
                #expect(calls.allSatisfy { $0["namespace"] as? String == "admin" && $0["repository"] is NSNull })
                let record = try await Self.waitUntil(registry, id) { $0.status == .done }
                #expect(record.callbackAttempts == 3)
                #expect(record.callbackStatus == "delivered")
                #expect(record.lastError == nil)
                #expect(receiver.received.count == 3)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func internalCallbackTargetsAreRefused(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            for url in ["http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]/",
                        "http://localhost:8080/", "file:///etc/passwd", "ftp://example.com/", "http://0.0.0.0/", "http://2130706433/",
                        "http://metadata.google.internal/", "http://[fd00:ec2::254]/", "not a url"] {
                let r = try await c.send(.post, "/api/v1/user/exportlogs", token: admin, headers: Self.jsonHeaders,
                                         body: ByteBuffer(string: #"{"callback_url":"\#(url)"}"#))
                #expect(r.status == .badRequest, "\(url)")
                #expect(((r.json as? [String: Any])?["error_message"] as? String)?.hasPrefix("Invalid callback URL") == true, "\(url)")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func requestsAreValidated(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let email = #"{"callback_email":"ops@example.com"}"#
            let bad: [(String, String)] = [
                ("/api/v1/user/exportlogs?starttime=02/01/2026&endtime=01/01/2026", email),  // reversed
                ("/api/v1/user/exportlogs?starttime=01/01/2026&endtime=03/01/2026", email),  // over 31 days
                ("/api/v1/user/exportlogs?starttime=2026-01-01", email),
                ("/api/v1/user/exportlogs", "{}"),
                ("/api/v1/user/exportlogs", #"{"callback_url":"","callback_email":""}"#),
                ("/api/v1/user/exportlogs", #"{"callback_email":"not-an-address"}"#),
                ("/api/v1/user/exportlogs", #"{"callback_email":"a b@example.com"}"#),
                ("/api/v1/user/exportlogs", #"{"callback_url":42}"#),
                ("/api/v1/user/exportlogs", "not json"),
            ]
            for (path, body) in bad {
                let r = try await c.send(.post, path, token: admin, headers: Self.jsonHeaders, body: ByteBuffer(string: body))
                #expect(r.status == .badRequest, "\(path) \(body): \(String(buffer: r.body))")
                #expect((r.json as? [String: Any])?["error_type"] as? String == "invalid_request")
            }
            // E-mail only: exported, and the mail is queued with it (no SMTP server here, so it stays queued).
            let ok = try await c.send(.post, "/api/v1/user/exportlogs?starttime=01/01/2026&endtime=01/31/2026", token: admin,
                                      headers: Self.jsonHeaders, body: ByteBuffer(string: email))
            #expect(ok.status == .ok)
            let record = try await Self.waitUntil(registry, try Self.exportID(ok)) { $0.status == .done }
            #expect(record.emailStatus == "queued")
            #expect(record.callbackEmail == "ops@example.com")
            #expect(record.callbackStatus == "none")
            #expect(record.result == .success)
            #expect(record.callbackAttempts == 0)
        }
    }

    /// The queue is durable: exports queued while no worker runs are picked up later, a claim
    /// whose lease ran out (crashed worker) is taken over, a live claim is left alone, and two
    /// workers never deliver the same export twice.
    @Test(arguments: TestBackend.available)
    func queueSurvivesRestartsAndWorkersShareIt(backend: TestBackend) async throws {
        try await CallbackReceiver.with { receiver, port in
            // No application runs here, so nothing drains the queue until the test says so.
            let registry = try await TestRegistry.start(backend) { $0.security.allowPrivateTargets = true }
            do {
                let accounts = registry.services.accounts
                let auditStore = registry.services.auditStore
                let admin = try #require(try await accounts.namespace(named: "admin"))
                let now = Clock.nowMillis()
                func queue() async throws -> String {
                    try await auditStore.createLogExport(.init(requesterID: admin.id, scope: .performer(admin.id), namespaceName: "admin",
                                                          repositoryName: nil, start: now - 86_400_000, end: now + 86_400_000,
                                                          callbackURL: "http://127.0.0.1:\(port)/hook", callbackEmail: nil,
                                                          origin: "http://registry.test"), now: now - 20_000).uuid
                }
                // Another worker holds a live claim on one export.
                let jobs = registry.services.jobs
                let busy = try await queue()
                let held = try #require(try await jobs.claim(queue: LogExportJob.queue, limit: 1, visibilityTimeout: .seconds(300)).first)
                #expect(held.reference == busy)
                var ids: Set<String> = []
                for _ in 0..<4 { ids.insert(try await queue()) }
                // A worker claimed one of the others ten seconds ago and died: its lease is over.
                registry.jobTime.set(now - 10_000)
                let crashed = try #require(try await jobs.claim(queue: LogExportJob.queue, limit: 1, visibilityTimeout: .seconds(1)).first)
                registry.jobTime.set(nil)
                #expect(ids.contains(crashed.reference ?? ""))

                let first = LogExporter(services: registry.services)
                let second = LogExporter(services: registry.services)
                async let a = first.runPending()
                async let b = second.runPending()
                _ = await (a, b)

                // Both workers have finished: every callback that will be sent has been.
                let calls = try await receiver.waitFor(4)
                #expect(receiver.received.count == 4)
                #expect(Set(calls.compactMap { $0["export_id"] as? String }) == ids)
                #expect(calls.allSatisfy { ($0["exported_data_url"] as? String)?.hasPrefix("http://registry.test/api/v1/exportedlogs/") == true })
                for id in ids {
                    let record = try #require(try await auditStore.logExport(uuid: id))
                    #expect(record.status == .done)
                    #expect(record.exportAttempts == 1)
                    #expect(record.callbackAttempts == 1)
                }
                #expect(try await auditStore.logExport(uuid: busy)?.status == .queued)
            } catch {
                await registry.stop()
                throw error
            }
            await registry.stop()
        }
    }

    /// A new export is picked up as soon as it is queued: the push wakes the exporter's runner
    /// (on PostgreSQL through NOTIFY and the driver's LISTEN connection), whose fallback poll
    /// here is an hour away.
    @Test(arguments: TestBackend.available)
    func newExportIsPickedUpWithoutWaitingForAPoll(backend: TestBackend) async throws {
        // No application runs here: the test runs the driver and one exporter itself.
        let registry = try await TestRegistry.start(backend)
        do {
            let accounts = registry.services.accounts
            let auditStore = registry.services.auditStore
            let admin = try #require(try await accounts.namespace(named: "admin"))
            var settings = LogExporter.Settings()
            settings.fallbackPoll = .seconds(3600)
            let exporter = LogExporter(services: registry.services, settings: settings)
            @Sendable func export() async throws -> String {
                let now = Clock.nowMillis()
                return try await auditStore.createLogExport(.init(requesterID: admin.id, scope: .performer(admin.id), namespaceName: "admin",
                                                             repositoryName: nil, start: now - 86_400_000, end: now + 86_400_000,
                                                             callbackURL: nil, callbackEmail: nil, origin: "")).uuid
            }
            @Sendable func waitUntilDone(_ uuid: String) async throws {
                let deadline = ContinuousClock.now + .seconds(60)
                while try await auditStore.logExport(uuid: uuid)?.status != .done {
                    guard ContinuousClock.now < deadline else { throw TestFailure("export \(uuid) waited for a poll") }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await registry.services.jobs.run() }
                group.addTask { try await exporter.run() }
                // The first export shows the exporter is running; the second is queued while it waits.
                try await waitUntilDone(try await export())
                try await waitUntilDone(try await export())
                group.cancelAll()
            }
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    /// Out of attempts → `failed`; a target that is internal by delivery time (DNS changed, or
    /// the setting was turned off) → `refused` at once, never retried.
    @Test(arguments: TestBackend.available)
    func callbackGivesUpOrIsRefusedAtDelivery(backend: TestBackend) async throws {
        try await CallbackReceiver.with(failFirst: 100) { receiver, port in
            for allowPrivate in [true, false] {
                let registry = try await TestRegistry.start(backend) { $0.security.allowPrivateTargets = allowPrivate }
                do {
                    let accounts = registry.services.accounts
                    let auditStore = registry.services.auditStore
                    let admin = try #require(try await accounts.namespace(named: "admin"))
                    let now = Clock.nowMillis()
                    let export = try await auditStore.createLogExport(.init(
                        requesterID: admin.id, scope: .performer(admin.id), namespaceName: "admin", repositoryName: nil,
                        start: now - 86_400_000, end: now, callbackURL: "http://127.0.0.1:\(port)/hook", callbackEmail: nil, origin: ""))
                    var settings = LogExporter.Settings()
                    settings.maxCallbackAttempts = 3
                    settings.callbackBackoff = .milliseconds(5)
                    let exporter = LogExporter(services: registry.services, settings: settings)
                    let deadline = ContinuousClock.now + .seconds(20)
                    var record = try #require(try await auditStore.logExport(uuid: export.uuid))
                    while record.status != .failed && record.status != .done {
                        guard ContinuousClock.now < deadline else { throw TestFailure("export stuck in \(record.status)") }
                        await exporter.runPending()
                        try await Task.sleep(for: .milliseconds(10))
                        record = try #require(try await auditStore.logExport(uuid: export.uuid))
                    }
                    #expect(record.status == .failed)
                    #expect(record.result == .success)  // the file was written; only the callback failed
                    if allowPrivate {
                        #expect(record.callbackStatus == "failed")
                        #expect(record.callbackAttempts == 3)
                        #expect(record.lastError == "the callback answered 500")
                    } else {
                        #expect(record.callbackStatus == "refused")
                        #expect(record.callbackAttempts == 1)
                        #expect(record.lastError?.contains("loopback") == true)
                    }
                } catch {
                    await registry.stop()
                    throw error
                }
                await registry.stop()
            }
            #expect(receiver.received.count == 3)
        }
    }

    /// The file is written page by page: every entry exactly once, newest first, valid JSON
    /// even when the range is empty.
    @Test(arguments: TestBackend.available)
    func exportStreamsAcrossPages(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend)
        do {
            let accounts = registry.services.accounts
            let auditStore = registry.services.auditStore
            let admin = try #require(try await accounts.namespace(named: "admin"))
            let org = try await accounts.createOrganization(name: "paged", email: "p@example.com", creatorID: admin.id)
            let now = Clock.nowMillis()
            for i in 0..<7 {
                // Two share a timestamp, so the (time, id) cursor matters.
                registry.services.auditLog.record(AuditEvent(kind: Self.sevenKinds[i], performer: .init(id: admin.id, name: "admin", kind: "user"),
                                                          namespace: (org.id, org.name), ip: nil, time: now - 60_000 + Int64(min(i, 5)) * 1000))
            }
            registry.services.auditLog.record(AuditEvent(kind: .userChangeSettings, performer: nil, namespace: (admin.id, admin.name), ip: nil))
            await registry.services.auditLog.flush()
            var settings = LogExporter.Settings()
            settings.pageSize = 3
            let exporter = LogExporter(services: registry.services, settings: settings)
            func export(start: Int64, end: Int64) async throws -> [String: Any] {
                let e = try await auditStore.createLogExport(.init(requesterID: admin.id, scope: .namespace(org.id), namespaceName: "paged",
                                                              repositoryName: nil, start: start, end: end, callbackURL: nil,
                                                              callbackEmail: "ops@example.com", origin: ""))
                await exporter.runPending()
                let digest = try #require(try await auditStore.logExport(uuid: e.uuid)?.storageDigest)
                var bytes = Data()
                try await registry.services.storage.read(digest, range: 0..<(try #require(try await registry.services.storage.stat(digest)))) {
                    bytes.append(contentsOf: $0.readableBytesView)
                }
                #expect(Digest.sha256(of: bytes) == digest)
                return try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
            }
            let full = try await export(start: now - 86_400_000, end: now + 86_400_000)
            let kinds = (full["logs"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }
            #expect(kinds == Self.sevenKinds.reversed().map(\.rawValue))
            #expect((full["details"] as? [String: Any])?["repository"] is NSNull)
            let empty = try await export(start: now - 10 * 86_400_000, end: now - 9 * 86_400_000)
            #expect((empty["logs"] as? [Any])?.isEmpty == true)
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    @Test func callbackClientNeverFollowsRedirectsAndKeepsItsDeadline() async throws {
        try await CallbackReceiver.with { receiver, port in
            // Generous enough for a loaded CI machine; `/slow` never answers, so it still times out.
            let client = OutboundHTTPClient(.init(allowPrivateTargets: true, timeout: .seconds(10)))
            let body = ByteBuffer(string: #"{"ok":true}"#)
            // Credentials in the URL become Basic auth, decoded once.
            #expect(try await client.send(to: "http://u:p%40ss@127.0.0.1:\(port)/hook", body: body).status == 200)
            #expect(receiver.receivedAuthorizations == ["Basic " + Data("u:p@ss".utf8).base64EncodedString()])
            // Redirects are reported, never followed.
            #expect(try await client.send(to: "http://127.0.0.1:\(port)/redirect", body: body).status == 302)
            #expect(receiver.received.count == 1)
            // One deadline covers the whole exchange.
            let started = ContinuousClock.now
            await #expect(throws: OutboundHTTPClient.Failure.timedOut) { _ = try await client.send(to: "http://127.0.0.1:\(port)/slow", body: body) }
            #expect(ContinuousClock.now - started < .seconds(25))
            // Nothing listening: a connection failure, not a hang.
            do {
                _ = try await client.send(to: "http://127.0.0.1:1/hook", body: body)
                Issue.record("expected a connection failure")
            } catch let error as OutboundHTTPClient.Failure {
                guard case .connection = error else { Issue.record("expected .connection, got \(error)"); return }
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func retentionDeletesOldLogsAndExports(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend) { $0.logs.retentionDays = 30 }
        do {
            let accounts = registry.services.accounts
            let auditStore = registry.services.auditStore
            let admin = try #require(try await accounts.namespace(named: "admin"))
            let repo = try await accounts.createRepository(namespaceID: admin.id, name: "kept", visibility: .private).0
            let now = Clock.nowMillis()
            let actor = AuditEvent.Actor(id: admin.id, name: "admin", kind: "user")
            for (kind, age) in [(AuditKind.pullRepo, 40), (.pushRepo, 31), (.createTag, 29), (.deleteTag, 0)] {
                var event = AuditEvent.repository(kind, repo, performer: actor, ip: nil)
                event.time = now - Int64(age) * 86_400_000 - 1000
                registry.services.auditLog.record(event)
            }
            await registry.services.auditLog.flush()

            // An old finished export with a file, and a recent one.
            let oldExport = try await auditStore.createLogExport(.init(requesterID: admin.id, scope: .repository(repo.id), namespaceName: "admin",
                                                                  repositoryName: "kept", start: now - 45 * 86_400_000, end: now - 35 * 86_400_000,
                                                                  callbackURL: nil, callbackEmail: "ops@example.com", origin: ""),
                                                            now: now - 35 * 86_400_000)
            let newExport = try await auditStore.createLogExport(.init(requesterID: admin.id, scope: .repository(repo.id), namespaceName: "admin",
                                                                  repositoryName: "kept", start: now - 86_400_000, end: now,
                                                                  callbackURL: nil, callbackEmail: "ops@example.com", origin: ""))
            let exporter = LogExporter(services: registry.services)
            #expect(await exporter.runPending() == 2)
            let oldFile = try #require(try await auditStore.logExport(uuid: oldExport.uuid)?.storageDigest)
            #expect(try await registry.services.storage.stat(oldFile) != nil)

            try await exporter.applyRetention()
            let left = try await auditStore.usageLogs(scope: .repository(repo.id), start: 0, end: now + 1, performer: nil, before: nil, limit: 100)
            #expect(left.map(\.kind).sorted() == ["create_tag", "delete_tag"])
            #expect(try await auditStore.logExport(uuid: oldExport.uuid) == nil)
            // The file goes with the collector's byte deletion pass, which asks every owner.
            var settings = CollectorSettings()
            settings.tombstoneSeconds = 0
            try await Task.sleep(for: .milliseconds(2))
            try await registry.collector(settings).runPass()
            #expect(try await registry.services.storage.stat(oldFile) == nil)
            #expect(try await auditStore.logExport(uuid: newExport.uuid)?.status == .done)
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    /// An entry reads the same, to the byte, in `GET .../logs` and in an export's file: one view
    /// type writes both (a robot performer is shown as a user with `is_robot`, absent values are
    /// left out, keys sorted).
    @Test(arguments: TestBackend.available)
    func entriesAreTheSameBytesInTheAPIAndTheExport(backend: TestBackend) async throws {
        // Retention off: the entries are dated in the past.
        try await TestRegistry.with(backend, configure: { $0.logs.retentionDays = 0 }) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let accounts = registry.services.accounts
            let owner = try #require(try await accounts.namespace(named: "admin"))
            let org = try await accounts.createOrganization(name: "acme", email: "a@example.com", creatorID: owner.id)
            let day: Int64 = 1_735_776_000_000  // Thu, 02 Jan 2025 00:00:00 UTC
            registry.services.auditLog.record(AuditEvent(kind: .orgChangeSettings, performer: nil, namespace: (org.id, org.name), ip: nil,
                                                      time: day + 9 * 3_600_000))
            registry.services.auditLog.record(AuditEvent(kind: .pushRepo, performer: .init(id: nil, name: "acme+bot", kind: "robot"),
                                                      namespace: (org.id, org.name), ip: "192.0.2.1",
                                                      metadata: ["namespace": "acme", "repo": "app", "tag": "v1"], time: day + 10 * 3_600_000 + 15 * 60_000))
            let entries = #"{"datetime":"Thu, 02 Jan 2025 10:15:00 -0000","ip":"192.0.2.1","kind":"push_repo","#
                + #""metadata":{"namespace":"acme","repo":"app","tag":"v1"},"namespace":{"kind":"org","name":"acme"},"#
                + #""performer":{"avatar":{"name":"acme+bot"},"is_robot":true,"kind":"user","name":"acme+bot"}},"#
                + #"{"datetime":"Thu, 02 Jan 2025 09:00:00 -0000","kind":"org_change_settings","metadata":{},"#
                + #""namespace":{"kind":"org","name":"acme"}}"#

            let listed = try await c.send(.get, "/api/v1/organization/acme/logs?starttime=01/02/2025&endtime=01/02/2025", token: admin)
            #expect(listed.status == .ok)
            #expect(String(buffer: listed.body) == #"{"end_time":"Fri, 03 Jan 2025 00:00:00 -0000","logs":["# + entries
                + #"],"start_time":"Thu, 02 Jan 2025 00:00:00 -0000"}"#)

            let export = try await registry.services.auditStore.createLogExport(.init(
                requesterID: owner.id, scope: .namespace(org.id), namespaceName: "acme", repositoryName: nil, start: day, end: day + 86_400_000,
                callbackURL: nil, callbackEmail: "ops@example.com", origin: ""))
            let done = try await Self.waitUntil(registry, export.uuid) { $0.status == .done }
            let digest = try #require(done.storageDigest)
            var file = ByteBuffer()
            try await registry.services.storage.read(digest, range: 0..<(try #require(try await registry.services.storage.stat(digest)))) {
                var chunk = $0
                file.writeBuffer(&chunk)
            }
            #expect(String(buffer: file) == #"{"export_id":"\#(export.uuid)","details":{"end_time":"Fri, 03 Jan 2025 00:00:00 -0000","#
                + #""namespace":"acme","repository":null,"start_time":"Thu, 02 Jan 2025 00:00:00 -0000"},"logs":["# + entries + "]}")
        }
    }

    @Test func retentionZeroKeepsEverything() async throws {
        let registry = try await TestRegistry.start(.sqlite) { $0.logs.retentionDays = 0 }
        do {
            let accounts = registry.services.accounts
            let auditStore = registry.services.auditStore
            let admin = try #require(try await accounts.namespace(named: "admin"))
            var event = AuditEvent(kind: .loginSuccess, performer: .init(id: admin.id, name: "admin", kind: "user"), ip: nil)
            event.time = 1000
            registry.services.auditLog.record(event)
            await registry.services.auditLog.flush()
            try await LogExporter(services: registry.services).applyRetention()
            #expect(try await auditStore.usageLogs(scope: .performer(admin.id), start: 0, end: 2000, performer: nil, before: nil, limit: 10).count == 1)
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    @Test func linksAreBoundToExportAndExpiry() async throws {
        let registry = try await TestRegistry.start(.sqlite)
        do {
            let links = LogExportLinks(keys: InstanceKeys(database: registry.database))
            let later = Int64(Date().timeIntervalSince1970) + 60
            let token = try await links.token(exportID: "a", expiresAt: later)
            #expect(try await links.verify(exportID: "a", token: token))
            #expect(try await false == links.verify(exportID: "b", token: token))
            #expect(try await false == links.verify(exportID: "a", token: token, now: (later + 1) * 1000))
            #expect(try await false == links.verify(exportID: "a", token: "\(later + 1)." + token.split(separator: ".")[1]))
            #expect(try await false == links.verify(exportID: "a", token: ""))
            #expect(try await false == links.verify(exportID: "a", token: "x.y.z"))
            // A second instance (another replica) shares the key through the database.
            #expect(try await LogExportLinks(keys: InstanceKeys(database: registry.database)).verify(exportID: "a", token: token))
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
