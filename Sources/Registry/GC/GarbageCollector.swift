import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SlipwayCore

/// Removes what the time machine no longer protects, online, while pushes continue:
/// 1. tag rows past their namespace's window,
/// 2. repositories queued for deletion,
/// 3. manifests nothing keeps (no tag, no parent index, no subject),
/// 4. repository↔blob links no manifest uses (after a grace period),
/// 5. blob rows nothing references → tombstone; one pass later the bytes go, unless a push
///    linked the blob again (a push links before it publishes, so it always wins),
/// 6. upload sessions idle for too long.
public final class GarbageCollector: Service, Sendable {
    public struct Settings: Sendable {
        public var interval: Duration = .seconds(30)
        /// How long fresh, still-unreferenced manifests and blob links are protected.
        public var graceSeconds: Int64 = 3600
        /// How long a tombstoned blob's bytes wait before deletion.
        public var tombstoneSeconds: Int64 = 60
        public var uploadIdleSeconds: Int64 = 2 * 86_400
        /// `repo_image_expiry` is emitted this many days before a tag expires.
        public var expiryNoticeDays: Int64 = 7
        public init() {}
    }

    public struct PassResult: Sendable, Equatable {
        public var tags = 0, repositories = 0, manifests = 0, links = 0, tombstoned = 0, blobsDeleted = 0, uploads = 0, expiryNotices = 0
    }

    let services: RegistryServices
    let settings: Settings
    private let passes = Counter(label: "slipway_gc_passes_total")
    private let deletedBlobs = Counter(label: "slipway_gc_blobs_deleted_total")

    public init(services: RegistryServices, settings: Settings) {
        self.services = services
        self.settings = settings
    }

    public func run() async throws {
        // A pass in progress finishes; the wait between passes ends at once on shutdown.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let r = try await self.runPass()
                    if r != PassResult() {
                        self.services.logger.info("garbage collection pass", metadata: [
                            "tags": "\(r.tags)", "manifests": "\(r.manifests)", "blobs": "\(r.blobsDeleted)", "uploads": "\(r.uploads)"])
                    }
                } catch is CancellationError {
                    return
                } catch {
                    self.services.logger.error("garbage collection pass failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.settings.interval)
            }
        }
    }

    /// One `repo_image_expiry` event per tag expiry (not per pass): the dedup key names the tag
    /// row and its expiry, so a changed expiry is announced again.
    func emitExpiryNotices(now: Int64) async throws -> Int {
        var emitted = 0
        let soon = try await services.store.tagsExpiringSoon(now: now, withinMillis: settings.expiryNoticeDays * 86_400_000)
        for tag in soon {
            let days = max(0, (tag.expiration - now) / 86_400_000)
            let payload: [String: EventValue] = [
                "repository": .string(tag.repository.path.description), "namespace": .string(tag.repository.namespace),
                "name": .string(tag.repository.name), "tags": .strings([tag.name]), "expiring_in": .int(days),
                "expiration": .int(tag.expiration / 1000),
            ]
            if try await services.store.emitEvent(kind: "repo_image_expiry", repository: tag.repository, payload: payload,
                                                  dedupKey: "repo_image_expiry:\(tag.tagID):\(tag.expiration)") {
                emitted += 1
            }
        }
        return emitted
    }

    @discardableResult
    public func runPass(now: Int64 = Clock.nowMillis()) async throws -> PassResult {
        let store = services.store
        var r = PassResult()
        r.tags = try await store.collectTags(now: now)
        for id in try await store.uploadsOfDeletedRepositories() {
            services.uploads.forget(id)
            try? await services.storage.deleteUpload(id)
            try await store.deleteUpload(id: id)
        }
        // Archived build logs live in blob storage outside the `blobs` table: their bytes go
        // before the build rows that name them are purged with the repository.
        for digest in try await store.buildLogArchivesOfDeletedRepositories() {
            if let d = try? Digest(parsing: digest) { try? await services.storage.delete(d) }
        }
        r.repositories = try await store.purgeDeletedRepositories()
        for repo in try await store.repositoriesWithManifests() {
            r.manifests += try await store.collectManifests(repositoryID: repo, now: now, graceMillis: settings.graceSeconds * 1000)
        }
        for repo in try await store.repositoriesWithBlobLinks() {
            r.links += try await store.collectBlobLinks(repositoryID: repo, now: now, graceMillis: settings.graceSeconds * 1000)
        }
        // Bytes of blobs tombstoned in an earlier pass.
        for digest in try await store.dueBlobDeletions(before: now - settings.tombstoneSeconds * 1000, limit: 10_000) {
            let storage = services.storage
            let claimed = try await store.claimBlobDeletion(digest) {
                guard let d = try? Digest(parsing: digest), try await storage.stat(d) != nil else { return }
                try await storage.delete(d)
            }
            if claimed {
                r.blobsDeleted += 1
            } else {
                try await store.dropBlobTombstone(digest)
            }
        }
        while true {
            let batch = try await store.unreferencedBlobs(limit: 1000)
            var progressed = false
            for digest in batch where try await store.tombstoneBlob(digest, now: now) {
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
        r.expiryNotices = try await emitExpiryNotices(now: now)
        passes.increment()
        deletedBlobs.increment(by: r.blobsDeleted)
        return r
    }
}
