import Accounts
import Foundation
import Registry
import SlipwayCore
import SQLKit

/// Quay's `org_team_invite` in-app notification (`{inviter, org, team, code}`), kept in this
/// module's `user_notifications` for the accounts code, which tells it about invitations
/// inside its own transactions. One live notice per user and team (`source` is
/// `org_team_invite:<team>`).
public struct TeamInviteNotifications: TeamInviteNotices {
    static let kind = "org_team_invite"

    public init() {}

    static func source(teamID: Int64) -> String { "\(kind):\(teamID)" }

    public func invited(_ invitation: TeamInvitation, now: Int64, in db: any SQLDatabase) async throws {
        let source = Self.source(teamID: invitation.teamID)
        try await db.raw("DELETE FROM user_notifications WHERE user_id = \(bind: invitation.userID) AND source = \(bind: source)").run()
        // Quay's invitation notification names no organization (its target is the user).
        try await db.raw("""
            INSERT INTO user_notifications (uuid, user_id, organization, kind, metadata, source, created_at)
            VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: invitation.userID), NULL, \(bind: Self.kind),
                    \(bind: EventValue.objectJSON(invitation.notificationMetadata)), \(bind: source), \(bind: now))
            """).run()
    }

    public func invitationsChanged(userID: Int64, pendingTeamIDs: Set<Int64>, in db: any SQLDatabase) async throws {
        let stale = try await db.raw("""
            SELECT source FROM user_notifications WHERE user_id = \(bind: userID) AND kind = \(bind: Self.kind)
            """).all().map { try $0.string("source") }
            .filter { !pendingTeamIDs.map(Self.source(teamID:)).contains($0) }
        for source in stale {
            try await db.raw("DELETE FROM user_notifications WHERE user_id = \(bind: userID) AND source = \(bind: source)").run()
        }
    }
}
