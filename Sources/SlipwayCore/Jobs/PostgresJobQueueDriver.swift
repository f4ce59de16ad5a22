import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SQLKit
import Synchronization

/// The job queue on PostgreSQL, shared by every replica. Claims lock their candidate rows with
/// `FOR UPDATE SKIP LOCKED`, so concurrent consumers (in this process or on other replicas)
/// take different jobs without waiting for each other.
///
/// Wake-ups cross replicas: a push (and a retry, or the end of a job with an ordering key)
/// sends `NOTIFY slipway_jobs, '<queue>'` inside its own transaction, so it is delivered only
/// if that commits; `run()` keeps one `LISTEN` connection per process that turns notifications
/// into the in-process `JobWakeSignal`. When that connection drops the service reconnects
/// (backing off up to 5 s) and wakes every queue, since notifications sent meanwhile are lost.
public final class PostgresJobQueueDriver: JobQueueDriver {
    /// The notification channel; the payload is the queue's name.
    public static let channel = "slipway_jobs"

    public let clock: JobClock
    private let database: PostgresBackend
    let signal = JobWakeSignal()
    private let logger: Logger
    private let listens = Atomic<Int>(0)

    public init(database: PostgresBackend, clock: JobClock = .system, logger: Logger) {
        self.database = database
        self.clock = clock
        self.logger = logger
    }

    /// How many times the `LISTEN` connection has been established (tests wait for it).
    public var listenerConnections: Int { listens.load(ordering: .acquiring) }

    // MARK: Wake-ups across replicas

    /// Listens until graceful shutdown or cancellation, reconnecting when the connection drops.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.listen() }
    }

    private func listen() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            let connectionsBefore = listenerConnections
            do {
                try await database.listen(on: Self.channel, connected: {
                    self.listens.add(1, ordering: .releasing)
                    self.logger.debug("job wake-up listener connected")
                    // Whatever was pushed while nobody listened.
                    self.signal.signalAll()
                }, received: { payload in
                    self.signal.signal(payload)
                })
            } catch {
                if Task.isCancelled { break }
                logger.warning("job wake-up listener lost its connection", metadata: ["error": "\(String(reflecting: error))"])
            }
            if Task.isCancelled { break }
            if listenerConnections != connectionsBefore { delay = .milliseconds(100) }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }

    private func notify(_ queue: String, on db: any SQLDatabase) async throws {
        try await db.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: queue))").run()
    }

    // MARK: Operations

    public func push(_ job: JobRequest, in db: any SQLDatabase) async throws -> Int64 {
        let id = try await JobTable.insert(job, on: db, now: clock.now())
        try await notify(job.queue, on: db)
        return id
    }

    public func push(_ job: JobRequest) async throws -> Int64 {
        let id = try await database.transaction { db in try await self.push(job, in: db) }
        // Committed: this process's consumers need not wait for the notification to come back.
        signal.signal(job.queue)
        return id
    }

    public func claim(queue: String, limit: Int, visibilityTimeout: Duration) async throws -> [QueuedJob] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let now = clock.now()
        return try await database.transaction { db in
            try await JobTable.claim(queue: queue, limit: limit, leaseMillis: JobTable.millis(visibilityTimeout), token: token,
                                     rowLock: " FOR UPDATE OF j SKIP LOCKED", on: db, now: now)
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
        let wakes = JobWakeRule.wakesConsumers(job, transition)
        let finished = try await database.transaction { db in
            guard try await JobTable.finish(job, transition, body: body, on: db, now: now) else { return false }
            if wakes { try await self.notify(job.queue, on: db) }
            return true
        }
        if finished, wakes { signal.signal(job.queue) }
        return finished
    }

    public func extendLease(_ job: QueuedJob, visibilityTimeout: Duration) async throws -> Bool {
        let now = clock.now()
        return try await database.transaction { db in
            try await JobTable.extendLease(job, leaseMillis: JobTable.millis(visibilityTimeout), on: db, now: now)
        }
    }

    public func release(_ job: QueuedJob) async throws -> Bool {
        let released = try await database.transaction { db in
            guard try await JobTable.release(job, on: db) else { return false }
            try await self.notify(job.queue, on: db)
            return true
        }
        if released { signal.signal(job.queue) }
        return released
    }

    public func cancel(queue: String, reference: String) async throws -> Int {
        let cancelled = try await database.transaction { db in
            let cancelled = try await JobTable.cancel(queue: queue, reference: reference, on: db)
            if cancelled.contains(where: { $0.orderingKey != nil }) { try await self.notify(queue, on: db) }
            return cancelled
        }
        if cancelled.contains(where: { $0.orderingKey != nil }) { signal.signal(queue) }
        return cancelled.count
    }

    public func cancel(queue: String, reference: String, in db: any SQLDatabase) async throws -> Int {
        let cancelled = try await JobTable.cancel(queue: queue, reference: reference, on: db)
        // Delivered at commit, to this process's listener too.
        if cancelled.contains(where: { $0.orderingKey != nil }) { try await notify(queue, on: db) }
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
