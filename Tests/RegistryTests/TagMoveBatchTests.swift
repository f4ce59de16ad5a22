import Accounts
import Foundation
import HTTPTypes
import NIOCore
@testable import Registry
import SlipwayCore
import SlipwayTestSupport
import SQLKit
import Testing

/// Tag moves onto stored manifests are group-committed (`TagMoveBatcher`): one `repo_push` per
/// tag that moved, nothing lost or doubled under concurrency, and a batch gives the same rows
/// as the moves one after another would.
@Suite("Batched tag moves")
struct TagMoveBatchTests {
    static let repo = "admin/batch"

    /// Two image manifests stored in `repo` by digest (no tag yet).
    static func storeTwoManifests(_ c: RegistryClient, token: String) async throws -> [(Digest, [UInt8])] {
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = try await c.pushBlob(repo, config, token: token)
        var out: [(Digest, [UInt8])] = []
        for i in 0..<2 {
            let layer = Array("layer \(i) \(UUID())".utf8)
            let layerDigest = try await c.pushBlob(repo, layer, token: token)
            let bytes = TestManifests.image(config: (configDigest, config.count), layers: [(layerDigest, layer.count)])
            let digest = Digest.sha256(of: bytes)
            let put = try await c.send(.put, "/v2/\(repo)/manifests/\(digest)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                       body: ByteBuffer(bytes: bytes))
            #expect(put.status == .created)
            out.append((digest, bytes))
        }
        return out
    }

    static func count(_ registry: TestRegistry, _ query: SQLQueryString) async throws -> Int64 {
        try await registry.database.read { db in try await db.raw(query).first()!.decode(column: "n", as: Int64.self) }
    }

    /// 32 concurrent re-tag PUTs (24 distinct tags, 8 moving one tag back and forth) all
    /// succeed; every tag row written has exactly one `repo_push` event, and each distinct tag
    /// is live once, on the manifest it was pushed with.
    @Test(arguments: TestBackend.available)
    func concurrentRetagsEachGetOneEvent(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:\(Self.repo):pull,push"]))
            let manifests = try await Self.storeTwoManifests(c, token: token)
            let puts: [(tag: String, manifest: Int)] = (0..<24).map { (String(format: "t%02d", $0), 0) } + (0..<8).map { ("dup", $0 % 2) }
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for put in puts {
                    group.addTask {
                        try await c.send(.put, "/v2/\(Self.repo)/manifests/\(put.tag)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                         body: ByteBuffer(bytes: manifests[put.manifest].1)).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")

            let stored = try #require(try await registry.services.accounts.repository(try RepositoryPath(parsing: Self.repo)))
            let rows = try await Self.count(registry, "SELECT COUNT(*) AS n FROM tags WHERE repository_id = \(bind: stored.id)")
            let live = try await Self.count(registry, "SELECT COUNT(*) AS n FROM tags WHERE repository_id = \(bind: stored.id) AND lifetime_end IS NULL")
            let events = try await Self.count(registry, """
                SELECT COUNT(*) AS n FROM repository_events WHERE repository_id = \(bind: stored.id) AND kind = 'repo_push'
                """)
            #expect(live == 25)
            #expect(rows >= 25 && rows <= 32)
            #expect(events == rows)
            for i in [0, 11, 23] {
                let tag = String(format: "t%02d", i)
                let got = try await c.send(.head, "/v2/\(Self.repo)/manifests/\(tag)", token: token, headers: [.accept: MediaTypes.ociManifest])
                #expect(got.headers[.dockerContentDigest] == manifests[0].0.description)
            }
        }
    }

    /// One batch written directly: a no-op move, a new tag, a move of an expired tag (its row
    /// ends at the expiry), a manifest deleted meanwhile, and a tag moved twice in one batch.
    @Test(arguments: TestBackend.available)
    func aBatchWritesWhatTheMovesInTurnWould(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:\(Self.repo):pull,push"]))
            let manifests = try await Self.storeTwoManifests(c, token: token)
            let repository = try #require(try await registry.services.accounts.repository(try RepositoryPath(parsing: Self.repo)))
            let store = registry.services.store
            let first = try #require(try await store.liveManifestID(repositoryID: repository.id, digest: manifests[0].0))
            let second = try #require(try await store.liveManifestID(repositoryID: repository.id, digest: manifests[1].0))
            func move(_ tag: String, _ manifestID: Int64) -> TagMove {
                TagMove(repositoryID: repository.id, manifestID: manifestID, tag: tag, pushEvent: (repository, ["updated_tags": .strings([tag])]))
            }
            _ = try await TagMoveBatcher.write([move("same", first), move("old", first)], database: registry.database)
            let expiry = Clock.nowMillis() - 60_000
            try await registry.database.transaction { db in
                try await db.raw("UPDATE tags SET expiration = \(bind: expiry) WHERE repository_id = \(bind: repository.id) AND name = 'old'").run()
            }

            let outcomes = try await TagMoveBatcher.write([move("same", first), move("new", second), move("old", first)], database: registry.database)
            #expect(outcomes.map(Self.changed) == [false, true, true])
            let endedAtExpiry = try await Self.count(registry, """
                SELECT COUNT(*) AS n FROM tags WHERE repository_id = \(bind: repository.id) AND name = 'old' AND lifetime_end = \(bind: expiry)
                """)
            #expect(endedAtExpiry == 1)

            // Twice the same tag in one batch: applied in order, two history rows, two events.
            let twice = try await TagMoveBatcher.write([move("twice", first), move("twice", second)], database: registry.database)
            #expect(twice.map(Self.changed) == [true, true])
            let liveTwice = try #require(try await store.manifest(repositoryID: repository.id, tag: "twice"))
            #expect(liveTwice.id == second)

            try await registry.database.transaction { db in
                try await db.raw("UPDATE manifests SET deleted_at = \(bind: Clock.nowMillis()) WHERE id = \(bind: second)").run()
            }
            let gone = try await TagMoveBatcher.write([move("gone", second), move("kept", first)], database: registry.database)
            #expect(gone.map(Self.changed) == [nil, true])

            let rows = try await Self.count(registry, "SELECT COUNT(*) AS n FROM tags WHERE repository_id = \(bind: repository.id)")
            let events = try await Self.count(registry, """
                SELECT COUNT(*) AS n FROM repository_events WHERE repository_id = \(bind: repository.id) AND kind = 'repo_push'
                """)
            // same, old, new, old again, twice ×2, kept.
            #expect(rows == 7)
            #expect(events == rows)

            // The full PUT path stores a deleted manifest again when the batch reports it gone.
            let put = try await c.send(.put, "/v2/\(Self.repo)/manifests/gone", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                       body: ByteBuffer(bytes: manifests[1].1))
            #expect(put.status == .created)
            let revived = try await store.manifest(repositoryID: repository.id, tag: "gone")
            #expect(revived?.digest == manifests[1].0)
        }
    }

    /// Whether a move changed its tag, nil when its manifest was gone.
    static func changed(_ outcome: TagMoveOutcome) -> Bool? {
        switch outcome {
        case .moved(let result): result.tagChanged
        case .manifestGone: nil
        }
    }
}
