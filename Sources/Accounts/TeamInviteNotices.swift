import SQLKit

/// How an invitee learns of a team invitation in the application (Quay's `org_team_invite`
/// notification), kept by the module that owns in-app notifications, without Accounts writing
/// its table. Told inside the transaction that changes the invitations, so an invitation and
/// its notice commit together. Modules contribute one through `SlipwayModule.teamInviteNotices()`.
public protocol TeamInviteNotices: Sendable {
    /// `invitation` was stored, replacing any earlier invitation of its user to its team.
    func invited(_ invitation: TeamInvitation, now: Int64, in db: any SQLDatabase) async throws
    /// The user's pending invitations are now those to `pendingTeamIDs` (the others were
    /// accepted, declined or withdrawn): their notices go.
    func invitationsChanged(userID: Int64, pendingTeamIDs: Set<Int64>, in db: any SQLDatabase) async throws
}
