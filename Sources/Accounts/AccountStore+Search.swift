import SlipwayCore
import SQLKit

/// Name lookups for permission dialogs (`/api/v1/entities`), repository search
/// (`/api/v1/find/repositories`) and `docker search` (`/v1/search`).
public struct RepositorySearchHit: Sendable {
    public let repository: Repository
    public let description: String
    public let namespaceKind: NamespaceKind
}

extension AccountStore {
    /// Enabled users, organizations or robots whose name starts with `prefix`, by name.
    public func namespaces(kind: NamespaceKind, prefix: String, limit: Int) async throws -> [Namespace] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces
                WHERE kind = \(bind: kind.rawValue) AND enabled <> 0
                  AND substr(name, 1, CAST(\(bind: prefix.count) AS INTEGER)) = \(bind: prefix)
                ORDER BY name LIMIT \(bind: limit)
                """).all().map(Self.namespace(from:))
        }
    }

    /// The organization's teams whose name starts with `prefix`, by name.
    public func teams(organizationID: Int64, prefix: String, limit: Int) async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT name FROM teams WHERE org_id = \(bind: organizationID) AND substr(name, 1, CAST(\(bind: prefix.count) AS INTEGER)) = \(bind: prefix)
                ORDER BY name LIMIT \(bind: limit)
                """).all().map { try $0.string("name") }
        }
    }

    /// Repositories the user (nil: anonymous, public only) may read whose `namespace/name`
    /// contains `query` (case-insensitive), by name; `offset` and `limit` page through them.
    public func searchRepositories(userID: Int64?, query: String, offset: Int, limit: Int) async throws -> [RepositorySearchHit] {
        let escaped = query.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
        let pattern = "%\(escaped)%"
        let viewer = userID ?? -1
        return try await database.read { db in
            try await db.raw("""
                SELECT r.id, r.namespace_id, n.name AS namespace, r.name, r.visibility, r.state, r.description, n.kind AS namespace_kind
                FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
                WHERE r.state <> 'MARKED_FOR_DELETION'
                  AND lower(n.name || '/' || r.name) LIKE \(bind: pattern) ESCAPE '\\'
                  AND (r.visibility = 'public' OR r.namespace_id = \(bind: viewer)
                    OR EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.user_id = \(bind: viewer))
                    OR EXISTS (SELECT 1 FROM repository_team_permissions p JOIN team_members tm ON tm.team_id = p.team_id
                               WHERE p.repository_id = r.id AND tm.user_id = \(bind: viewer))
                    OR EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id
                               WHERE t.org_id = r.namespace_id AND m.user_id = \(bind: viewer) AND t.role = 'admin'))
                ORDER BY n.name, r.name LIMIT \(bind: limit) OFFSET \(bind: offset)
                """).all().map { row in
                RepositorySearchHit(repository: try Self.repository(from: row), description: try row.string("description"),
                                    namespaceKind: NamespaceKind(rawValue: try row.string("namespace_kind")) ?? .user)
            }
        }
    }
}
