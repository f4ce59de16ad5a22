import BuildProtocol
import Events
import Foundation
import Registry
import SlipwayCore
import SQLKit

/// The build farm's store: `builds`, `build_logs` and `filedrops`, and no other module's
/// tables. A build's events go into the outbox through `EventOutbox.append(_:in:)`, inside the
/// transaction that changes the build. Other modules read builds through this API or the
/// `build_view` (see `BuildsSchema`).
public struct BuildStore: Sendable {
    let database: any Database
    let events: EventOutbox

    public init(database: any Database, events: EventOutbox) {
        self.database = database
        self.events = events
    }

    /// The database is PostgreSQL, shared by replicas (the build queue coordinates then).
    var sharedDatabase: PostgresBackend? { database as? PostgresBackend }

    static let buildColumns = """
        id, uuid, repository_id, namespace_id, phase, display_name, manual_user_id, source_kind, file_id, archive_url, git_url,
        commit_sha, subdirectory, dockerfile_path, context, tags, pull_robot_id, trigger_id, trigger_metadata, error_message, manifest_digests, attempts,
        not_before, worker_id, lease_id, started_at, stop_reason, push_token_uuid, queued_at, finished_at, log_count, heartbeat_at, running_slot,
        unpacking_at, pulling_at, building_at, pushing_at, build_args, build_secret_ids, build_secrets_sealed,
        cache_repository, cache_user_id, cache_token_uuid, platforms, platform_phases
        """

    /// The column holding the time a worker-reported phase began.
    static func phaseColumn(_ phase: BuildPhase) -> String? {
        switch phase {
        case .unpacking: return "unpacking_at"
        case .pulling: return "pulling_at"
        case .building: return "building_at"
        case .pushing: return "pushing_at"
        default: return nil
        }
    }

    static func build(from row: any SQLRow) throws -> BuildRecord {
        let decoder = JSONDecoder()
        return BuildRecord(
            id: try row.decode(column: "id", as: Int64.self), uuid: try row.decode(column: "uuid", as: String.self),
            repositoryID: try row.decode(column: "repository_id", as: Int64.self), namespaceID: try row.decode(column: "namespace_id", as: Int64.self),
            phase: BuildPhase(rawValue: try row.decode(column: "phase", as: String.self)) ?? .internalError,
            displayName: try row.decode(column: "display_name", as: String.self), manualUserID: try row.decode(column: "manual_user_id", as: Int64?.self),
            sourceKind: try row.decode(column: "source_kind", as: String.self), fileID: try row.decode(column: "file_id", as: String?.self),
            archiveURL: try row.decode(column: "archive_url", as: String?.self), gitURL: try row.decode(column: "git_url", as: String?.self),
            commitSHA: try row.decode(column: "commit_sha", as: String?.self), subdirectory: try row.decode(column: "subdirectory", as: String.self),
            dockerfilePath: try row.decode(column: "dockerfile_path", as: String.self), context: try row.decode(column: "context", as: String.self),
            tags: (try? decoder.decode([String].self, from: Data(try row.decode(column: "tags", as: String.self).utf8))) ?? [],
            pullRobotID: try row.decode(column: "pull_robot_id", as: Int64?.self),
            triggerID: try row.decode(column: "trigger_id", as: Int64?.self), triggerMetadata: try row.decode(column: "trigger_metadata", as: String?.self),
            errorMessage: try row.decode(column: "error_message", as: String?.self),
            manifestDigests: (try row.decode(column: "manifest_digests", as: String?.self)).flatMap { try? decoder.decode([String: String].self, from: Data($0.utf8)) } ?? [:],
            attempts: try row.decode(column: "attempts", as: Int.self), notBefore: try row.decode(column: "not_before", as: Int64?.self),
            workerID: try row.decode(column: "worker_id", as: String?.self), leaseID: try row.decode(column: "lease_id", as: String?.self),
            startedAt: try row.decode(column: "started_at", as: Int64?.self), stopReason: try row.decode(column: "stop_reason", as: String?.self),
            pushTokenUUID: try row.decode(column: "push_token_uuid", as: String?.self), queuedAt: try row.decode(column: "queued_at", as: Int64.self),
            finishedAt: try row.decode(column: "finished_at", as: Int64?.self), logCount: try row.decode(column: "log_count", as: Int.self),
            heartbeatAt: try row.decode(column: "heartbeat_at", as: Int64?.self), runningSlot: try row.decode(column: "running_slot", as: Int?.self),
            phaseStartedAt: try phaseTimes(from: row),
            buildArgs: (try row.decode(column: "build_args", as: String?.self)).flatMap { try? decoder.decode([String: String].self, from: Data($0.utf8)) } ?? [:],
            buildSecretIDs: (try row.decode(column: "build_secret_ids", as: String?.self)).flatMap { try? decoder.decode([String].self, from: Data($0.utf8)) } ?? [],
            buildSecretsSealed: try row.decode(column: "build_secrets_sealed", as: String?.self),
            cacheRepository: try row.decode(column: "cache_repository", as: String?.self),
            cacheUserID: try row.decode(column: "cache_user_id", as: Int64?.self),
            cacheTokenUUID: try row.decode(column: "cache_token_uuid", as: String?.self),
            platforms: (try row.decode(column: "platforms", as: String?.self)).flatMap { try? decoder.decode([String].self, from: Data($0.utf8)) } ?? [],
            platformPhases: (try row.decode(column: "platform_phases", as: String?.self)).flatMap { try? decoder.decode([String: String].self, from: Data($0.utf8)) } ?? [:])
    }

    private static func phaseTimes(from row: any SQLRow) throws -> [BuildPhase: Int64] {
        var times: [BuildPhase: Int64] = [:]
        for phase in BuildTimeline.workerPhases {
            if let column = phaseColumn(phase), let value = try row.decode(column: column, as: Int64?.self) { times[phase] = value }
        }
        return times
    }

    public func insertBuild(_ b: BuildRecord) async throws -> BuildRecord {
        try await insertBuild(b, event: nil)
    }

    /// Inserts the build and, in the same transaction, its `build_queued` event.
    func insertBuild(_ b: BuildRecord, event: BuildEvents.Prepared?) async throws -> BuildRecord {
        try await insertBuilds([(b, event)])[0]
    }

    /// Inserts builds with their `build_queued` events in one transaction: one multi-row
    /// statement for the builds and one for the events (the group commit of a burst of
    /// webhooks). Returns the stored rows in the order given.
    func insertBuilds(_ items: [(record: BuildRecord, event: BuildEvents.Prepared?)]) async throws -> [BuildRecord] {
        guard !items.isEmpty else { return [] }
        let ids = try await database.transaction { db in try await self.insertBuilds(items, on: db) }
        return try Self.stored(items.map(\.record), ids: ids)
    }

    /// The multi-row insert of builds and their events, inside the caller's transaction.
    /// Returns (uuid, id) pairs in no particular order.
    func insertBuilds(_ items: [(record: BuildRecord, event: BuildEvents.Prepared?)], on db: any SQLDatabase) async throws -> [(String, Int64)] {
        guard !items.isEmpty else { return [] }
        let encoder = JSONEncoder()
        var rows: [SQLQueryString] = []
        for (b, _) in items {
            let tags = String(decoding: try encoder.encode(b.tags), as: UTF8.self)
            let args = b.buildArgs.isEmpty ? nil : String(decoding: try encoder.encode(b.buildArgs), as: UTF8.self)
            let secretIDs = b.buildSecretIDs.isEmpty ? nil : String(decoding: try encoder.encode(b.buildSecretIDs), as: UTF8.self)
            let platforms = b.platforms.isEmpty ? nil : String(decoding: try encoder.encode(b.platforms), as: UTF8.self)
            rows.append("""
                (\(bind: b.uuid), \(bind: b.repositoryID), \(bind: b.namespaceID), \(bind: b.phase.rawValue), \(bind: b.displayName),
                 \(bind: b.manualUserID), \(bind: b.sourceKind), \(bind: b.fileID), \(bind: b.archiveURL), \(bind: b.gitURL), \(bind: b.commitSHA),
                 \(bind: b.subdirectory), \(bind: b.dockerfilePath), \(bind: b.context), \(bind: tags), \(bind: b.pullRobotID), \(bind: b.triggerID),
                 \(bind: b.triggerMetadata), \(bind: b.queuedAt), \(bind: args), \(bind: secretIDs), \(bind: b.buildSecretsSealed),
                 \(bind: b.cacheRepository), \(bind: b.cacheUserID), \(bind: platforms))
                """)
        }
        let values = rows.joined(separator: ", ")
        let pendingEvents = items.compactMap { $0.event.map { NewRepositoryEvent(kind: $0.kind, repository: $0.repository, payload: $0.payload) } }
        let inserted = try await db.raw("""
            INSERT INTO builds (uuid, repository_id, namespace_id, phase, display_name, manual_user_id, source_kind, file_id, archive_url,
              git_url, commit_sha, subdirectory, dockerfile_path, context, tags, pull_robot_id, trigger_id, trigger_metadata, queued_at,
              build_args, build_secret_ids, build_secrets_sealed, cache_repository, cache_user_id, platforms)
            VALUES \(values)
            RETURNING id, uuid
            """).all().map { (try $0.decode(column: "uuid", as: String.self), try $0.decode(column: "id", as: Int64.self)) }
        try await events.append(pendingEvents, in: db)
        return inserted
    }

    /// The stored rows of `records` (RETURNING gives no order guarantee: matched by uuid). The
    /// stored row is what was inserted plus its id; every column the insert leaves out starts
    /// at its default.
    static func stored(_ records: [BuildRecord], ids: [(String, Int64)]) throws -> [BuildRecord] {
        let byUUID = Dictionary(ids, uniquingKeysWith: { first, _ in first })
        return try records.map { record in
            guard let id = byUUID[record.uuid] else { throw APIError(.internalServerError, "internal_error", "build \(record.uuid) was not stored") }
            return Self.asInserted(record, id: id)
        }
    }

    static func asInserted(_ b: BuildRecord, id: Int64) -> BuildRecord {
        var stored = b
        stored.id = id
        stored.errorMessage = nil
        stored.manifestDigests = [:]
        stored.attempts = 0
        stored.notBefore = nil
        stored.workerID = nil
        stored.leaseID = nil
        stored.startedAt = nil
        stored.stopReason = nil
        stored.pushTokenUUID = nil
        stored.finishedAt = nil
        stored.logCount = 0
        stored.heartbeatAt = nil
        stored.runningSlot = nil
        return stored
    }

    public func build(uuid: String) async throws -> BuildRecord? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE uuid = \(bind: uuid)").first().map(Self.build(from:))
        }
    }

    public func builds(repositoryID: Int64, since: Int64?, limit: Int) async throws -> [BuildRecord] {
        try await database.read { db in
            var q: SQLQueryString = "SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE repository_id = \(bind: repositoryID)"
            if let since { q += " AND queued_at >= \(bind: since)" }
            q += " ORDER BY queued_at DESC, id DESC LIMIT \(bind: limit)"
            return try await db.raw(q).all().map(Self.build(from:))
        }
    }

    public func unfinishedBuilds() async throws -> [BuildRecord] {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.buildColumns) FROM builds WHERE finished_at IS NULL ORDER BY queued_at, id").all().map(Self.build(from:))
        }
    }

    /// The lease id a build holds now, as the database has it.
    func buildLeaseID(uuid: String) async throws -> String? {
        try await database.read { db in
            try await db.raw("SELECT lease_id FROM builds WHERE uuid = \(bind: uuid) AND finished_at IS NULL").first()?
                .decode(column: "lease_id", as: String?.self)
        }
    }

    /// The lease a build holds now and the stop decided for it (`cancelled`, `timed-out`), as
    /// the database has them: one indexed row, cheap enough to poll from a held heartbeat.
    func buildLeaseStop(uuid: String) async throws -> (leaseID: String?, stopReason: String?)? {
        try await database.read { db in
            try await db.raw("SELECT lease_id, stop_reason FROM builds WHERE uuid = \(bind: uuid) AND finished_at IS NULL").first().map {
                (try $0.decode(column: "lease_id", as: String?.self), try $0.decode(column: "stop_reason", as: String?.self))
            }
        }
    }

    /// Moves a running build to a new (non-terminal) phase reported by its worker.
    /// Records a worker-reported phase and, the first time the attempt enters it, when: `at`
    /// (the worker's stamp), kept between the lease and now so a skewed worker clock cannot put
    /// a phase before the lease or in the future.
    public func setBuildPhase(uuid: String, leaseID: String, phase: BuildPhase, at: Int64? = nil, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        let stamp = min(at ?? now, now)
        let timing: SQLQueryString
        if let column = Self.phaseColumn(phase) {
            timing = ", \(unsafeRaw: column) = COALESCE(\(unsafeRaw: column), CASE WHEN started_at > \(bind: stamp) THEN started_at ELSE \(bind: stamp) END)"
        } else {
            timing = ""
        }
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE builds SET phase = \(bind: phase.rawValue)\(timing) WHERE uuid = \(bind: uuid) AND lease_id = \(bind: leaseID) AND finished_at IS NULL
                RETURNING id
                """).first() != nil
        }
    }

    public func finishBuild(uuid: String, phase: BuildPhase, error: String?, manifestDigests: [String: String]) async throws {
        try await finishBuild(uuid: uuid, phase: phase, error: error, manifestDigests: manifestDigests, event: nil, finishedAt: Clock.nowMillis())
    }

    /// Which unfinished build a finishing statement may finish.
    enum FinishCondition: Sendable {
        /// Any unfinished build.
        case unfinished
        /// A waiting one (a cancel must not finish a build another replica just leased).
        case waiting
        /// The holder of this lease; with `expiredAfter`, only if its last heartbeat is at
        /// least that many milliseconds old by the statement's clock (lease expiry).
        case lease(String, expiredAfter: Int64?)
    }

    /// Records the final phase, frees the build's running slot, drops the build's sealed secrets
    /// (no attempt needs them any more) and, in the same transaction and
    /// only if this call finished the build, appends its final event and (on PostgreSQL) tells
    /// the other replicas. `finishedAt` is used on SQLite; PostgreSQL takes its own clock.
    /// Returns whether this call finished the build.
    @discardableResult
    func finishBuild(uuid: String, phase: BuildPhase, error: String?, manifestDigests: [String: String], event: BuildEvents.Prepared?,
                     finishedAt: Int64, condition: FinishCondition = .unfinished, origin: String? = nil) async throws -> Bool {
        let digests = String(decoding: try JSONEncoder().encode(manifestDigests), as: UTF8.self)
        let events = self.events
        let now = nowSQL(finishedAt)
        let extra = condition.sql(now: now)
        return try await database.transaction { db in
            guard let row = try await db.raw("""
                UPDATE builds SET phase = \(bind: phase.rawValue), error_message = \(bind: error), manifest_digests = \(bind: digests),
                  finished_at = \(now), lease_id = NULL, running_slot = NULL, build_secrets_sealed = NULL
                WHERE uuid = \(bind: uuid) AND finished_at IS NULL\(extra)
                RETURNING namespace_id, repository_id
                """).first() else { return false }
            if let event {
                try await events.append(NewRepositoryEvent(kind: event.kind, repository: event.repository, payload: event.payload), in: db)
            }
            if let origin {
                try await self.notify([BuildNotice(.finished, buildID: uuid, namespaceID: try row.decode(column: "namespace_id", as: Int64.self),
                                                   repositoryID: try row.decode(column: "repository_id", as: Int64.self), origin: origin)], on: db)
            }
            return true
        }
    }

    func setBuildCacheToken(uuid: String, tokenUUID: String?) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE builds SET cache_token_uuid = \(bind: tokenUUID) WHERE uuid = \(bind: uuid)").run()
        }
    }

    public func setBuildPushToken(uuid: String, tokenUUID: String?) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE builds SET push_token_uuid = \(bind: tokenUUID) WHERE uuid = \(bind: uuid)").run()
        }
    }
}
