import SlipwayCore
import SQLKit

extension MetadataStore {
    /// Size of a blob that belongs to the repository (was pushed or mounted there).
    public func blobSize(repositoryID: Int64, digest: Digest) async throws -> Int64? {
        try await database.read { db in
            try await db.raw("""
                SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                WHERE rb.repository_id = \(bind: repositoryID) AND rb.digest = \(bind: digest.description)
                """).first()?.int64("size")
        }
    }

    /// Records that the repository holds a verified blob. Idempotent.
    public func linkBlob(repositoryID: Int64, digest: Digest, size: Int64) async throws {
        let tombstones = BlobTombstones(database: database)
        try await database.transaction { db in
            let now = Clock.nowMillis()
            try await db.raw("""
                INSERT INTO blobs (digest, size, created_at) VALUES (\(bind: digest.description), \(bind: size), \(bind: now))
                ON CONFLICT (digest) DO NOTHING
                """).run()
            try await db.raw("""
                INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (\(bind: repositoryID), \(bind: digest.description), \(bind: now))
                ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at
                """).run()
            // A pending deletion of these bytes is called off (see `BlobTombstones`).
            try await tombstones.remove(digest.description, in: db)
        }
    }

    /// Removes the blob from the repository. Returns false when it was not there.
    public func unlinkBlob(repositoryID: Int64, digest: Digest) async throws -> Bool {
        try await database.transaction { db in
            let row = try await db.raw("""
                DELETE FROM repository_blobs WHERE repository_id = \(bind: repositoryID) AND digest = \(bind: digest.description) RETURNING digest
                """).first()
            return row != nil
        }
    }

    // MARK: Uploads

    public func createUpload(id: String, repositoryID: Int64) async throws {
        try await database.transaction { db in
            let now = Clock.nowMillis()
            try await db.raw("""
                INSERT INTO uploads (id, repository_id, size, created_at, updated_at)
                VALUES (\(bind: id), \(bind: repositoryID), 0, \(bind: now), \(bind: now))
                """).run()
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await database.read { db in
            try await db.raw("SELECT id, repository_id, size FROM uploads WHERE id = \(bind: id)").first().map {
                UploadRecord(id: try $0.string("id"), repositoryID: try $0.int64("repository_id"), size: try $0.int64("size"))
            }
        }
    }

    public func setUploadSize(id: String, size: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE uploads SET size = \(bind: size), updated_at = \(bind: Clock.nowMillis()) WHERE id = \(bind: id)").run()
        }
    }

    public func deleteUpload(id: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM uploads WHERE id = \(bind: id)").run()
        }
    }

    public func uploadsInProgress() async throws -> Int64 {
        try await database.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM uploads").first()!.int64("n")
        }
    }
}
