import Foundation
import SlipwayCore
import SQLKit

/// Manifest labels: from the image config at push time (`manifest`) or added through the API (`api`).
extension MetadataStore {
    public struct Label: Sendable, Encodable {
        public let id: String
        public let key: String
        public let value: String
        public let source_type: String
        public let media_type: String
    }

    static func label(from row: any SQLRow) throws -> Label {
        Label(id: try row.string("uuid"), key: try row.string("label_key"), value: try row.string("label_value"),
              source_type: try row.string("source_type"), media_type: try row.string("media_type"))
    }

    public func labels(manifestID: Int64, prefix: String?) async throws -> [Label] {
        try await database.read { db in
            var q: SQLQueryString = """
                SELECT uuid, label_key, label_value, source_type, media_type FROM manifest_labels WHERE manifest_id = \(bind: manifestID)
                """
            if let prefix, !prefix.isEmpty { q += " AND substr(label_key, 1, \(bind: prefix.count)) = \(bind: prefix)" }
            q += " ORDER BY label_key, id"
            return try await db.raw(q).all().map(Self.label(from:))
        }
    }

    public func addLabel(manifestID: Int64, key: String, value: String, source: String, mediaType: String) async throws -> Label {
        try await database.transaction { db in
            let uuid = UUID().uuidString.lowercased()
            try await db.raw("""
                INSERT INTO manifest_labels (uuid, manifest_id, label_key, label_value, source_type, media_type, created_at)
                VALUES (\(bind: uuid), \(bind: manifestID), \(bind: key), \(bind: value), \(bind: source), \(bind: mediaType), \(bind: Clock.nowMillis()))
                """).run()
            return Label(id: uuid, key: key, value: value, source_type: source, media_type: mediaType)
        }
    }

    public func label(manifestID: Int64, id: String) async throws -> Label? {
        try await database.read { db in
            try await db.raw("""
                SELECT uuid, label_key, label_value, source_type, media_type FROM manifest_labels WHERE manifest_id = \(bind: manifestID) AND uuid = \(bind: id)
                """).first().map(Self.label(from:))
        }
    }

    public func deleteLabel(manifestID: Int64, id: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM manifest_labels WHERE manifest_id = \(bind: manifestID) AND uuid = \(bind: id)").run()
        }
    }

    /// Replaces the labels that came from the image config (idempotent on re-push).
    public func replaceManifestLabels(manifestID: Int64, labels: [String: String]) async throws {
        try await database.transaction { db in
            try await Self.replaceManifestLabels(db: db, manifestID: manifestID, labels: labels, now: Clock.nowMillis())
        }
    }

    /// `replaceManifestLabels` inside a transaction the caller holds (a manifest's first push).
    static func replaceManifestLabels(db: any SQLDatabase, manifestID: Int64, labels: [String: String], now: Int64) async throws {
        try await db.raw("DELETE FROM manifest_labels WHERE manifest_id = \(bind: manifestID) AND source_type = 'manifest'").run()
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            try await db.raw("""
                INSERT INTO manifest_labels (uuid, manifest_id, label_key, label_value, source_type, media_type, created_at)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: manifestID), \(bind: key), \(bind: value), 'manifest', 'text/plain', \(bind: now))
                """).run()
        }
    }

    /// The value of one label that came from the image config, if the manifest has it.
    static func manifestLabel(db: any SQLDatabase, manifestID: Int64, key: String) async throws -> String? {
        try await db.raw("""
            SELECT label_value FROM manifest_labels WHERE manifest_id = \(bind: manifestID) AND label_key = \(bind: key) AND source_type = 'manifest'
            """).first()?.string("label_value")
    }
}
