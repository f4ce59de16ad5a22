import Foundation
import SlipwayCore
import SQLKit

/// Team sync (Quay's `TeamSync` for OIDC): a team bound to a group of one configured provider
/// has the members that provider says are in the group, as of each member's latest sign-in.
/// The binding is set and removed by organization admins; membership changes only at sign-in.

/// A team's binding to a provider group (`team_syncs`, migration 9).
public struct TeamSyncBinding: Sendable, Equatable {
    public let teamID: Int64
    /// The `auth.oidc[].name` whose groups claim decides.
    public let provider: String
    public let groupName: String
    /// The JSON object Quay stores and shows as `synced.config` (`{"group_name": ...}`).
    public let config: String
    /// When a sign-in last added or removed a member (milliseconds); nil until one did.
    public let lastUpdated: Int64?
}

/// One membership a sign-in changed (or, for `keptLastAdmin`, would have changed).
public struct SyncedMembershipChange: Sendable, Equatable {
    public let organizationID: Int64
    public let organization: String
    public let team: String
    public let group: String
}

/// What `syncTeams` did for one sign-in.
public struct TeamSyncOutcome: Sendable, Equatable {
    public var added: [SyncedMembershipChange] = []
    public var removed: [SyncedMembershipChange] = []
    /// Removals not made because the person is the organization's last admin (the
    /// organization invariant wins over the provider's word; the log says so).
    public var keptLastAdmin: [SyncedMembershipChange] = []
}

extension AccountStore {
    public func teamSync(teamID: Int64) async throws -> TeamSyncBinding? {
        try await database.read { db in
            try await db.raw("""
                SELECT team_id, provider, group_name, config, last_updated FROM team_syncs WHERE team_id = \(bind: teamID)
                """).first().map(Self.teamSyncBinding(from:))
        }
    }

    /// The ids of the organization's synced teams.
    public func syncedTeamIDs(organizationID: Int64) async throws -> Set<Int64> {
        try await database.read { db in
            Set(try await db.raw("""
                SELECT s.team_id FROM team_syncs s JOIN teams t ON t.id = s.team_id WHERE t.org_id = \(bind: organizationID)
                """).all().map { try $0.int64("team_id") })
        }
    }

    /// Binds the team to `groupName` of `provider`, replacing an earlier binding.
    public func setTeamSync(teamID: Int64, provider: String, groupName: String) async throws -> TeamSyncBinding {
        let config = String(decoding: try JSONSerialization.data(withJSONObject: ["group_name": groupName], options: [.sortedKeys]),
                            as: UTF8.self)
        return try await database.transaction { db in
            try await db.raw("DELETE FROM team_syncs WHERE team_id = \(bind: teamID)").run()
            let row = try await db.raw("""
                INSERT INTO team_syncs (team_id, provider, group_name, config, last_updated, created_at)
                VALUES (\(bind: teamID), \(bind: provider), \(bind: groupName), \(bind: config), NULL, \(bind: Clock.nowMillis()))
                RETURNING team_id, provider, group_name, config, last_updated
                """).first()!
            return try Self.teamSyncBinding(from: row)
        }
    }

    /// Stops syncing the team (its members stay, now editable by hand). False when it was not synced.
    public func removeTeamSync(teamID: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("DELETE FROM team_syncs WHERE team_id = \(bind: teamID) RETURNING team_id").first() != nil
        }
    }

    /// Applies one sign-in's groups: the user joins every team synced to a group of `provider`
    /// in `groups` and leaves every team synced to one that is not. One transaction, so a
    /// concurrent sign-in of the same person sees all or nothing.
    public func syncTeams(userID: Int64, provider: String, groups: Set<String>) async throws -> TeamSyncOutcome {
        let flavor = database.flavor
        return try await database.transaction { db in
            let rows = try await db.raw("""
                SELECT s.team_id, s.group_name, t.name AS team_name, t.role, t.org_id, o.name AS org_name,
                  (SELECT COUNT(*) FROM team_members m WHERE m.team_id = s.team_id AND m.user_id = \(bind: userID)) AS is_member
                FROM team_syncs s JOIN teams t ON t.id = s.team_id JOIN namespaces o ON o.id = t.org_id
                WHERE s.provider = \(bind: provider) ORDER BY s.team_id
                """).all()
            var outcome = TeamSyncOutcome()
            let now = Clock.nowMillis()
            for row in rows {
                let teamID = try row.int64("team_id"), orgID = try row.int64("org_id")
                let change = SyncedMembershipChange(organizationID: orgID, organization: try row.string("org_name"),
                                                    team: try row.string("team_name"), group: try row.string("group_name"))
                let isMember = try row.int64("is_member") > 0
                if groups.contains(change.group), !isMember {
                    try await db.raw("""
                        INSERT INTO team_members (team_id, user_id) VALUES (\(bind: teamID), \(bind: userID)) ON CONFLICT DO NOTHING
                        """).run()
                    try await db.raw("DELETE FROM team_invites WHERE team_id = \(bind: teamID) AND user_id = \(bind: userID)").run()
                    outcome.added.append(change)
                } else if !groups.contains(change.group), isMember {
                    try await Self.lockOrganization(db, orgID, flavor)
                    try await db.raw("DELETE FROM team_members WHERE team_id = \(bind: teamID) AND user_id = \(bind: userID)").run()
                    if try row.string("role") == TeamRole.admin.rawValue, try await !Self.hasAdmin(db, organizationID: orgID) {
                        try await db.raw("INSERT INTO team_members (team_id, user_id) VALUES (\(bind: teamID), \(bind: userID))").run()
                        outcome.keptLastAdmin.append(change)
                        continue
                    }
                    outcome.removed.append(change)
                } else {
                    continue
                }
                try await db.raw("UPDATE team_syncs SET last_updated = \(bind: now) WHERE team_id = \(bind: teamID)").run()
            }
            return outcome
        }
    }

    static func teamSyncBinding(from row: any SQLRow) throws -> TeamSyncBinding {
        TeamSyncBinding(teamID: try row.int64("team_id"), provider: try row.string("provider"), groupName: try row.string("group_name"),
                        config: try row.string("config"), lastUpdated: try row.optionalInt64("last_updated"))
    }
}
