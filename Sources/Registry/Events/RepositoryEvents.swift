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

/// JSON values in event payloads (and anything else that carries free-form JSON, such as a
/// build's `trigger_metadata`).
public enum EventValue: Sendable, Codable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case strings([String])
    case array([EventValue])
    case object([String: EventValue])
    case null

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .strings(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }

    /// Tries the shapes in the order payloads use them (strings, then objects, then arrays):
    /// every wrong guess is a thrown `DecodingError`, which is what made decoding slow.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var object: [String: EventValue] = [:]
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(EventValue.self, forKey: key) }
            self = .object(object)
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var elements: [EventValue] = []
            while !unkeyed.isAtEnd { elements.append(try unkeyed.decode(EventValue.self)) }
            // A list of strings (or an empty list) stays `.strings`, as tags and digests are.
            let strings = elements.compactMap(\.stringValue)
            self = strings.count == elements.count ? .strings(strings) : .array(elements)
            return
        }
        if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .int(v) }
        else { self = .int(Int64(try c.decode(Double.self))) }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The string, when this is one.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The member `key`, when this is an object that has it.
    public subscript(key: String) -> EventValue? { if case .object(let o) = self { return o[key] } else { return nil } }

    /// Parses a JSON document (nil when it is not valid JSON).
    public static func parse(_ text: String) -> EventValue? {
        try? JSONDecoder().decode(EventValue.self, from: Data(text.utf8))
    }
}

extension MetadataStore {
    /// Records an event. With a `dedupKey`, emitting the same event twice records it once.
    /// Returns false when it was a duplicate.
    @discardableResult
    public func emitEvent(kind: String, repository: Repository, payload: [String: EventValue], dedupKey: String? = nil) async throws -> Bool {
        try await database.transaction { db in
            try await Self.insertEvent(on: db, kind: kind, repository: repository, payload: payload, dedupKey: dedupKey)
        }
    }

    /// Records an event inside the caller's transaction, so it commits (or not) together with
    /// the change it announces.
    @discardableResult
    public static func insertEvent(on db: any SQLDatabase, kind: String, repository: Repository, payload: [String: EventValue],
                                   dedupKey: String? = nil) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        let row = try await db.raw("""
            INSERT INTO repository_events (uuid, kind, repository_id, namespace_name, repository_name, payload, dedup_key, created_at)
            VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: kind), \(bind: repository.id), \(bind: repository.namespace),
                    \(bind: repository.name), \(bind: json), \(bind: dedupKey), \(bind: Clock.nowMillis()))
            ON CONFLICT (dedup_key) DO NOTHING RETURNING id
            """).first()
        return row != nil
    }

    /// Records several events (without dedup keys) with one statement inside the caller's
    /// transaction: the batched form of `insertEvent`, for group commits.
    public static func insertEvents(on db: any SQLDatabase, _ events: [(kind: String, repository: Repository, payload: [String: EventValue])]) async throws {
        guard !events.isEmpty else { return }
        let encoder = JSONEncoder()
        let now = Clock.nowMillis()
        var rows: [SQLQueryString] = []
        for e in events {
            let json = String(decoding: try encoder.encode(e.payload), as: UTF8.self)
            rows.append("""
                (\(bind: UUID().uuidString.lowercased()), \(bind: e.kind), \(bind: e.repository.id), \(bind: e.repository.namespace),
                 \(bind: e.repository.name), \(bind: json), \(bind: now))
                """)
        }
        try await db.raw("""
            INSERT INTO repository_events (uuid, kind, repository_id, namespace_name, repository_name, payload, created_at)
            VALUES \(rows.joined(separator: ", "))
            """).run()
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

    /// Live tags whose expiry falls within `withinMillis` from now.
    public func tagsExpiringSoon(now: Int64, withinMillis: Int64) async throws -> [(tagID: Int64, name: String, expiration: Int64, repository: Repository)] {
        try await database.read { db in
            try await db.raw("""
                SELECT t.id AS tag_id, t.name AS tag_name, t.expiration, r.id, r.namespace_id, n.name AS namespace, r.name, r.visibility, r.state
                FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN namespaces n ON n.id = r.namespace_id
                WHERE t.lifetime_end IS NULL AND t.hidden = 0 AND t.expiration IS NOT NULL
                  AND t.expiration > \(bind: now) AND t.expiration <= \(bind: now + withinMillis)
                """).all().map { row in
                (try row.int64("tag_id"), try row.string("tag_name"), try row.int64("expiration"), try Self.repository(from: row))
            }
        }
    }
}
