@testable import BuildWorker
import Foundation
import Synchronization
import Testing

/// `ReplicaRetry`: a completion (or the log's tail) that a dying replica dropped is sent again,
/// so the finished build is not rebuilt when its lease runs out; a refusal is final.
@Suite("Result delivery")
struct ReplicaRetryTests {
    static let quick = ReplicaRetry(delays: [.milliseconds(1), .milliseconds(1), .milliseconds(1)])

    /// Answers each call with the next scripted failure, then succeeds; counts the calls.
    final class Script: Sendable {
        let failures: Mutex<[any Error]>
        let calls = Mutex(0)
        init(_ failures: [any Error]) { self.failures = Mutex(failures) }
        @Sendable func call() throws {
            calls.withLock { $0 += 1 }
            if let failure = failures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw failure }
        }
    }

    @Test func aReplicaThatDiedMidRequestIsRetriedOnAnother() async throws {
        // The load balancer's 502 for the request the dead replica held, then a dropped connection.
        let script = Script([OrchestratorClient.ProtocolError(status: 502, description: "completion refused with HTTP 502"),
                             URLError(.networkConnectionLost)])
        try await Self.quick.deliver { try script.call() }
        #expect(script.calls.withLock { $0 } == 3)
    }

    @Test func aRefusalIsFinal() async {
        let script = Script([OrchestratorClient.ProtocolError(status: 409, description: "completion refused with HTTP 409")])
        await #expect(throws: OrchestratorClient.ProtocolError.self) { try await Self.quick.deliver { try script.call() } }
        #expect(script.calls.withLock { $0 } == 1)
    }

    @Test func anOrchestratorDownForLongerGivesUpWithTheLastError() async {
        let script = Script((0..<10).map { _ in OrchestratorClient.ProtocolError(status: 503, description: "down") })
        await #expect(throws: OrchestratorClient.ProtocolError.self) { try await Self.quick.deliver { try script.call() } }
        #expect(script.calls.withLock { $0 } == 4, "one attempt and one per delay")
    }
}
