import Foundation
import SlipwayCore
import SQLKit

/// The mail outbox (`mail_outbox`, migration 41): mail that registry code queues inside its own
/// transactions (team invitations, finished log exports) and the notifications module's
/// `MailOutboxSender` delivers. The registry cannot reach the SMTP client (the notifications
/// module depends on it, not the other way round), so the table is the hand-over: a mail commits
/// together with the change it announces and survives restarts and mail-server outages.
///
/// A row is due while `queued`, once `next_attempt_at` has passed and nobody holds an unexpired
/// lease on it. Bodies are sealed with the instance key (they carry invitation codes and
/// download links) and emptied once the mail is sent.
public struct OutgoingMail: Sendable, Equatable {
    /// What the mail is about: `kind` names the feature, `reference` the record, so the outcome
    /// can be recorded there (see `MetadataStore.recordMailOutcome`).
    public enum Kind {
        public static let teamInvite = "org_team_invite"
        public static let logExport = "log_export"
    }

    public var recipient: String
    public var subject: String
    public var body: String
    public var kind: String
    public var reference: String?

    public init(recipient: String, subject: String, body: String, kind: String, reference: String?) {
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.kind = kind
        self.reference = reference
    }
}

/// A row of the outbox as the sender sees it.
public struct QueuedMail: Sendable {
    public let id: Int64
    public let uuid: String
    public let recipient: String
    public let subject: String
    public let bodySealed: String
    public let kind: String
    public let reference: String?
    public let status: MetadataStore.MailStatus
    public let attempts: Int
    public let nextAttemptAt: Int64
    public let sentAt: Int64?
    public let lastError: String?
    public let createdAt: Int64
    /// Set on a row this worker has just claimed.
    public let claimToken: String?

    /// The plain-text body; empty once the mail was sent.
    public func body(opening box: SecretBox) throws -> String {
        bodySealed.isEmpty ? "" : try box.open(bodySealed, context: MetadataStore.mailSealContext(uuid))
    }
}

extension MetadataStore {
    public enum MailStatus: String, Sendable {
        case queued, sent, failed
    }

    static func mailSealContext(_ uuid: String) -> String { "mail:\(uuid)" }

    static let mailColumns: SQLQueryString = """
        id, uuid, recipient, subject, body_sealed, kind, reference, status, attempts, next_attempt_at, sent_at, last_error,
        created_at, claim_token
        """

    static func queuedMail(from row: any SQLRow) throws -> QueuedMail {
        QueuedMail(
            id: try row.int64("id"), uuid: try row.string("uuid"), recipient: try row.string("recipient"), subject: try row.string("subject"),
            bodySealed: try row.string("body_sealed"), kind: try row.string("kind"), reference: try row.optionalString("reference"),
            status: MailStatus(rawValue: try row.string("status")) ?? .failed, attempts: Int(try row.int64("attempts")),
            nextAttemptAt: try row.int64("next_attempt_at"), sentAt: try row.optionalInt64("sent_at"),
            lastError: try row.optionalString("last_error"), createdAt: try row.int64("created_at"),
            claimToken: try row.optionalString("claim_token"))
    }

    // MARK: Queueing

    /// Queues `mail` inside the caller's transaction, so it is sent only if that commits.
    public static func enqueueMail(on db: any SQLDatabase, _ mail: OutgoingMail, secretBox: SecretBox,
                                   now: Int64 = Clock.nowMillis()) async throws {
        let uuid = UUID().uuidString.lowercased()
        let sealed = try secretBox.seal(mail.body, context: mailSealContext(uuid))
        try await db.raw("""
            INSERT INTO mail_outbox (uuid, recipient, subject, body_sealed, kind, reference, status, next_attempt_at, created_at)
            VALUES (\(bind: uuid), \(bind: mail.recipient), \(bind: mail.subject), \(bind: sealed), \(bind: mail.kind),
                    \(bind: mail.reference), 'queued', \(bind: now), \(bind: now))
            """).run()
    }

    public func enqueueMail(_ mail: OutgoingMail, secretBox: SecretBox, now: Int64 = Clock.nowMillis()) async throws {
        try await database.transaction { db in try await Self.enqueueMail(on: db, mail, secretBox: secretBox, now: now) }
    }

    /// Every outbox row about `kind`/`reference` (or of `kind` when `reference` is nil), oldest first.
    public func mails(kind: String, reference: String? = nil) async throws -> [QueuedMail] {
        try await database.read { db in
            var q: SQLQueryString = "SELECT \(Self.mailColumns) FROM mail_outbox WHERE kind = \(bind: kind)"
            if let reference { q += " AND reference = \(bind: reference)" }
            q += " ORDER BY id"
            return try await db.raw(q).all().map(Self.queuedMail(from:))
        }
    }

    // MARK: Sending

    static func dueMailCondition(now: Int64) -> SQLQueryString {
        "status = 'queued' AND next_attempt_at <= \(bind: now) AND (lease_until IS NULL OR lease_until < \(bind: now))"
    }

    /// A cheap read, so an idle sender does not take SQLite's write lock every poll.
    public func hasDueMail(now: Int64 = Clock.nowMillis()) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM mail_outbox WHERE \(Self.dueMailCondition(now: now)) LIMIT 1").first() != nil
        }
    }

    /// Claims up to `limit` due mails, oldest first, for `leaseMillis`. PostgreSQL skips rows
    /// another sender is claiming; SQLite has one writer, and the outer condition re-checks.
    public func claimMail(token: String, limit: Int, leaseMillis: Int64, now: Int64 = Clock.nowMillis()) async throws -> [QueuedMail] {
        let lock: SQLQueryString = database.flavor == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE mail_outbox SET claim_token = \(bind: token), lease_until = \(bind: now + leaseMillis)
                WHERE id IN (SELECT id FROM mail_outbox WHERE \(Self.dueMailCondition(now: now))
                             ORDER BY next_attempt_at, id LIMIT \(bind: limit)\(lock))
                  AND \(Self.dueMailCondition(now: now))
                RETURNING \(Self.mailColumns)
                """).all().map(Self.queuedMail(from:)).sorted { $0.id < $1.id }
        }
    }

    /// Sent: the body is dropped (it held a secret) and the outcome recorded where the mail came
    /// from. False when the claim was lost.
    @discardableResult
    public func markMailSent(_ mail: QueuedMail, token: String, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        try await finishMail(mail, token: token, status: .sent, error: nil, now: now)
    }

    /// Given up (refused by the mail server, or out of attempts).
    @discardableResult
    public func markMailFailed(_ mail: QueuedMail, token: String, error: String, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        try await finishMail(mail, token: token, status: .failed, error: error, now: now)
    }

    /// A failed attempt to be retried at `retryAt`.
    @discardableResult
    public func markMailRetry(_ mail: QueuedMail, token: String, error: String, retryAt: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE mail_outbox SET attempts = attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: retryAt),
                  lease_until = NULL, claim_token = NULL
                WHERE id = \(bind: mail.id) AND claim_token = \(bind: token) RETURNING id
                """).first() != nil
        }
    }

    /// Gives a claimed mail back without counting an attempt (the sender is stopping).
    public func releaseMail(_ mail: QueuedMail, token: String) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE mail_outbox SET lease_until = NULL, claim_token = NULL WHERE id = \(bind: mail.id) AND claim_token = \(bind: token)
                """).run()
        }
    }

    private func finishMail(_ mail: QueuedMail, token: String, status: MailStatus, error: String?, now: Int64) async throws -> Bool {
        try await database.transaction { db in
            let updated = try await db.raw("""
                UPDATE mail_outbox SET status = \(bind: status.rawValue), attempts = attempts + 1, last_error = \(bind: error),
                  sent_at = \(bind: status == .sent ? now : nil), body_sealed = \(bind: status == .sent ? "" : mail.bodySealed),
                  lease_until = NULL, claim_token = NULL
                WHERE id = \(bind: mail.id) AND claim_token = \(bind: token) RETURNING id
                """).first() != nil
            if updated { try await Self.recordMailOutcome(on: db, kind: mail.kind, reference: mail.reference, status: status) }
            return updated
        }
    }

    /// Tells the record a mail was about how its delivery ended. Only log exports keep a status.
    static func recordMailOutcome(on db: any SQLDatabase, kind: String, reference: String?, status: MailStatus) async throws {
        guard kind == OutgoingMail.Kind.logExport, let reference else { return }
        try await db.raw("UPDATE log_exports SET email_status = \(bind: status.rawValue) WHERE uuid = \(bind: reference)").run()
    }

    /// Deletes sent and failed mail queued before `cutoff`; returns how many went.
    @discardableResult
    public func pruneMail(before cutoff: Int64) async throws -> Int {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < \(bind: cutoff) RETURNING id
                """).all().count
        }
    }
}
