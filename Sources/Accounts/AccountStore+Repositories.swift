import SlipwayCore
import SQLKit

extension AccountStore {
    static let repositorySelect = """
        SELECT r.id, r.namespace_id, n.name AS namespace, r.name, r.visibility, r.state
        FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
        """

    static func repository(from row: any SQLRow) throws -> Repository {
        try RepositoryView.repository(from: row, prefix: "")
    }

    public func repository(_ path: RepositoryPath) async throws -> Repository? {
        try await database.read { db in
            try await db.raw("""
                \(unsafeRaw: Self.repositorySelect) WHERE n.name = \(bind: path.namespace) AND r.name = \(bind: path.name)
                """).first().map(Self.repository(from:))
        }
    }

    /// Creates the repository, or returns the existing one when a concurrent push created it first.
    public func createRepository(namespaceID: Int64, name: String, visibility: Visibility, description: String = "") async throws -> (Repository, created: Bool) {
        try await database.transaction { db in
            let inserted = try await db.raw("""
                INSERT INTO repositories (namespace_id, name, visibility, description, created_at)
                VALUES (\(bind: namespaceID), \(bind: name), \(bind: visibility.rawValue), \(bind: description), \(bind: Clock.nowMillis()))
                ON CONFLICT (namespace_id, name) DO NOTHING RETURNING id
                """).first()
            let row = try await db.raw("""
                \(unsafeRaw: Self.repositorySelect) WHERE r.namespace_id = \(bind: namespaceID) AND r.name = \(bind: name)
                """).first()!
            return (try Self.repository(from: row), inserted != nil)
        }
    }

    public func setVisibility(repositoryID: Int64, _ visibility: Visibility) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE repositories SET visibility = \(bind: visibility.rawValue) WHERE id = \(bind: repositoryID)").run()
        }
    }

    public func setPermission(repositoryID: Int64, userID: Int64, role: Role) async throws {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO repository_permissions (repository_id, user_id, role) VALUES (\(bind: repositoryID), \(bind: userID), \(bind: role.rawValue))
                ON CONFLICT (repository_id, user_id) DO UPDATE SET role = excluded.role
                """).run()
        }
    }

    /// The user's (or robot's) effective role on a repository, the strongest of: owner of a user
    /// namespace → admin; member of an org team with the admin role → admin; a direct grant; a
    /// grant to any team the user is in.
    public func role(userID: Int64, repository: Repository) async throws -> Role? {
        if repository.namespaceID == userID { return .admin }
        return try await database.read { db in
            let rows = try await db.raw("""
                SELECT 'admin' AS role FROM teams t JOIN team_members m ON m.team_id = t.id
                  WHERE t.org_id = \(bind: repository.namespaceID) AND m.user_id = \(bind: userID) AND t.role = 'admin'
                UNION ALL
                SELECT role FROM repository_permissions WHERE repository_id = \(bind: repository.id) AND user_id = \(bind: userID)
                UNION ALL
                SELECT p.role FROM repository_team_permissions p JOIN team_members m ON m.team_id = p.team_id
                  WHERE p.repository_id = \(bind: repository.id) AND m.user_id = \(bind: userID)
                """).all()
            return try rows.compactMap { Role(rawValue: try $0.string("role")) }.max()
        }
    }

    /// Repositories visible to the user (or only public ones for anonymous callers), ordered by
    /// `namespace/name`, starting after `last`.
    public func visibleRepositories(userID: Int64?, after last: String?, limit: Int) async throws -> [String] {
        try await database.read { db in
            let after = last ?? ""
            let rows: [any SQLRow]
            if let userID {
                rows = try await db.raw("""
                    SELECT n.name || '/' || r.name AS full_name FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
                    WHERE (r.visibility = 'public' OR r.namespace_id = \(bind: userID)
                      OR EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.user_id = \(bind: userID))
                      OR EXISTS (SELECT 1 FROM repository_team_permissions p JOIN team_members tm ON tm.team_id = p.team_id
                                 WHERE p.repository_id = r.id AND tm.user_id = \(bind: userID))
                      OR EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id
                                 WHERE t.org_id = r.namespace_id AND m.user_id = \(bind: userID) AND t.role = 'admin'))
                      AND r.state <> 'MARKED_FOR_DELETION'
                      AND n.name || '/' || r.name > \(bind: after)
                    ORDER BY full_name LIMIT \(bind: limit)
                    """).all()
            } else {
                rows = try await db.raw("""
                    SELECT n.name || '/' || r.name AS full_name FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
                    WHERE r.visibility = 'public' AND r.state <> 'MARKED_FOR_DELETION' AND n.name || '/' || r.name > \(bind: after)
                    ORDER BY full_name LIMIT \(bind: limit)
                    """).all()
            }
            return try rows.map { try $0.string("full_name") }
        }
    }
}

extension AccountStore {
    public func repositoryByID(_ id: Int64) async throws -> Repository? {
        try await database.read { db in
            try await db.raw("\(unsafeRaw: Self.repositorySelect) WHERE r.id = \(bind: id)").first().map(Self.repository(from:))
        }
    }
}
