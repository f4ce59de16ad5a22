import Registry
import SlipwayCore
import SQLKit

/// The build farm's collector pass: the archived logs of builds in repositories queued for
/// deletion go before the purge removes the build rows that name them, unless another owner
/// (a pushed blob, a log export) holds the same bytes.
struct BuildLogArchivePass: CollectorPass {
    let store: BuildStore
    let storage: any BlobStorageDriver
    /// The other owners of stored bytes, asked before anything is deleted.
    let otherOwners: [any BlobOwner]

    var stage: CollectorStage { .beforeRepositoryPurge }

    func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        let candidates = try await store.logArchivesOfDeletedRepositories()
        guard !candidates.isEmpty else { return CollectorReport() }
        let owners = otherOwners
        let kept = try await store.database.read { db in
            var kept = Set<String>()
            for owner in owners { kept.formUnion(try await owner.referenced(among: candidates, in: db)) }
            return kept
        }
        var deleted = 0
        for digest in candidates where !kept.contains(digest) {
            guard let d = try? Digest(parsing: digest) else { continue }
            try? await storage.delete(d)
            deleted += 1
        }
        return CollectorReport(["buildLogArchives": deleted])
    }
}

/// Archived build logs as owners of stored bytes: the OCI collector keeps bytes a build's
/// log archive shares.
struct BuildLogArchiveOwner: BlobOwner {
    var name: String { "build-log" }

    func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String> {
        try await Self.selectDigests(among: digests, column: "log_archive_digest", in: db) { chunk in
            "SELECT DISTINCT log_archive_digest FROM builds WHERE log_archive_digest IN (\(binds: chunk))"
        }
    }
}
