import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// Deleting a repository drops its pending builds (the guide's "queued deletion, pending builds
/// dropped"): queued builds end cancelled and are never leased, a running build is told to stop
/// at its next heartbeat, and another repository's builds are untouched.
@Suite("Repository deletion and builds")
struct RepositoryDeletionBuildsTests {
    typealias B = BuildsAPITests

    @Test(arguments: TestBackend.available)
    func deletingARepositoryCancelsItsBuilds(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await B.apiToken(registry)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push", "repository:admin/keep:pull,push"]))
            try await c.pushImage("admin/app", tag: "base", token: push)
            try await c.pushImage("admin/keep", tag: "base", token: push)
            let fileID = try await B.upload(c, api, Array("FROM scratch\n".utf8))
            func start(_ repo: String) async throws -> String {
                let r = try await c.send(.post, "/api/v1/repository/admin/\(repo)/build/", token: api, headers: B.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
                #expect(r.status == .created)
                return try #require((r.json as? [String: Any])?["id"] as? String)
            }
            let running = try await start("app")
            let queued = try await start("app")  // one build per repository runs at a time: this one waits
            let other = try await start("keep")

            let worker = B.Worker(c: c, token: registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            #expect(pack.buildID == running)
            let heartbeat = { () async throws -> HeartbeatResponse in
                let r = try await worker.call(WorkerProtocol.buildPath(running, "heartbeat"), lease: pack.leaseID, Heartbeat(workerID: worker.id))
                return try JSONDecoder().decode(HeartbeatResponse.self, from: Data(buffer: r.body))
            }
            #expect(try await heartbeat().stop == nil)

            #expect(try await c.send(.delete, "/api/v1/repository/admin/app", token: api).status == .noContent)

            #expect(try await registry.buildFarm.store.build(uuid: queued)?.phase == .cancelled)
            #expect(try await heartbeat().stop == .cancelled)
            #expect(try await registry.buildFarm.store.build(uuid: other)?.finishedAt == nil)
            // The next lease is the other repository's build, never the dropped one.
            let next = try await B.Worker(c: c, token: registry.buildFarm.workerToken).lease()
            #expect(next?.buildID == other)
        }
    }
}
