import Accounts
import BuildOrchestrator
import Registry
import SlipwayTestSupport
import Testing

/// The build rows a batched insert returns are exactly what reading them back gives (the insert
/// returns only ids, the rest is the inserted record with the columns' defaults).
@Suite("Build record store")
struct BuildRecordStoreTests {
    @Test(arguments: TestBackend.available)
    func insertedRowsReadBackIdentically(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, _ in
            let accounts = registry.services.accounts
            let admin = try #require(try await accounts.namespace(named: TestRegistry.adminName))
            let (repo, _) = try await accounts.createRepository(namespaceID: admin.id, name: "rows", visibility: .private)
            var record = BuildRecord(repository: repo, sourceKind: "git", gitURL: "https://git.example.com/a.git", commitSHA: "abc",
                                     dockerfilePath: "docker/Dockerfile", context: "docker", tags: ["v1", "latest"], displayName: "abc",
                                     manualUserID: admin.id)
            record.triggerMetadata = #"{"commit":"abc"}"#
            // Fields an insert does not write: the returned row must show their defaults, as the table does.
            record.errorMessage = "not stored"
            record.attempts = 3
            record.logCount = 9
            record.manifestDigests = ["v1": "sha256:00"]
            let inserted = try await registry.buildFarm.store.insertBuild(record)
            #expect(inserted.id > 0)
            let read = try #require(try await registry.buildFarm.store.build(uuid: record.uuid))
            #expect(inserted == read)
            #expect(read.errorMessage == nil && read.attempts == 0 && read.logCount == 0 && read.manifestDigests.isEmpty)
            #expect(read.tags == ["v1", "latest"] && read.manualUserID == admin.id && read.triggerMetadata == #"{"commit":"abc"}"#)
        }
    }
}
