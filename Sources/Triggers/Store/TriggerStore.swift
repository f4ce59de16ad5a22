import Accounts
import Foundation
import Registry
import SlipwayCore
import SQLKit

/// The triggers module's store: `build_triggers` and `trigger_activity`, and no other module's
/// tables (repositories and builds are read through `repository_view` and `build_view`).
public struct TriggerStore: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    static let triggerColumns = """
        id, uuid, repository_id, service, connected_user_id, config, public_key, private_key_sealed, url_secret_sealed,
        signing_secret_sealed, pull_robot_id, is_active, enabled, disabled_reason, disabled_at, counters_since, created_at, activated_at,
        ssh_host_keys, build_secrets_sealed
        """

    static func trigger(from row: any SQLRow) throws -> BuildTrigger {
        BuildTrigger(
            id: try row.decode(column: "id", as: Int64.self), uuid: try row.decode(column: "uuid", as: String.self),
            repositoryID: try row.decode(column: "repository_id", as: Int64.self), service: try row.decode(column: "service", as: String.self),
            connectedUserID: try row.decode(column: "connected_user_id", as: Int64?.self),
            config: TriggerConfig(json: try row.decode(column: "config", as: String.self)),
            publicKey: try row.decode(column: "public_key", as: String?.self),
            privateKeySealed: try row.decode(column: "private_key_sealed", as: String?.self),
            urlSecretSealed: try row.decode(column: "url_secret_sealed", as: String?.self),
            signingSecretSealed: try row.decode(column: "signing_secret_sealed", as: String?.self),
            pullRobotID: try row.decode(column: "pull_robot_id", as: Int64?.self),
            isActive: try row.decode(column: "is_active", as: Int.self) != 0, enabled: try row.decode(column: "enabled", as: Int.self) != 0,
            disabledReason: try row.decode(column: "disabled_reason", as: String?.self).flatMap(BuildTrigger.DisabledReason.init(rawValue:)),
            disabledAt: try row.decode(column: "disabled_at", as: Int64?.self),
            countersSince: try row.decode(column: "counters_since", as: Int64.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self), activatedAt: try row.decode(column: "activated_at", as: Int64?.self),
            hostKeys: try row.decode(column: "ssh_host_keys", as: String?.self).flatMap(PinnedHostKeys.init(json:)),
            buildSecretsSealed: try row.decode(column: "build_secrets_sealed", as: String?.self))
    }

    public func createTrigger(uuid: String, repositoryID: Int64, service: String, connectedUserID: Int64) async throws -> BuildTrigger {
        try await database.transaction { db in
            let row = try await db.raw("""
                INSERT INTO build_triggers (uuid, repository_id, service, connected_user_id, created_at)
                VALUES (\(bind: uuid), \(bind: repositoryID), \(bind: service), \(bind: connectedUserID), \(bind: Clock.nowMillis()))
                RETURNING \(unsafeRaw: Self.triggerColumns)
                """).first()!
            return try Self.trigger(from: row)
        }
    }

    public func trigger(uuid: String) async throws -> BuildTrigger? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.triggerColumns) FROM build_triggers WHERE uuid = \(bind: uuid)").first().map(Self.trigger(from:))
        }
    }

    /// What a webhook needs, in one read: the trigger, its repository, and the final phases of
    /// its builds since its counters were reset (newest first, at most `limit`), from which the
    /// auto-disable counters are computed.
    func webhookTarget(uuid: String, phaseLimit limit: Int) async throws -> (BuildTrigger, Repository, finalPhases: [String])? {
        let aggregate = database.flavor == .postgres ? "string_agg" : "group_concat"
        let columns = Self.triggerColumns.split(separator: ",").map { "t." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
        return try await database.read { db in
            guard let row = try await db.raw("""
                SELECT \(unsafeRaw: columns), \(unsafeRaw: RepositoryView.columns("r", prefix: "repo_")),
                  (SELECT \(unsafeRaw: aggregate)(phase, ',' ORDER BY finished_at DESC, id DESC) FROM (
                     SELECT phase, finished_at, id FROM build_view
                     WHERE trigger_id = t.id AND finished_at IS NOT NULL AND finished_at >= t.counters_since
                     ORDER BY finished_at DESC, id DESC LIMIT \(bind: limit)) recent) AS final_phases
                FROM build_triggers t JOIN repository_view r ON r.id = t.repository_id
                WHERE t.uuid = \(bind: uuid)
                """).first() else { return nil }
            let phases = try row.decode(column: "final_phases", as: String?.self)
            return (try Self.trigger(from: row), try RepositoryView.repository(from: row, prefix: "repo_"),
                    phases.map { $0.split(separator: ",").map(String.init) } ?? [])
        }
    }

    public func trigger(id: Int64) async throws -> BuildTrigger? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.triggerColumns) FROM build_triggers WHERE id = \(bind: id)").first().map(Self.trigger(from:))
        }
    }

    public func triggers(repositoryID: Int64) async throws -> [BuildTrigger] {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.triggerColumns) FROM build_triggers WHERE repository_id = \(bind: repositoryID) ORDER BY id")
                .all().map(Self.trigger(from:))
        }
    }

    /// Activates an inactive trigger. Returns false when it was already active (a concurrent
    /// activation won).
    func activateTrigger(id: Int64, config: TriggerConfig, publicKey: String, privateKeySealed: String, urlSecretSealed: String,
                         signingSecretSealed: String?, pullRobotID: Int64?, hostKeys: PinnedHostKeys?,
                         buildSecretsSealed: String? = nil) async throws -> Bool {
        let now = Clock.nowMillis()
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE build_triggers SET config = \(bind: config.json), public_key = \(bind: publicKey),
                  private_key_sealed = \(bind: privateKeySealed), url_secret_sealed = \(bind: urlSecretSealed),
                  signing_secret_sealed = \(bind: signingSecretSealed), pull_robot_id = \(bind: pullRobotID), is_active = 1,
                  activated_at = \(bind: now), counters_since = \(bind: now), ssh_host_keys = \(bind: hostKeys?.json),
                  build_secrets_sealed = \(bind: buildSecretsSealed)
                WHERE id = \(bind: id) AND is_active = 0 RETURNING id
                """).first() != nil
        }
    }

    /// What `PUT .../trigger/{uuid}` changes on an active trigger; nil fields stay as they are.
    /// The deploy key and the webhook URL's secret never change here.
    struct TriggerUpdate: Sendable {
        var config: TriggerConfig?
        var signingSecretSealed: String?
        /// Set (possibly to nil) when the config moved to another server or keys were pasted.
        var hostKeys: PinnedHostKeys??
        /// Set (possibly to nil, "no robot") when the body named `pull_robot`.
        var pullRobotID: Int64??
        /// Set (possibly to nil, "none") when the config named `build_secrets`.
        var buildSecretsSealed: String??
    }

    func updateTrigger(id: Int64, _ update: TriggerUpdate) async throws {
        var sets: [SQLQueryString] = []
        if let config = update.config { sets.append("config = \(bind: config.json)") }
        if let sealed = update.signingSecretSealed { sets.append("signing_secret_sealed = \(bind: sealed)") }
        if let keys = update.hostKeys { sets.append("ssh_host_keys = \(bind: keys?.json)") }
        if let robot = update.pullRobotID { sets.append("pull_robot_id = \(bind: robot)") }
        if let secrets = update.buildSecretsSealed { sets.append("build_secrets_sealed = \(bind: secrets)") }
        guard !sets.isEmpty else { return }
        let statement: SQLQueryString = "UPDATE build_triggers SET \(sets.joined(separator: ", ")) WHERE id = \(bind: id)"
        try await database.transaction { db in
            try await db.raw(statement).run()
        }
    }

    /// Enables or disables a trigger. Enabling clears the reason and resets the failure
    /// counters (only builds finishing from now on count).
    func setTriggerEnabled(id: Int64, enabled: Bool, reason: BuildTrigger.DisabledReason?) async throws {
        let now = Clock.nowMillis()
        try await database.transaction { db in
            if enabled {
                try await db.raw("""
                    UPDATE build_triggers SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, counters_since = \(bind: now)
                    WHERE id = \(bind: id)
                    """).run()
            } else {
                try await db.raw("""
                    UPDATE build_triggers SET enabled = 0, disabled_reason = \(bind: reason?.rawValue), disabled_at = \(bind: now)
                    WHERE id = \(bind: id)
                    """).run()
            }
        }
    }

    @discardableResult
    func deleteTrigger(id: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("DELETE FROM build_triggers WHERE id = \(bind: id) RETURNING id").first() != nil
        }
    }

    static let activityKeep = 50

    /// Claims a webhook delivery id for a trigger. Returns the activity row id, or nil when
    /// the delivery was seen before (its earlier outcome stands).
    func claimDelivery(triggerID: Int64, deliveryID: String, source: String) async throws -> Int64? {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO trigger_activity (trigger_id, source, outcome, delivery_id, created_at)
                VALUES (\(bind: triggerID), \(bind: source), 'pending', \(bind: deliveryID), \(bind: Clock.nowMillis()))
                ON CONFLICT (trigger_id, delivery_id) DO NOTHING RETURNING id
                """).first().map { try $0.decode(column: "id", as: Int64.self) }
        }
    }

    /// The activity recorded for an earlier delivery.
    func deliveryActivity(triggerID: Int64, deliveryID: String) async throws -> (outcome: String, buildUUID: String?, reason: String?)? {
        try await database.read { db in
            try await db.raw("""
                SELECT outcome, build_uuid, reason FROM trigger_activity
                WHERE trigger_id = \(bind: triggerID) AND delivery_id = \(bind: deliveryID)
                """).first().map {
                (try $0.decode(column: "outcome", as: String.self), try $0.decode(column: "build_uuid", as: String?.self),
                 try $0.decode(column: "reason", as: String?.self))
            }
        }
    }

    /// Records what happened, for several webhooks at once (`TriggerActivityLog` batches
    /// them): claimed delivery rows are filled, the rest inserted with one statement. The
    /// table keeps about the newest `activityKeep` entries per trigger: a trigger's older ones
    /// are pruned whenever one of its new rows has an id divisible by 16, which keeps the
    /// webhook path to one short write most of the time.
    func recordTriggerActivities(_ entries: [TriggerActivityLog.Entry]) async throws {
        guard !entries.isEmpty else { return }
        try await database.transaction { db in
            var rowIDs: [(trigger: Int64, row: Int64)] = []
            var inserts: [SQLQueryString] = []
            for e in entries {
                let a = e.activity
                if let claimedRow = e.claimedRow {
                    try await db.raw("""
                        UPDATE trigger_activity SET outcome = \(bind: a.outcome.rawValue), reason = \(bind: a.reason), ref = \(bind: a.ref),
                          commit_sha = \(bind: a.commit), build_uuid = \(bind: a.buildUUID)
                        WHERE id = \(bind: claimedRow)
                        """).run()
                    rowIDs.append((e.triggerID, claimedRow))
                } else {
                    inserts.append("""
                        (\(bind: e.triggerID), \(bind: a.source), \(bind: a.outcome.rawValue), \(bind: a.reason), \(bind: a.ref),
                         \(bind: a.commit), \(bind: a.buildUUID), \(bind: a.createdAt))
                        """)
                }
            }
            if !inserts.isEmpty {
                for row in try await db.raw("""
                    INSERT INTO trigger_activity (trigger_id, source, outcome, reason, ref, commit_sha, build_uuid, created_at)
                    VALUES \(inserts.joined(separator: ", "))
                    RETURNING id, trigger_id
                    """).all() {
                    rowIDs.append((try row.decode(column: "trigger_id", as: Int64.self), try row.decode(column: "id", as: Int64.self)))
                }
            }
            for triggerID in Set(rowIDs.filter { $0.row % 16 == 0 }.map(\.trigger)) {
                try await db.raw("""
                    DELETE FROM trigger_activity WHERE trigger_id = \(bind: triggerID) AND id NOT IN (
                      SELECT id FROM trigger_activity WHERE trigger_id = \(bind: triggerID) ORDER BY id DESC LIMIT \(bind: Self.activityKeep))
                    """).run()
            }
        }
    }

    /// Forgets a claimed delivery that ended in an error the sender should retry (a full
    /// queue, a server error), so the retry is not mistaken for a duplicate.
    func releaseDelivery(row: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM trigger_activity WHERE id = \(bind: row)").run()
        }
    }

    public func triggerActivity(triggerID: Int64, limit: Int) async throws -> [TriggerActivity] {
        try await database.read { db in
            try await db.raw("""
                SELECT source, outcome, reason, ref, commit_sha, build_uuid, created_at FROM trigger_activity
                WHERE trigger_id = \(bind: triggerID) AND outcome <> 'pending' ORDER BY id DESC LIMIT \(bind: limit)
                """).all().map { row in
                TriggerActivity(source: try row.decode(column: "source", as: String.self),
                                outcome: TriggerActivity.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) ?? .refused,
                                reason: try row.decode(column: "reason", as: String?.self), ref: try row.decode(column: "ref", as: String?.self),
                                commit: try row.decode(column: "commit_sha", as: String?.self),
                                buildUUID: try row.decode(column: "build_uuid", as: String?.self),
                                createdAt: try row.decode(column: "created_at", as: Int64.self))
            }
        }
    }

    /// The uuids of a trigger's builds, newest first.
    func triggerBuildUUIDs(triggerID: Int64, limit: Int) async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT uuid FROM build_view WHERE trigger_id = \(bind: triggerID) ORDER BY queued_at DESC, id DESC LIMIT \(bind: limit)
                """).all().map { try $0.decode(column: "uuid", as: String.self) }
        }
    }

    /// Final phases of the trigger's builds that finished after `since`, newest first.
    func triggerFinalPhases(triggerID: Int64, since: Int64, limit: Int) async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT phase FROM build_view WHERE trigger_id = \(bind: triggerID) AND finished_at IS NOT NULL AND finished_at >= \(bind: since)
                ORDER BY finished_at DESC, id DESC LIMIT \(bind: limit)
                """).all().map { try $0.decode(column: "phase", as: String.self) }
        }
    }
}
