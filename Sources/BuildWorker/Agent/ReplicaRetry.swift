import BuildProtocol
import Foundation

/// Retries what a replica dying mid-request must not cost a build, through whichever replica
/// the load balancer picks next: the build's last log lines and its completion (without the
/// completion the lease runs out and the build is built and pushed again), and the download of
/// an uploaded context. Transport errors and 5xx answers are retried after `delays`; a 4xx
/// answer is final (the lease is gone, or an earlier attempt whose answer was lost already
/// recorded the result), and so is cancellation (the worker is shutting down).
struct ReplicaRetry: Sendable {
    /// Pauses between attempts. The default adds up to 7.5 s, well inside any lease
    /// (`builds.leaseTimeoutSeconds` is at least 3 heartbeats' worth and 60 s by default).
    var delays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)]

    /// Whether another attempt may succeed after `error`: not after a 4xx from the orchestrator,
    /// a download the server refused for good, or cancellation.
    static func mayRetry(_ error: any Error) -> Bool {
        switch error {
        case let failure as OrchestratorClient.ProtocolError: !(400..<500).contains(failure.status)
        case let failure as DownloadError: failure.retriable
        case is CancellationError: false
        default: true
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the delays are used up (then the
    /// last error is thrown).
    func deliver<T: Sendable>(_ attempt: @Sendable () async throws -> T) async throws -> T {
        var pauses = delays.makeIterator()
        while true {
            do {
                return try await attempt()
            } catch {
                guard Self.mayRetry(error), let pause = pauses.next() else { throw error }
                try await Task.sleep(for: pause)
            }
        }
    }
}
