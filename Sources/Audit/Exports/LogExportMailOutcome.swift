import Mail
import SQLKit

extension MailKind {
    /// The mail announcing a finished log export, referenced by the export's uuid.
    public static let logExport = MailKind("log_export")
}

/// Log exports keep what became of their e-mail (`email_status`, which the API shows): the mail
/// module tells them in the transaction that records the mail's final attempt.
public struct LogExportMailOutcome: MailOutcomeListener {
    public init() {}

    public var mailKinds: Set<MailKind> { [.logExport] }

    public func mailFinished(kind: MailKind, reference: String, status: MailStatus, in db: any SQLDatabase) async throws {
        try await AuditStore.recordLogExportEmail(uuid: reference, status: status.rawValue, on: db)
    }
}
