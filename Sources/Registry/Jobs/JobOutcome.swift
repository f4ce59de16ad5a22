import SQLKit

/// Domain SQL that runs in the same transaction as a job's outcome, and only when the claim
/// was still held: both commit or neither does.
public typealias JobTransactionBody = @Sendable (any SQLDatabase) async throws -> Void

/// What a `JobQueueRunner` handler says happened to one attempt.
public struct JobOutcome: Sendable {
    public enum Disposition: Sendable {
        case completed
        /// Try again at `at` (epoch milliseconds), or after the runner's backoff when nil. Out of
        /// attempts, the job is dead-lettered with `error`.
        case retry(error: String, at: Int64?)
        /// Given up now, whatever attempts are left (dead-lettered with `error`).
        case failed(error: String)
        /// Not done, and not worth retrying (the job is finished; `reason` is kept as its note).
        case skipped(reason: String)
    }

    public var disposition: Disposition
    /// Domain SQL recorded with the outcome, in the same transaction.
    public var record: JobTransactionBody?

    public init(_ disposition: Disposition, record: JobTransactionBody? = nil) {
        self.disposition = disposition
        self.record = record
    }

    public static let completed = JobOutcome(.completed)
    public static func completed(record: @escaping JobTransactionBody) -> JobOutcome { JobOutcome(.completed, record: record) }
    public static func retry(_ error: String, at: Int64? = nil, record: JobTransactionBody? = nil) -> JobOutcome {
        JobOutcome(.retry(error: error, at: at), record: record)
    }
    public static func failed(_ error: String, record: JobTransactionBody? = nil) -> JobOutcome {
        JobOutcome(.failed(error: error), record: record)
    }
    public static func skipped(_ reason: String, record: JobTransactionBody? = nil) -> JobOutcome {
        JobOutcome(.skipped(reason: reason), record: record)
    }
}
