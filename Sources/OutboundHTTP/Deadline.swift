import Foundation
import Synchronization

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

    /// Waits for `body` at most `limit`, then throws `Expired` and leaves the work behind. For
    /// work that cannot be cancelled (a `getaddrinfo` on a thread): `run` would wait for it.
    public static func abandoning<T: Sendable>(after limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let first = FirstClaim()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled, first.claim() { continuation.resume(throwing: Expired()) }
            }
            Task {
                let outcome: Result<T, any Error>
                do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
                timer.cancel()
                if first.claim() { continuation.resume(with: outcome) }
            }
        }
    }
}

/// True for exactly one caller: whoever resumes a continuation first.
private final class FirstClaim: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}
