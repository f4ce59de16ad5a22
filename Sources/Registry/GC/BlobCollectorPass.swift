import Foundation
import SlipwayCore

/// The OCI core's collector pass after deleted repositories are purged: what the time machine
/// no longer protects goes, online, while pushes continue:
/// 1. manifests nothing keeps (no tag, no parent index, no subject),
/// 2. repository↔blob links no manifest uses (after a grace period),
/// 3. blob rows nothing references → tombstone (the bytes go in SlipwayCore's
///    `BlobDeletionPass`, a round later, unless a push linked the blob again or another owner
///    such as a file drop or a build log archive holds the same digest),
/// 4. upload sessions idle for too long,
/// 5. `repo_image_expiry` events for tags about to expire.
/// Tag rows and the uploads of deleted repositories go before the purge (`TagCollectorPass`).
public struct BlobCollectorPass: CollectorPass {
    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    public var stage: CollectorStage { .afterRepositoryPurge }

    public func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        let store = services.store
        var r = CollectorReport()
        for repo in try await store.repositoriesWithManifests() {
            r.manifests += try await store.collectManifests(repositoryID: repo, now: now, graceMillis: settings.graceSeconds * 1000)
        }
        for repo in try await store.repositoriesWithBlobLinks() {
            r.links += try await store.collectBlobLinks(repositoryID: repo, now: now, graceMillis: settings.graceSeconds * 1000)
        }
        let tombstones = services.tombstones
        while true {
            let batch = try await store.unreferencedBlobs(limit: 1000)
            var progressed = false
            for digest in batch where try await store.tombstoneBlob(digest, now: now, tombstones: tombstones) {
                r.tombstoned += 1
                progressed = true
            }
            if batch.count < 1000 || !progressed { break }
        }
        for id in try await store.staleUploads(now: now, idleMillis: settings.uploadIdleSeconds * 1000) {
            services.uploads.forget(id)
            try? await services.storage.deleteUpload(id)
            try await store.deleteUpload(id: id)
            r.uploads += 1
        }
        r.expiryNotices = try await emitExpiryNotices(now: now, settings: settings)
        return r
    }

    /// One `repo_image_expiry` event per tag expiry (not per pass): the dedup key names the tag
    /// row and its expiry, so a changed expiry is announced again.
    func emitExpiryNotices(now: Int64, settings: CollectorSettings) async throws -> Int {
        var emitted = 0
        let soon = try await services.store.tagsExpiringSoon(now: now, withinMillis: settings.expiryNoticeDays * 86_400_000)
        for tag in soon {
            let days = max(0, (tag.expiration - now) / 86_400_000)
            let payload: [String: EventValue] = [
                "repository": .string(tag.repository.path.description), "namespace": .string(tag.repository.namespace),
                "name": .string(tag.repository.name), "tags": .strings([tag.name]), "expiring_in": .int(days),
                "expiration": .int(tag.expiration / 1000),
            ]
            if try await services.events.emit(kind: .repoImageExpiry, repository: tag.repository, payload: payload,
                                              dedupKey: "repo_image_expiry:\(tag.tagID):\(tag.expiration)") {
                emitted += 1
            }
        }
        return emitted
    }
}
