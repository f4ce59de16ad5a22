import Foundation
import SlipwayCore
import SQLKit

/// Log exports (`log_exports`, migration 21): a durable job queue the `LogExporter` drains, and
/// the usage-log retention clean-up.
///
/// `email_status` follows the mail to `callback_email`: `pending` until the export ends, `queued`
/// once the mail (link or failure) is in the mail outbox, in the transaction that ends the export,
/// then `sent` or `failed` as the notifications module's sender records.
///
/// A row is due when its status is `queued` (logs still to write) or `delivering` (callback still
/// to post), its `next_attempt_at` has passed and nobody holds an unexpired lease on it. A worker
/// claims a due row by setting `claim_token` and `lease_until` in one statement; every later
/// update names that token, so a worker whose lease ran out (and whose row someone else claimed)
/// changes nothing.
extension MetadataStore {
    public enum LogExportStatus: String, Sendable {
        case queued, delivering, done, failed
    }

    /// What the callback receiver is told (`ExportResult` in Quay's worker).
    public enum LogExportResult: String, Sendable {
        case success, failed, timedout, invalidrequest
    }

    public struct LogExport: Sendable {
        public let id: Int64
        public let uuid: String
        public let requesterID: Int64
        public let scope: LogScope
        public let namespaceName: String
        public let repositoryName: String?
        /// `[start, end)` in epoch milliseconds, as `LogsAPI.range` computed it.
        public let start: Int64
        public let end: Int64
        public let callbackURL: String?
        public let callbackEmail: String?
        /// `pending` | `queued` | `sent` | `failed` when there is a `callbackEmail`.
        public let emailStatus: String?
        /// Base URL of the request that queued the export, for the download link.
        public let origin: String
        public let status: LogExportStatus
        public let result: LogExportResult?
        public let storageDigest: Digest?
        public let size: Int64?
        public let exportAttempts: Int
        /// none | pending | delivered | failed | refused
        public let callbackStatus: String
        public let callbackAttempts: Int
        public let lastError: String?
        public let createdAt: Int64
        public let exportedAt: Int64?
        public let finishedAt: Int64?
        /// Set on a row this worker has just claimed.
        public let claimToken: String?
    }

    public struct NewLogExport: Sendable {
        public var uuid: String
        public var requesterID: Int64
        public var scope: LogScope
        public var namespaceName: String
        public var repositoryName: String?
        public var start: Int64
        public var end: Int64
        public var callbackURL: String?
        public var callbackEmail: String?
        public var origin: String

        public init(uuid: String = UUID().uuidString.lowercased(), requesterID: Int64, scope: LogScope, namespaceName: String,
                    repositoryName: String?, start: Int64, end: Int64, callbackURL: String?, callbackEmail: String?, origin: String) {
            self.uuid = uuid
            self.requesterID = requesterID
            self.scope = scope
            self.namespaceName = namespaceName
            self.repositoryName = repositoryName
            self.start = start
            self.end = end
            self.callbackURL = callbackURL
            self.callbackEmail = callbackEmail
            self.origin = origin
        }
    }

    static let emailPendingStatus = "pending"

    static let logExportColumns: SQLQueryString = """
        id, uuid, requester_id, scope_kind, scope_id, namespace_name, repository_name, start_time, end_time, callback_url,
        callback_email, email_status, origin, status, result, storage_digest, size, export_attempts, callback_status,
        callback_attempts, last_error, created_at, exported_at, finished_at, claim_token
        """

    static func logExport(from row: any SQLRow) throws -> LogExport {
        let scopeID = try row.int64("scope_id")
        let scope: LogScope
        switch try row.string("scope_kind") {
        case "repository": scope = .repository(scopeID)
        case "namespace": scope = .namespace(scopeID)
        default: scope = .performer(scopeID)
        }
        return LogExport(
            id: try row.int64("id"), uuid: try row.string("uuid"), requesterID: try row.int64("requester_id"), scope: scope,
            namespaceName: try row.string("namespace_name"), repositoryName: try row.optionalString("repository_name"),
            start: try row.int64("start_time"), end: try row.int64("end_time"), callbackURL: try row.optionalString("callback_url"),
            callbackEmail: try row.optionalString("callback_email"), emailStatus: try row.optionalString("email_status"),
            origin: try row.string("origin"), status: LogExportStatus(rawValue: try row.string("status")) ?? .failed,
            result: try row.optionalString("result").flatMap(LogExportResult.init(rawValue:)),
            storageDigest: try row.optionalString("storage_digest").flatMap { try? Digest(parsing: $0) },
            size: try row.optionalInt64("size"), exportAttempts: Int(try row.int64("export_attempts")),
            callbackStatus: try row.string("callback_status"), callbackAttempts: Int(try row.int64("callback_attempts")),
            lastError: try row.optionalString("last_error"), createdAt: try row.int64("created_at"),
            exportedAt: try row.optionalInt64("exported_at"), finishedAt: try row.optionalInt64("finished_at"),
            claimToken: try row.optionalString("claim_token"))
    }

    static func scopeParts(_ scope: LogScope) -> (String, Int64) {
        switch scope {
        case .repository(let id): return ("repository", id)
        case .namespace(let id): return ("namespace", id)
        case .performer(let id): return ("performer", id)
        }
    }

    /// Queues an export; it is due immediately.
    @discardableResult
    public func createLogExport(_ new: NewLogExport, now: Int64 = Clock.nowMillis()) async throws -> LogExport {
        let (kind, scopeID) = Self.scopeParts(new.scope)
        let emailStatus = new.callbackEmail == nil ? nil : Self.emailPendingStatus
        let callbackStatus = new.callbackURL == nil ? "none" : "pending"
        return try await database.transaction { db in
            let row = try await db.raw("""
                INSERT INTO log_exports (uuid, requester_id, scope_kind, scope_id, namespace_name, repository_name, start_time, end_time,
                                         callback_url, callback_email, email_status, origin, status, callback_status, next_attempt_at, created_at)
                VALUES (\(bind: new.uuid), \(bind: new.requesterID), \(bind: kind), \(bind: scopeID), \(bind: new.namespaceName),
                        \(bind: new.repositoryName), \(bind: new.start), \(bind: new.end), \(bind: new.callbackURL), \(bind: new.callbackEmail),
                        \(bind: emailStatus), \(bind: new.origin), 'queued', \(bind: callbackStatus), \(bind: now), \(bind: now))
                RETURNING \(Self.logExportColumns)
                """).first()
            guard let row else { throw DomainError.notFound("log export") }
            return try Self.logExport(from: row)
        }
    }

    public func logExport(uuid: String) async throws -> LogExport? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.logExportColumns) FROM log_exports WHERE uuid = \(bind: uuid)").first().map(Self.logExport(from:))
        }
    }

    static func dueCondition(now: Int64) -> SQLQueryString {
        "status IN ('queued', 'delivering') AND next_attempt_at <= \(bind: now) AND (lease_until IS NULL OR lease_until < \(bind: now))"
    }

    /// A cheap read, so an idle worker does not take SQLite's write lock every poll.
    public func hasDueLogExports(now: Int64 = Clock.nowMillis()) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM log_exports WHERE \(Self.dueCondition(now: now)) LIMIT 1").first() != nil
        }
    }

    /// Claims the oldest due export for `leaseSeconds`. PostgreSQL skips rows other workers are
    /// claiming (`FOR UPDATE SKIP LOCKED`); SQLite has one writer, and the conditional UPDATE
    /// re-checks that the row is still due.
    public func claimLogExport(token: String, leaseSeconds: Int64, now: Int64 = Clock.nowMillis()) async throws -> LogExport? {
        let lock: SQLQueryString = database.flavor == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE log_exports SET claim_token = \(bind: token), lease_until = \(bind: now + leaseSeconds * 1000)
                WHERE id = (SELECT id FROM log_exports WHERE \(Self.dueCondition(now: now)) ORDER BY next_attempt_at, id LIMIT 1\(lock))
                  AND \(Self.dueCondition(now: now))
                RETURNING \(Self.logExportColumns)
                """).first().map(Self.logExport(from:))
        }
    }

    /// Extends a claim; false when the lease was lost to another worker.
    public func renewLogExportLease(id: Int64, token: String, leaseSeconds: Int64, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE log_exports SET lease_until = \(bind: now + leaseSeconds * 1000)
                WHERE id = \(bind: id) AND claim_token = \(bind: token) RETURNING id
                """).first() != nil
        }
    }

    /// The logs are written (or writing them ended in `result`): the callback is due next, or the
    /// export is done when there is none. `email` (the mail to `callback_email` and the box that
    /// seals its body) is queued in the same transaction, unless the claim was lost.
    public func finishLogExportData(id: Int64, token: String, result: LogExportResult, digest: Digest?, size: Int64?,
                                    error: String?, email: (OutgoingMail, SecretBox)? = nil, now: Int64 = Clock.nowMillis()) async throws {
        try await database.transaction { db in
            let finished = try await db.raw("""
                UPDATE log_exports SET result = \(bind: result.rawValue), storage_digest = \(bind: digest?.description), size = \(bind: size),
                  export_attempts = export_attempts + 1, last_error = \(bind: error), exported_at = \(bind: now),
                  status = CASE WHEN callback_url IS NULL THEN 'done' ELSE 'delivering' END,
                  finished_at = CASE WHEN callback_url IS NULL THEN \(bind: now) ELSE NULL END,
                  next_attempt_at = \(bind: now), lease_until = NULL, claim_token = NULL
                WHERE id = \(bind: id) AND claim_token = \(bind: token) RETURNING id
                """).first() != nil
            guard finished, let (mail, box) = email else { return }
            try await Self.enqueueMail(on: db, mail, secretBox: box, now: now)
            try await db.raw("UPDATE log_exports SET email_status = 'queued' WHERE id = \(bind: id)").run()
        }
    }

    /// Writing the logs failed transiently: try again at `retryAt`.
    public func retryLogExportData(id: Int64, token: String, error: String, retryAt: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE log_exports SET export_attempts = export_attempts + 1, last_error = \(bind: error),
                  next_attempt_at = \(bind: retryAt), lease_until = NULL, claim_token = NULL
                WHERE id = \(bind: id) AND claim_token = \(bind: token)
                """).run()
        }
    }

    public enum CallbackOutcome: Sendable {
        case delivered
        case retry(at: Int64, error: String)
        /// Out of attempts (`failed`) or refused by the SSRF check at delivery time (`refused`).
        case gaveUp(callbackStatus: String, error: String)
    }

    public func recordLogExportCallback(id: Int64, token: String, outcome: CallbackOutcome, now: Int64 = Clock.nowMillis()) async throws {
        let q: SQLQueryString
        switch outcome {
        case .delivered:
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, callback_status = 'delivered', status = 'done',
                  last_error = NULL, finished_at = \(bind: now), lease_until = NULL, claim_token = NULL
                """
        case .retry(let at, let error):
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: at),
                  lease_until = NULL, claim_token = NULL
                """
        case .gaveUp(let callbackStatus, let error):
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, callback_status = \(bind: callbackStatus), status = 'failed',
                  last_error = \(bind: error), finished_at = \(bind: now), lease_until = NULL, claim_token = NULL
                """
        }
        try await database.transaction { db in
            try await db.raw("\(q) WHERE id = \(bind: id) AND claim_token = \(bind: token)").run()
        }
    }

    // MARK: Retention

    /// Deletes usage-log rows created before `cutoff`, in batches so neither backend holds a huge
    /// transaction. Returns how many went.
    @discardableResult
    public func deleteUsageLogs(before cutoff: Int64, batchSize: Int = 5000) async throws -> Int {
        var total = 0
        while true {
            let n = try await database.transaction { db in
                try await db.raw("""
                    DELETE FROM usage_logs WHERE id IN (SELECT id FROM usage_logs WHERE created_at < \(bind: cutoff) LIMIT \(bind: batchSize))
                    RETURNING id
                    """).all().count
            }
            total += n
            if n < batchSize { return total }
        }
    }

    /// Deletes finished exports created before `cutoff` and lets go of their files (tombstones
    /// in the same transaction; the collector deletes the bytes unless another export or another
    /// owner holds the same digest). Returns how many exports went.
    public func deleteLogExports(before cutoff: Int64, tombstones: BlobTombstones, now: Int64) async throws -> Int {
        try await database.transaction { db in
            let rows = try await db.raw("""
                DELETE FROM log_exports WHERE created_at < \(bind: cutoff) AND status IN ('done', 'failed') RETURNING storage_digest
                """).all()
            try await tombstones.add(try rows.compactMap { try $0.optionalString("storage_digest") }, now: now, in: db)
            return rows.count
        }
    }
}
