import SlipwayCore
import SQLKit

/// What the collector asks of the build farm about the bytes it keeps in blob storage outside
/// the OCI tables: archived build logs and uploaded build contexts (file drops).
extension BuildStore {
    /// Lets go of the archived logs of builds in repositories queued for deletion: tombstones
    /// for their digests, before the purge removes the build rows that name them. The bytes go
    /// in the collector's byte deletion pass unless another owner (a surviving build, a pushed
    /// blob, a log export) holds the same digest. Returns how many digests were let go.
    func releaseLogArchivesOfDeletedRepositories(now: Int64, tombstones: BlobTombstones) async throws -> Int {
        try await database.transaction { db in
            let digests = try await db.raw("""
                SELECT DISTINCT b.log_archive_digest AS digest FROM builds b JOIN repository_view r ON r.id = b.repository_id
                WHERE r.state = 'MARKED_FOR_DELETION' AND b.log_archive_digest IS NOT NULL
                """).all().map { try $0.string("digest") }
            try await tombstones.add(digests, now: now, in: db)
            return digests.count
        }
    }

    /// Deletes the file drops nothing needs any more and lets go of their bytes, in one
    /// transaction: drops no build was started from, `ttlMillis` after they were created, and
    /// drops whose builds have all finished (a finished build is never retried, and a new build
    /// needs a new upload). Returns how many drops went.
    func expireFileDrops(now: Int64, ttlMillis: Int64, tombstones: BlobTombstones) async throws -> Int {
        try await database.transaction { db in
            let rows = try await db.raw("""
                DELETE FROM filedrops WHERE file_id IN (
                  SELECT f.file_id FROM filedrops f
                  WHERE CASE WHEN EXISTS (SELECT 1 FROM builds b WHERE b.file_id = f.file_id)
                             THEN NOT EXISTS (SELECT 1 FROM builds b WHERE b.file_id = f.file_id AND b.finished_at IS NULL)
                             ELSE f.created_at <= \(bind: now - ttlMillis) END
                  LIMIT 1000)
                RETURNING digest
                """).all()
            let digests = try rows.compactMap { try $0.decode(column: "digest", as: String?.self) }
            try await tombstones.add(digests, now: now, in: db)
            return rows.count
        }
    }
}
