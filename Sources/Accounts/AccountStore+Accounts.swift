import Foundation
import SlipwayCore
import SQLKit

extension AccountStore {
    static let namespaceColumns = "id, name, kind, email, is_superuser"

    static func namespace(from row: any SQLRow) throws -> Namespace {
        Namespace(id: try row.int64("id"), name: try row.string("name"),
                  kind: NamespaceKind(rawValue: try row.string("kind")) ?? .user,
                  email: try row.optionalString("email"), isSuperuser: try row.bool("is_superuser"))
    }

    public func namespace(named name: String) async throws -> Namespace? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces WHERE name = \(bind: name)")
                .first().map(Self.namespace(from:))
        }
    }

    public func namespace(id: Int64) async throws -> Namespace? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces WHERE id = \(bind: id)")
                .first().map(Self.namespace(from:))
        }
    }

    /// The stored bcrypt hash of a user (never of an organization).
    public func passwordHash(user name: String) async throws -> (Namespace, String)? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT \(unsafeRaw: Self.namespaceColumns), password_hash FROM namespaces
                WHERE name = \(bind: name) AND kind = 'user' AND enabled <> 0
                """).first(),
                  let hash = try row.optionalString("password_hash") else { return nil }
            return (try Self.namespace(from: row), hash)
        }
    }

    /// Creates a user. Throws `alreadyExists` when the name is taken by a user or organization.
    @discardableResult
    public func createUser(name: String, passwordHash: String, email: String?, superuser: Bool = false) async throws -> Namespace {
        try await database.transaction { db in
            try await Self.createUser(name: name, passwordHash: passwordHash, email: email, superuser: superuser, in: db)
        }
    }

    /// Creates a user in the caller's transaction.
    @discardableResult
    public static func createUser(name: String, passwordHash: String?, email: String?, superuser: Bool = false,
                                  in db: any SQLDatabase) async throws -> Namespace {
        guard let row = try await db.raw("""
            INSERT INTO namespaces (name, kind, email, password_hash, is_superuser, created_at)
            VALUES (\(bind: name), 'user', \(bind: email), \(bind: passwordHash), \(bind: superuser ? 1 : 0), \(bind: Clock.nowMillis()))
            ON CONFLICT (name) DO NOTHING
            RETURNING \(unsafeRaw: Self.namespaceColumns)
            """).first() else {
            throw DomainError.alreadyExists("namespace '\(name)' already exists")
        }
        return try Self.namespace(from: row)
    }

    public func setPassword(userID: Int64, passwordHash: String) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE namespaces SET password_hash = \(bind: passwordHash) WHERE id = \(bind: userID) AND kind = 'user'").run()
        }
    }

    /// Creates an organization whose creator joins the `owners` team with the admin role.
    @discardableResult
    public func createOrganization(name: String, email: String?, creatorID: Int64) async throws -> Namespace {
        try await database.transaction { db in
            let now = Clock.nowMillis()
            guard let row = try await db.raw("""
                INSERT INTO namespaces (name, kind, email, created_at)
                VALUES (\(bind: name), 'organization', \(bind: email), \(bind: now))
                ON CONFLICT (name) DO NOTHING
                RETURNING \(unsafeRaw: Self.namespaceColumns)
                """).first() else {
                throw DomainError.alreadyExists("namespace '\(name)' already exists")
            }
            let org = try Self.namespace(from: row)
            let team = try await db.raw("""
                INSERT INTO teams (org_id, name, role, description, created_at)
                VALUES (\(bind: org.id), 'owners', 'admin', 'Organization owners', \(bind: now)) RETURNING id
                """).first()!.int64("id")
            try await db.raw("INSERT INTO team_members (team_id, user_id) VALUES (\(bind: team), \(bind: creatorID))").run()
            return org
        }
    }

    /// Organizations the user belongs to through any team.
    public func organizations(ofUser userID: Int64) async throws -> [Namespace] {
        try await database.read { db in
            try await db.raw("""
                SELECT DISTINCT n.id, n.name, n.kind, n.email, n.is_superuser FROM namespaces n
                JOIN teams t ON t.org_id = n.id JOIN team_members m ON m.team_id = t.id
                WHERE m.user_id = \(bind: userID) ORDER BY n.name
                """).all().map(Self.namespace(from:))
        }
    }

    /// The strongest team role the user holds in the organization, if any.
    public func teamRole(userID: Int64, organizationID: Int64) async throws -> TeamRole? {
        let roles = try await database.read { db in
            try await db.raw("""
                SELECT t.role FROM teams t JOIN team_members m ON m.team_id = t.id
                WHERE t.org_id = \(bind: organizationID) AND m.user_id = \(bind: userID)
                """).all().map { try $0.string("role") }
        }
        if roles.contains(TeamRole.admin.rawValue) { return .admin }
        if roles.contains(TeamRole.creator.rawValue) { return .creator }
        if roles.contains(TeamRole.member.rawValue) { return .member }
        return nil
    }

    // MARK: API tokens

    public func createAPIToken(userID: Int64, tokenHash: String, scopes: [String], description: String) async throws {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO api_tokens (token_hash, user_id, scopes, description, created_at)
                VALUES (\(bind: tokenHash), \(bind: userID), \(bind: scopes.joined(separator: " ")), \(bind: description), \(bind: Clock.nowMillis()))
                """).run()
        }
    }

    /// The user and scopes of a live API token.
    public func apiToken(hash: String) async throws -> (Namespace, [String])? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT n.id, n.name, n.kind, n.email, n.is_superuser, t.scopes, t.expires_at FROM api_tokens t
                JOIN namespaces n ON n.id = t.user_id WHERE t.token_hash = \(bind: hash) AND n.enabled <> 0
                """).first() else { return nil }
            if let expires = try row.optionalInt64("expires_at"), expires <= Clock.nowMillis() { return nil }
            return (try Self.namespace(from: row), try row.string("scopes").split(separator: " ").map(String.init))
        }
    }
}

// MARK: Sessions

extension AccountStore {
    public func createSession(userID: Int64, idHash: String, csrfToken: String, lifetimeSeconds: Int64) async throws {
        try await database.transaction { db in
            let now = Clock.nowMillis()
            try await db.raw("""
                INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at)
                VALUES (\(bind: idHash), \(bind: userID), \(bind: csrfToken), \(bind: now), \(bind: now + lifetimeSeconds * 1000))
                """).run()
        }
    }

    /// The user and CSRF token of a live session.
    public func session(hash: String) async throws -> (Namespace, String)? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT n.id, n.name, n.kind, n.email, n.is_superuser, s.csrf_token FROM sessions s
                JOIN namespaces n ON n.id = s.user_id WHERE s.id_hash = \(bind: hash) AND s.expires_at > \(bind: Clock.nowMillis()) AND n.enabled <> 0
                """).first() else { return nil }
            return (try Self.namespace(from: row), try row.string("csrf_token"))
        }
    }

    public func deleteSession(hash: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM sessions WHERE id_hash = \(bind: hash)").run()
        }
    }
}

// MARK: Teams (minimal; the teams API builds on these)

extension AccountStore {
    /// Creates a team in an organization, or updates its role/description when it exists.
    @discardableResult
    public func upsertTeam(organizationID: Int64, name: String, role: TeamRole, description: String = "") async throws -> Int64 {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO teams (org_id, name, role, description, created_at)
                VALUES (\(bind: organizationID), \(bind: name), \(bind: role.rawValue), \(bind: description), \(bind: Clock.nowMillis()))
                ON CONFLICT (org_id, name) DO UPDATE SET role = excluded.role, description = excluded.description
                """).run()
            return try await db.raw("SELECT id FROM teams WHERE org_id = \(bind: organizationID) AND name = \(bind: name)").first()!.int64("id")
        }
    }

    public func addTeamMember(teamID: Int64, userID: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("INSERT INTO team_members (team_id, user_id) VALUES (\(bind: teamID), \(bind: userID)) ON CONFLICT DO NOTHING").run()
        }
    }

    public func setTeamPermission(repositoryID: Int64, teamID: Int64, role: Role) async throws {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO repository_team_permissions (repository_id, team_id, role) VALUES (\(bind: repositoryID), \(bind: teamID), \(bind: role.rawValue))
                ON CONFLICT (repository_id, team_id) DO UPDATE SET role = excluded.role
                """).run()
        }
    }
}
