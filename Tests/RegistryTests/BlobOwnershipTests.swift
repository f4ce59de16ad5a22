import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Every kind of stored bytes has an owner the collector asks before deleting: a digest two
/// owners hold stays until both have let go. File drops (uploaded build contexts) expire.
@Suite("Blob ownership and file-drop expiry")
struct BlobOwnershipTests {
    static func collector(_ registry: TestRegistry, fileDropTTL: Int64 = 3600) -> Collector {
        var s = CollectorSettings()
        s.graceSeconds = 0
        s.tombstoneSeconds = 0
        s.fileDropTTLSeconds = fileDropTTL
        return registry.collector(s)
    }

    /// Two collector rounds: what the first lets go of, the second deletes. Their reports added.
    static func twoRounds(_ registry: TestRegistry, fileDropTTL: Int64 = 3600) async throws -> CollectorReport {
        let gc = collector(registry, fileDropTTL: fileDropTTL)
        var report = try await gc.runPass()
        try await Task.sleep(for: .milliseconds(2))
        report.add(try await gc.runPass())
        return report
    }

    /// The file under blob storage that holds `digest`'s bytes.
    static func bytesOnDisk(_ registry: TestRegistry, _ digest: Digest) -> String {
        let hex = digest.hex
        return registry.directory + "/storage/blobs/sha256/\(hex.prefix(2))/\(hex)"
    }

    static func readStored(_ registry: TestRegistry, _ digest: Digest) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        let size = try #require(try await registry.services.storage.stat(digest))
        try await registry.services.storage.read(digest, range: 0..<size) { bytes += Array(buffer: $0) }
        return bytes
    }

    static func fileDropDigest(_ registry: TestRegistry, _ fileID: String) async throws -> Digest? {
        try await registry.buildFarm.store.fileDrop(id: fileID)?.digest.map { try Digest(parsing: $0) }
    }

    /// Pushed layer deleted first: the file drop with the same bytes still reads them.
    @Test(arguments: TestBackend.available)
    func aFileDropKeepsBytesAPushedLayerShared(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            let bytes = Array("a build context and a layer with identical bytes \(backend)".utf8)
            let fileID = try await BuildsAPITests.upload(c, api, bytes)
            let digest = try await c.pushBlob("admin/app", bytes, token: push)
            #expect(try await Self.fileDropDigest(registry, fileID) == digest)

            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            #expect(try await registry.services.store.unlinkBlob(repositoryID: repo.id, digest: digest))
            let rounds = try await Self.twoRounds(registry)
            #expect(rounds.tombstoned == 1, "the OCI blob row goes")
            #expect(rounds.blobsDeleted == 0)
            #expect(FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, digest)))
            #expect(try await Self.readStored(registry, digest) == bytes, "the file drop still reads")
            #expect(try await c.send(.head, "/v2/admin/app/blobs/\(digest)", token: push).status == .notFound)

            // Once the drop expires too, the bytes go.
            let expired = try await Self.twoRounds(registry, fileDropTTL: 0)
            #expect(expired.fileDrops == 1)
            #expect(expired.blobsDeleted == 1)
            #expect(!FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, digest)))
        }
    }

    /// File drop expired first: the pushed layer with the same bytes still pulls.
    @Test(arguments: TestBackend.available)
    func aPushedLayerKeepsBytesAnExpiredFileDropShared(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            let bytes = Array("a layer and a build context with identical bytes \(backend)".utf8)
            // A layer of a tagged image: nothing else would keep the blob in the repository.
            try await c.pushImage("admin/app", tag: "v1", token: push, layer: bytes)
            let digest = Digest.sha256(of: bytes)
            let fileID = try await BuildsAPITests.upload(c, api, bytes)

            let r = try await Self.twoRounds(registry, fileDropTTL: 0)
            #expect(r.fileDrops == 1)
            #expect(try await registry.buildFarm.store.fileDrop(id: fileID) == nil)
            #expect(r.blobsDeleted == 0, "the pushed layer holds the bytes")
            let pulled = try await c.send(.get, "/v2/admin/app/blobs/\(digest)", token: push)
            #expect(pulled.status == .ok)
            #expect(Array(buffer: pulled.body) == bytes)
        }
    }

    /// Unused drops go after the TTL; a drop a build uses stays while the build can still run
    /// and goes once it has finished. Real bytes on disk, removed by the collector.
    @Test(arguments: TestBackend.available)
    func fileDropsExpire(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            let unused = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n# unused \(backend)\n".utf8))
            let used = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n# used \(backend)\n".utf8))
            let unusedDigest = try #require(try await Self.fileDropDigest(registry, unused))
            let usedDigest = try #require(try await Self.fileDropDigest(registry, used))
            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(used)"}"#))
            #expect(start.status == .created)
            let buildID = try #require((start.json as? [String: Any])?["id"] as? String)

            // Within the TTL nothing goes.
            let fresh = try await Self.twoRounds(registry)
            #expect(fresh.fileDrops == 0)
            #expect(FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, unusedDigest)))

            // Past the TTL the unused drop goes, bytes and all; the queued build's drop stays.
            let past = try await Self.twoRounds(registry, fileDropTTL: 0)
            #expect(past.fileDrops == 1)
            #expect(try await registry.buildFarm.store.fileDrop(id: unused) == nil)
            #expect(!FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, unusedDigest)))
            #expect(try await registry.buildFarm.store.fileDrop(id: used) != nil)
            #expect(FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, usedDigest)))

            // Its build finished (cancelled: it is never retried): the drop goes too.
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(buildID)", token: api).status == .created)
            let finished = try await Self.twoRounds(registry)
            #expect(finished.fileDrops == 1)
            #expect(try await registry.buildFarm.store.fileDrop(id: used) == nil)
            #expect(!FileManager.default.fileExists(atPath: Self.bytesOnDisk(registry, usedDigest)))
            let again = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(used)"}"#))
            #expect(again.status == .badRequest, "an expired drop cannot start a build")
        }
    }
}
