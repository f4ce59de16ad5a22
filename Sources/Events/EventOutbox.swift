import Foundation
import SlipwayCore
import SQLKit

/// The internal event path: every repository event (`repo_push`, `build_queued`…,
/// `repo_image_expiry`) is written to the `repository_events` outbox, durably, once. Delivery
/// (webhooks, e-mail, Slack, in-app) reads from there.
public struct RepositoryEvent: Sendable {
    public let uuid: String
    public let kind: String
    public let namespace: String
    public let repository: String
    public let payload: [String: EventValue]
    public let createdAt: Int64
}

/// The repository an event is about: its id and its name at the time (the outbox keeps the
/// name, so an event still reads after the repository is renamed or gone).
public struct EventRepository: Sendable, Equatable {
    public let id: Int64
    public let namespace: String
    public let name: String

    public init(id: Int64, namespace: String, name: String) {
        self.id = id
        self.namespace = namespace
        self.name = name
    }
}

/// An event to record: what happened to which repository, with its payload. With a
/// `dedupKey`, recording the same event twice records it once.
public struct NewRepositoryEvent: Sendable {
    public let kind: RepositoryEventKind
    public let repository: EventRepository
    public let payload: [String: EventValue]
    public let dedupKey: String?

    public init(kind: RepositoryEventKind, repository: EventRepository, payload: [String: EventValue], dedupKey: String? = nil) {
        self.kind = kind
        self.repository = repository
        self.payload = payload
        self.dedupKey = dedupKey
    }
}

/// The `repository_events` outbox. Producers append in the transaction of the change an event
/// announces (`append(_:in:)`), so the event commits with it or not at all; consumers read the
/// `repository_event_view`.
public struct EventOutbox: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    /// Records an event in a transaction of its own. Returns false when it was a duplicate.
    @discardableResult
    public func emit(kind: RepositoryEventKind, repository: EventRepository, payload: [String: EventValue], dedupKey: String? = nil) async throws -> Bool {
        try await database.transaction { db in
            try await append(NewRepositoryEvent(kind: kind, repository: repository, payload: payload, dedupKey: dedupKey), in: db)
        }
    }

    /// Records an event inside the caller's transaction, so it commits (or not) together with
    /// the change it announces. Returns false when it was a duplicate.
    @discardableResult
    public func append(_ event: NewRepositoryEvent, in db: any SQLDatabase) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(event.payload), as: UTF8.self)
        let row = try await db.raw("""
            INSERT INTO repository_events (uuid, kind, repository_id, namespace_name, repository_name, payload, dedup_key, created_at)
            VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: event.kind.rawValue), \(bind: event.repository.id), \(bind: event.repository.namespace),
                    \(bind: event.repository.name), \(bind: json), \(bind: event.dedupKey), \(bind: Clock.nowMillis()))
            ON CONFLICT (dedup_key) DO NOTHING RETURNING id
            """).first()
        return row != nil
    }

    /// Records several events (their dedup keys are not used) with one statement inside the
    /// caller's transaction: the batched form of `append`, for group commits.
    public func append(_ events: [NewRepositoryEvent], in db: any SQLDatabase) async throws {
        guard !events.isEmpty else { return }
        let encoder = JSONEncoder()
        let now = Clock.nowMillis()
        var rows: [SQLQueryString] = []
        for e in events {
            let json = String(decoding: try encoder.encode(e.payload), as: UTF8.self)
            rows.append("""
                (\(bind: UUID().uuidString.lowercased()), \(bind: e.kind.rawValue), \(bind: e.repository.id), \(bind: e.repository.namespace),
                 \(bind: e.repository.name), \(bind: json), \(bind: now))
                """)
        }
        try await db.raw("""
            INSERT INTO repository_events (uuid, kind, repository_id, namespace_name, repository_name, payload, created_at)
            VALUES \(rows.joined(separator: ", "))
            """).run()
    }

    /// `append` for many events, each kept at most once by its dedup key, a few hundred rows per
    /// statement inside the caller's transaction (a re-match can announce tens of thousands).
    public func appendOnce(_ events: [NewRepositoryEvent], in db: any SQLDatabase) async throws {
        let encoder = JSONEncoder()
        let now = Clock.nowMillis()
        var start = 0
        while start < events.count {
            let chunk = events[start..<min(start + 200, events.count)]
            var rows: [SQLQueryString] = []
            for e in chunk {
                let json = String(decoding: try encoder.encode(e.payload), as: UTF8.self)
                rows.append("""
                    (\(bind: UUID().uuidString.lowercased()), \(bind: e.kind.rawValue), \(bind: e.repository.id), \(bind: e.repository.namespace),
                     \(bind: e.repository.name), \(bind: json), \(bind: e.dedupKey), \(bind: now))
                    """)
            }
            try await db.raw("""
                INSERT INTO repository_events (uuid, kind, repository_id, namespace_name, repository_name, payload, dedup_key, created_at)
                VALUES \(rows.joined(separator: ", ")) ON CONFLICT (dedup_key) DO NOTHING
                """).run()
            start += chunk.count
        }
    }

    public func events(kind: String? = nil, repositoryID: Int64? = nil, limit: Int = 100) async throws -> [RepositoryEvent] {
        try await database.read { db in
            var q: SQLQueryString = "SELECT uuid, kind, namespace_name, repository_name, payload, created_at FROM repository_events WHERE 1 = 1"
            if let kind { q += " AND kind = \(bind: kind)" }
            if let repositoryID { q += " AND repository_id = \(bind: repositoryID)" }
            q += " ORDER BY id LIMIT \(bind: limit)"
            return try await db.raw(q).all().map { row in
                RepositoryEvent(uuid: try row.string("uuid"), kind: try row.string("kind"), namespace: try row.string("namespace_name"),
                                repository: try row.string("repository_name"),
                                payload: (try? JSONDecoder().decode([String: EventValue].self, from: Data(try row.string("payload").utf8))) ?? [:],
                                createdAt: try row.int64("created_at"))
            }
        }
    }
}
