import Foundation

/// One row of the `jobs` table: what a claim hands to a consumer, and what an inspection reads.
public struct QueuedJob: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Waiting for its time, or claimed (`claimToken` set while a lease is held).
        case ready
        /// Completed (or skipped: `lastError` then says why).
        case done
        /// Given up: out of attempts, or failed for good. `lastError` keeps the last error.
        case dead
    }

    public let id: Int64
    public let queue: String
    /// JSON for the queue's handler.
    public let payload: String
    public let orderingKey: String?
    public let reference: String?
    public let status: Status
    /// Claims so far; on a claimed job this counts the current claim, so it is the attempt's number.
    public let attempts: Int
    public let maxAttempts: Int
    /// Epoch milliseconds from which the job may be claimed.
    public let nextAttemptAt: Int64
    /// Epoch milliseconds at which the current claim expires and another consumer may take it.
    public let leaseUntil: Int64?
    /// The claim every outcome is conditional on; a claimed job carries the one it was claimed with.
    public let claimToken: String?
    public let lastError: String?
    public let createdAt: Int64
    public let finishedAt: Int64?

    /// `payload` decoded as `type`.
    public func decodePayload<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(payload.utf8))
    }

    /// True when this claim used the last attempt the job was allowed.
    public var isLastAttempt: Bool { attempts >= maxAttempts }
}
