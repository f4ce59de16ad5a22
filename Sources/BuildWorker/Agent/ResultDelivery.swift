import BuildProtocol
import Foundation

/// Delivers what must reach the orchestrator after a build has ended (its last log lines and its
/// completion), through whichever replica the load balancer picks. A replica that dies
/// mid-request (the load balancer answers 502/503, or the connection drops) must not cost a
/// finished build a rerun: without the completion the lease runs out and the build is built and
/// pushed again. So transport errors and 5xx answers are retried after `delays`; a 4xx answer
/// is final (the lease is gone, or an earlier attempt whose answer was lost already recorded
/// the result), and so is cancellation (the worker is shutting down).
struct ResultDelivery: Sendable {
    /// Pauses between attempts. The default adds up to 7.5 s, well inside any lease
    /// (`builds.leaseTimeoutSeconds` is at least 3 heartbeats' worth and 60 s by default).
    var delays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)]

    /// Runs `attempt` until it succeeds, fails for good, or the delays are used up (then the
    /// last error is thrown).
    func deliver(_ attempt: @Sendable () async throws -> Void) async throws {
        var pauses = delays.makeIterator()
        while true {
            do {
                try await attempt()
                return
            } catch let error as OrchestratorClient.ProtocolError where (400..<500).contains(error.status) {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard let pause = pauses.next() else { throw error }
                try await Task.sleep(for: pause)
            }
        }
    }
}
