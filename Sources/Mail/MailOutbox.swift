import Foundation
import SlipwayCore
import SQLKit

/// The mail outbox (`mail_outbox`, mail#1): mail that other modules queue inside their own
/// transactions (team invitations, finished log exports) and `MailOutboxSender` delivers. The
/// row and its `MailJob` on the job queue are the hand-over: a mail commits together with the
/// change it announces and survives restarts and mail-server outages.
///
/// The row is the mail's record (recipient, sealed body, status, attempts, last error); when it
/// is tried is the job's business. Bodies are sealed with the instance key (they carry
/// invitation codes and download links) and emptied once the mail is sent.
public struct OutgoingMail: Sendable, Equatable {
    public var recipient: String
    public var subject: String
    public var body: String
    /// What the mail is about; `reference` names the record, so the outcome can be recorded
    /// there (see `MailOutcomeListener`).
    public var kind: MailKind
    public var reference: String?

    public init(recipient: String, subject: String, body: String, kind: MailKind, reference: String?) {
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.kind = kind
        self.reference = reference
    }
}

/// What a mail is about, named by the module that sends it (`MailKind.teamInvite` in the
/// accounts code, `.logExport` in Audit): stored in `mail_outbox.kind`, matched by outcome
/// listeners. Open rather than an enum because the mail module knows none of its senders.
public struct MailKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
}

/// A row of the outbox as the sender sees it.
public struct QueuedMail: Sendable {
    public let id: Int64
    public let uuid: String
    public let recipient: String
    public let subject: String
    public let bodySealed: String
    public let kind: MailKind
    public let reference: String?
    public let status: MailStatus
    public let attempts: Int
    public let nextAttemptAt: Int64
    public let sentAt: Int64?
    public let lastError: String?
    public let createdAt: Int64

    /// The plain-text body; empty once the mail was sent.
    public func body(opening box: SecretBox) throws -> String {
        bodySealed.isEmpty ? "" : try box.open(bodySealed, context: MailOutbox.sealContext(uuid))
    }
}

/// The job that sends one `mail_outbox` row (queue `mail`). Its reference is the mail's
/// `kind:reference`, so unsent mail about a withdrawn record is cancelled with it. mail#2
/// wrote the jobs of mail queued before the move in this same shape.
public struct MailJob: Codable, Sendable {
    public static let queue = "mail"
    /// The job's own bound on attempts; the sender gives up earlier, after
    /// `notifications.maxAttempts`, and records why on the row.
    public static let attemptLimit = 25

    public let mail: Int64

    public init(mail: Int64) {
        self.mail = mail
    }

    /// The job reference of mail about `reference` of `kind`.
    public static func reference(kind: MailKind, reference: String) -> String { "\(kind.rawValue):\(reference)" }
}

/// How a mail's delivery ended (or where it stands).
public enum MailStatus: String, Sendable {
    case queued, sent, failed
}

/// How one attempt to send a mail ended.
public enum MailAttempt: Sendable, Equatable {
    case sent
    case retry(error: String, at: Int64)
    case failed(error: String)
}

/// A module that keeps the outcome of the mail it queued on its own record (log exports keep
/// an `email_status`). Told in the transaction that records a mail's final attempt.
public protocol MailOutcomeListener: Sendable {
    /// The kinds of mail (`OutgoingMail.kind`) the listener records outcomes for.
    var mailKinds: Set<MailKind> { get }
    func mailFinished(kind: MailKind, reference: String, status: MailStatus, in db: any SQLDatabase) async throws
}

/// The mail module's store: `mail_outbox` and the `mail` jobs, and no other module's tables.
public struct MailOutbox: Sendable {
    let database: any Database
    let jobs: any JobQueueDriver
    let secretBox: SecretBox

    public init(database: any Database, jobs: any JobQueueDriver, secretBox: SecretBox) {
        self.database = database
        self.jobs = jobs
        self.secretBox = secretBox
    }

    static func sealContext(_ uuid: String) -> String { "mail:\(uuid)" }

    static let columns: SQLQueryString = """
        id, uuid, recipient, subject, body_sealed, kind, reference, status, attempts, next_attempt_at, sent_at, last_error, created_at
        """

    static func queuedMail(from row: any SQLRow) throws -> QueuedMail {
        QueuedMail(
            id: try row.int64("id"), uuid: try row.string("uuid"), recipient: try row.string("recipient"), subject: try row.string("subject"),
            bodySealed: try row.string("body_sealed"), kind: MailKind(try row.string("kind")), reference: try row.optionalString("reference"),
            status: MailStatus(rawValue: try row.string("status")) ?? .failed, attempts: Int(try row.int64("attempts")),
            nextAttemptAt: try row.int64("next_attempt_at"), sentAt: try row.optionalInt64("sent_at"),
            lastError: try row.optionalString("last_error"), createdAt: try row.int64("created_at"))
    }

    // MARK: Queueing

    /// Queues `mail` inside the caller's transaction, so it is sent only if that commits: the
    /// row and its job, due at `now`.
    public static func enqueue(on db: any SQLDatabase, _ mail: OutgoingMail, secretBox: SecretBox, jobs: any JobQueueDriver,
                               now: Int64 = Clock.nowMillis()) async throws {
        let uuid = UUID().uuidString.lowercased()
        let sealed = try secretBox.seal(mail.body, context: sealContext(uuid))
        let row = try await db.raw("""
            INSERT INTO mail_outbox (uuid, recipient, subject, body_sealed, kind, reference, status, next_attempt_at, created_at)
            VALUES (\(bind: uuid), \(bind: mail.recipient), \(bind: mail.subject), \(bind: sealed), \(bind: mail.kind.rawValue),
                    \(bind: mail.reference), 'queued', \(bind: now), \(bind: now))
            RETURNING id
            """).first()
        guard let row else { throw DomainError.internalFailure("the mail outbox did not return the queued mail") }
        _ = try await jobs.push(try JobRequest(queue: MailJob.queue, encoding: MailJob(mail: try row.int64("id")),
                                               reference: mail.reference.map { MailJob.reference(kind: mail.kind, reference: $0) },
                                               maxAttempts: MailJob.attemptLimit, notBefore: now), in: db)
    }

    public func enqueue(_ mail: OutgoingMail, now: Int64 = Clock.nowMillis()) async throws {
        let (secretBox, jobs) = (self.secretBox, self.jobs)
        try await database.transaction { db in try await Self.enqueue(on: db, mail, secretBox: secretBox, jobs: jobs, now: now) }
    }

    /// Drops the unsent mail about `reference` of `kind` (row and job), in the caller's transaction.
    public static func withdraw(on db: any SQLDatabase, kind: MailKind, reference: String, jobs: any JobQueueDriver) async throws {
        try await db.raw("""
            DELETE FROM mail_outbox WHERE kind = \(bind: kind.rawValue) AND reference = \(bind: reference) AND status = 'queued'
            """).run()
        _ = try await jobs.cancel(queue: MailJob.queue, reference: MailJob.reference(kind: kind, reference: reference), in: db)
    }

    /// The references of `kind`'s still unsent mail that end with `suffix`, in the caller's
    /// transaction: how a module finds its unsent mail about records that are gone (a user's
    /// withdrawn team invitations, referenced `<team>:<user>`).
    public static func queuedReferences(on db: any SQLDatabase, kind: MailKind, endingWith suffix: String) async throws -> [String] {
        let pattern = suffix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        return try await db.raw("""
            SELECT DISTINCT reference FROM mail_outbox WHERE kind = \(bind: kind.rawValue) AND status = 'queued'
              AND reference LIKE \(bind: "%" + pattern) ESCAPE '\\'
            """).all().map { try $0.string("reference") }
    }

    /// Every outbox row about `kind`/`reference` (or of `kind` when `reference` is nil), oldest first.
    public func mails(kind: MailKind, reference: String? = nil) async throws -> [QueuedMail] {
        try await database.read { db in
            var q: SQLQueryString = "SELECT \(Self.columns) FROM mail_outbox WHERE kind = \(bind: kind.rawValue)"
            if let reference { q += " AND reference = \(bind: reference)" }
            q += " ORDER BY id"
            return try await db.raw(q).all().map(Self.queuedMail(from:))
        }
    }

    public func mail(id: Int64) async throws -> QueuedMail? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.columns) FROM mail_outbox WHERE id = \(bind: id)").first().map(Self.queuedMail(from:))
        }
    }

    // MARK: Sending

    /// Records an attempt on the mail's row, in the transaction that ends (or reschedules) its
    /// job. Sent: the body is dropped (it held a secret). Sent or failed: the listener for the
    /// mail's kind records the outcome where the mail came from.
    public static func recordAttempt(_ mail: QueuedMail, _ attempt: MailAttempt, now: Int64, listeners: [any MailOutcomeListener],
                                     on db: any SQLDatabase) async throws {
        let queued: SQLQueryString = "WHERE id = \(bind: mail.id) AND status = 'queued' RETURNING id"
        switch attempt {
        case .retry(let error, let at):
            _ = try await db.raw("""
                UPDATE mail_outbox SET attempts = attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: at) \(queued)
                """).first()
        case .sent, .failed:
            let status: MailStatus = attempt == .sent ? .sent : .failed
            let error: String? = if case .failed(let e) = attempt { e } else { nil }
            let updated = try await db.raw("""
                UPDATE mail_outbox SET status = \(bind: status.rawValue), attempts = attempts + 1, last_error = \(bind: error),
                  sent_at = \(bind: status == .sent ? now : nil), body_sealed = \(bind: status == .sent ? "" : mail.bodySealed) \(queued)
                """).first() != nil
            guard updated, let reference = mail.reference else { return }
            for listener in listeners where listener.mailKinds.contains(mail.kind) {
                try await listener.mailFinished(kind: mail.kind, reference: reference, status: status, in: db)
            }
        }
    }

    /// Records that mail `id` failed with `error` (its job was given up), in the caller's
    /// transaction; nothing happens unless it was still queued.
    public static func recordAbandoned(mailID id: Int64, error: String, now: Int64, listeners: [any MailOutcomeListener],
                                       on db: any SQLDatabase) async throws {
        guard let mail = try await db.raw("SELECT \(columns) FROM mail_outbox WHERE id = \(bind: id)").first().map(queuedMail(from:)) else { return }
        try await recordAttempt(mail, .failed(error: error), now: now, listeners: listeners, on: db)
    }

    /// Deletes sent and failed mail queued before `cutoff` (and finished mail jobs); returns how many rows went.
    @discardableResult
    public func prune(before cutoff: Int64) async throws -> Int {
        let pruned = try await database.transaction { db in
            try await db.raw("""
                DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < \(bind: cutoff) RETURNING id
                """).all().count
        }
        _ = try await jobs.prune(queue: MailJob.queue, finishedBefore: cutoff)
        return pruned
    }
}
