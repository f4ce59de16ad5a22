import Foundation
import Logging
import SlipwayCore
import SlipwayTestSupport
import Testing

/// A test that meets a tripped connection pool (PostgresNIO fails waiting requests once
/// connecting has failed for a minute) is explained by the pool's failed attempts: the test
/// registry prints them. This checks that those attempts, with their error, reach the recorder
/// and are kept however much the pool says afterwards.
@Suite("Connection pool failure reports")
struct PoolConnectFailureReportTests {
    @Test func failedConnectionAttemptsAreKeptWithTheirError() async throws {
        guard let base = TestBackend.postgresURL else { return }  // PostgreSQL only
        var components = try #require(URLComponents(string: base))
        components.path = "/slipway_no_such_database"
        let recorder = LogRecorder(capacity: 5)
        let backend = try PostgresBackend.running(url: components.string!, logger: recorder.logger(label: "pool"))
        let attempt = Task { try await backend.read { db in try await db.raw("SELECT 1").run() } }
        let deadline = ContinuousClock.now + .seconds(30)
        while !recorder.notableEvents.contains(where: { $0.contains("Connection creation failed") }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        attempt.cancel()
        await backend.shutdown()
        let failures = recorder.notableEvents.filter { $0.contains("Connection creation failed") }
        #expect(!failures.isEmpty, "recent: \(recorder.recent)")
        #expect(failures.first?.contains("slipway_no_such_database") == true, "\(failures)")
    }
}
