@testable import Notifications
import Accounts
import Crypto
import Events
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The dispatcher against real loopback receivers: event matching, webhook signing and
/// templates, retries with backoff, failure counting and pausing, the test endpoint, slow
/// receivers, and restarts.
@Suite("Notification delivery")
struct DeliveryTests {
    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: TestBackend.available)
    func pushDeliversOneSignedWebhook(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend) { f in
                let view = try await f.create(#"""
                    {"event":"repo_push","method":"webhook","config":{"url":"\#(receiver.url)","secret":"s3cret"},"eventConfig":{}}
                    """#)
                try await f.push("v1")
                try await f.deliver { receiver.requests.count == 1 }
                let request = try #require(receiver.requests.first)
                #expect(request.method == "POST" && request.path == "/hook")
                #expect(request.headers["content-type"] == "application/json")
                #expect(request.headers["x-slipway-event"] == "repo_push")
                let mac = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data("s3cret".utf8)))
                #expect(request.headers["x-slipway-signature-256"] == "sha256=" + Self.hex(mac))
                let body = try #require(request.json)
                #expect(body["repository"] as? String == "admin/app")
                #expect(body["namespace"] as? String == "admin")
                #expect(body["name"] as? String == "app")
                #expect(body["updated_tags"] as? [String] == ["v1"])
                #expect((body["docker_url"] as? String)?.hasSuffix("/admin/app") == true)
                #expect((body["homepage"] as? String)?.hasSuffix("/repository/admin/app") == true)

                // Exactly one: more passes send nothing more, and the delivery is recorded.
                await f.runOnce()
                #expect(receiver.requests.count == 1)
                let n = try await f.notification(view)
                let deliveries = try await f.notifications.deliveries(notificationID: n.id)
                #expect(deliveries.map(\.status) == [.delivered])
                #expect(deliveries.first?.attempts == 1)
            }
        }
    }

    static func buildPayload(_ id: String, ref: String?) -> [String: EventValue] {
        var p: [String: EventValue] = ["build_id": .string(id), "repository": .string("admin/app"), "docker_tags": .strings(["latest"])]
        if let ref { p["trigger_metadata"] = .object(["ref": .string(ref), "commit": .string("abc")]) }
        return p
    }

    @Test(arguments: TestBackend.available)
    func buildEventsHonourRefRegexAndTemplates(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend) { f in
                let filtered = try await f.notification(try await f.create(#"""
                    {"event":"build_success","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{"ref-regex":"refs/heads/ma"}}
                    """#))
                let templated = try await f.notification(try await f.create(#"""
                    {"event":"build_failure","method":"webhook","config":{"url":"\#(receiver.url)",
                     "template":"{\"text\":\"build ${build_id} of ${repository} failed: ${error_message}\",\"ref\":\"${trigger_metadata.ref}\"}"},"eventConfig":{}}
                    """#))
                for (id, ref) in [("b-main", "refs/heads/main"), ("b-tag", "refs/tags/v1"), ("b-upload", nil)] {
                    try await f.events.emit(kind: .buildSuccess, repository: f.repo, payload: Self.buildPayload(id, ref: ref))
                }
                var failure = Self.buildPayload("b-fail", ref: "refs/heads/dev")
                failure["error_message"] = .string("no Dockerfile")
                try await f.events.emit(kind: .buildFailure, repository: f.repo, payload: failure)
                try await f.deliver { receiver.requests.count == 2 }
                await f.runOnce()
                #expect(receiver.requests.count == 2)
                let bodies = receiver.requests.compactMap(\.json)
                #expect(bodies.contains { $0["build_id"] as? String == "b-main" })
                #expect(bodies.contains { $0["text"] as? String == "build b-fail of admin/app failed: no Dockerfile" && $0["ref"] as? String == "refs/heads/dev" })
                #expect(try await f.notifications.deliveries(notificationID: filtered.id).count == 1, "only refs/heads/ma… matches")
                #expect(try await f.notifications.deliveries(notificationID: templated.id).count == 1)
            }
        }
    }

    @Test func eventsOfARepositoryArriveInOrder() async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(.sqlite) { f in
                let kinds: [RepositoryEventKind] = [.buildQueued, .buildStart, .buildSuccess]
                for kind in kinds {
                    try await f.create(#"{"event":"\#(kind.rawValue)","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{}}"#)
                }
                for round in 0..<3 {
                    for kind in kinds {
                        try await f.events.emit(kind: kind, repository: f.repo, payload: Self.buildPayload("b\(round)", ref: "refs/heads/main"))
                    }
                }
                // Ordering across notifications waits for the previous request up to
                // `orderingWait` (1 s) by design; on a loaded machine a request can take longer
                // to go out, so this test asks for strict order with a wait no run reaches.
                var settings = NotificationDispatcher.Settings(config: f.registry.services.config.notifications)
                settings.orderingWait = .seconds(120)
                let strict = NotificationDispatcher(services: f.registry.services, store: f.notifications, settings: settings)
                _ = await strict.runOnce(forceExpiryScan: false)
                let order = receiver.requests.map { "\($0.json?["build_id"] as? String ?? "?") \($0.headers["x-slipway-event"] ?? "?")" }
                #expect(order == (0..<3).flatMap { round in kinds.map { "b\(round) \($0.rawValue)" } })
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func failuresRetryWithBackoffThenPauseUntilReset(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend, configure: { $0.notifications.maxAttempts = 4 }) { f in
                let view = try await f.create(#"{"event":"repo_push","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{}}"#)
                let n = try await f.notification(view)
                let payload: [String: EventValue] = ["repository": .string("admin/app"), "updated_tags": .strings(["v1"])]

                // 500 three times, then 200: delivered once, on the fourth attempt, after 2 s, 4 s, 8 s.
                receiver.script([.status(500), .status(500), .status(500)])
                let start = Clock.nowMillis() + 3_600_000
                try await f.events.emit(kind: .repoPush, repository: f.repo, payload: payload)
                var now = start
                var due: [Int64] = []
                for _ in 0..<4 {
                    await f.runOnce(now: now)
                    guard let d = try await f.notifications.deliveries(notificationID: n.id).first, d.status == .pending else { break }
                    due.append(d.nextAttemptAt - now)
                    #expect(d.lastError?.contains("the receiver answered 500") == true)
                    #expect(d.lastError?.contains("\u{7}") == false, "receiver text is sanitised")
                    now = d.nextAttemptAt
                }
                #expect(due == [2000, 4000, 8000])
                var deliveries = try await f.notifications.deliveries(notificationID: n.id)
                #expect(deliveries.map(\.status) == [.delivered])
                #expect(deliveries.first?.attempts == 4)
                #expect(receiver.requests.count == 4)
                #expect(try await f.notification(view).numberOfFailures == 0)

                // A receiver that always fails: each event is given up after 4 attempts and counts
                // once; after 3 such events the notification is paused.
                receiver.script([], fallback: .status(503))
                for _ in 0..<3 {
                    try await f.events.emit(kind: .repoPush, repository: f.repo, payload: payload)
                    try await f.settle(n.id, from: now)
                }
                deliveries = try await f.notifications.deliveries(notificationID: n.id)
                #expect(deliveries.map(\.status) == [.delivered, .failed, .failed, .failed])
                #expect(deliveries.last?.lastError?.contains("gave up after 4 attempts") == true)
                let paused = try await f.send(.get, "/api/v1/repository/admin/app/notification/\(n.uuid)").object
                #expect(paused["number_of_failures"] as? Int == 3)
                #expect(paused["paused"] as? Bool == true)
                #expect((paused["last_error"] as? String)?.contains("503") == true)

                try await f.events.emit(kind: .repoPush, repository: f.repo, payload: payload)
                await f.runOnce(now: now)
                #expect(try await f.notifications.deliveries(notificationID: n.id).count == 4, "a paused notification gets no new events")

                // Reset: the next event is delivered again.
                #expect(try await f.send(.post, "/api/v1/repository/admin/app/notification/\(n.uuid)").status == .noContent)
                #expect(try await f.notification(view).numberOfFailures == 0)
                receiver.script([], fallback: .status(204))
                try await f.events.emit(kind: .repoPush, repository: f.repo, payload: payload)
                let final = try await f.settle(n.id, from: now)
                #expect(final.map(\.status) == [.delivered, .failed, .failed, .failed, .delivered])
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func testEndpointQueuesTheEventSample(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend) { f in
                let expiry = try await f.create(#"{"event":"repo_image_expiry","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{"days":3}}"#)
                let build = try await f.create(#"{"event":"build_failure","method":"slack","config":{"url":"\#(receiver.url)"},"eventConfig":{}}"#)
                for view in [expiry, build] {
                    let r = try await f.send(.post, "/api/v1/repository/admin/app/notification/\(view["uuid"] as! String)/test")
                    #expect(r.status == .ok)
                }
                try await f.deliver { receiver.requests.count == 2 }
                let bodies = receiver.requests.compactMap(\.json)
                let sample = try #require(bodies.first { $0["expiring_in"] != nil })
                #expect(sample["expiring_in"] as? String == "3 days")
                #expect(sample["tags"] as? [String] == ["latest", "v1"])
                #expect(sample["repository"] as? String == "admin/app")
                let slack = try #require(bodies.first { $0["text"] != nil })
                #expect((slack["text"] as? String)?.hasPrefix("Build failure for repository admin/app") == true)
                let attachment = try #require((slack["attachments"] as? [[String: Any]])?.first)
                #expect((attachment["text"] as? String)?.contains("Error: This is a fake error message") == true)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func imageExpiryNotifiesOncePerTagExpiry(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend) { f in
                let n = try await f.notification(try await f.create(#"""
                    {"event":"repo_image_expiry","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{"days":2}}
                    """#))
                try await f.push("soon")
                try await f.push("later")
                let now = Clock.nowMillis()
                #expect(try await f.store.setTagExpiration(repositoryID: f.repo.id, name: "soon", expiration: now + 86_400_000))
                #expect(try await f.store.setTagExpiration(repositoryID: f.repo.id, name: "later", expiration: now + 10 * 86_400_000))
                await f.runOnce(now: now, forceExpiryScan: true)
                await f.runOnce(now: now + 1000, forceExpiryScan: true)
                try await f.deliver { receiver.requests.count == 1 }
                let body = try #require(receiver.requests.first?.json)
                #expect(body["tags"] as? [String] == ["soon"])
                #expect(body["expiring_in"] as? String == "2 days")
                #expect(try await f.notifications.deliveries(notificationID: n.id).count == 1, "one notice per tag expiry, not per scan")
                // A GC pass's own repo_image_expiry event is not delivered a second time.
                try await f.events.emit(kind: .repoImageExpiry, repository: f.repo, payload: ["tags": .strings(["soon"]), "expiring_in": .int(1)])
                await f.runOnce(now: now + 2000, forceExpiryScan: true)
                #expect(try await f.notifications.deliveries(notificationID: n.id).count == 1)
            }
        }
    }

    @Test func slowReceiverTimesOutWithoutHoldingUpOthers() async throws {
        try await HTTPReceiver.with { slow in
            try await HTTPReceiver.with { fast in
                // 10 s, not 1: the fast receiver answers within the same per-attempt deadline, and
                // a full parallel suite on two cores has starved this process for over 3 seconds.
                try await NotificationFixture.with(.sqlite, configure: { $0.notifications.deliveryTimeoutSeconds = 10 }) { f in
                    slow.script([], fallback: .hang)
                    let a = try await f.notification(try await f.create(#"{"event":"repo_push","method":"webhook","config":{"url":"\#(slow.url)"},"eventConfig":{}}"#))
                    let b = try await f.notification(try await f.create(#"{"event":"repo_push","method":"webhook","config":{"url":"\#(fast.url)"},"eventConfig":{}}"#))
                    let now = Clock.nowMillis() + 3_600_000
                    try await f.events.emit(kind: .repoPush, repository: f.repo, payload: ["updated_tags": .strings(["x"])])
                    let started = ContinuousClock.now
                    await f.runOnce(now: now)
                    // The slow receiver never answers: the pass ending at all shows the 10 s timeout
                    // works; the bound is loose because a loaded CI machine runs every suite at once.
                    #expect(ContinuousClock.now - started < .seconds(60))
                    #expect(fast.requests.count == 1)
                    let fastDeliveries = try await f.notifications.deliveries(notificationID: b.id)
                    #expect(fastDeliveries.map(\.status) == [.delivered], "\(fastDeliveries.map { "\($0.status) \($0.lastError ?? "")" })")
                    let stuck = try #require(try await f.notifications.deliveries(notificationID: a.id).first)
                    #expect(stuck.status == .pending)
                    #expect(stuck.lastError == "timed out")
                }
            }
        }
    }

    /// With the dispatcher running as a service, a queued delivery goes out as soon as its job
    /// is pushed: the push wakes the dispatcher (on PostgreSQL through NOTIFY and the driver's
    /// LISTEN connection), whose poll here is six minutes away.
    @Test(arguments: TestBackend.available)
    func queuedDeliveryIsSentWithoutWaitingForAPoll(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            try await NotificationFixture.with(backend, configure: { $0.notifications.dispatchIntervalSeconds = 360 }) { f in
                #expect(f.dispatcher.settings.pollInterval == .seconds(360))
                let view = try await f.create(#"{"event":"repo_push","method":"webhook","config":{"url":"\#(receiver.url)"},"eventConfig":{}}"#)
                let uuid = try #require(view["uuid"] as? String)
                let started = ContinuousClock.now
                #expect(try await f.send(.post, "/api/v1/repository/admin/app/notification/\(uuid)/test").status == .ok)
                while receiver.requests.isEmpty {
                    guard ContinuousClock.now - started < .seconds(60) else { throw TestFailure("the delivery waited for a poll") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(receiver.requests.count == 1)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func pendingDeliveriesSurviveARestart(backend: TestBackend) async throws {
        // No application runs here: two dispatchers over one database stand for the process
        // before and after a restart.
        let registry = try await TestRegistry.start(backend) { $0.notifications.allowPrivateTargets = true }
        do {
            try await HTTPReceiver.with { receiver in
                let accounts = registry.services.accounts
                let admin = try #require(try await accounts.namespace(named: TestRegistry.adminName))
                let repo = try await accounts.createRepository(namespaceID: admin.id, name: "app", visibility: .private).0
                let n = try await registry.notifications.store.createNotification(NewRepositoryNotification(
                    repositoryID: repo.id, title: nil, event: "repo_push", method: "webhook", config: ["url": .string(receiver.url)],
                    eventConfig: [:], secretSealed: nil, expiryDays: nil))
                receiver.script([.status(502)])
                try await registry.services.events.emit(kind: .repoPush, repository: repo, payload: ["updated_tags": .strings(["v1"])])
                let before = NotificationDispatcher(services: registry.services, store: registry.notifications.store)
                let now = Clock.nowMillis()
                registry.jobTime.set(now)
                await before.runOnce()
                let pending = try #require(try await registry.notifications.store.deliveries(notificationID: n.id).first)
                #expect(pending.status == .pending)

                let after = NotificationDispatcher(services: registry.services, store: registry.notifications.store)
                registry.jobTime.set(pending.nextAttemptAt)
                await after.runOnce()
                #expect(try await registry.notifications.store.deliveries(notificationID: n.id).map(\.status) == [.delivered])
                #expect(receiver.requests.count == 2)
                #expect(receiver.requests.last?.json?["updated_tags"] as? [String] == ["v1"])
            }
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
