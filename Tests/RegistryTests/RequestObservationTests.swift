import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Registry
import SlipwayTestSupport
import Synchronization
import Testing

/// Request metrics and log lines: worker-protocol routes carry their own names and, when they
/// succeed, log at `debug` (an idle in-process worker long-polls every 5 s; issue #16).
@Suite("Request observation")
struct RequestObservationTests {
    /// Keeps every log line the application writes.
    final class LogCapture: Sendable {
        struct Line: Sendable { let level: Logger.Level; let message: String; let metadata: [String: String] }
        private let lines = Mutex<[Line]>([])

        var all: [Line] { lines.withLock { $0 } }
        func append(_ line: Line) { lines.withLock { $0.append(line) } }

        var logger: Logger {
            Logger(label: "capture") { _ in Handler(capture: self) }
        }

        /// The per-request lines for one route name.
        func requests(route: String) -> [Line] {
            all.filter { $0.message == "request" && $0.metadata["http.route"] == route }
        }

        struct Handler: LogHandler {
            let capture: LogCapture
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
                capture.append(Line(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func workerRoutesAreNamedAndQuiet(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend, configure: { $0.builds.inProcessWorkers = 0 })
        let capture = LogCapture()
        do {
            // The application exactly as `slipway serve` builds its router, logging into `capture`.
            let app = Application(router: SlipwayApplication.router(services: registry.services, modules: registry.modules), logger: capture.logger)
            try await app.test(.router) { client in
                let c = RegistryClient(client: client)
                let api = try await BuildsAPITests.apiToken(registry)
                let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/quiet:pull,push"]))
                try await c.pushImage("admin/quiet", tag: "base", token: push)
                let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
                let start = try await c.send(.post, "/api/v1/repository/admin/quiet/build/", token: api, headers: BuildsAPITests.json,
                                             body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
                #expect(start.status == .created)

                let worker = BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken)
                let pack = try #require(try await worker.lease())
                let beat = try await worker.call(WorkerProtocol.buildPath(pack.buildID, "heartbeat"), lease: pack.leaseID, Heartbeat(workerID: worker.id))
                #expect(beat.status == .ok)
                let refused = try await BuildsAPITests.Worker(c: c, token: "wrong").call(WorkerProtocol.leasePath, LeaseRequest(workerID: "x"))
                #expect(refused.status == .unauthorized)

                // Named in the metrics, by route and status.
                let metrics = String(buffer: try await c.client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).body)
                for (route, status) in [("worker_lease", "200"), ("worker_lease", "401"), ("worker_heartbeat", "200"), ("userfiles_upload", "200")] {
                    let series = metrics.split(separator: "\n").filter {
                        $0.hasPrefix("slipway_http_requests_total{") && $0.contains("route=\"\(route)\"") && $0.contains("status=\"\(status)\"")
                    }
                    #expect(!series.isEmpty, "no slipway_http_requests_total series for route \(route), status \(status)")
                }
            }
            // Logged under those names: successful worker calls at debug, a refused one at info
            // (an operator should see a worker with the wrong token), a user's upload at info.
            let leases = capture.requests(route: "worker_lease")
            #expect(leases.contains { $0.level == .debug && $0.metadata["http.status"] == "200" }, "\(leases.map { ($0.level, $0.metadata) })")
            #expect(leases.contains { $0.level == .info && $0.metadata["http.status"] == "401" })
            #expect(!leases.contains { $0.level == .info && $0.metadata["http.status"] == "200" })
            #expect(capture.requests(route: "worker_heartbeat").map(\.level) == [.debug])
            #expect(capture.requests(route: "userfiles_upload").map(\.level) == [.info])
            #expect(capture.requests(route: "other").isEmpty, "a request was logged without a route name")
            #expect(capture.requests(route: "api").allSatisfy { $0.level == .info })
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
