// The feed updater against a real HTTP server on loopback (Hummingbird, ETag and Last-Modified
// like a CDN): the first fetch imports, the next one within the interval makes no request, a
// check after it gets 304 and imports nothing, changed content re-imports, and truncated,
// garbage or oversized bodies keep the imported data and its validators. Two updaters on one
// database (two replicas) fetch a due feed once. On both backends.

import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Registry
import Scanner
import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
import Synchronization
import Testing

@Suite("Feed updater")
struct FeedUpdaterTests {
    /// The feed the loopback server serves, and the conditional headers each request carried.
    final class FeedServer: Sendable {
        struct Content {
            var body: [UInt8]
            var etag: String
            var lastModified = "Mon, 07 Dec 2026 08:00:00 GMT"
        }

        struct Request: Equatable {
            let ifNoneMatch: String?
            let ifModifiedSince: String?
        }

        let content: Mutex<Content>
        let requests = Mutex<[Request]>([])

        init(_ body: String, etag: String) {
            content = Mutex(Content(body: Array(body.utf8), etag: etag))
        }

        func serve(_ body: String, etag: String) {
            content.withLock { $0 = Content(body: Array(body.utf8), etag: etag) }
        }

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.get("/feed.json") { request, _ -> Response in
                let sent = Request(ifNoneMatch: request.headers[.ifNoneMatch], ifModifiedSince: request.headers[.ifModifiedSince])
                self.requests.withLock { $0.append(sent) }
                let content = self.content.withLock { $0 }
                let validators: HTTPFields = [.eTag: content.etag, .lastModified: content.lastModified]
                if sent.ifNoneMatch == content.etag { return Response(status: .notModified, headers: validators) }
                var headers = validators
                headers[.contentType] = "application/json"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content.body)))
            }
            return router
        }
    }

    static func debianFeed(_ cves: [String]) -> String {
        let entries = cves.map {
            #""\#($0)": {"description": "x", "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low"}}}"#
        }
        return #"{"openssl": {\#(entries.joined(separator: ", "))}}"#
    }

    static func config(port: Int, feeds: [String] = ["tracker"]) -> SlipwayConfig {
        var config = SlipwayConfig()
        config.security.allowPrivateTargets = true
        config.security.updateIntervalSeconds = 3600
        config.security.feedMaxBytes = 8192
        config.security.feeds = feeds.map { SlipwayConfig.FeedSource(name: $0, url: "http://127.0.0.1:\(port)/feed.json") }
        return config
    }

    @Test(arguments: TestBackend.available)
    func fetchesConditionallyAndNeverReplacesGoodDataWithBad(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend)
        do {
            let database = registry.services.database
            let server = FeedServer(Self.debianFeed(["CVE-2023-5678"]), etag: "\"v1\"")
            try await LoopbackApp.with(server.router, label: "feed-server") { port in
                let updater = FeedUpdater(database: database, settings: .init(config: Self.config(port: port)), logger: TestRegistry.logger)
                let store = VulnerabilityStore(database: database)
                let hour: Int64 = 3_600_000
                let t0 = Clock.nowMillis()
                func advisories() async throws -> Int64? { try await store.sources().first { $0.name == "tracker" }?.advisories }

                #expect(await updater.runDue(now: t0) == ["tracker": .imported(advisories: 1, skipped: 0)])
                #expect(try await advisories() == 1)
                #expect(server.requests.withLock { $0 } == [.init(ifNoneMatch: nil, ifModifiedSince: nil)])

                #expect(await updater.runDue(now: t0 + 1000) == [:], "not due again within the interval")
                #expect(server.requests.withLock { $0.count } == 1, "no request made")

                #expect(await updater.runDue(now: t0 + hour) == ["tracker": .notModified])
                #expect(server.requests.withLock { $0.last } == .init(ifNoneMatch: "\"v1\"", ifModifiedSince: "Mon, 07 Dec 2026 08:00:00 GMT"))

                server.serve(Self.debianFeed(["CVE-2023-5678", "CVE-2024-0727"]), etag: "\"v2\"")
                #expect(await updater.runDue(now: t0 + 2 * hour) == ["tracker": .imported(advisories: 2, skipped: 0)])
                #expect(try await advisories() == 2)

                // Bad bodies: a cut-off document, garbage, one over the size cap. Each fails, the
                // data stays, and the next check still sends the good content's ETag.
                let full = Self.debianFeed(["CVE-2023-5678", "CVE-2024-0727", "CVE-2024-9999"])
                let bad = [String(full.prefix(full.count / 2)), "<html>502 Bad Gateway</html>",
                           Self.debianFeed((0..<200).map { "CVE-2024-\(10_000 + $0)" })]
                for (step, body) in bad.enumerated() {
                    server.serve(body, etag: "\"bad\(step)\"")
                    let now = t0 + Int64(3 + step) * hour
                    let outcome = await updater.runDue(now: now)["tracker"]
                    guard case .failed(let reason)? = outcome else {
                        Issue.record("step \(step): \(String(describing: outcome))")
                        continue
                    }
                    #expect(step != 2 || reason.contains("limit"), "\(reason)")
                    #expect(try await advisories() == 2, "step \(step): the imported data is untouched")
                }
                #expect(server.requests.withLock { $0.last?.ifNoneMatch } == "\"v2\"", "validators of the last good import")
                let state = try await FeedStateStore(database: database).states().first
                #expect(state?.etag == "\"v2\"" && state?.lastError?.contains("limit") == true)

                // The same content under a new ETag: fetched, found unchanged, its ETag kept.
                server.serve(Self.debianFeed(["CVE-2023-5678", "CVE-2024-0727"]), etag: "\"v2b\"")
                #expect(await updater.runDue(now: t0 + 7 * hour) == ["tracker": .unchanged])
                #expect(try await FeedStateStore(database: database).states().first?.etag == "\"v2b\"")

                // Two replicas at the same moment: one fetch.
                let other = FeedUpdater(database: database, settings: .init(config: Self.config(port: port)), logger: TestRegistry.logger)
                let before = server.requests.withLock { $0.count }
                async let first = updater.runDue(now: t0 + 9 * hour)
                async let second = other.runDue(now: t0 + 9 * hour)
                let outcomes = await [first, second]
                #expect(outcomes.filter { !$0.isEmpty } == [["tracker": .notModified]], "\(outcomes)")
                #expect(server.requests.withLock { $0.count } == before + 1)

                // The age gauge, per source.
                await updater.recordAges(now: t0 + 9 * hour)
                let metrics = String(buffer: Observability.render())
                #expect(metrics.contains(#"slipway_scanner_feed_age_seconds{source="tracker"}"#))
            }
            try await registry.stopWithinDeadline()
        } catch {
            await registry.stop()
            throw error
        }
    }

    @Test func healthReportsStaleFeedsAndFailsOnlyWhenConfigured() async throws {
        for failing in [false, true] {
            // "never" is configured but has never been imported: stale.
            let registry = try await TestRegistry.start(.sqlite) { config in
                config.security.feeds = [.init(name: "never", url: "http://127.0.0.1:9/feed.json")]
                config.security.maxFeedAgeSeconds = 3600
                config.security.staleFeedsFailHealth = failing
            }
            do {
                let router = SlipwayApplication.router(services: registry.services, modules: [VulnerabilityFeedsModule(services: registry.services)])
                try await Application(router: router).test(.router) { client in
                    let response = try await client.execute(uri: "/health/instance", method: .get)
                    let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let services = (json?["data"] as? [String: Any])?["services"] as? [String: Bool]
                    #expect(services?["vulnerability_feeds"] == false && services?["database"] == true)
                    #expect(response.status == (failing ? .serviceUnavailable : .ok))
                }
                let fresh = FeedHealth(database: registry.services.database, config: SlipwayConfig())
                #expect(await fresh.health().healthy, "no feeds configured, nothing imported: nothing is stale")
                try await registry.stopWithinDeadline()
            } catch {
                await registry.stop()
                throw error
            }
        }
    }
}
