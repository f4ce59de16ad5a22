import Accounts
import Foundation
import Mail
import Registry
import SlipwayCore
import SQLKit

/// Identity notices (`IdentityNotice`: a sign-in linked, a robot federation changed or first
/// used) as in-app notifications in this module's `user_notifications` (the bell,
/// `/api/v1/user/notifications`, `kind` = the notice's kind) and, for each recipient with a
/// confirmed address, a mail through the mail outbox. Notification and mail commit together.
public struct IdentityNotifications: IdentityNotices {
    static let mailKind = MailKind("identity_notice")

    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    public func deliver(_ notice: IdentityNotice) async throws {
        let now = Clock.nowMillis()
        let metadata = EventValue.objectJSON(notice.metadata.mapValues(EventValue.string))
        let source = "\(notice.kind.rawValue):\(notice.reference)"
        let (secretBox, jobs) = (services.secretBox, services.jobs)
        try await services.database.transaction { db in
            for recipient in notice.recipients {
                try await db.raw("""
                    INSERT INTO user_notifications (uuid, user_id, organization, kind, metadata, source, created_at)
                    VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: recipient.userID), \(bind: notice.organization),
                            \(bind: notice.kind.rawValue), \(bind: metadata), \(bind: source), \(bind: now))
                    ON CONFLICT (user_id, source) DO NOTHING
                    """).run()
                guard let address = recipient.verifiedEmail else { continue }
                try await MailOutbox.enqueue(on: db, OutgoingMail(recipient: address, subject: notice.mailSubject, body: notice.mailBody,
                                                                  kind: Self.mailKind, reference: "\(notice.reference):\(recipient.userID)"),
                                             secretBox: secretBox, jobs: jobs, now: now)
            }
        }
    }
}
