import SlipwayCore
import SQLKit

/// The build farm's collector pass for uploaded build contexts: file drops no build was started
/// from go `builds.fileDropTTLSeconds` after their creation, used ones once their builds have
/// finished. It runs after the purge, so the drops of a deleted repository's builds count as
/// unused from then on. Their bytes go in the byte deletion pass unless another owner (a pushed
/// layer, another drop with the same content) still holds them.
struct FileDropExpiryPass: CollectorPass {
    let store: BuildStore
    let tombstones: BlobTombstones

    var stage: CollectorStage { .afterRepositoryPurge }

    func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        var expired = 0
        while true {
            let n = try await store.expireFileDrops(now: now, ttlMillis: settings.fileDropTTLSeconds * 1000, tombstones: tombstones)
            expired += n
            if n < 1000 { break }
        }
        return CollectorReport(["fileDrops": expired])
    }
}

/// File drops as owners of stored bytes: the content of every drop not yet expired.
struct FileDropOwner: BlobOwner {
    var name: String { "filedrop" }

    func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String> {
        try await Self.selectDigests(among: digests, column: "digest", in: db) { chunk in
            "SELECT DISTINCT digest FROM filedrops WHERE digest IN (\(binds: chunk))"
        }
    }
}
