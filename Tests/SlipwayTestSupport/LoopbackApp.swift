import Hummingbird
import Logging

/// A Hummingbird router served on 127.0.0.1 (ephemeral port) for as long as `body` runs: the
/// real HTTP peer of outbound-call tests (callback receivers, OIDC issuers). It is stopped by
/// cancellation, which the server reports as errors, so its logger is quiet.
public enum LoopbackApp {
    public static func with<T: Sendable>(_ router: Router<BasicRequestContext>, label: String,
                                         _ body: @Sendable @escaping (_ port: Int) async throws -> T) async throws -> T {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var quiet = Logger(label: label)
        quiet.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) }, logger: quiet)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestFailure("\(label) did not start") }
            group.addTask { try await body(port) }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
            }
            throw TestFailure("\(label) stopped")
        }
    }
}
