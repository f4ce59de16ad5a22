import Foundation
import SlipwayCore
import SQLKit

/// Usage-log rows: the batched insert of the `AuditLog`, pages of entries (newest first,
/// keyset-paginated), per-day counts, and retention.
extension AuditStore {
    /// Rows per `INSERT`: 11 binds each keeps a statement far inside both databases' bind limits.
    static let rowsPerInsert = 500

    /// Writes `events` in one transaction (the `AuditLog`'s batch), as multi-row inserts: under a
    /// pull load of thousands of requests a second, one statement per event left the log seconds
    /// behind on PostgreSQL.
    func insertUsageLogs(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        let encoder = JSONEncoder()
        try await database.transaction { db in
            var start = 0
            while start < events.count {
                let chunk = events[start..<min(start + Self.rowsPerInsert, events.count)]
                var query: SQLQueryString = """
                    INSERT INTO usage_logs (kind, performer_id, performer_name, performer_kind, namespace_id, namespace_name,
                                            repository_id, repository_name, ip, metadata, created_at) VALUES
                    """
                for (i, e) in chunk.enumerated() {
                    let meta = (try? String(decoding: encoder.encode(e.metadata), as: UTF8.self)) ?? "{}"
                    query += i == 0 ? " " : ", "
                    query += """
                        (\(bind: e.kind.rawValue), \(bind: e.performer?.id), \(bind: e.performer?.name), \(bind: e.performer?.kind), \
                        \(bind: e.namespace?.id), \(bind: e.namespace?.name), \(bind: e.repository?.id), \(bind: e.repository?.name), \
                        \(bind: e.ip), \(bind: meta), \(bind: e.time))
                        """
                }
                try await db.raw(query).run()
                start += chunk.count
            }
        }
    }

    static func scopeCondition(_ scope: UsageLogScope) -> SQLQueryString {
        switch scope {
        case .repository(let id): return "repository_id = \(bind: id)"
        case .namespace(let id): return "namespace_id = \(bind: id)"
        case .performer(let id): return "performer_id = \(bind: id)"
        }
    }

    /// Entries in [start, end) newest first, strictly before the `(createdAt, id)` cursor.
    public func usageLogs(scope: UsageLogScope, start: Int64, end: Int64, performer: String?, before cursor: (Int64, Int64)?,
                          limit: Int) async throws -> [UsageLogEntry] {
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
                return UsageLogEntry(id: try row.int64("id"), kind: try row.string("kind"), performerName: try row.optionalString("performer_name"),
                                     performerKind: try row.optionalString("performer_kind"), namespaceName: try row.optionalString("namespace_name"),
                                     repositoryName: try row.optionalString("repository_name"), ip: try row.optionalString("ip"),
                                     metadata: meta, createdAt: try row.int64("created_at"))
            }
        }
    }

    /// Counts per kind per UTC day in [start, end).
    public func aggregateUsageLogs(scope: UsageLogScope, start: Int64, end: Int64) async throws -> [(kind: String, day: Int64, count: Int64)] {
        try await database.read { db in
            try await db.raw("""
                SELECT kind, (created_at / 86400000) AS day, COUNT(*) AS n FROM usage_logs
                WHERE \(Self.scopeCondition(scope)) AND created_at >= \(bind: start) AND created_at < \(bind: end)
                GROUP BY kind, (created_at / 86400000) ORDER BY day, kind
                """).all().map { (try $0.string("kind"), try $0.int64("day") * 86_400_000, try $0.int64("n")) }
        }
    }

    /// Deletes usage-log rows created before `cutoff`, in batches so neither backend holds a huge
    /// transaction. Returns how many went.
    @discardableResult
    public func deleteUsageLogs(before cutoff: Int64, batchSize: Int = 5000) async throws -> Int {
        var total = 0
        while true {
            let n = try await database.transaction { db in
                try await db.raw("""
                    DELETE FROM usage_logs WHERE id IN (SELECT id FROM usage_logs WHERE created_at < \(bind: cutoff) LIMIT \(bind: batchSize))
                    RETURNING id
                    """).all().count
            }
            total += n
            if n < batchSize { return total }
        }
    }
}
