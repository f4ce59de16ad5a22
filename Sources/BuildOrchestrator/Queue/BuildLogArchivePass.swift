import SlipwayCore
import SQLKit

/// The build farm's collector pass before the purge: the archived logs of builds in
/// repositories queued for deletion are let go of while the build rows still name them.
struct BuildLogArchivePass: CollectorPass {
    let store: BuildStore
    let tombstones: BlobTombstones

    var stage: CollectorStage { .beforeRepositoryPurge }

    func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        CollectorReport(["buildLogArchives": try await store.releaseLogArchivesOfDeletedRepositories(now: now, tombstones: tombstones)])
    }
}

/// Archived build logs as owners of stored bytes: bytes a build's log archive shares stay.
struct BuildLogArchiveOwner: BlobOwner {
    var name: String { "build-log" }

    func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String> {
        try await Self.selectDigests(among: digests, column: "log_archive_digest", in: db) { chunk in
            "SELECT DISTINCT log_archive_digest FROM builds WHERE log_archive_digest IN (\(binds: chunk))"
        }
    }
}
