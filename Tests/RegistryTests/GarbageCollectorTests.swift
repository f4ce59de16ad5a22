import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Garbage collection and the time machine")
struct GarbageCollectorTests {
    static func collector(_ registry: TestRegistry, grace: Int64 = 0) -> Collector {
        var s = CollectorSettings()
        s.graceSeconds = grace
        s.tombstoneSeconds = 0
        return registry.collector(s)
    }

    static func setWindow(_ registry: TestRegistry, _ ns: String, seconds: Int64) async throws {
        let namespace = try #require(try await registry.services.accounts.namespace(named: ns))
        _ = try await registry.services.store.database.transaction { db in
            try await db.raw("UPDATE namespaces SET tag_expiration_s = \(bind: seconds) WHERE id = \(bind: namespace.id)").run()
        }
    }

    static func storedBlobCount(_ registry: TestRegistry) throws -> Int {
        let root = registry.directory + "/storage/blobs/sha256"
        return (try FileManager.default.subpathsOfDirectory(atPath: root)).filter { $0.count > 3 }.count
    }

    @Test(arguments: TestBackend.available)
    func deletedTagsAreRestorableUntilTheWindowCloses(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push,*"]))
            let shared = Array("shared layer".utf8)
            let (keep, _) = try await c.pushImage("admin/app", tag: "keep", token: token, layer: shared)
            let (gone, _) = try await c.pushImage("admin/app", tag: "gone", token: token, layer: Array("unique layer".utf8))
            let gc = Self.collector(registry)
            let before = try Self.storedBlobCount(registry)
            #expect(try await c.send(.delete, "/v2/admin/app/manifests/gone", token: token).status == .accepted)

            // Inside the window (default 14 days) nothing is collected and the tag restores.
            try await gc.runPass()
            try await gc.runPass()
            #expect(try Self.storedBlobCount(registry) == before)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            #expect(try await registry.services.store.restoreTag(repositoryID: repo.id, name: "gone", digest: gone, windowSeconds: 1_209_600) == .restored)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/gone", token: token).status == .ok)

            // Window 0: delete again; two passes remove the tag history, the manifest and its unique blob.
            try await Self.setWindow(registry, "admin", seconds: 0)
            #expect(try await c.send(.delete, "/v2/admin/app/manifests/gone", token: token).status == .accepted)
            try await Task.sleep(for: .milliseconds(5))
            let first = try await gc.runPass()
            #expect(first.tags >= 1)
            #expect(first.manifests == 1)
            let second = try await gc.runPass()
            #expect(second.blobsDeleted >= 1)
            #expect(try Self.storedBlobCount(registry) == before - 1, "only the unique layer goes")
            #expect(try await registry.services.store.restoreTag(repositoryID: repo.id, name: "gone", digest: gone, windowSeconds: 0) == .neverInRepository)
            #expect(try await registry.services.store.manifest(repositoryID: repo.id, digest: gone) == nil)

            // The surviving tag still pulls, blobs and all.
            let manifest = try await c.send(.get, "/v2/admin/app/manifests/keep", token: token)
            #expect(manifest.headers[.dockerContentDigest] == keep.description)
            let doc = try ManifestDocument(bytes: Array(buffer: manifest.body), contentType: nil)
            for blob in doc.referencedBlobs {
                #expect(try await c.send(.get, "/v2/admin/app/blobs/\(blob.digest)", token: token).status == .ok)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func indexChildrenReferrersAndGrace(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/multi:pull,push,*"]))
            let (a, aBytes) = try await c.pushImage("admin/multi", tag: "a", token: token)
            let (b, bBytes) = try await c.pushImage("admin/multi", tag: "b", token: token)
            let index = TestManifests.index([(a, aBytes.count), (b, bBytes.count)])
            _ = try await c.send(.put, "/v2/admin/multi/manifests/all", token: token, headers: [.contentType: MediaTypes.ociIndex], body: ByteBuffer(bytes: index))
            let config = try await c.pushBlob("admin/multi", Array("{}".utf8), token: token)
            let sig = TestManifests.image(config: (config, 2), layers: [], subject: (a, aBytes.count), artifactType: "application/x.sig")
            _ = try await c.send(.put, "/v2/admin/multi/manifests/\(Digest.sha256(of: sig))", token: token,
                                 headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: sig))
            try await Self.setWindow(registry, "admin", seconds: 0)
            // Drop the children's own tags: the index keeps them, and the signature follows its subject.
            _ = try await c.send(.delete, "/v2/admin/multi/manifests/a", token: token)
            _ = try await c.send(.delete, "/v2/admin/multi/manifests/b", token: token)
            try await Task.sleep(for: .milliseconds(5))
            let gc = Self.collector(registry)
            try await gc.runPass()
            try await gc.runPass()
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "multi")))
            let store = registry.services.store
            // a and b were deleted by digest (hidden), but their rows survive as children of the index.
            #expect(try await store.referrers(repositoryID: repo.id, subject: a, artifactType: nil).count == 1)
            #expect(try await c.send(.get, "/v2/admin/multi/manifests/all", token: token).status == .ok)

            // Untag the index: everything goes.
            _ = try await c.send(.delete, "/v2/admin/multi/manifests/all", token: token)
            try await Task.sleep(for: .milliseconds(5))
            let r = try await gc.runPass()
            #expect(r.manifests == 4)
            try await gc.runPass()
            #expect(try Self.storedBlobCount(registry) == 0)

            // Grace protects fresh, not-yet-referenced manifests and blobs.
            let (fresh, _) = try await c.pushImage("admin/multi", tag: "fresh", token: token)
            _ = try await c.send(.delete, "/v2/admin/multi/manifests/fresh", token: token)
            let graceful = Self.collector(registry, grace: 3600)
            _ = try await graceful.runPass()
            #expect(try await store.database.read { db in
                try await db.raw("SELECT id FROM manifests WHERE digest = \(bind: fresh.description)").first()
            } != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func staleUploadsAndDeletedRepositories(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/doomed:pull,push"]))
            try await c.pushImage("admin/doomed", tag: "v1", token: token, layer: Array("doomed layer".utf8))
            let start = try await c.send(.post, "/v2/admin/doomed/blobs/uploads/", token: token)
            _ = try await c.send(.patch, try #require(start.headers[.location]), token: token, body: ByteBuffer(string: "half"))
            var settings = CollectorSettings()
            settings.graceSeconds = 0
            settings.tombstoneSeconds = 0
            settings.uploadIdleSeconds = 0
            let gc = registry.collector(settings)
            try await Task.sleep(for: .milliseconds(5))
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "doomed")))
            try await registry.services.accounts.markForDeletion(repositoryID: repo.id)
            let r1 = try await gc.runPass()
            #expect(r1.repositories == 1)
            try await gc.runPass()
            #expect(try Self.storedBlobCount(registry) == 0)
            #expect(try await registry.services.store.uploadsInProgress() == 0)
            let uploads = try FileManager.default.contentsOfDirectory(atPath: registry.directory + "/storage/uploads")
            #expect(uploads.isEmpty)
        }
    }

    /// A build's archived log and a pushed blob with the same bytes: the OCI collector drops
    /// its blob row, but the bytes stay while the build log (another owner) still needs them.
    @Test(arguments: TestBackend.available)
    func bytesSharedWithABuildLogArchiveOutliveTheBlob(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let store = registry.services.store
            let accounts = registry.services.accounts
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/shared:pull,push"]))
            let bytes = Array("a build log and a layer with identical bytes".utf8)
            let digest = try await c.pushBlob("admin/shared", bytes, token: token)
            let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "admin", name: "shared")))
            let build = try await registry.buildFarm.store.insertBuild(BuildRecord(
                repository: repo, sourceKind: "git", gitURL: "https://git.example.com/a.git", commitSHA: "abc",
                dockerfilePath: "Dockerfile", context: "", tags: ["v1"], displayName: "abc", manualUserID: nil))
            // The build's log was archived to blob storage under the same digest.
            try await registry.database.transaction { db in
                try await db.raw("UPDATE builds SET log_archive_digest = \(bind: digest.description) WHERE id = \(bind: build.id)").run()
            }
            #expect(try await store.unlinkBlob(repositoryID: repo.id, digest: digest))
            let gc = Self.collector(registry)
            let first = try await gc.runPass()
            #expect(first.tombstoned == 1, "the blob row goes")
            try await Task.sleep(for: .milliseconds(5))
            let second = try await gc.runPass()
            #expect(second.blobsDeleted == 0)
            #expect(try await registry.services.storage.stat(digest) != nil, "the build log still holds the bytes")
        }
    }

    /// The interleaving CI once hit: the collector claims a tombstone and, before it removes the
    /// bytes, a push links the same blob and publishes it. The link must wait for the deletion,
    /// so the bytes published afterwards survive.
    @Test(arguments: TestBackend.available)
    func linkWaitsForAClaimedDeletion(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let store = registry.services.store
            let accounts = registry.services.accounts
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/race:pull,push"]))
            let bytes = Array("raced blob".utf8)
            let digest = try await c.pushBlob("admin/race", bytes, token: token)
            let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "admin", name: "race")))
            #expect(try await store.unlinkBlob(repositoryID: repo.id, digest: digest))
            #expect(try await store.tombstoneBlob(digest.description, now: Clock.nowMillis(), tombstones: registry.services.tombstones))

            let linked = ManagedAtomicFlag()
            let deletion = SlipwayApplication.blobDeletionPass(services: registry.services, modules: registry.modules)
            let claimed = try await deletion.deleteIfUnreferenced(digest.description) {
                // A push arrives while the bytes are being deleted.
                let push = Task { try await store.linkBlob(repositoryID: repo.id, digest: digest, size: Int64(bytes.count)); linked.set() }
                try await Task.sleep(for: .milliseconds(300))
                #expect(!linked.isSet, "the link must wait for the deletion in progress")
                try await registry.services.storage.delete(digest)
                _ = push
            }
            #expect(claimed)
            // The push finishes its link, then publishes (as completeUpload does).
            for _ in 0..<100 where !linked.isSet { try await Task.sleep(for: .milliseconds(20)) }
            #expect(linked.isSet)
            #expect(try await c.pushBlob("admin/race", bytes, token: token) == digest)
            try await Self.collector(registry, grace: 3600).runPass()
            let b = try await c.send(.get, "/v2/admin/race/blobs/\(digest)", token: token)
            #expect(b.status == .ok)
            #expect(Array(buffer: b.body) == bytes)
        }
    }

    /// Pushes, deletes, restores and collector passes run concurrently; afterwards every live tag
    /// pulls completely and byte-identically. Grace 0 maximizes the chance of a race.
    @Test(arguments: TestBackend.available)
    func concurrentPushDeleteRestoreAndCollect(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await Self.setWindow(registry, "admin", seconds: 0)
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/stress:pull,push,*"]))
            let gc = Self.collector(registry)
            let sharedLayers = (0..<4).map { Array("shared-\($0)".utf8) }
            let pushed = try await withThrowingTaskGroup(of: [(String, Digest, [UInt8])].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var mine: [(String, Digest, [UInt8])] = []
                        for i in 0..<12 {
                            let tag = "w\(worker)-\(i)"
                            let layer = i % 3 == 0 ? Array("unique-\(worker)-\(i)".utf8) : sharedLayers[(worker + i) % 4]
                            if let (digest, bytes) = try? await c.pushImage("admin/stress", tag: tag, token: token, layer: layer) {
                                mine.append((tag, digest, bytes))
                            }
                            if i % 4 == 1 { _ = try? await c.send(.delete, "/v2/admin/stress/manifests/\(tag)", token: token) }
                            if i % 4 == 2, let last = mine.last {
                                let repo = try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "stress"))!
                                _ = try? await registry.services.store.restoreTag(repositoryID: repo.id, name: last.0, digest: last.1, windowSeconds: 3600)
                            }
                        }
                        return mine
                    }
                }
                group.addTask {
                    for _ in 0..<25 { _ = try? await gc.runPass(); try await Task.sleep(for: .milliseconds(2)) }
                    return []
                }
                var all: [(String, Digest, [UInt8])] = []
                for try await part in group { all += part }
                return all
            }
            #expect(pushed.count > 20, "most pushes should succeed")
            try await gc.runPass()
            try await gc.runPass()
            let live = try await c.send(.get, "/v2/admin/stress/tags/list", token: token)
            let tags = try #require((live.json as? [String: Any])?["tags"] as? [String])
            #expect(!tags.isEmpty)
            for tag in tags {
                let m = try await c.send(.get, "/v2/admin/stress/manifests/\(tag)", token: token)
                #expect(m.status == .ok, "\(tag)")
                if let expected = pushed.last(where: { $0.0 == tag }), m.headers[.dockerContentDigest] == expected.1.description {
                    #expect(Array(buffer: m.body) == expected.2)
                }
                let doc = try ManifestDocument(bytes: Array(buffer: m.body), contentType: nil)
                for blob in doc.referencedBlobs {
                    let b = try await c.send(.get, "/v2/admin/stress/blobs/\(blob.digest)", token: token)
                    if b.status != .ok {
                        let d = blob.digest.description
                        let state = try await registry.services.store.database.read { db in
                            let row = try await db.raw("SELECT COUNT(*) AS n FROM blobs WHERE digest = \(bind: d)").first()!.decode(column: "n", as: Int64.self)
                            let link = try await db.raw("SELECT COUNT(*) AS n FROM repository_blobs WHERE digest = \(bind: d)").first()!.decode(column: "n", as: Int64.self)
                            let mb = try await db.raw("SELECT COUNT(*) AS n FROM manifest_blobs WHERE digest = \(bind: d)").first()!.decode(column: "n", as: Int64.self)
                            let tomb = try await db.raw("SELECT COUNT(*) AS n FROM blob_deletions WHERE digest = \(bind: d)").first()!.decode(column: "n", as: Int64.self)
                            return "row=\(row) link=\(link) manifest_blobs=\(mb) tomb=\(tomb)"
                        }
                        let file = try await registry.services.storage.stat(blob.digest)
                        Issue.record("DIAG \(tag) \(state) file=\(String(describing: file)) body=\(String(buffer: b.body))")
                    }
                    #expect(b.status == .ok, "\(tag): blob \(blob.digest) missing")
                    #expect(Digest.sha256(of: Array(buffer: b.body)) == blob.digest, "\(tag): blob bytes differ")
                }
            }
        }
    }
}

@Suite("Repository events")
struct RepositoryEventTests {
    @Test(arguments: TestBackend.available)
    func imageExpiryIsAnnouncedOncePerExpiry(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/exp:pull,push"]))
            try await c.pushImage("admin/exp", tag: "soon", token: token)
            try await c.pushImage("admin/exp", tag: "later", token: token)
            let store = registry.services.store
            let accounts = registry.services.accounts
            let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "admin", name: "exp")))
            let now = Clock.nowMillis()
            #expect(try await store.setTagExpiration(repositoryID: repo.id, name: "soon", expiration: now + 2 * 86_400_000))
            #expect(try await store.setTagExpiration(repositoryID: repo.id, name: "later", expiration: now + 30 * 86_400_000))
            var settings = CollectorSettings()
            settings.graceSeconds = 3600
            let gc = registry.collector(settings)
            #expect(try await gc.runPass().expiryNotices == 1)
            #expect(try await gc.runPass().expiryNotices == 0, "one notice per expiry, not per pass")
            let events = try await registry.services.events.events(kind: "repo_image_expiry", repositoryID: repo.id)
            #expect(events.count == 1)
            #expect(events.first?.payload["tags"] == .strings(["soon"]))
            #expect(events.first?.payload["expiring_in"] == .int(1) || events.first?.payload["expiring_in"] == .int(2))
            // Moving the expiry announces again.
            #expect(try await store.setTagExpiration(repositoryID: repo.id, name: "soon", expiration: now + 3 * 86_400_000))
            #expect(try await gc.runPass().expiryNotices == 1)
        }
    }
}

/// A flag set once from another task.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
