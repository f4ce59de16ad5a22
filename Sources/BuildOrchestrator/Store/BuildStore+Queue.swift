import BuildProtocol
import Foundation
import SlipwayCore
import SQLKit

/// The build queue's single-row statements. Each is conditional on what the caller believes
/// (the build is waiting, this lease holds it), so on a PostgreSQL queue shared by replicas a
/// stale belief changes nothing and the caller resyncs instead; the unique indexes on
/// `running_slot` (see `BuildsSchema` version 6) enforce the caps whoever writes. On
/// PostgreSQL every change also sends `NOTIFY slipway_builds` (in the same transaction, so only
/// committed changes are announced) and lease times come from the database clock.
extension BuildStore {
    /// Epoch milliseconds for a statement: the database's clock on PostgreSQL (replicas' clocks
    /// may disagree, the database's is the one they share), `local` on SQLite (one process).
    /// `clock_timestamp()`, not `now()` (the transaction's start): a build's finish is stamped
    /// when its row is written, so a lease that waited for that row's slot starts after it.
    func nowSQL(_ local: Int64) -> SQLQueryString {
        sharedDatabase != nil ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)" : "\(bind: local)"
    }

    /// Runs one writing statement: on PostgreSQL in autocommit (one round trip, no BEGIN and
    /// COMMIT), on SQLite through the one writer connection (a reader connection must not write).
    func writeOne<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        sharedDatabase != nil ? try await database.read(body) : try await database.transaction(body)
    }

    /// Sends the notices to the other replicas when the transaction commits (PostgreSQL only).
    func notify(_ notices: [BuildNotice], on db: any SQLDatabase) async throws {
        guard sharedDatabase != nil else { return }
        for payload in BuildNotice.payloads(notices) {
            try await db.raw("SELECT pg_notify(\(bind: BuildNotice.channel), \(bind: payload))").run()
        }
    }

    /// Leases a waiting build into `slot` of its namespace: one conditional statement. nil when
    /// the build is no longer waiting, still in its retry delay, or (on PostgreSQL) when another
    /// replica took the slot or the repository's running place first.
    ///
    /// The lease's heartbeat is stamped `acceptWindowShortfall` milliseconds before its start:
    /// every replica then judges it lost once the (shorter) accept window has passed without a
    /// first heartbeat, and tells an unconfirmed lease by its heartbeat preceding its start.
    func leaseBuild(uuid: String, slot: Int, attempts: Int, workerID: String, leaseID: String, now local: Int64,
                    acceptWindowShortfall: Int64 = 0, origin: String?) async throws -> BuildRecord? {
        let now = nowSQL(local)
        let update: SQLQueryString = """
            UPDATE builds SET phase = \(bind: BuildPhase.buildScheduled.rawValue), attempts = \(bind: attempts), not_before = NULL,
              worker_id = \(bind: workerID), lease_id = \(bind: leaseID), started_at = \(now), stop_reason = NULL,
              heartbeat_at = \(now) - \(bind: acceptWindowShortfall),
              running_slot = \(bind: slot), unpacking_at = NULL, pulling_at = NULL, building_at = NULL, pushing_at = NULL
            WHERE uuid = \(bind: uuid) AND running_slot IS NULL AND finished_at IS NULL AND (not_before IS NULL OR not_before <= \(now))
            RETURNING \(unsafeRaw: Self.buildColumns)
            """
        do {
            return try await writeOne { db in
                guard let origin else { return try await db.raw(update).first().map(Self.build(from:)) }
                // One round trip: the update and its notice (sent when the statement commits).
                return try await db.raw("""
                    WITH leased AS (\(update))
                    SELECT leased.*, CAST(pg_notify(\(bind: BuildNotice.channel),
                      'leased ' || leased.uuid || ' ' || leased.namespace_id || ' ' || leased.repository_id || ' ' || \(bind: origin)) AS TEXT) AS notified
                    FROM leased
                    """).first().map(Self.build(from:))
            }
        } catch where PostgresBackend.isUniqueViolation(error) {
            return nil
        }
    }

    /// A worker's heartbeat on a shared queue: renews the lease (unless a stop was decided:
    /// a stopping lease is not renewed) if it is still live by the database's clock, and
    /// returns the stop decided for it, whichever replica decided it. nil: no live lease.
    func heartbeatBuild(uuid: String, leaseID: String, workerID: String, timeoutMillis: Int64, now local: Int64) async throws -> (stop: String?, live: Bool) {
        let now = nowSQL(local)
        let row = try await writeOne { db in
            try await db.raw("""
                UPDATE builds SET heartbeat_at = CASE WHEN stop_reason IS NULL THEN \(now) ELSE heartbeat_at END
                WHERE uuid = \(bind: uuid) AND lease_id = \(bind: leaseID) AND worker_id = \(bind: workerID) AND finished_at IS NULL
                  AND heartbeat_at > \(now) - \(bind: timeoutMillis)
                RETURNING stop_reason
                """).first().map { try $0.decode(column: "stop_reason", as: String?.self) }
        }
        guard let row else { return (nil, false) }
        return (row, true)
    }

    /// Puts a leased build back in line (lost worker, retried internal error), if `leaseID`
    /// still holds it and, with `expiredAfter`, its last heartbeat is that old by the statement's
    /// clock (so a heartbeat recorded by another replica meanwhile keeps the lease).
    func requeueBuild(uuid: String, leaseID: String?, attempts: Int, notBefore: Int64, expiredAfter: Int64?, now local: Int64,
                      origin: String?) async throws -> BuildRecord? {
        let condition = FinishCondition.lease(leaseID ?? "", expiredAfter: expiredAfter).sql(now: nowSQL(local))
        let leaseCheck: SQLQueryString = leaseID == nil ? "" : condition
        return try await database.transaction { db in
            guard let row = try await db.raw("""
                UPDATE builds SET phase = \(bind: BuildPhase.waiting.rawValue), attempts = \(bind: attempts), not_before = \(bind: notBefore),
                  worker_id = NULL, lease_id = NULL, started_at = NULL, stop_reason = NULL, running_slot = NULL,
                  unpacking_at = NULL, pulling_at = NULL, building_at = NULL, pushing_at = NULL
                WHERE uuid = \(bind: uuid) AND finished_at IS NULL\(leaseCheck)
                RETURNING \(unsafeRaw: Self.buildColumns)
                """).first().map(Self.build(from:)) else { return nil }
            if let origin {
                try await self.notify([BuildNotice(.requeued, buildID: uuid, namespaceID: row.namespaceID, repositoryID: row.repositoryID, origin: origin)], on: db)
            }
            return row
        }
    }

    /// Records the stop decided for a running build (`cancelled`, `timed-out`; a stop already
    /// recorded stays). nil when `leaseID` no longer holds it.
    func stopBuild(uuid: String, leaseID: String, reason: String, origin: String?) async throws -> BuildRecord? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                UPDATE builds SET stop_reason = COALESCE(stop_reason, \(bind: reason))
                WHERE uuid = \(bind: uuid) AND lease_id = \(bind: leaseID) AND finished_at IS NULL
                RETURNING \(unsafeRaw: Self.buildColumns)
                """).first().map(Self.build(from:)) else { return nil }
            if let origin {
                try await self.notify([BuildNotice(.stopping, buildID: uuid, namespaceID: row.namespaceID, repositoryID: row.repositoryID, origin: origin)], on: db)
            }
            return row
        }
    }

    /// Inserts builds on a shared queue, each only if its namespace has fewer than `limit` waiting
    /// builds: the count is taken under a per-namespace transaction advisory lock (replicas
    /// queueing into other namespaces do not wait), then one multi-row insert as on SQLite.
    /// Returns the stored row of each admitted build, nil for the others, in the order given.
    func insertBuilds(_ items: [(record: BuildRecord, event: BuildEvents.Prepared?)], queuedLimit limit: Int,
                      origin: String) async throws -> [BuildRecord?] {
        guard !items.isEmpty else { return [] }
        let namespaces = Set(items.map(\.record.namespaceID)).sorted()
        let (admitted, ids) = try await database.transaction { db in
            for namespace in namespaces {  // in one order everywhere: no deadlock between replicas
                try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Self.namespaceLockKey(namespace)))").run()
            }
            let list = SQLList(namespaces.map { SQLBind($0) })
            var queued: [Int64: Int] = [:]
            for row in try await db.raw("""
                SELECT namespace_id, COUNT(*) AS n FROM builds
                WHERE namespace_id IN (\(list)) AND finished_at IS NULL AND running_slot IS NULL GROUP BY namespace_id
                """).all() {
                queued[try row.decode(column: "namespace_id", as: Int64.self)] = try row.decode(column: "n", as: Int.self)
            }
            var admitted: [Int] = []
            for (i, item) in items.enumerated() where queued[item.record.namespaceID, default: 0] < limit {
                queued[item.record.namespaceID, default: 0] += 1
                admitted.append(i)
            }
            let ids = try await self.insertBuilds(admitted.map { items[$0] }, on: db)
            try await self.notify(admitted.map {
                let r = items[$0].record
                return BuildNotice(.queued, buildID: r.uuid, namespaceID: r.namespaceID, repositoryID: r.repositoryID, origin: origin)
            }, on: db)
            return (admitted, ids)
        }
        var results = [BuildRecord?](repeating: nil, count: items.count)
        for (i, row) in zip(admitted, try Self.stored(admitted.map { items[$0].record }, ids: ids)) { results[i] = row }
        return results
    }

    /// The advisory lock key of a namespace's queue ("SB" + the namespace id).
    static func namespaceLockKey(_ namespaceID: Int64) -> Int64 { 0x5342_0000_0000_0000 ^ namespaceID }

    /// The unfinished builds of one namespace (a replica's resync: bounded by the caps).
    func unfinishedBuilds(namespaceID: Int64) async throws -> [BuildRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE namespace_id = \(bind: namespaceID) AND finished_at IS NULL
                ORDER BY queued_at, id
                """).all().map(Self.build(from:))
        }
    }

    func unfinishedBuilds(repositoryID: Int64) async throws -> [BuildRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE repository_id = \(bind: repositoryID) AND finished_at IS NULL
                ORDER BY queued_at, id
                """).all().map(Self.build(from:))
        }
    }

    func builds(uuids: [String]) async throws -> [BuildRecord] {
        guard !uuids.isEmpty else { return [] }
        return try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE uuid IN (\(SQLList(uuids.map { SQLBind($0) })))")
                .all().map(Self.build(from:))
        }
    }

    /// The leases due for a decision by the database's clock, and that clock: heartbeats older
    /// than `heartbeatTimeout` and unstopped builds past `buildTimeout`. One set-based read
    /// over the running builds (a partial index), whatever the size of the queue.
    func leasesDue(heartbeatTimeout: Int64, buildTimeout: Int64, now local: Int64) async throws -> (now: Int64, due: [BuildRecord]) {
        let now = nowSQL(local)
        let columns = Self.buildColumns.split(separator: ",").map { "b." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
        return try await database.read { db in
            let rows = try await db.raw("""
                WITH clock AS (SELECT \(now) AS now_ms)
                SELECT clock.now_ms, \(unsafeRaw: columns) FROM clock LEFT JOIN builds b
                  ON b.running_slot IS NOT NULL AND b.finished_at IS NULL
                  AND (b.heartbeat_at <= clock.now_ms - \(bind: heartbeatTimeout)
                       OR (b.stop_reason IS NULL AND b.started_at <= clock.now_ms - \(bind: buildTimeout)))
                """).all()
            let clock = try rows.first?.decode(column: "now_ms", as: Int64.self) ?? local
            let due = try rows.filter { try $0.decode(column: "uuid", as: String?.self) != nil }.map(Self.build(from:))
            return (clock, due)
        }
    }

    /// A summary of each namespace's unfinished builds; a replica whose own view of a namespace
    /// sums differently missed a change there (a lost notification) and resyncs it.
    func namespaceFingerprints() async throws -> [Int64: QueueFingerprint] {
        try await database.read { db in
            var result: [Int64: QueueFingerprint] = [:]
            for row in try await db.raw("""
                SELECT namespace_id, COUNT(*) AS n, COUNT(running_slot) AS r, COALESCE(SUM(attempts), 0) AS a, COUNT(stop_reason) AS s
                FROM builds WHERE finished_at IS NULL GROUP BY namespace_id
                """).all() {
                result[try row.decode(column: "namespace_id", as: Int64.self)] = QueueFingerprint(
                    unfinished: try row.decode(column: "n", as: Int.self), running: try row.decode(column: "r", as: Int.self),
                    attempts: try row.decode(column: "a", as: Int.self), stopping: try row.decode(column: "s", as: Int.self))
            }
            return result
        }
    }
}

/// How many builds a namespace has unfinished, running and stopping, and their attempts.
struct QueueFingerprint: Hashable, Sendable {
    var unfinished = 0
    var running = 0
    var attempts = 0
    var stopping = 0
}

extension BuildStore.FinishCondition {
    /// The extra WHERE clause (starting with " AND"), with `now` the statement's clock.
    func sql(now: SQLQueryString) -> SQLQueryString {
        switch self {
        case .unfinished: return ""
        case .waiting: return " AND running_slot IS NULL"
        case .lease(let leaseID, nil): return " AND lease_id = \(bind: leaseID)"
        case .lease(let leaseID, let expiredAfter?):
            return " AND lease_id = \(bind: leaseID) AND heartbeat_at <= \(now) - \(bind: expiredAfter)"
        }
    }
}
