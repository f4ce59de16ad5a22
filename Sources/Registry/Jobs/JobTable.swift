import Foundation
import SQLKit

/// The SQL over the `jobs` table that both drivers share. A driver adds what its engine needs
/// around it: the row locking of a claim and how consumers are woken.
///
/// A job is claimable when it is `ready`, due (`next_attempt_at` passed), not under an
/// unexpired lease, and, when it has an ordering key, the oldest ready job of that key with no
/// other job of the key under a lease. Only the head of a key is ever a candidate, so two
/// concurrent claims can only meet on the same row, which the row lock (PostgreSQL) or the one
/// writer (SQLite) settles.
enum JobTable {
    static let columns: SQLQueryString = """
        id, queue, payload, ordering_key, reference, status, attempts, max_attempts, next_attempt_at, lease_until,
        claim_token, last_error, created_at, finished_at
        """

    static func job(from row: any SQLRow) throws -> QueuedJob {
        QueuedJob(
            id: try row.decode(column: "id", as: Int64.self),
            queue: try row.decode(column: "queue", as: String.self),
            payload: try row.decode(column: "payload", as: String.self),
            orderingKey: try row.decode(column: "ordering_key", as: String?.self),
            reference: try row.decode(column: "reference", as: String?.self),
            status: QueuedJob.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .dead,
            attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
            maxAttempts: Int(try row.decode(column: "max_attempts", as: Int64.self)),
            nextAttemptAt: try row.decode(column: "next_attempt_at", as: Int64.self),
            leaseUntil: try row.decode(column: "lease_until", as: Int64?.self),
            claimToken: try row.decode(column: "claim_token", as: String?.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            finishedAt: try row.decode(column: "finished_at", as: Int64?.self))
    }

    static func millis(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func insert(_ request: JobRequest, on db: any SQLDatabase, now: Int64) async throws -> Int64 {
        let row = try await db.raw("""
            INSERT INTO jobs (queue, payload, ordering_key, reference, status, attempts, max_attempts, next_attempt_at, created_at)
            VALUES (\(bind: request.queue), \(bind: request.payload), \(bind: request.orderingKey), \(bind: request.reference),
                    'ready', 0, \(bind: request.maxAttempts), \(bind: request.notBefore ?? now), \(bind: now))
            RETURNING id
            """).first()
        guard let row else { throw JobQueueError.noRowReturned }
        return try row.decode(column: "id", as: Int64.self)
    }

    /// Claims up to `limit` claimable jobs of `queue`, oldest first. `rowLock` is appended to the
    /// candidate query (PostgreSQL's `FOR UPDATE OF j SKIP LOCKED`); the outer condition
    /// re-checks each row as the update finds it. The candidates are a materialized CTE: as a
    /// plain `IN (subquery)` PostgreSQL may run the subquery more than once, and with
    /// `SKIP LOCKED` each run can pick other rows, claiming more than `limit`.
    static func claim(queue: String, limit: Int, leaseMillis: Int64, token: String, rowLock: SQLQueryString,
                      on db: any SQLDatabase, now: Int64) async throws -> [QueuedJob] {
        try await db.raw("""
            WITH picked AS MATERIALIZED (
              SELECT j.id FROM jobs j
              WHERE j.queue = \(bind: queue) AND j.status = 'ready' AND j.next_attempt_at <= \(bind: now)
                AND (j.lease_until IS NULL OR j.lease_until < \(bind: now))
                AND (j.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM jobs o
                  WHERE o.queue = j.queue AND o.ordering_key = j.ordering_key AND o.status = 'ready' AND o.id <> j.id
                    AND (o.id < j.id OR o.lease_until >= \(bind: now))))
              ORDER BY j.id LIMIT \(bind: limit)\(rowLock))
            UPDATE jobs SET claim_token = \(bind: token), lease_until = \(bind: now + leaseMillis), attempts = attempts + 1
            WHERE id IN (SELECT id FROM picked)
              AND status = 'ready' AND (lease_until IS NULL OR lease_until < \(bind: now))
            RETURNING \(columns)
            """).all().map(job(from:)).sorted { $0.id < $1.id }
    }

    /// How a claimed job ends (or goes back to waiting).
    enum Transition {
        case complete(note: String?)
        case retry(error: String, at: Int64)
        case deadLetter(error: String)
    }

    /// Applies `transition` to `job` if its claim is still held, then runs `body` in the same
    /// transaction. False (and `body` not run) when the claim was lost.
    static func finish(_ job: QueuedJob, _ transition: Transition, body: JobTransactionBody?,
                       on db: any SQLDatabase, now: Int64) async throws -> Bool {
        guard let token = job.claimToken else { return false }
        let set: SQLQueryString
        switch transition {
        case .complete(let note):
            set = "status = 'done', last_error = \(bind: note), finished_at = \(bind: now)"
        case .retry(let error, let at):
            set = "last_error = \(bind: error), next_attempt_at = \(bind: at)"
        case .deadLetter(let error):
            set = "status = 'dead', last_error = \(bind: error), finished_at = \(bind: now)"
        }
        let updated = try await db.raw("""
            UPDATE jobs SET \(set), lease_until = NULL, claim_token = NULL
            WHERE id = \(bind: job.id) AND claim_token = \(bind: token) AND status = 'ready'
            RETURNING id
            """).first()
        guard updated != nil else { return false }
        try await body?(db)
        return true
    }

    static func extendLease(_ job: QueuedJob, leaseMillis: Int64, on db: any SQLDatabase, now: Int64) async throws -> Bool {
        guard let token = job.claimToken else { return false }
        return try await db.raw("""
            UPDATE jobs SET lease_until = \(bind: now + leaseMillis)
            WHERE id = \(bind: job.id) AND claim_token = \(bind: token) AND status = 'ready'
            RETURNING id
            """).first() != nil
    }

    /// Gives a claim back untried: the attempt it counted is returned and the job is claimable now.
    static func release(_ job: QueuedJob, on db: any SQLDatabase) async throws -> Bool {
        guard let token = job.claimToken else { return false }
        return try await db.raw("""
            UPDATE jobs SET lease_until = NULL, claim_token = NULL, attempts = attempts - 1
            WHERE id = \(bind: job.id) AND claim_token = \(bind: token) AND status = 'ready'
            RETURNING id
            """).first() != nil
    }

    /// Deletes the ready (waiting or claimed) jobs of `queue` about `reference`; finished ones stay.
    static func cancel(queue: String, reference: String, on db: any SQLDatabase) async throws -> [QueuedJob] {
        try await db.raw("""
            DELETE FROM jobs WHERE queue = \(bind: queue) AND reference = \(bind: reference) AND status = 'ready'
            RETURNING \(columns)
            """).all().map(job(from:))
    }

    static func prune(queue: String, finishedBefore: Int64, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("""
            DELETE FROM jobs WHERE queue = \(bind: queue) AND status <> 'ready' AND finished_at < \(bind: finishedBefore)
            RETURNING id
            """).all().count
    }

    /// When the earliest job of `queue` that was not claimable at `after` becomes claimable: a
    /// retry's time or an expiring lease (possibly already past: the caller claims at once).
    /// Jobs held back only by their ordering key are not counted; the job holding them back
    /// wakes the queue when it finishes.
    static func nextDue(queue: String, after: Int64, on db: any SQLDatabase) async throws -> Int64? {
        try await db.raw("""
            SELECT MIN(CASE WHEN next_attempt_at > \(bind: after) THEN next_attempt_at ELSE lease_until + 1 END) AS due
            FROM jobs
            WHERE queue = \(bind: queue) AND status = 'ready' AND (next_attempt_at > \(bind: after) OR lease_until >= \(bind: after))
            """).first()?.decode(column: "due", as: Int64?.self)
    }

    static func job(id: Int64, on db: any SQLDatabase) async throws -> QueuedJob? {
        try await db.raw("SELECT \(columns) FROM jobs WHERE id = \(bind: id)").first().map(job(from:))
    }

    static func jobs(queue: String, reference: String?, on db: any SQLDatabase) async throws -> [QueuedJob] {
        var query: SQLQueryString = "SELECT \(columns) FROM jobs WHERE queue = \(bind: queue)"
        if let reference { query += " AND reference = \(bind: reference)" }
        query += " ORDER BY id"
        return try await db.raw(query).all().map(job(from:))
    }
}

enum JobQueueError: Error, CustomStringConvertible {
    case noRowReturned
    case unsupportedDatabase(String)

    var description: String {
        switch self {
        case .noRowReturned: return "the jobs table returned no row for an insert"
        case .unsupportedDatabase(let type): return "no job queue driver for a \(type) database"
        }
    }
}
