import Foundation
import SlipwayCore
import SQLKit

/// Organizations, their teams, team membership and team invitations.
///
/// The invariant every membership change keeps: an organization always has at least one user
/// (not a robot) in a team with the admin role. Changes that would break it, or that would take
/// admin away from the user making them (Quay: "you cannot leave your only admin team"), are
/// rolled back with `OrganizationPolicyViolation`. Each such change locks the organization's row
/// first on PostgreSQL so two concurrent removals cannot both pass the check.

/// A user, robot or organization as the organization APIs see it. `kind` is the stored kind
/// (`user`, `organization`, `robot`).
public struct OrgAccount: Sendable, Equatable {
    public let id: Int64
    public let name: String
    public let kind: String
    public let ownerID: Int64?
    public let email: String?

    public var isRobot: Bool { kind == "robot" }
    public var isUser: Bool { kind == "user" }
}

public struct TeamRecord: Sendable, Equatable {
    public let id: Int64
    public let organizationID: Int64
    public let name: String
    public let role: TeamRole
    public let description: String
}

public struct TeamSummary: Sendable, Equatable {
    public let team: TeamRecord
    public let memberCount: Int64
    public let repositoryCount: Int64
}

/// A direct (non-team) grant on one of an organization's repositories.
public struct DirectRepositoryGrant: Sendable, Equatable {
    public let account: OrgAccount
    public let repository: String
    public let role: Role
}

/// A change refused because it would leave an organization without an admin (or the caller
/// without admin); the API answers 400.
public struct OrganizationPolicyViolation: Error, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

extension AccountStore {
    static let orgAccountColumns = "n.id, n.name, n.kind, n.owner_id, n.email"

    static func orgAccount(from row: any SQLRow) throws -> OrgAccount {
        OrgAccount(id: try row.int64("id"), name: try row.string("name"), kind: try row.string("kind"),
                   ownerID: try row.optionalInt64("owner_id"), email: try row.optionalString("email"))
    }

    static func teamRecord(from row: any SQLRow) throws -> TeamRecord {
        TeamRecord(id: try row.int64("id"), organizationID: try row.int64("org_id"), name: try row.string("name"),
                   role: TeamRole(rawValue: try row.string("role")) ?? .member, description: try row.string("description"))
    }

    /// Any namespace by name, with its stored kind and owner (robots).
    public func orgAccount(named name: String) async throws -> OrgAccount? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.orgAccountColumns) FROM namespaces n WHERE n.name = \(bind: name)")
                .first().map(Self.orgAccount(from:))
        }
    }

    // MARK: Organization settings

    /// The organization's contact e-mail and time-machine window.
    public func organizationSettings(id: Int64) async throws -> (email: String?, tagExpirationSeconds: Int64)? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT email, tag_expiration_s FROM namespaces WHERE id = \(bind: id) AND kind = 'organization'
                """).first() else { return nil }
            return (try row.optionalString("email"), try row.int64("tag_expiration_s"))
        }
    }

    /// Is `email` used by a namespace other than `excluding`?
    public func emailInUse(_ email: String, excluding id: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM namespaces WHERE email = \(bind: email) AND id <> \(bind: id) LIMIT 1").first() != nil
        }
    }

    public func updateOrganization(id: Int64, email: String?, tagExpirationSeconds: Int64?) async throws {
        try await database.transaction { db in
            if let email {
                try await db.raw("UPDATE namespaces SET email = \(bind: email) WHERE id = \(bind: id) AND kind = 'organization'").run()
            }
            if let tagExpirationSeconds {
                try await db.raw("""
                    UPDATE namespaces SET tag_expiration_s = \(bind: tagExpirationSeconds) WHERE id = \(bind: id) AND kind = 'organization'
                    """).run()
            }
        }
    }

    /// Deletes the organization; its repositories (and their tags, manifests, grants), teams,
    /// invitations, prototypes and robots go with it through the schema's cascades. Blob bytes
    /// are left to garbage collection.
    public func deleteOrganization(id: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM namespaces WHERE id = \(bind: id) AND kind = 'organization'").run()
        }
    }

    // MARK: Teams

    public func orgTeam(organizationID: Int64, name: String) async throws -> TeamRecord? {
        try await database.read { db in
            try await db.raw("""
                SELECT id, org_id, name, role, description FROM teams WHERE org_id = \(bind: organizationID) AND name = \(bind: name)
                """).first().map(Self.teamRecord(from:))
        }
    }

    /// Every team of the organization in creation order, with member and repository counts.
    public func orgTeamSummaries(organizationID: Int64) async throws -> [TeamSummary] {
        try await database.read { db in
            try await db.raw("""
                SELECT t.id, t.org_id, t.name, t.role, t.description,
                  (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS member_count,
                  (SELECT COUNT(*) FROM repository_team_permissions p WHERE p.team_id = t.id) AS repo_count
                FROM teams t WHERE t.org_id = \(bind: organizationID) ORDER BY t.id
                """).all().map {
                TeamSummary(team: try Self.teamRecord(from: $0), memberCount: try $0.int64("member_count"),
                            repositoryCount: try $0.int64("repo_count"))
            }
        }
    }

    /// The teams of the organization the account (user or robot) is in.
    public func orgTeams(ofAccount accountID: Int64, organizationID: Int64) async throws -> [TeamRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT t.id, t.org_id, t.name, t.role, t.description FROM teams t JOIN team_members m ON m.team_id = t.id
                WHERE t.org_id = \(bind: organizationID) AND m.user_id = \(bind: accountID) ORDER BY t.id
                """).all().map(Self.teamRecord(from:))
        }
    }

    /// Creates the team, or updates the role and/or description of an existing one. Demoting an
    /// admin team must leave `actingUserID` an admin of the organization.
    public func saveTeam(organizationID: Int64, name: String, role: TeamRole?, description: String?,
                         actingUserID: Int64) async throws -> (team: TeamRecord, created: Bool) {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockOrganization(db, organizationID, flavor)
            let existing = try await db.raw("""
                SELECT id, org_id, name, role, description FROM teams WHERE org_id = \(bind: organizationID) AND name = \(bind: name)
                """).first().map(Self.teamRecord(from:))
            guard let existing else {
                let row = try await db.raw("""
                    INSERT INTO teams (org_id, name, role, description, created_at)
                    VALUES (\(bind: organizationID), \(bind: name), \(bind: (role ?? .member).rawValue), \(bind: description ?? ""), \(bind: Clock.nowMillis()))
                    RETURNING id, org_id, name, role, description
                    """).first()!
                return (try Self.teamRecord(from: row), true)
            }
            if let description, description != existing.description {
                try await db.raw("UPDATE teams SET description = \(bind: description) WHERE id = \(bind: existing.id)").run()
            }
            if let role, role != existing.role {
                try await db.raw("UPDATE teams SET role = \(bind: role.rawValue) WHERE id = \(bind: existing.id)").run()
                if existing.role == .admin {
                    try await Self.requireStillAdmin(db, userID: actingUserID, organizationID: organizationID,
                        "Cannot remove admin from team '\(name)': you would no longer be an admin of the organization")
                }
            }
            let row = try await db.raw("SELECT id, org_id, name, role, description FROM teams WHERE id = \(bind: existing.id)").first()!
            return (try Self.teamRecord(from: row), false)
        }
    }

    /// Deletes a team (its memberships, invitations, grants and prototypes cascade). Deleting an
    /// admin team must leave `actingUserID` an admin of the organization.
    public func deleteTeam(_ team: TeamRecord, actingUserID: Int64) async throws {
        let flavor = database.flavor
        try await database.transaction { db in
            try await Self.lockOrganization(db, team.organizationID, flavor)
            try await db.raw("DELETE FROM teams WHERE id = \(bind: team.id)").run()
            if team.role == .admin {
                try await Self.requireStillAdmin(db, userID: actingUserID, organizationID: team.organizationID,
                    "Deleting team '\(team.name)' would remove your admin ability in the organization")
            }
        }
    }

    /// Members (users and robots) of a team, by name.
    public func teamMembers(teamID: Int64) async throws -> [OrgAccount] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.orgAccountColumns) FROM namespaces n JOIN team_members m ON m.user_id = n.id
                WHERE m.team_id = \(bind: teamID) ORDER BY n.name
                """).all().map(Self.orgAccount(from:))
        }
    }

    /// The users (not robots) in the organization's admin teams.
    public func organizationAdminUserIDs(organizationID: Int64) async throws -> [Int64] {
        try await database.read { db in
            try await db.raw("""
                SELECT DISTINCT m.user_id FROM teams t JOIN team_members m ON m.team_id = t.id JOIN namespaces u ON u.id = m.user_id
                WHERE t.org_id = \(bind: organizationID) AND t.role = 'admin' AND u.kind = 'user'
                """).all().map { try $0.int64("user_id") }
        }
    }

    public func isTeamMember(teamID: Int64, accountID: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("""
                SELECT team_id FROM team_members WHERE team_id = \(bind: teamID) AND user_id = \(bind: accountID)
                """).first() != nil
        }
    }

    /// Adds a user or robot to the team (no-op when already in it) and drops any pending
    /// invitation of theirs to it.
    public func joinTeam(teamID: Int64, accountID: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO team_members (team_id, user_id) VALUES (\(bind: teamID), \(bind: accountID)) ON CONFLICT DO NOTHING
                """).run()
            try await db.raw("DELETE FROM team_invites WHERE team_id = \(bind: teamID) AND user_id = \(bind: accountID)").run()
        }
    }

    /// Removes a member from a team. Returns false when they were not in it. Removing oneself
    /// from one's only admin team is refused.
    public func leaveTeam(_ team: TeamRecord, accountID: Int64, actingUserID: Int64) async throws -> Bool {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockOrganization(db, team.organizationID, flavor)
            let removed = try await db.raw("""
                DELETE FROM team_members WHERE team_id = \(bind: team.id) AND user_id = \(bind: accountID) RETURNING user_id
                """).first() != nil
            if removed && team.role == .admin {
                try await Self.requireStillAdmin(db, userID: actingUserID, organizationID: team.organizationID,
                    "You cannot remove yourself from your only admin team")
                try await Self.requireSomeAdmin(db, organizationID: team.organizationID)
            }
            return removed
        }
    }

    // MARK: Invitations

    /// Invites a user to a team and returns the invitation code (stored only as its SHA-256). A
    /// newer invitation replaces an older one for the same team and user.
    public func createTeamInvite(teamID: Int64, userID: Int64, inviterID: Int64) async throws -> String {
        let code = APITokens.generate()
        try await database.transaction { db in
            try await Self.replaceTeamInvite(on: db, teamID: teamID, userID: userID, inviterID: inviterID, code: code, now: Clock.nowMillis())
        }
        return code
    }

    /// Stores an invitation inside the caller's transaction, replacing an older one for the
    /// same team and user.
    static func replaceTeamInvite(on db: any SQLDatabase, teamID: Int64, userID: Int64, inviterID: Int64, code: String, now: Int64) async throws {
        try await db.raw("DELETE FROM team_invites WHERE team_id = \(bind: teamID) AND user_id = \(bind: userID)").run()
        try await db.raw("""
            INSERT INTO team_invites (team_id, user_id, code_hash, inviter_id, created_at)
            VALUES (\(bind: teamID), \(bind: userID), \(bind: APITokens.hash(code)), \(bind: inviterID), \(bind: now))
            """).run()
    }

    /// Users with a pending invitation to the team, by name.
    public func pendingTeamInvitees(teamID: Int64) async throws -> [OrgAccount] {
        try await database.read { db in
            try await db.raw("""
                SELECT DISTINCT \(unsafeRaw: Self.orgAccountColumns) FROM namespaces n JOIN team_invites i ON i.user_id = n.id
                WHERE i.team_id = \(bind: teamID) ORDER BY n.name
                """).all().map(Self.orgAccount(from:))
        }
    }

    /// Withdraws the user's invitation to the team; false when there was none.
    public func deleteTeamInvite(teamID: Int64, userID: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM team_invites WHERE team_id = \(bind: teamID) AND user_id = \(bind: userID) RETURNING id
                """).all().count > 0
        }
    }

    /// Accepts an invitation addressed to `userID`: the user joins its team and, as in Quay, every
    /// other team of the same organization they are invited to. Nil when the code is unknown or
    /// addressed to someone else.
    public func acceptTeamInvite(code: String, userID: Int64) async throws -> (organization: String, team: String)? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                SELECT t.id AS team_id, t.org_id, t.name AS team_name, o.name AS org_name FROM team_invites i
                JOIN teams t ON t.id = i.team_id JOIN namespaces o ON o.id = t.org_id
                WHERE i.code_hash = \(bind: APITokens.hash(code)) AND i.user_id = \(bind: userID)
                """).first() else { return nil }
            let orgID = try row.int64("org_id")
            let teamIDs = try await db.raw("""
                SELECT i.team_id FROM team_invites i JOIN teams t ON t.id = i.team_id
                WHERE i.user_id = \(bind: userID) AND t.org_id = \(bind: orgID)
                """).all().map { try $0.int64("team_id") }
            for teamID in Set(teamIDs) {
                try await db.raw("""
                    INSERT INTO team_members (team_id, user_id) VALUES (\(bind: teamID), \(bind: userID)) ON CONFLICT DO NOTHING
                    """).run()
                try await db.raw("DELETE FROM team_invites WHERE team_id = \(bind: teamID) AND user_id = \(bind: userID)").run()
            }
            return (try row.string("org_name"), try row.string("team_name"))
        }
    }

    /// Declines (deletes) an invitation addressed to `userID`; false when the code is unknown or
    /// addressed to someone else.
    public func declineTeamInvite(code: String, userID: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM team_invites WHERE code_hash = \(bind: APITokens.hash(code)) AND user_id = \(bind: userID) RETURNING id
                """).all().count > 0
        }
    }

    // MARK: Organization members

    /// Every account in any team of the organization, with the teams it is in.
    public func organizationMemberships(organizationID: Int64) async throws -> [(account: OrgAccount, teams: [String])] {
        let rows = try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.orgAccountColumns), t.name AS team_name FROM team_members m
                JOIN teams t ON t.id = m.team_id JOIN namespaces n ON n.id = m.user_id
                WHERE t.org_id = \(bind: organizationID) ORDER BY n.name, t.id
                """).all().map { (try Self.orgAccount(from: $0), try $0.string("team_name")) }
        }
        var out: [(account: OrgAccount, teams: [String])] = []
        for (account, team) in rows {
            if let last = out.last, last.account.id == account.id {
                out[out.count - 1].teams.append(team)
            } else {
                out.append((account, [team]))
            }
        }
        return out
    }

    /// Direct grants (not through teams) on the organization's repositories, optionally for one account.
    public func directRepositoryGrants(organizationID: Int64, accountID: Int64? = nil) async throws -> [DirectRepositoryGrant] {
        try await database.read { db in
            let rows: [any SQLRow]
            if let accountID {
                rows = try await db.raw("""
                    SELECT \(unsafeRaw: Self.orgAccountColumns), r.name AS repository, p.role FROM repository_permissions p
                    JOIN repositories r ON r.id = p.repository_id JOIN namespaces n ON n.id = p.user_id
                    WHERE r.namespace_id = \(bind: organizationID) AND p.user_id = \(bind: accountID) ORDER BY r.name
                    """).all()
            } else {
                rows = try await db.raw("""
                    SELECT \(unsafeRaw: Self.orgAccountColumns), r.name AS repository, p.role FROM repository_permissions p
                    JOIN repositories r ON r.id = p.repository_id JOIN namespaces n ON n.id = p.user_id
                    WHERE r.namespace_id = \(bind: organizationID) ORDER BY n.name, r.name
                    """).all()
            }
            return try rows.map {
                DirectRepositoryGrant(account: try Self.orgAccount(from: $0), repository: try $0.string("repository"),
                                      role: Role(rawValue: try $0.string("role")) ?? .read)
            }
        }
    }

    /// Removes a user from the organization: from every team, every direct grant on its
    /// repositories and every pending invitation. Refused when it would leave no admin.
    public func removeOrganizationMember(organizationID: Int64, userID: Int64) async throws {
        let flavor = database.flavor
        try await database.transaction { db in
            try await Self.lockOrganization(db, organizationID, flavor)
            try await db.raw("""
                DELETE FROM team_members WHERE user_id = \(bind: userID)
                  AND team_id IN (SELECT id FROM teams WHERE org_id = \(bind: organizationID))
                """).run()
            try await db.raw("""
                DELETE FROM repository_permissions WHERE user_id = \(bind: userID)
                  AND repository_id IN (SELECT id FROM repositories WHERE namespace_id = \(bind: organizationID))
                """).run()
            try await db.raw("""
                DELETE FROM team_invites WHERE user_id = \(bind: userID)
                  AND team_id IN (SELECT id FROM teams WHERE org_id = \(bind: organizationID))
                """).run()
            try await Self.requireSomeAdmin(db, organizationID: organizationID)
        }
    }

    /// A team's grants on repositories, by repository name.
    public func teamRepositoryGrants(teamID: Int64) async throws -> [(repository: String, isPublic: Bool, role: Role)] {
        try await database.read { db in
            try await db.raw("""
                SELECT r.name, r.visibility, p.role FROM repository_team_permissions p JOIN repositories r ON r.id = p.repository_id
                WHERE p.team_id = \(bind: teamID) ORDER BY r.name
                """).all().map {
                (try $0.string("name"), try $0.string("visibility") == Visibility.public.rawValue, Role(rawValue: try $0.string("role")) ?? .read)
            }
        }
    }

    // MARK: Invariant helpers (inside a transaction)

    static func lockOrganization(_ db: any SQLDatabase, _ organizationID: Int64, _ flavor: SQLFlavor) async throws {
        // SQLite transactions are already serialized; PostgreSQL needs the row lock.
        if flavor == .postgres {
            try await db.raw("SELECT id FROM namespaces WHERE id = \(bind: organizationID) FOR UPDATE").run()
        }
    }

    static func requireStillAdmin(_ db: any SQLDatabase, userID: Int64, organizationID: Int64, _ message: String) async throws {
        let row = try await db.raw("""
            SELECT t.id FROM teams t JOIN team_members m ON m.team_id = t.id
            WHERE t.org_id = \(bind: organizationID) AND m.user_id = \(bind: userID) AND t.role = 'admin' LIMIT 1
            """).first()
        if row == nil { throw OrganizationPolicyViolation(message) }
    }

    static func requireSomeAdmin(_ db: any SQLDatabase, organizationID: Int64) async throws {
        if try await !hasAdmin(db, organizationID: organizationID) {
            throw OrganizationPolicyViolation("The organization must keep at least one admin")
        }
    }

    /// Whether some user (not a robot) is in an admin team of the organization.
    static func hasAdmin(_ db: any SQLDatabase, organizationID: Int64) async throws -> Bool {
        try await db.raw("""
            SELECT m.user_id FROM teams t JOIN team_members m ON m.team_id = t.id JOIN namespaces n ON n.id = m.user_id
            WHERE t.org_id = \(bind: organizationID) AND t.role = 'admin' AND n.kind = 'user' LIMIT 1
            """).first() != nil
    }
}
