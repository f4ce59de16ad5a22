import Foundation
import Registry
import SQLKit

/// What the accept page shows about a pending team invitation.
struct PendingTeamInvite: Sendable {
    let organization: String
    let team: String
    /// Nil when the inviter's account has since been deleted (`inviter_id` is set to NULL).
    let inviter: String?
}

/// The accept page reads an invitation before the invitee decides; accepting and declining stay
/// with `/api/v1/teaminvite/{code}`. The lookup matches the code *and* the invitee, exactly as
/// `acceptTeamInvite` does, so a code addressed to someone else is indistinguishable from an
/// unknown one.
extension MetadataStore {
    func pendingTeamInvite(code: String, userID: Int64) async throws -> PendingTeamInvite? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT o.name AS org_name, t.name AS team_name, inv.name AS inviter_name FROM team_invites i
                JOIN teams t ON t.id = i.team_id JOIN namespaces o ON o.id = t.org_id
                LEFT JOIN namespaces inv ON inv.id = i.inviter_id
                WHERE i.code_hash = \(bind: APITokens.hash(code)) AND i.user_id = \(bind: userID)
                """).first() else { return nil }
            return PendingTeamInvite(organization: try row.decode(column: "org_name", as: String.self),
                                     team: try row.decode(column: "team_name", as: String.self),
                                     inviter: try row.decode(column: "inviter_name", as: String?.self))
        }
    }
}
