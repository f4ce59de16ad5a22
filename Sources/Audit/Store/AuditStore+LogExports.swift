import Foundation
import Mail
import SlipwayCore
import SQLKit

/// Log exports (`log_exports`, audit#2): what the API shows of each export, the `LogExportJob`s
/// that the `LogExporter` runs for it, and the retention clean-up of finished exports.
///
/// `email_status` follows the mail to `callback_email`: `pending` until the export ends, `queued`
/// once the mail (link or failure) is in the mail outbox, in the transaction that ends the export,
/// then `sent` or `failed` as the notifications module's sender records.
///
/// The row's status says which stage is next: `queued` (logs still to write: a `write` job) or
/// `delivering` (callback still to post: a `callback` job, pushed in the transaction that ends
/// writing). Each stage's outcome is recorded in the transaction that ends its job's claim, and
/// only while the row is still at that stage, so a worker whose claim ran out changes nothing.
extension AuditStore {
    static let emailPendingStatus = "pending"

    static let logExportColumns: SQLQueryString = """
        id, uuid, requester_id, scope_kind, scope_id, namespace_name, repository_name, start_time, end_time, callback_url,
        callback_email, email_status, origin, status, result, storage_digest, size, export_attempts, callback_status,
        callback_attempts, last_error, created_at, exported_at, finished_at
        """

    static func logExport(from row: any SQLRow) throws -> LogExport {
        let scopeID = try row.int64("scope_id")
        let scope: UsageLogScope
        switch try row.string("scope_kind") {
        case "repository": scope = .repository(scopeID)
        case "namespace": scope = .namespace(scopeID)
        case "everything": scope = .everything
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
            exportedAt: try row.optionalInt64("exported_at"), finishedAt: try row.optionalInt64("finished_at"))
    }

    static func scopeParts(_ scope: UsageLogScope) -> (String, Int64) {
        switch scope {
        case .repository(let id): return ("repository", id)
        case .namespace(let id): return ("namespace", id)
        case .performer(let id): return ("performer", id)
        case .everything: return ("everything", 0)
        }
    }

    /// Queues an export (the row and its `write` job); it is due immediately.
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
            let export = try Self.logExport(from: row)
            _ = try await jobs.push(try LogExportJob.request(export.id, uuid: export.uuid, stage: .write, at: now), in: db)
            return export
        }
    }

    public func logExport(uuid: String) async throws -> LogExport? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.logExportColumns) FROM log_exports WHERE uuid = \(bind: uuid)").first().map(Self.logExport(from:))
        }
    }

    public func logExport(id: Int64) async throws -> LogExport? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.logExportColumns) FROM log_exports WHERE id = \(bind: id)").first().map(Self.logExport(from:))
        }
    }

    /// The logs are written (or writing them ended in `result`), recorded in the transaction that
    /// ends the `write` job: the callback is due next (its job is pushed), or the export is done
    /// when there is none. `email` (the mail to `callback_email`, sealed with `secretBox`) is
    /// queued in the same transaction. Nothing happens unless the export was still being written.
    public static func finishLogExportData(on db: any SQLDatabase, _ export: LogExport, result: LogExportResult, digest: Digest?, size: Int64?,
                                           error: String?, email: OutgoingMail?, secretBox: SecretBox, jobs: any JobQueueDriver,
                                           now: Int64) async throws {
        let finished = try await db.raw("""
            UPDATE log_exports SET result = \(bind: result.rawValue), storage_digest = \(bind: digest?.description), size = \(bind: size),
              export_attempts = export_attempts + 1, last_error = \(bind: error), exported_at = \(bind: now),
              status = CASE WHEN callback_url IS NULL THEN 'done' ELSE 'delivering' END,
              finished_at = CASE WHEN callback_url IS NULL THEN \(bind: now) ELSE NULL END,
              next_attempt_at = \(bind: now)
            WHERE id = \(bind: export.id) AND status = 'queued' RETURNING id
            """).first() != nil
        guard finished else { return }
        if export.callbackURL != nil {
            _ = try await jobs.push(try LogExportJob.request(export.id, uuid: export.uuid, stage: .callback, at: now), in: db)
        }
        guard let email else { return }
        try await MailOutbox.enqueue(on: db, email, secretBox: secretBox, jobs: jobs, now: now)
        try await db.raw("UPDATE log_exports SET email_status = 'queued' WHERE id = \(bind: export.id)").run()
    }

    /// Writing the logs failed transiently: counted, to be tried again at `retryAt`.
    public static func retryLogExportData(on db: any SQLDatabase, id: Int64, error: String, retryAt: Int64) async throws {
        try await db.raw("""
            UPDATE log_exports SET export_attempts = export_attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: retryAt)
            WHERE id = \(bind: id) AND status = 'queued'
            """).run()
    }

    /// Records that a stage of export `id` was given up (its job's last consumer died holding
    /// it), in the caller's transaction: a write that never finished fails the export (and the
    /// mail it would have sent); a callback never delivered is given up, as when out of attempts.
    public static func recordAbandonedLogExport(id: Int64, stage: LogExportJob.Stage, error: String, now: Int64, on db: any SQLDatabase) async throws {
        switch stage {
        case .write:
            try await db.raw("""
                UPDATE log_exports SET result = \(bind: LogExportResult.failed.rawValue), export_attempts = export_attempts + 1,
                  last_error = \(bind: error), status = 'failed', finished_at = \(bind: now),
                  email_status = CASE WHEN email_status = 'pending' THEN 'failed' ELSE email_status END
                WHERE id = \(bind: id) AND status = 'queued'
                """).run()
        case .callback:
            try await recordLogExportCallback(on: db, id: id, outcome: .gaveUp(callbackStatus: "failed", error: error), now: now)
        }
    }

    /// Records a callback attempt, in the transaction that ends (or reschedules) the `callback`
    /// job; nothing happens unless the callback was still to be delivered.
    public static func recordLogExportCallback(on db: any SQLDatabase, id: Int64, outcome: LogExportCallbackOutcome, now: Int64) async throws {
        let q: SQLQueryString
        switch outcome {
        case .delivered:
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, callback_status = 'delivered', status = 'done',
                  last_error = NULL, finished_at = \(bind: now)
                """
        case .retry(let at, let error):
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: at)
                """
        case .gaveUp(let callbackStatus, let error):
            q = """
                UPDATE log_exports SET callback_attempts = callback_attempts + 1, callback_status = \(bind: callbackStatus), status = 'failed',
                  last_error = \(bind: error), finished_at = \(bind: now)
                """
        }
        try await db.raw("\(q) WHERE id = \(bind: id) AND status = 'delivering'").run()
    }

    /// Records what became of the mail to an export's `callback_email` (`sent` or `failed`), in
    /// the mail module's transaction that records the mail's final attempt.
    public static func recordLogExportEmail(uuid: String, status: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE log_exports SET email_status = \(bind: status) WHERE uuid = \(bind: uuid)").run()
    }

    // MARK: Retention

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
