import Foundation
import Mail
import SlipwayCore
import SQLKit

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
extension MetadataStore {
    /// The notification's `source`: one live `org_team_invite` per user and team.
    static func teamInviteSource(teamID: Int64) -> String { "\(OutgoingMail.Kind.teamInvite):\(teamID)" }
    /// The mail's `reference`: `<team>:<user>`.
    static func teamInviteMailReference(teamID: Int64, userID: Int64) -> String { "\(teamID):\(userID)" }

    public func createTeamInvite(_ invitation: TeamInvitation, secretBox: SecretBox, now: Int64 = Clock.nowMillis()) async throws {
        let source = Self.teamInviteSource(teamID: invitation.teamID)
        let reference = Self.teamInviteMailReference(teamID: invitation.teamID, userID: invitation.userID)
        let metadata = String(decoding: try JSONEncoder().encode(invitation.notificationMetadata), as: UTF8.self)
        try await database.transaction { db in
            try await Self.replaceTeamInvite(on: db, teamID: invitation.teamID, userID: invitation.userID, inviterID: invitation.inviterID,
                                             code: invitation.code, now: now)
            try await db.raw("DELETE FROM user_notifications WHERE user_id = \(bind: invitation.userID) AND source = \(bind: source)").run()
            // Quay's invitation notification names no organization (its target is the user).
            try await db.raw("""
                INSERT INTO user_notifications (uuid, user_id, organization, kind, metadata, source, created_at)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: invitation.userID), NULL, \(bind: OutgoingMail.Kind.teamInvite),
                        \(bind: metadata), \(bind: source), \(bind: now))
                """).run()
            try await MailOutbox.withdraw(on: db, kind: OutgoingMail.Kind.teamInvite, reference: reference, jobs: jobs)
            if let mail = invitation.mail {
                try await MailOutbox.enqueue(on: db, mail, secretBox: secretBox, jobs: jobs, now: now)
            }
        }
    }

    /// Removes the user's invitation notifications, and their unsent invitation mail, whose
    /// invitation no longer exists (accepted, declined or withdrawn), as Quay deletes them.
    public func clearStaleTeamInviteNotifications(userID: Int64) async throws {
        let kind = OutgoingMail.Kind.teamInvite
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM user_notifications WHERE user_id = \(bind: userID) AND kind = \(bind: kind)
                  AND NOT EXISTS (SELECT 1 FROM team_invites i WHERE i.user_id = \(bind: userID)
                                  AND \(bind: kind + ":") || CAST(i.team_id AS TEXT) = user_notifications.source)
                """).run()
            let stale = try await db.raw("""
                SELECT DISTINCT reference FROM mail_outbox WHERE kind = \(bind: kind) AND status = 'queued' AND reference LIKE \(bind: "%:\(userID)")
                  AND NOT EXISTS (SELECT 1 FROM team_invites i WHERE i.user_id = \(bind: userID)
                                  AND CAST(i.team_id AS TEXT) || ':' || CAST(i.user_id AS TEXT) = mail_outbox.reference)
                """).all().map { try $0.string("reference") }
            for reference in stale {
                try await MailOutbox.withdraw(on: db, kind: kind, reference: reference, jobs: jobs)
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
