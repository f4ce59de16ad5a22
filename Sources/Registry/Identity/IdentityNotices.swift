import Accounts

/// A security notice about how an account is reached: a sign-in method linked, a robot's
/// federation changed, a federation used for the first time. These are account events, not
/// repository events, so they are not repository notifications; they go to the people who
/// should know (the user; for an organization's robot, the organization's admins) as in-app
/// notifications, and by mail to those with a confirmed address.
public struct IdentityNotice: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case externalLoginLinked = "external_login_linked"
        case externalLoginUnlinked = "external_login_unlinked"
        case robotFederationChanged = "robot_federation_changed"
        case robotFederationFirstExchange = "robot_federation_first_exchange"
    }

    public let kind: Kind
    public let recipients: [NoticeRecipient]
    /// The organization the notice is about (an organization robot's), shown with it.
    public let organization: String?
    /// The in-app notification's metadata (names, never a token).
    public let metadata: [String: String]
    public let mailSubject: String
    public let mailBody: String
    /// Unique per occurrence: a retried delivery of the same notice adds nothing twice.
    public let reference: String

    public init(kind: Kind, recipients: [NoticeRecipient], organization: String?, metadata: [String: String],
                mailSubject: String, mailBody: String, reference: String) {
        self.kind = kind
        self.recipients = recipients
        self.organization = organization
        self.metadata = metadata
        self.mailSubject = mailSubject
        self.mailBody = mailBody
        self.reference = reference
    }
}

/// Who stores and sends identity notices (the notifications module, which owns in-app
/// notifications). Modules contribute one through `SlipwayModule.identityNotices()`.
public protocol IdentityNotices: Sendable {
    func deliver(_ notice: IdentityNotice) async throws
}
