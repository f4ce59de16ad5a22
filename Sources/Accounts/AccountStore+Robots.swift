import SlipwayCore
import SQLKit

/// A robot account: a row of `namespaces` with kind `robot`, named `<owner>+<short>`, owned by a
/// user or an organization. Its token is kept sealed (re-displayable) and as a SHA-256 hash
/// (for registry login).
public struct RobotAccount: Sendable, Equatable {
    public let id: Int64
    /// The full name, `<owner>+<short>`.
    public let name: String
    public let ownerID: Int64
    public let description: String
    public let createdAt: Int64
    public let lastAccessed: Int64?
    public let tokenSealed: String?
    /// JSON object text, or nil when none was given.
    public let unstructuredMetadata: String?

    public var shortName: String {
        guard let plus = name.firstIndex(of: "+") else { return name }
        return String(name[name.index(after: plus)...])
    }

    /// The robot as a namespace (what grants and team memberships are keyed on).
    public var namespace: Namespace {
        Namespace(id: id, name: name, kind: .robot, email: nil, isSuperuser: false)
    }

    /// The authenticated-data context its token is sealed under.
    public var sealContext: String { Self.sealContext(name: name) }
    public static func sealContext(name: String) -> String { "robot:\(name)" }
}

/// One repository grant held by a robot.
public struct RobotRepositoryPermission: Sendable, Equatable {
    /// The repository name inside the robot's namespace.
    public let repository: String
    public let isPublic: Bool
    public let role: Role
}

extension AccountStore {
    static let robotColumns = "id, name, owner_id, description, created_at, last_accessed, robot_token_sealed, unstructured_metadata"

    static func robot(from row: any SQLRow) throws -> RobotAccount {
        RobotAccount(id: try row.int64("id"), name: try row.string("name"), ownerID: try row.int64("owner_id"),
                     description: try row.string("description"), createdAt: try row.int64("created_at"),
                     lastAccessed: try row.optionalInt64("last_accessed"), tokenSealed: try row.optionalString("robot_token_sealed"),
                     unstructuredMetadata: try row.optionalString("unstructured_metadata"))
    }

    /// Creates a robot. Throws `alreadyExists` when any namespace already has the name.
    public func createRobot(ownerID: Int64, name: String, description: String, unstructuredMetadata: String?,
                            tokenSealed: String, tokenHash: String) async throws -> RobotAccount {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                INSERT INTO namespaces (name, kind, owner_id, description, unstructured_metadata, robot_token_sealed, robot_token_hash, created_at)
                VALUES (\(bind: name), 'robot', \(bind: ownerID), \(bind: description), \(bind: unstructuredMetadata),
                        \(bind: tokenSealed), \(bind: tokenHash), \(bind: Clock.nowMillis()))
                ON CONFLICT (name) DO NOTHING
                RETURNING \(unsafeRaw: Self.robotColumns)
                """).first() else {
                throw DomainError.alreadyExists("Existing robot with name: \(name)")
            }
            return try Self.robot(from: row)
        }
    }

    /// The robot with this full name owned by `ownerID`; nil for anything else, so one
    /// namespace never reaches another's robots.
    public func robot(named name: String, ownerID: Int64) async throws -> RobotAccount? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.robotColumns) FROM namespaces
                WHERE name = \(bind: name) AND kind = 'robot' AND owner_id = \(bind: ownerID)
                """).first().map(Self.robot(from:))
        }
    }

    /// The robot with this full name and its token hash, for registry login.
    public func robotForLogin(named name: String) async throws -> (RobotAccount, tokenHash: String)? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT \(unsafeRaw: Self.robotColumns), robot_token_hash FROM namespaces r
                WHERE name = \(bind: name) AND kind = 'robot'
                  AND NOT EXISTS (SELECT 1 FROM namespaces o WHERE o.id = r.owner_id AND o.enabled = 0)
                """).first(), let hash = try row.optionalString("robot_token_hash") else { return nil }
            return (try Self.robot(from: row), hash)
        }
    }

    public func robots(ownerID: Int64, limit: Int? = nil) async throws -> [RobotAccount] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.robotColumns) FROM namespaces
                WHERE owner_id = \(bind: ownerID) AND kind = 'robot' ORDER BY name LIMIT \(bind: limit ?? Int(Int32.max))
                """).all().map(Self.robot(from:))
        }
    }

    /// Deletes the robot; its grants, team memberships and default permissions go with it (FK
    /// cascades). Returns false when there was no such robot.
    @discardableResult
    public func deleteRobot(id: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("DELETE FROM namespaces WHERE id = \(bind: id) AND kind = 'robot' RETURNING id").first() != nil
        }
    }

    public func replaceRobotToken(id: Int64, tokenSealed: String, tokenHash: String) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE namespaces SET robot_token_sealed = \(bind: tokenSealed), robot_token_hash = \(bind: tokenHash)
                WHERE id = \(bind: id) AND kind = 'robot'
                """).run()
        }
    }

    public func touchRobot(id: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE namespaces SET last_accessed = \(bind: Clock.nowMillis()) WHERE id = \(bind: id) AND kind = 'robot'").run()
        }
    }

    /// The robot's direct repository grants, by repository name.
    public func robotPermissions(robotID: Int64) async throws -> [RobotRepositoryPermission] {
        try await database.read { db in
            try await db.raw("""
                SELECT r.name, r.visibility, p.role FROM repository_permissions p JOIN repositories r ON r.id = p.repository_id
                WHERE p.user_id = \(bind: robotID) AND r.state <> 'MARKED_FOR_DELETION' ORDER BY r.name
                """).all().compactMap { row in
                guard let role = Role(rawValue: try row.string("role")) else { return nil }
                return RobotRepositoryPermission(repository: try row.string("name"), isPublic: try row.string("visibility") == "public", role: role)
            }
        }
    }

    /// Repository names each robot of the owner holds a grant on, keyed by robot id.
    public func robotRepositoryNames(ownerID: Int64) async throws -> [Int64: [String]] {
        try await database.read { db in
            var out: [Int64: [String]] = [:]
            for row in try await db.raw("""
                SELECT p.user_id, r.name FROM repository_permissions p
                JOIN repositories r ON r.id = p.repository_id JOIN namespaces n ON n.id = p.user_id
                WHERE n.owner_id = \(bind: ownerID) AND n.kind = 'robot' AND r.state <> 'MARKED_FOR_DELETION'
                ORDER BY r.name
                """).all() {
                out[try row.int64("user_id"), default: []].append(try row.string("name"))
            }
            return out
        }
    }

    /// Team names each robot of the owner belongs to, keyed by robot id.
    public func robotTeamNames(ownerID: Int64) async throws -> [Int64: [String]] {
        try await database.read { db in
            var out: [Int64: [String]] = [:]
            for row in try await db.raw("""
                SELECT m.user_id, t.name FROM team_members m
                JOIN teams t ON t.id = m.team_id JOIN namespaces n ON n.id = m.user_id
                WHERE n.owner_id = \(bind: ownerID) AND n.kind = 'robot' ORDER BY t.name
                """).all() {
                out[try row.int64("user_id"), default: []].append(try row.string("name"))
            }
            return out
        }
    }

    /// Sets (role) or removes (nil) the robot's grant on each named repository of `namespaceID`,
    /// all or nothing. Throws `notFound` naming the first repository that does not exist.
    public func setRobotPermissions(robotID: Int64, namespaceID: Int64, changes: [(repository: String, role: Role?)]) async throws {
        try await database.transaction { db in
            for change in changes {
                guard let row = try await db.raw("""
                    SELECT id FROM repositories WHERE namespace_id = \(bind: namespaceID) AND name = \(bind: change.repository)
                    AND state <> 'MARKED_FOR_DELETION'
                    """).first() else {
                    throw DomainError.notFound("Repository not found: \(change.repository)")
                }
                let repositoryID = try row.int64("id")
                if let role = change.role {
                    try await db.raw("""
                        INSERT INTO repository_permissions (repository_id, user_id, role) VALUES (\(bind: repositoryID), \(bind: robotID), \(bind: role.rawValue))
                        ON CONFLICT (repository_id, user_id) DO UPDATE SET role = excluded.role
                        """).run()
                } else {
                    try await db.raw("DELETE FROM repository_permissions WHERE repository_id = \(bind: repositoryID) AND user_id = \(bind: robotID)").run()
                }
            }
        }
    }
}
