import Accounts
import Registry
import SlipwayCore

/// Resolves the target of a `quay_notification` to user ids, through the accounts module:
/// `user` → that (non-robot) user; `team` → the users in that team of the repository's
/// organization; `org` → the administrators of the repository's organization (who see an
/// organization's notifications in Quay). Quay's rules: teams and organizations must be the
/// repository's own namespace.
struct NotificationRecipients: Sendable {
    let accounts: AccountStore

    /// A target resolved to user ids, or why it cannot be.
    enum Resolution: Sendable, Equatable {
        case users([Int64], organization: String?)
        case invalid(String)
    }

    func resolve(kind: String, name: String, repositoryNamespace: String) async throws -> Resolution {
        switch kind {
        case "user":
            guard let user = try await accounts.namespace(named: name), user.kind == .user else { return .invalid("Unknown user \(name)") }
            return .users([user.id], organization: nil)
        case "team":
            guard let org = try await accounts.namespace(named: repositoryNamespace), org.kind == .organization,
                  let team = try await accounts.orgTeam(organizationID: org.id, name: name) else {
                return .invalid("Unknown team \(name) in organization \(repositoryNamespace)")
            }
            return .users(try await accounts.teamMembers(teamID: team.id).filter(\.isUser).map(\.id), organization: nil)
        case "org":
            guard let org = try await accounts.namespace(named: name), org.kind == .organization else {
                return .invalid("Unknown organization \(name)")
            }
            guard name == repositoryNamespace else { return .invalid("Organization name must match repository namespace") }
            return .users(try await accounts.organizationAdminUserIDs(organizationID: org.id), organization: name)
        default:
            return .invalid("Unknown target kind '\(kind)': expected user, team or org")
        }
    }
}
