import SlipwayCore
import SQLKit

/// Repository listing and administration for the repository API.
extension AccountStore {
    public struct RepositoryListing: Sendable {
        public let repository: Repository
        public let description: String
        /// When a tag last moved. Nil from the account store: tags are the registry's, and
        /// `RegistryServices.listRepositories` fills it in from them.
        public var lastModified: Int64?
        public let isStarred: Bool
    }

    public enum RepositoryListScope: Sendable {
        case namespace(String)
        case publicOnly
        case starred
        /// Repositories of other namespaces shared with the user directly or through a team.
        case sharedWith
    }

    /// Repositories the caller may see in `scope`, ordered by `namespace/name`, after `after`,
    /// without `lastModified` (see `RegistryServices.listRepositories`).
    public func listRepositories(scope: RepositoryListScope, userID: Int64?, after: String?, limit: Int) async throws -> [RepositoryListing] {
        try await database.read { db in
            let uid = userID ?? -1
            var q: SQLQueryString = """
                SELECT r.id, r.namespace_id, n.name AS namespace, r.name, r.visibility, r.state, r.description,
                  (SELECT COUNT(*) FROM stars s WHERE s.repository_id = r.id AND s.user_id = \(bind: uid)) AS starred
                FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
                WHERE r.state <> 'MARKED_FOR_DELETION'
                  AND (r.visibility = 'public' OR r.namespace_id = \(bind: uid)
                    OR EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.user_id = \(bind: uid))
                    OR EXISTS (SELECT 1 FROM repository_team_permissions p JOIN team_members tm ON tm.team_id = p.team_id
                               WHERE p.repository_id = r.id AND tm.user_id = \(bind: uid))
                    OR EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id
                               WHERE t.org_id = r.namespace_id AND m.user_id = \(bind: uid) AND t.role = 'admin'))
                """
            switch scope {
            case .namespace(let ns): q += " AND n.name = \(bind: ns)"
            case .publicOnly: q += " AND r.visibility = 'public'"
            case .starred: q += " AND EXISTS (SELECT 1 FROM stars s WHERE s.repository_id = r.id AND s.user_id = \(bind: uid))"
            case .sharedWith:
                q += """
                     AND r.namespace_id <> \(bind: uid)
                     AND (EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.user_id = \(bind: uid))
                       OR EXISTS (SELECT 1 FROM repository_team_permissions p JOIN team_members tm ON tm.team_id = p.team_id
                                  WHERE p.repository_id = r.id AND tm.user_id = \(bind: uid)))
                    """
            }
            if let after { q += " AND n.name || '/' || r.name > \(bind: after)" }
            q += " ORDER BY n.name || '/' || r.name LIMIT \(bind: limit)"
            return try await db.raw(q).all().map { row in
                RepositoryListing(repository: try Self.repository(from: row), description: try row.string("description"),
                                  lastModified: nil, isStarred: try row.int64("starred") > 0)
            }
        }
    }

    public func repositoryDescription(id: Int64) async throws -> String {
        try await database.read { db in
            try await db.raw("SELECT description FROM repositories WHERE id = \(bind: id)").first()?.string("description") ?? ""
        }
    }

    public func setDescription(repositoryID: Int64, _ description: String) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE repositories SET description = \(bind: description) WHERE id = \(bind: repositoryID)").run()
        }
    }

    public func setState(repositoryID: Int64, _ state: RepositoryState) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE repositories SET state = \(bind: state.rawValue) WHERE id = \(bind: repositoryID)").run()
        }
    }

    /// Queues a repository for deletion: it disappears at once (state MARKED_FOR_DELETION, renamed
    /// out of the way so the name can be reused) and the collector removes its rows and blobs.
    public func markForDeletion(repositoryID: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE repositories SET state = 'MARKED_FOR_DELETION', name = name || '.deleted-' || \(bind: String(repositoryID))
                WHERE id = \(bind: repositoryID)
                """).run()
        }
    }

    public func isStarred(userID: Int64, repositoryID: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT 1 AS one FROM stars WHERE user_id = \(bind: userID) AND repository_id = \(bind: repositoryID)").first() != nil
        }
    }

    public func setStar(userID: Int64, repositoryID: Int64, starred: Bool) async throws {
        try await database.transaction { db in
            if starred {
                try await db.raw("""
                    INSERT INTO stars (user_id, repository_id, created_at) VALUES (\(bind: userID), \(bind: repositoryID), \(bind: Clock.nowMillis()))
                    ON CONFLICT DO NOTHING
                    """).run()
            } else {
                try await db.raw("DELETE FROM stars WHERE user_id = \(bind: userID) AND repository_id = \(bind: repositoryID)").run()
            }
        }
    }

    /// Repositories queued for deletion; deleting the row cascades to manifests, tags, links,
    /// permissions and labels.
    public func purgeDeletedRepositories() async throws -> Int {
        try await database.transaction { db in
            try await db.raw("DELETE FROM repositories WHERE state = 'MARKED_FOR_DELETION' RETURNING id").all().count
        }
    }
}
