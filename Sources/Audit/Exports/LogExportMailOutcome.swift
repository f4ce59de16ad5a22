import Mail
import SQLKit

/// Log exports keep what became of their e-mail (`email_status`, which the API shows): the mail
/// module tells them in the transaction that records the mail's final attempt.
public struct LogExportMailOutcome: MailOutcomeListener {
    public init() {}

    public var mailKinds: Set<String> { [OutgoingMail.Kind.logExport] }

    public func mailFinished(kind: String, reference: String, status: MailStatus, in db: any SQLDatabase) async throws {
        try await AuditStore.recordLogExportEmail(uuid: reference, status: status.rawValue, on: db)
    }
}
