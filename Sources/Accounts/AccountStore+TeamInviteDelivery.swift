import Foundation
import Mail
import SlipwayCore
import SQLKit

extension MailKind {
    /// The mail of a team invitation, referenced `<team>:<user>`.
    public static let teamInvite = MailKind("org_team_invite")
}

/// A team invitation together with how the invitee learns of it: Quay's `org_team_invite`
/// in-app notification (`{inviter, org, team, code}`) and, when the user has an address, a mail
/// with the accept link.
public struct TeamInvitation: Sendable {
    public var teamID: Int64
    public var userID: Int64
    public var inviterID: Int64
    /// The code the invitee accepts with; stored only as its SHA-256 in `team_invites`.
    public var code: String
    public var notificationMetadata: [String: EventValue]
    public var mail: OutgoingMail?

    public init(teamID: Int64, userID: Int64, inviterID: Int64, code: String, notificationMetadata: [String: EventValue], mail: OutgoingMail?) {
        self.teamID = teamID
        self.userID = userID
        self.inviterID = inviterID
        self.code = code
        self.notificationMetadata = notificationMetadata
        self.mail = mail
    }
}

/// Invitations are delivered in the transaction that creates them, so an invitation is never
/// stored without its notification (or the reverse). A newer invitation to the same team
/// replaces the older one, its notification and its unsent mail (the old code no longer works).
/// The notification is the notifications module's (`TeamInviteNotices`), the mail the mail
/// module's: this code writes neither table itself.
extension AccountStore {
    /// The mail's `reference`: `<team>:<user>`.
    static func teamInviteMailReference(teamID: Int64, userID: Int64) -> String { "\(teamID):\(userID)" }

    public func createTeamInvite(_ invitation: TeamInvitation, secretBox: SecretBox, notices: [any TeamInviteNotices],
                                 now: Int64 = Clock.nowMillis()) async throws {
        let reference = Self.teamInviteMailReference(teamID: invitation.teamID, userID: invitation.userID)
        try await database.transaction { db in
            try await Self.replaceTeamInvite(on: db, teamID: invitation.teamID, userID: invitation.userID, inviterID: invitation.inviterID,
                                             code: invitation.code, now: now)
            for notice in notices { try await notice.invited(invitation, now: now, in: db) }
            try await MailOutbox.withdraw(on: db, kind: .teamInvite, reference: reference, jobs: jobs)
            if let mail = invitation.mail {
                try await MailOutbox.enqueue(on: db, mail, secretBox: secretBox, jobs: jobs, now: now)
            }
        }
    }

    /// Removes the user's invitation notifications, and their unsent invitation mail, whose
    /// invitation no longer exists (accepted, declined or withdrawn), as Quay deletes them.
    public func clearStaleTeamInviteNotifications(userID: Int64, notices: [any TeamInviteNotices]) async throws {
        try await database.transaction { db in
            let pending = Set(try await db.raw("SELECT team_id FROM team_invites WHERE user_id = \(bind: userID)").all()
                .map { try $0.int64("team_id") })
            for notice in notices { try await notice.invitationsChanged(userID: userID, pendingTeamIDs: pending, in: db) }
            let live = Set(pending.map { Self.teamInviteMailReference(teamID: $0, userID: userID) })
            for reference in try await MailOutbox.queuedReferences(on: db, kind: .teamInvite, endingWith: ":\(userID)")
            where !live.contains(reference) {
                try await MailOutbox.withdraw(on: db, kind: .teamInvite, reference: reference, jobs: jobs)
            }
        }
    }

    /// A pending invitation as its invitee sees it before deciding (the web UI's accept page).
    /// The lookup matches the code *and* the invitee, as `acceptTeamInvite` does, so a code
    /// addressed to someone else is indistinguishable from an unknown one.
    public func pendingTeamInvite(code: String, userID: Int64) async throws -> PendingTeamInvite? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT o.name AS org_name, t.name AS team_name, inv.name AS inviter_name FROM team_invites i
                JOIN teams t ON t.id = i.team_id JOIN namespaces o ON o.id = t.org_id
                LEFT JOIN namespaces inv ON inv.id = i.inviter_id
                WHERE i.code_hash = \(bind: APITokens.hash(code)) AND i.user_id = \(bind: userID)
                """).first() else { return nil }
            return PendingTeamInvite(organization: try row.string("org_name"), team: try row.string("team_name"),
                                     inviter: try row.optionalString("inviter_name"))
        }
    }
}

/// What an invitee is shown about a pending team invitation.
public struct PendingTeamInvite: Sendable, Equatable {
    public let organization: String
    public let team: String
    /// Nil when the inviter's account has since been deleted (`inviter_id` is set to NULL).
    public let inviter: String?
}
