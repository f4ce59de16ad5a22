import Foundation
import Registry
import SlipwayCore
import SQLKit

/// Uploaded build contexts: `POST /api/v1/filedrop/` reserves an id, `PUT /userfiles/<id>`
/// streams the bytes into blob storage (content-addressed, verified), and a build names the id.
public struct FileDrop: Sendable {
    public let id: String
    public let userID: Int64
    public let mimeType: String
    public let digest: String?
    public let size: Int64?
}

extension BuildStore {
    public func createFileDrop(id: String, userID: Int64, mimeType: String) async throws {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO filedrops (file_id, user_id, mime_type, created_at) VALUES (\(bind: id), \(bind: userID), \(bind: mimeType), \(bind: Clock.nowMillis()))
                """).run()
        }
    }

    public func fileDrop(id: String) async throws -> FileDrop? {
        try await database.read { db in
            try await db.raw("SELECT file_id, user_id, mime_type, digest, size FROM filedrops WHERE file_id = \(bind: id)").first().map {
                FileDrop(id: try $0.decode(column: "file_id", as: String.self), userID: try $0.decode(column: "user_id", as: Int64.self),
                         mimeType: try $0.decode(column: "mime_type", as: String.self), digest: try $0.decode(column: "digest", as: String?.self),
                         size: try $0.decode(column: "size", as: Int64?.self))
            }
        }
    }

    /// Records the upload once; a second upload to the same id is refused (returns false).
    public func completeFileDrop(id: String, digest: String, size: Int64) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE filedrops SET digest = \(bind: digest), size = \(bind: size) WHERE file_id = \(bind: id) AND digest IS NULL RETURNING file_id
                """).first() != nil
        }
    }
}
