import Foundation
import Registry
import SlipwayCore
import SQLKit

extension EventValue {
    /// Compact JSON with sorted keys.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func objectJSON(_ members: [String: EventValue]) -> String { EventValue.object(members).json }

    static func parseObject(_ text: String) -> [String: EventValue] {
        if case .object(let o)? = EventValue.parse(text) { return o }
        return [:]
    }
}

/// The notifications module's store: configured notifications, their deliveries, the
/// fan-out marks over the event outbox, expiry notices, e-mail authorizations and in-app
/// notifications, and no other module's tables (events, tags and repositories are read
/// through `repository_event_view`, `tag_view` and `repository_view`).
public struct NotificationStore: Sendable {
    let database: any Database
    /// The queue deliveries are sent from (`DeliveryJob`), pushed in the transaction that
    /// creates the delivery row.
    let jobs: any JobQueueDriver
    /// Attempts a delivery gets before it fails (`notifications.maxAttempts`).
    let maxAttempts: Int

    public init(database: any Database, jobs: any JobQueueDriver, maxAttempts: Int = 5) {
        self.database = database
        self.jobs = jobs
        self.maxAttempts = max(1, maxAttempts)
    }

    var flavor: SQLFlavor { database.flavor }

    static let notificationColumns: SQLQueryString = """
        id, uuid, repository_id, title, event, method, config, event_config, secret_sealed, number_of_failures, last_error, created_at
        """

    static func notification(from row: any SQLRow) throws -> RepositoryNotification {
        RepositoryNotification(
            id: try row.decode(column: "id", as: Int64.self), uuid: try row.decode(column: "uuid", as: String.self),
            repositoryID: try row.decode(column: "repository_id", as: Int64.self), title: try row.decode(column: "title", as: String?.self),
            event: try row.decode(column: "event", as: String.self), method: try row.decode(column: "method", as: String.self),
            config: EventValue.parseObject(try row.decode(column: "config", as: String.self)),
            eventConfig: EventValue.parseObject(try row.decode(column: "event_config", as: String.self)),
            secretSealed: try row.decode(column: "secret_sealed", as: String?.self),
            numberOfFailures: Int(try row.decode(column: "number_of_failures", as: Int64.self)),
            lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self))
    }

    // MARK: Repository notifications

    public func createNotification(_ new: NewRepositoryNotification, now: Int64 = Clock.nowMillis()) async throws -> RepositoryNotification {
        try await database.transaction { db in
            let row = try await db.raw("""
                INSERT INTO repository_notifications (uuid, repository_id, title, event, method, config, event_config, secret_sealed, expiry_days, created_at)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: new.repositoryID), \(bind: new.title), \(bind: new.event), \(bind: new.method),
                        \(bind: EventValue.objectJSON(new.config)), \(bind: EventValue.objectJSON(new.eventConfig)), \(bind: new.secretSealed),
                        \(bind: new.expiryDays), \(bind: now))
                RETURNING \(Self.notificationColumns)
                """).first()
            guard let row else { throw DomainError.notFound("notification") }
            return try Self.notification(from: row)
        }
    }

    public func notifications(repositoryID: Int64) async throws -> [RepositoryNotification] {
        try await database.read { db in
            try await db.raw("SELECT \(Self.notificationColumns) FROM repository_notifications WHERE repository_id = \(bind: repositoryID) ORDER BY id")
                .all().map(Self.notification(from:))
        }
    }

    public func notification(uuid: String, repositoryID: Int64) async throws -> RepositoryNotification? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(Self.notificationColumns) FROM repository_notifications WHERE uuid = \(bind: uuid) AND repository_id = \(bind: repositoryID)
                """).first().map(Self.notification(from:))
        }
    }

    public func notification(id: Int64) async throws -> RepositoryNotification? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.notificationColumns) FROM repository_notifications WHERE id = \(bind: id)").first().map(Self.notification(from:))
        }
    }

    /// Deletes the notification and its queued deliveries; nil when there was none.
    public func deleteNotification(uuid: String, repositoryID: Int64) async throws -> RepositoryNotification? {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM repository_notifications WHERE uuid = \(bind: uuid) AND repository_id = \(bind: repositoryID)
                RETURNING \(Self.notificationColumns)
                """).first().map(Self.notification(from:))
        }
    }

    /// Sets `number_of_failures` back to 0 (un-pausing the notification); nil when there is none.
    public func resetNotificationFailures(uuid: String, repositoryID: Int64) async throws -> RepositoryNotification? {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE repository_notifications SET number_of_failures = 0
                WHERE uuid = \(bind: uuid) AND repository_id = \(bind: repositoryID)
                RETURNING \(Self.notificationColumns)
                """).first().map(Self.notification(from:))
        }
    }

    // MARK: Deliveries

    static let deliveryColumns: SQLQueryString = """
        id, uuid, notification_id, event, payload, is_test, status, attempts, next_attempt_at, last_error
        """

    static func delivery(from row: any SQLRow) throws -> NotificationDelivery {
        NotificationDelivery(
            id: try row.decode(column: "id", as: Int64.self), uuid: try row.decode(column: "uuid", as: String.self),
            notificationID: try row.decode(column: "notification_id", as: Int64?.self), event: try row.decode(column: "event", as: String.self),
            payload: try row.decode(column: "payload", as: String.self), isTest: try row.decode(column: "is_test", as: Int64.self) != 0,
            status: NotificationDelivery.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
            nextAttemptAt: try row.decode(column: "next_attempt_at", as: Int64.self),
            lastError: try row.decode(column: "last_error", as: String?.self))
    }

    /// Inserts a pending delivery (`values` names the columns after `uuid`) and pushes its job in
    /// the same transaction. Nil when the insert added nothing (`ON CONFLICT DO NOTHING`).
    private func insertDelivery(on db: any SQLDatabase, notificationID: Int64?, _ insert: SQLQueryString) async throws -> NotificationDelivery? {
        guard let row = try await db.raw("\(insert) RETURNING \(Self.deliveryColumns)").first() else { return nil }
        let delivery = try Self.delivery(from: row)
        _ = try await jobs.push(try DeliveryJob.request(deliveryID: delivery.id, uuid: delivery.uuid, notificationID: notificationID,
                                                        maxAttempts: maxAttempts), in: db)
        return delivery
    }

    /// Queues a delivery that is due now (test notifications, verification mails).
    @discardableResult
    public func queueDelivery(notificationID: Int64?, event: String, payload: [String: EventValue], isTest: Bool,
                              now: Int64 = Clock.nowMillis()) async throws -> NotificationDelivery {
        try await database.transaction { db in
            guard let delivery = try await insertDelivery(on: db, notificationID: notificationID, """
                INSERT INTO notification_deliveries (uuid, notification_id, event, payload, is_test, status, next_attempt_at, created_at)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: notificationID), \(bind: event), \(bind: EventValue.objectJSON(payload)),
                        \(bind: isTest ? 1 : 0), 'pending', \(bind: now), \(bind: now))
                """) else { throw DomainError.notFound("delivery") }
            return delivery
        }
    }

    /// Every delivery of a notification, oldest first (tests and diagnostics).
    public func deliveries(notificationID: Int64) async throws -> [NotificationDelivery] {
        try await database.read { db in
            try await db.raw("SELECT \(Self.deliveryColumns) FROM notification_deliveries WHERE notification_id = \(bind: notificationID) ORDER BY id")
                .all().map(Self.delivery(from:))
        }
    }

    public func delivery(id: Int64) async throws -> NotificationDelivery? {
        try await database.read { db in
            try await db.raw("SELECT \(Self.deliveryColumns) FROM notification_deliveries WHERE id = \(bind: id)").first().map(Self.delivery(from:))
        }
    }

    /// The outcome of one attempt.
    public enum DeliveryOutcome: Sendable {
        case delivered
        /// Try again at `at`.
        case retry(error: String, at: Int64)
        /// Given up: counts as a failure of the notification.
        case failed(error: String)
        /// Not sent, and not the receiver's fault (an unconfirmed e-mail address).
        case skipped(reason: String)
    }

    /// Records that delivery `id` failed with `error` (its job was given up), in the caller's
    /// transaction; it counts as a failure of its notification, as any failed delivery does.
    static func recordAbandoned(deliveryID id: Int64, error: String, now: Int64, on db: any SQLDatabase) async throws {
        guard let delivery = try await db.raw("SELECT \(deliveryColumns) FROM notification_deliveries WHERE id = \(bind: id)").first()
            .map(delivery(from:)) else { return }
        try await record(delivery, .failed(error: error), now: now, on: db)
    }

    /// Records an attempt's outcome on the delivery row and its notification, in the
    /// transaction that ends (or reschedules) the delivery's job, so both change or neither
    /// does. A delivered event resets the notification's `number_of_failures` (it counts
    /// consecutive failed events, as Quay's worker does); a failed one increments it.
    static func record(_ delivery: NotificationDelivery, _ outcome: DeliveryOutcome, now: Int64, on db: any SQLDatabase) async throws {
        let pending: SQLQueryString = "WHERE id = \(bind: delivery.id) AND status = 'pending' RETURNING id"
        let updated: (any SQLRow)?
        switch outcome {
        case .delivered:
            updated = try await db.raw("""
                UPDATE notification_deliveries SET status = 'delivered', attempts = attempts + 1, last_error = NULL, finished_at = \(bind: now)
                \(pending)
                """).first()
            if updated != nil, let n = delivery.notificationID {
                try await db.raw("UPDATE repository_notifications SET number_of_failures = 0 WHERE id = \(bind: n)").run()
            }
        case .retry(let error, let at):
            updated = try await db.raw("""
                UPDATE notification_deliveries SET attempts = attempts + 1, last_error = \(bind: error), next_attempt_at = \(bind: at)
                \(pending)
                """).first()
            if updated != nil, let n = delivery.notificationID {
                try await db.raw("UPDATE repository_notifications SET last_error = \(bind: error) WHERE id = \(bind: n)").run()
            }
        case .failed(let error):
            updated = try await db.raw("""
                UPDATE notification_deliveries SET status = 'failed', attempts = attempts + 1, last_error = \(bind: error), finished_at = \(bind: now)
                \(pending)
                """).first()
            if updated != nil, let n = delivery.notificationID {
                try await db.raw("""
                    UPDATE repository_notifications SET number_of_failures = number_of_failures + 1, last_error = \(bind: error) WHERE id = \(bind: n)
                    """).run()
            }
        case .skipped(let reason):
            updated = try await db.raw("""
                UPDATE notification_deliveries SET status = 'skipped', last_error = \(bind: reason), finished_at = \(bind: now)
                \(pending)
                """).first()
            if updated != nil, let n = delivery.notificationID {
                try await db.raw("UPDATE repository_notifications SET last_error = \(bind: reason) WHERE id = \(bind: n)").run()
            }
        }
    }

    // MARK: Fan-out from the event outbox

    /// One outbox event joined with one notification that listens for it.
    struct EventMatch: Sendable {
        let eventID: Int64
        let kind: String
        let payload: String
        let createdAt: Int64
        let notificationID: Int64?
        let eventConfig: String?
    }

    /// Turns outbox events not yet fanned out into deliveries, `batch` events at a time: one
    /// delivery per notification of the event's repository and kind that is not paused, existed
    /// when the event happened and whose filter (`accept`) takes it. Idempotent: events are
    /// marked in the same transaction, and a (notification, event) pair is unique. Returns the
    /// number of events processed.
    ///
    /// Events are found by `created_at` from the watermark minus `lookbackMillis`, not by id: an
    /// event whose transaction commits late (a lower id, visible after higher ones) is still
    /// picked up by a later pass.
    func fanOutEvents(batch: Int, lookbackMillis: Int64, maxFailures: Int, now: Int64,
                      accept: @Sendable (_ kind: String, _ payload: [String: EventValue], _ eventConfig: [String: EventValue]) -> Bool) async throws -> Int {
        let isPostgres = database.flavor == .postgres
        // A cheap read first, so an idle dispatcher does not take SQLite's write lock every poll.
        let anything = try await database.read { db in
            try await db.raw("""
                SELECT ev.id FROM repository_event_view ev JOIN notification_dispatch_state s ON s.name = 'events'
                WHERE ev.created_at >= s.watermark - \(bind: lookbackMillis)
                  AND NOT EXISTS (SELECT 1 FROM notification_event_marks m WHERE m.event_id = ev.id)
                LIMIT 1
                """).first() != nil
        }
        guard anything else { return 0 }
        return try await database.transaction { db in
            let lockClause: SQLQueryString = isPostgres ? " FOR UPDATE" : ""
            let state = try await db.raw("SELECT watermark FROM notification_dispatch_state WHERE name = 'events'\(lockClause)").first()
            let watermark = try state?.decode(column: "watermark", as: Int64.self) ?? 0
            let low = watermark - lookbackMillis
            let rows = try await db.raw("""
                SELECT e.id AS event_id, e.kind, e.payload, e.created_at, n.id AS notification_id, n.event_config
                FROM (SELECT id, kind, repository_id, payload, created_at FROM repository_event_view ev
                      WHERE ev.created_at >= \(bind: low)
                        AND NOT EXISTS (SELECT 1 FROM notification_event_marks m WHERE m.event_id = ev.id)
                      ORDER BY ev.created_at, ev.id LIMIT \(bind: batch)) e
                LEFT JOIN repository_notifications n ON n.repository_id = e.repository_id AND n.event = e.kind
                  AND n.number_of_failures < \(bind: maxFailures) AND n.created_at <= e.created_at
                ORDER BY e.created_at, e.id, n.id
                """).all()
            guard !rows.isEmpty else { return 0 }
            var events: [Int64: Int64] = [:]
            for row in rows {
                let match = EventMatch(
                    eventID: try row.decode(column: "event_id", as: Int64.self), kind: try row.decode(column: "kind", as: String.self),
                    payload: try row.decode(column: "payload", as: String.self), createdAt: try row.decode(column: "created_at", as: Int64.self),
                    notificationID: try row.decode(column: "notification_id", as: Int64?.self),
                    eventConfig: try row.decode(column: "event_config", as: String?.self))
                events[match.eventID] = match.createdAt
                // The collector's repo_image_expiry events are not delivered: the dispatcher's own
                // scan honours each notification's `days` (see `queueExpiryNotices`).
                guard let notificationID = match.notificationID, match.kind != "repo_image_expiry" else { continue }
                let payload = EventValue.parseObject(match.payload)
                guard accept(match.kind, payload, EventValue.parseObject(match.eventConfig ?? "{}")) else { continue }
                _ = try await insertDelivery(on: db, notificationID: notificationID, """
                    INSERT INTO notification_deliveries (uuid, notification_id, event_id, event, payload, status, next_attempt_at, created_at)
                    VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: notificationID), \(bind: match.eventID), \(bind: match.kind),
                            \(bind: match.payload), 'pending', \(bind: now), \(bind: now))
                    ON CONFLICT (notification_id, event_id) DO NOTHING
                    """)
            }
            // One multi-row statement per chunk: this runs under SQLite's write lock, which pushes
            // wait for, so it must be short.
            let marks = Array(events)
            for start in stride(from: 0, to: marks.count, by: 100) {
                let values = marks[start..<min(start + 100, marks.count)].map { "(\(bind: $0.key), \(bind: $0.value))" as SQLQueryString }
                try await db.raw("""
                    INSERT INTO notification_event_marks (event_id, created_at) VALUES \(values.joined(separator: ", ")) ON CONFLICT (event_id) DO NOTHING
                    """).run()
            }
            let newest = max(watermark, events.values.max() ?? watermark)
            try await db.raw("UPDATE notification_dispatch_state SET watermark = \(bind: newest) WHERE name = 'events'").run()
            // Marks far behind the watermark can never be looked at again.
            try await db.raw("DELETE FROM notification_event_marks WHERE created_at < \(bind: newest - lookbackMillis - 86_400_000)").run()
            return events.count
        }
    }

    // MARK: Housekeeping

    /// Drops finished deliveries (and their finished jobs) older than `keepMillis` and expiry
    /// notices of tags that have expired (the scan only looks at tags still to expire, so they
    /// cannot matter again).
    func pruneNotificationHistory(now: Int64, keepMillis: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM notification_deliveries WHERE status <> 'pending' AND finished_at < \(bind: now - keepMillis)
                """).run()
            try await db.raw("DELETE FROM notification_expiry_notices WHERE expiration < \(bind: now - 86_400_000)").run()
        }
        _ = try await jobs.prune(queue: DeliveryJob.queue, finishedBefore: now - keepMillis)
    }

    // MARK: Image expiry

    /// Queues one `repo_image_expiry` delivery per notification whose repository has live tags
    /// expiring within its `days`, listing the tags not yet announced for their current expiry.
    /// Returns the number of deliveries queued.
    func queueExpiryNotices(now: Int64, maxFailures: Int, baseURL: String) async throws -> Int {
        try await database.transaction { db in
            let rows = try await db.raw("""
                SELECT n.id AS notification_id, n.expiry_days, t.id AS tag_id, t.name AS tag_name, t.expiration, r.namespace AS namespace, r.name AS repo_name
                FROM repository_notifications n
                JOIN tag_view t ON t.repository_id = n.repository_id
                JOIN repository_view r ON r.id = n.repository_id
                WHERE n.event = 'repo_image_expiry' AND n.expiry_days IS NOT NULL AND n.number_of_failures < \(bind: maxFailures)
                  AND t.lifetime_end IS NULL AND t.hidden = 0 AND t.expiration IS NOT NULL
                  AND t.expiration > \(bind: now) AND t.expiration <= \(bind: now) + n.expiry_days * 86400000
                  AND NOT EXISTS (SELECT 1 FROM notification_expiry_notices x
                                  WHERE x.notification_id = n.id AND x.tag_id = t.id AND x.expiration = t.expiration)
                ORDER BY n.id, t.name
                """).all()
            struct Group { var days: Int64; var namespace: String; var repo: String; var tags: [String] }
            var groups: [Int64: Group] = [:]
            var order: [Int64] = []
            for row in rows {
                let id = try row.decode(column: "notification_id", as: Int64.self)
                let tag = try row.decode(column: "tag_name", as: String.self)
                if groups[id] == nil {
                    order.append(id)
                    groups[id] = Group(days: try row.decode(column: "expiry_days", as: Int64.self), namespace: try row.decode(column: "namespace", as: String.self),
                                       repo: try row.decode(column: "repo_name", as: String.self), tags: [])
                }
                if !(groups[id]!.tags.contains(tag)) { groups[id]!.tags.append(tag) }
                try await db.raw("""
                    INSERT INTO notification_expiry_notices (notification_id, tag_id, expiration, created_at)
                    VALUES (\(bind: id), \(bind: try row.decode(column: "tag_id", as: Int64.self)), \(bind: try row.decode(column: "expiration", as: Int64.self)), \(bind: now))
                    ON CONFLICT DO NOTHING
                    """).run()
            }
            for id in order {
                guard let g = groups[id] else { continue }
                var payload = NotificationCatalog.base(namespace: g.namespace, name: g.repo, baseURL: baseURL)
                payload["tags"] = .strings(g.tags)
                payload["expiring_in"] = .string("\(g.days) days")
                _ = try await insertDelivery(on: db, notificationID: id, """
                    INSERT INTO notification_deliveries (uuid, notification_id, event, payload, status, next_attempt_at, created_at)
                    VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: id), 'repo_image_expiry', \(bind: EventValue.objectJSON(payload)),
                            'pending', \(bind: now), \(bind: now))
                    """)
            }
            return order.count
        }
    }
}
