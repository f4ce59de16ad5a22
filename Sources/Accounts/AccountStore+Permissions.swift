import SlipwayCore
import SQLKit

/// Direct repository grants to users, robots and teams (`repository_permissions`,
/// `repository_team_permissions`). Effective roles are `role(userID:repository:)`.
extension AccountStore {
    /// Every user or robot with a direct grant on the repository, by name.
    public func repositoryUserGrants(repositoryID: Int64) async throws -> [(Namespace, Role)] {
        try await database.read { db in
            try await db.raw("""
                SELECT n.id, n.name, n.kind, n.email, n.is_superuser, p.role FROM repository_permissions p
                JOIN namespaces n ON n.id = p.user_id WHERE p.repository_id = \(bind: repositoryID) ORDER BY n.name
                """).all().compactMap { row in
                guard let role = Role(rawValue: try row.string("role")) else { return nil }
                return (try Self.namespace(from: row), role)
            }
        }
    }

    public func repositoryUserGrant(repositoryID: Int64, userID: Int64) async throws -> Role? {
        try await database.read { db in
            try await db.raw("""
                SELECT role FROM repository_permissions WHERE repository_id = \(bind: repositoryID) AND user_id = \(bind: userID)
                """).first().flatMap { Role(rawValue: try $0.string("role")) }
        }
    }

    /// Removes a direct grant; false when there was none.
    public func deleteRepositoryUserGrant(repositoryID: Int64, userID: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM repository_permissions WHERE repository_id = \(bind: repositoryID) AND user_id = \(bind: userID) RETURNING role
                """).first() != nil
        }
    }

    /// Every team with a grant on the repository, by name.
    public func repositoryTeamGrants(repositoryID: Int64) async throws -> [(team: String, role: Role)] {
        try await database.read { db in
            try await db.raw("""
                SELECT t.name, p.role FROM repository_team_permissions p JOIN teams t ON t.id = p.team_id
                WHERE p.repository_id = \(bind: repositoryID) ORDER BY t.name
                """).all().compactMap { row in
                guard let role = Role(rawValue: try row.string("role")) else { return nil }
                return (try row.string("name"), role)
            }
        }
    }

    /// The team's grant on the repository, looked up by name inside the repository's namespace
    /// (so a team of another organization never matches).
    public func repositoryTeamGrant(repositoryID: Int64, namespaceID: Int64, team: String) async throws -> Role? {
        try await database.read { db in
            try await db.raw("""
                SELECT p.role FROM repository_team_permissions p JOIN teams t ON t.id = p.team_id
                WHERE p.repository_id = \(bind: repositoryID) AND t.org_id = \(bind: namespaceID) AND t.name = \(bind: team)
                """).first().flatMap { Role(rawValue: try $0.string("role")) }
        }
    }

    /// The id of the organization's team with this name.
    public func teamIDForGrants(organizationID: Int64, name: String) async throws -> Int64? {
        try await database.read { db in
            try await db.raw("SELECT id FROM teams WHERE org_id = \(bind: organizationID) AND name = \(bind: name)").first()?.int64("id")
        }
    }

    /// Removes a team's grant; false when there was none.
    public func deleteRepositoryTeamGrant(repositoryID: Int64, teamID: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM repository_team_permissions WHERE repository_id = \(bind: repositoryID) AND team_id = \(bind: teamID) RETURNING role
                """).first() != nil
        }
    }

    /// The grants that give the user a role on the repository: the direct one and one per team
    /// the user is in (Quay's "transitive" permissions).
    public func grantedRoles(userID: Int64, repositoryID: Int64) async throws -> [Role] {
        try await database.read { db in
            try await db.raw("""
                SELECT role FROM repository_permissions WHERE repository_id = \(bind: repositoryID) AND user_id = \(bind: userID)
                UNION ALL
                SELECT p.role FROM repository_team_permissions p JOIN team_members m ON m.team_id = p.team_id
                  WHERE p.repository_id = \(bind: repositoryID) AND m.user_id = \(bind: userID)
                """).all().compactMap { Role(rawValue: try $0.string("role")) }
        }
    }

    /// Which of `userIDs` are in any team of the organization.
    public func organizationMembers(organizationID: Int64, among userIDs: [Int64]) async throws -> Set<Int64> {
        guard !userIDs.isEmpty else { return [] }
        return try await database.read { db in
            let rows = try await db.raw("""
                SELECT DISTINCT m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id
                WHERE t.org_id = \(bind: organizationID)
                """).all()
            let wanted = Set(userIDs)
            return Set(try rows.map { try $0.int64("user_id") }.filter(wanted.contains))
        }
    }
}
