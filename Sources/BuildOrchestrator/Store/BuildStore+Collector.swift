import SlipwayCore
import SQLKit

/// What the collector and other blob owners ask of the build farm about archived build logs
/// (blob storage, outside the OCI `blobs` table).
extension BuildStore {
    /// Archived logs of builds in repositories queued for deletion that no build of a
    /// surviving repository shares.
    func logArchivesOfDeletedRepositories() async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT DISTINCT b.log_archive_digest AS digest FROM builds b JOIN repository_view r ON r.id = b.repository_id
                WHERE r.state = 'MARKED_FOR_DELETION' AND b.log_archive_digest IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM builds o JOIN repository_view ro ON ro.id = o.repository_id
                                  WHERE o.log_archive_digest = b.log_archive_digest AND ro.state <> 'MARKED_FOR_DELETION')
                """).all().map { try $0.string("digest") }
        }
    }
}
