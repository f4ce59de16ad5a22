import Logging
import ServiceLifecycle
import SQLKit

/// A durable queue of leased jobs over the metadata database, in the shape of swift-jobs'
/// driver: push, claim with a visibility timeout, then complete, retry or dead-letter, each
/// conditional on the claim still being held. One driver serves every queue of a process; it
/// is a `Service` because on PostgreSQL it keeps the `LISTEN` connection that wakes consumers
/// when another replica pushes (put it in the `ServiceGroup` before the `JobQueueRunner`s, so
/// it stops after them; without it running, consumers still find work at the fallback poll).
///
/// Implementations: `SQLiteJobQueueDriver` (one writer, in-process wake-ups) and
/// `PostgresJobQueueDriver` (`FOR UPDATE SKIP LOCKED` claims, `NOTIFY` wake-ups). Both pass
/// Tests/RegistryTests/JobQueueConformanceTests.swift.
public protocol JobQueueDriver: Service {
    var clock: JobClock { get }

    /// Pushes `job` inside the caller's transaction: it exists, and consumers are woken, only
    /// if that transaction commits. Returns the job's id.
    func push(_ job: JobRequest, in db: any SQLDatabase) async throws -> Int64
    /// Pushes `job` in a transaction of its own.
    func push(_ job: JobRequest) async throws -> Int64

    /// Claims up to `limit` claimable jobs of `queue`, oldest first, for `visibilityTimeout`:
    /// until then no other consumer gets them; afterwards they come back. At most one job per
    /// ordering key is claimed at a time, in id order. Each claim counts an attempt.
    func claim(queue: String, limit: Int, visibilityTimeout: Duration) async throws -> [QueuedJob]

    /// Finishes a claimed job (`note`, e.g. why it was skipped, is kept in `last_error`) and
    /// runs `body` in the same transaction. False, with nothing changed, when the claim was lost.
    func complete(_ job: QueuedJob, note: String?, _ body: JobTransactionBody?) async throws -> Bool
    /// Gives a claimed job back to be tried again at `at` (epoch ms), keeping `error`.
    func retry(_ job: QueuedJob, error: String, at: Int64, _ body: JobTransactionBody?) async throws -> Bool
    /// Gives up on a claimed job: it is kept as `dead` with `error` as its last error.
    func deadLetter(_ job: QueuedJob, error: String, _ body: JobTransactionBody?) async throws -> Bool
    /// Extends a held claim to `visibilityTimeout` from now. False when the claim was lost.
    func extendLease(_ job: QueuedJob, visibilityTimeout: Duration) async throws -> Bool
    /// Gives a claim back untried (a shutting-down consumer): claimable at once, attempt not counted.
    func release(_ job: QueuedJob) async throws -> Bool

    /// Drops the unfinished jobs of `queue` about `reference` (claimed ones too: their outcome
    /// will be refused). Returns how many.
    func cancel(queue: String, reference: String) async throws -> Int
    /// `cancel` inside the caller's transaction: the jobs go only if it commits (a withdrawn
    /// invitation takes its unsent mail with it).
    func cancel(queue: String, reference: String, in db: any SQLDatabase) async throws -> Int
    /// Deletes the finished (done or dead) jobs of `queue` that finished before `finishedBefore`.
    func prune(queue: String, finishedBefore: Int64) async throws -> Int

    func job(id: Int64) async throws -> QueuedJob?
    /// The jobs of `queue` (about `reference` when given), oldest first.
    func jobs(queue: String, reference: String?) async throws -> [QueuedJob]

    /// When to claim from `queue`: see `JobWakeUps`.
    func wakeUps(queue: String, fallbackPoll: Duration) -> JobWakeUps
    /// Wakes this process's consumers of `queue` (a consumer freed a slot, or is stopping).
    func wake(queue: String)
}

extension JobQueueDriver {
    public func complete(_ job: QueuedJob, _ body: JobTransactionBody? = nil) async throws -> Bool {
        try await complete(job, note: nil, body)
    }

    public func retry(_ job: QueuedJob, error: String, at: Int64) async throws -> Bool {
        try await retry(job, error: error, at: at, nil)
    }

    public func deadLetter(_ job: QueuedJob, error: String) async throws -> Bool {
        try await deadLetter(job, error: error, nil)
    }

    public func jobs(queue: String) async throws -> [QueuedJob] {
        try await jobs(queue: queue, reference: nil)
    }

    public func wakeUps(queue: String) -> JobWakeUps {
        wakeUps(queue: queue, fallbackPoll: .seconds(10))
    }
}

/// Picks the driver for the database's engine.
public enum JobQueueDrivers {
    public static func driver(for database: any Database, clock: JobClock = .system, logger: Logger) throws -> any JobQueueDriver {
        if let postgres = database as? PostgresBackend {
            return PostgresJobQueueDriver(database: postgres, clock: clock, logger: logger)
        }
        if let sqlite = database as? SQLiteBackend {
            return SQLiteJobQueueDriver(database: sqlite, clock: clock)
        }
        throw JobQueueError.unsupportedDatabase("\(type(of: database))")
    }
}
