import Foundation
import SlipwayCore
import SQLKit

/// Usage-log queries: pages of entries (newest first, keyset-paginated) and per-day counts.
extension MetadataStore {
    public enum LogScope: Sendable {
        case repository(Int64)
        case namespace(Int64)
        case performer(Int64)
    }

    public struct LogEntry: Sendable {
        public let id: Int64
        public let kind: String
        public let performerName: String?
        public let performerKind: String?
        public let namespaceName: String?
        public let repositoryName: String?
        public let ip: String?
        public let metadata: [String: String]
        public let createdAt: Int64
    }

    static func scopeCondition(_ scope: LogScope) -> SQLQueryString {
        switch scope {
        case .repository(let id): return "repository_id = \(bind: id)"
        case .namespace(let id): return "namespace_id = \(bind: id)"
        case .performer(let id): return "performer_id = \(bind: id)"
        }
    }

    /// Entries in [start, end) newest first, strictly before the `(createdAt, id)` cursor.
    public func usageLogs(scope: LogScope, start: Int64, end: Int64, performer: String?, before cursor: (Int64, Int64)?, limit: Int) async throws -> [LogEntry] {
        try await database.read { db in
            var q: SQLQueryString = """
                SELECT id, kind, performer_name, performer_kind, namespace_name, repository_name, ip, metadata, created_at FROM usage_logs
                WHERE \(Self.scopeCondition(scope)) AND created_at >= \(bind: start) AND created_at < \(bind: end)
                """
            if let performer { q += " AND performer_name = \(bind: performer)" }
            if let (t, id) = cursor { q += " AND (created_at < \(bind: t) OR (created_at = \(bind: t) AND id < \(bind: id)))" }
            q += " ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)"
            return try await db.raw(q).all().map { row in
                let meta = (try? JSONDecoder().decode([String: String].self, from: Data(try row.string("metadata").utf8))) ?? [:]
                return LogEntry(id: try row.int64("id"), kind: try row.string("kind"), performerName: try row.optionalString("performer_name"),
                                performerKind: try row.optionalString("performer_kind"), namespaceName: try row.optionalString("namespace_name"),
                                repositoryName: try row.optionalString("repository_name"), ip: try row.optionalString("ip"),
                                metadata: meta, createdAt: try row.int64("created_at"))
            }
        }
    }

    /// Counts per kind per UTC day in [start, end).
    public func aggregateUsageLogs(scope: LogScope, start: Int64, end: Int64) async throws -> [(kind: String, day: Int64, count: Int64)] {
        try await database.read { db in
            try await db.raw("""
                SELECT kind, (created_at / 86400000) AS day, COUNT(*) AS n FROM usage_logs
                WHERE \(Self.scopeCondition(scope)) AND created_at >= \(bind: start) AND created_at < \(bind: end)
                GROUP BY kind, (created_at / 86400000) ORDER BY day, kind
                """).all().map { (try $0.string("kind"), try $0.int64("day") * 86_400_000, try $0.int64("n")) }
        }
    }
}
