import Foundation
import ServiceLifecycle
import SQLKit

/// The job queue on SQLite. SQLite has one writer (every transaction of
/// `SQLiteBackend` holds its write lock), so claims need no row locks: two claims
/// never overlap. Consumers in this process are woken by an in-process signal; a process that
/// shares the file (the `slipway admin` CLI) is seen at the fallback poll.
public final class SQLiteJobQueueDriver: JobQueueDriver {
    public let clock: JobClock
    private let database: SQLiteBackend
    let signal = JobWakeSignal()

    public init(database: SQLiteBackend, clock: JobClock = .system) {
        self.database = database
        self.clock = clock
    }

    /// Nothing runs in the background on SQLite; the service only waits for shutdown.
    public func run() async throws {
        try? await gracefulShutdown()
    }

    public func push(_ job: JobRequest, in db: any SQLDatabase) async throws -> Int64 {
        let id = try await JobTable.insert(job, on: db, now: clock.now())
        // Signalled before the caller commits. A woken consumer's claim is a write transaction,
        // so it waits for the caller's to end and then sees the job (or, after a rollback, a
        // harmless empty claim).
        signal.signal(job.queue)
        return id
    }

    public func push(_ job: JobRequest) async throws -> Int64 {
        try await database.transaction { db in try await self.push(job, in: db) }
    }

    public func claim(queue: String, limit: Int, visibilityTimeout: Duration) async throws -> [QueuedJob] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let now = clock.now()
        return try await database.transaction { db in
            try await JobTable.claim(queue: queue, limit: limit, leaseMillis: JobTable.millis(visibilityTimeout), token: token,
                                     rowLock: "", on: db, now: now)
        }
    }

    public func complete(_ job: QueuedJob, note: String?, _ body: JobTransactionBody?) async throws -> Bool {
        try await finish(job, .complete(note: note), body)
    }

    public func retry(_ job: QueuedJob, error: String, at: Int64, _ body: JobTransactionBody?) async throws -> Bool {
        try await finish(job, .retry(error: error, at: at), body)
    }

    public func deadLetter(_ job: QueuedJob, error: String, _ body: JobTransactionBody?) async throws -> Bool {
        try await finish(job, .deadLetter(error: error), body)
    }

    private func finish(_ job: QueuedJob, _ transition: JobTable.Transition, _ body: JobTransactionBody?) async throws -> Bool {
        let now = clock.now()
        let finished = try await database.transaction { db in try await JobTable.finish(job, transition, body: body, on: db, now: now) }
        if finished, JobWakeRule.wakesConsumers(job, transition) { signal.signal(job.queue) }
        return finished
    }

    public func extendLease(_ job: QueuedJob, visibilityTimeout: Duration) async throws -> Bool {
        let now = clock.now()
        return try await database.transaction { db in
            try await JobTable.extendLease(job, leaseMillis: JobTable.millis(visibilityTimeout), on: db, now: now)
        }
    }

    public func release(_ job: QueuedJob) async throws -> Bool {
        let released = try await database.transaction { db in try await JobTable.release(job, on: db) }
        if released { signal.signal(job.queue) }
        return released
    }

    public func cancel(queue: String, reference: String) async throws -> Int {
        let cancelled = try await database.transaction { db in try await JobTable.cancel(queue: queue, reference: reference, on: db) }
        if cancelled.contains(where: { $0.orderingKey != nil }) { signal.signal(queue) }
        return cancelled.count
    }

    public func cancel(queue: String, reference: String, in db: any SQLDatabase) async throws -> Int {
        let cancelled = try await JobTable.cancel(queue: queue, reference: reference, on: db)
        // As in `push`: a woken consumer's claim waits for the caller's write transaction.
        if cancelled.contains(where: { $0.orderingKey != nil }) { signal.signal(queue) }
        return cancelled.count
    }

    public func prune(queue: String, finishedBefore: Int64) async throws -> Int {
        try await database.transaction { db in try await JobTable.prune(queue: queue, finishedBefore: finishedBefore, on: db) }
    }

    public func job(id: Int64) async throws -> QueuedJob? {
        try await database.read { db in try await JobTable.job(id: id, on: db) }
    }

    public func jobs(queue: String, reference: String?) async throws -> [QueuedJob] {
        try await database.read { db in try await JobTable.jobs(queue: queue, reference: reference, on: db) }
    }

    public func wakeUps(queue: String, fallbackPoll: Duration) -> JobWakeUps {
        JobWakeUps(queue: queue, signal: signal, clock: clock, fallbackPoll: fallbackPoll) { [database] after in
            try await database.read { db in try await JobTable.nextDue(queue: queue, after: after, on: db) }
        }
    }

    public func wake(queue: String) {
        signal.signal(queue)
    }
}

/// Which outcomes wake a queue's consumers. A retry does (its new due time may be earlier than
/// what a waiting consumer planned for, and it may unblock nothing else, so this is cheap
/// insurance); so does the end of a job with an ordering key (the next job of the key becomes
/// claimable). Completing or dead-lettering a job without a key frees nothing for anyone else.
enum JobWakeRule {
    static func wakesConsumers(_ job: QueuedJob, _ transition: JobTable.Transition) -> Bool {
        if case .retry = transition { return true }
        return job.orderingKey != nil
    }
}
