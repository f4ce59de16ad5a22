/// Runs work with a time limit: the work is cancelled when the limit passes first. Used by the
/// outbound HTTP client and by the SMTP client.
public enum Deadline {
    public struct Expired: Error {}

    public static func run<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw Expired() }
            return value
        }
    }
}
