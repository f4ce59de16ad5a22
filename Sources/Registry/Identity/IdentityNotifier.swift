import Accounts
import Foundation
import SlipwayCore

/// Builds the identity notices (see `IdentityNotice`) and hands them to the notice sinks. A
/// notice that cannot be delivered is logged and dropped: the change it reports has already
/// happened and is in the usage logs, so it must not fail the request that made it.
public struct IdentityNotifier: Sendable {
    let services: RegistryServices
    let sinks: [any IdentityNotices]

    public init(services: RegistryServices, sinks: [any IdentityNotices]) {
        self.services = services
        self.sinks = sinks
    }

    /// A provider identity was linked to `user` (first sign-in, or from the account settings).
    public func externalLoginLinked(_ user: Namespace, service: String, issuer: String, origin: String) async {
        await externalLoginChanged(.externalLoginLinked, user, service: service, issuer: issuer, origin: origin, subject: "linked to",
                                   effect: "From now on that identity signs in as \(user.name).",
                                   advice: "sign in with another method, review the linked sign-ins on your account settings page")
    }

    /// A provider identity was unlinked from `user` (Quay's detach).
    public func externalLoginUnlinked(_ user: Namespace, service: String, issuer: String, origin: String) async {
        await externalLoginChanged(.externalLoginUnlinked, user, service: service, issuer: issuer, origin: origin, subject: "removed from",
                                   effect: "That identity no longer signs in as \(user.name).",
                                   advice: "change your password, review your app tokens")
    }

    private func externalLoginChanged(_ kind: IdentityNotice.Kind, _ user: Namespace, service: String, issuer: String, origin: String,
                                      subject change: String, effect: String, advice: String) async {
        await send(kind: kind, to: [user.id], organization: nil,
                   metadata: ["service": service, "issuer": issuer, "username": user.name],
                   subject: "A sign-in method was \(change) your account \(user.name)",
                   body: """
                   Hello \(user.name),

                   Sign-in through \(service) (\(issuer)) was \(change) your account on \(origin).
                   \(effect)

                   If this was not you, \(advice) and tell your registry administrator.
                   """)
    }

    /// The federation of `robot` was set (`entries` non-empty) or removed by `actor`.
    public func robotFederationChanged(_ robot: RobotAccount, entries: [RobotFederationEntry], by actor: String, origin: String) async {
        let change = entries.isEmpty ? "removed" : "set to \(entries.count) \(entries.count == 1 ? "entry" : "entries")"
        let listed = entries.map { "  - issuer \($0.issuer), subject \($0.subject)" }.joined(separator: "\n")
        await send(kind: .robotFederationChanged, robot: robot,
                   metadata: ["robot": robot.name, "entries": String(entries.count), "performer": actor],
                   subject: "Robot \(robot.name): federation \(entries.isEmpty ? "removed" : "changed")",
                   body: """
                   The keyless federation of robot \(robot.name) on \(origin) was \(change) by \(actor).
                   \(entries.isEmpty ? "No OIDC identity can exchange its token for this robot any more." : "These OIDC identities can now exchange their tokens for the robot's:\n" + listed)

                   Tokens exchanged under the previous federation no longer work.
                   """)
    }

    /// The first exchange under a federation entry since it was set (later ones are only
    /// usage-log entries: CI runs exchange tokens all the time).
    public func firstFederatedExchange(_ robot: RobotAccount, issuer: String, subject: String, origin: String) async {
        await send(kind: .robotFederationFirstExchange, robot: robot,
                   metadata: ["robot": robot.name, "issuer": issuer, "subject": subject],
                   subject: "Robot \(robot.name): first keyless sign-in from \(issuer)",
                   body: """
                   The OIDC identity \(subject) of \(issuer) exchanged its token for a token of robot
                   \(robot.name) on \(origin) for the first time.

                   Later exchanges under the same federation entry are recorded in the usage logs
                   (federated_robot_token_exchange) without another notice.
                   """)
    }

    /// A user's robot notifies the user; an organization's robot, the organization's admins.
    private func send(kind: IdentityNotice.Kind, robot: RobotAccount, metadata: [String: String], subject: String, body: String) async {
        do {
            guard let owner = try await services.accounts.namespace(id: robot.ownerID) else { return }
            let recipients = owner.kind == .organization ? try await services.accounts.organizationAdminUserIDs(organizationID: owner.id) : [owner.id]
            await send(kind: kind, to: recipients, organization: owner.kind == .organization ? owner.name : nil,
                       metadata: metadata, subject: subject, body: body)
        } catch {
            services.logger.error("identity notice failed", metadata: ["notice": "\(kind.rawValue)", "error": "\(error)"])
        }
    }

    private func send(kind: IdentityNotice.Kind, to userIDs: [Int64], organization: String?, metadata: [String: String],
                      subject: String, body: String) async {
        guard !sinks.isEmpty else { return }
        do {
            let recipients = try await services.accounts.noticeRecipients(userIDs: userIDs)
            guard !recipients.isEmpty else { return }
            let notice = IdentityNotice(kind: kind, recipients: recipients, organization: organization, metadata: metadata,
                                        mailSubject: subject, mailBody: body, reference: UUID().uuidString.lowercased())
            for sink in sinks { try await sink.deliver(notice) }
        } catch {
            services.logger.error("identity notice failed", metadata: ["notice": "\(kind.rawValue)", "error": "\(error)"])
        }
    }
}
