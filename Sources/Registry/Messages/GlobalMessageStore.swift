import Foundation
import SlipwayCore
import SQLKit

/// A message every page shows as a banner (Quay's "scheduled maintenance banner").
public struct GlobalMessage: Sendable, Equatable, Encodable {
    public enum MediaType: String, Sendable, CaseIterable, Codable {
        case markdown = "text/markdown"
        case plain = "text/plain"
    }

    public enum Severity: String, Sendable, CaseIterable, Codable {
        case info, warning, error
    }

    public let uuid: String
    public let content: String
    public let mediaType: MediaType
    public let severity: Severity

    enum CodingKeys: String, CodingKey {
        case uuid, content, severity
        case mediaType = "media_type"
    }
}

/// The `global_messages` table (`RegistrySchema` version 4).
public struct GlobalMessageStore: Sendable {
    let database: any Database

    public init(database: any Database) { self.database = database }

    /// Every message, oldest first.
    public func all() async throws -> [GlobalMessage] {
        try await database.read { db in
            try await db.raw("SELECT uuid, content, media_type, severity FROM global_messages ORDER BY id").all().map { row in
                GlobalMessage(uuid: try row.string("uuid"), content: try row.string("content"),
                              mediaType: GlobalMessage.MediaType(rawValue: try row.string("media_type")) ?? .plain,
                              severity: GlobalMessage.Severity(rawValue: try row.string("severity")) ?? .info)
            }
        }
    }

    @discardableResult
    public func create(content: String, mediaType: GlobalMessage.MediaType, severity: GlobalMessage.Severity) async throws -> GlobalMessage {
        let message = GlobalMessage(uuid: UUID().uuidString.lowercased(), content: content, mediaType: mediaType, severity: severity)
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO global_messages (uuid, content, media_type, severity, created_at)
                VALUES (\(bind: message.uuid), \(bind: content), \(bind: mediaType.rawValue), \(bind: severity.rawValue), \(bind: Clock.nowMillis()))
                """).run()
        }
        return message
    }

    /// Whether a message was deleted.
    public func delete(uuid: String) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("DELETE FROM global_messages WHERE uuid = \(bind: uuid) RETURNING id").first() != nil
        }
    }
}

extension RegistryServices {
    /// The banner messages, over the shared database handle.
    public var globalMessages: GlobalMessageStore { GlobalMessageStore(database: store.database) }
}
