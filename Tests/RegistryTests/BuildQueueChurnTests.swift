import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import Registry
import SlipwayCore
import SlipwayTestSupport
import Synchronization
import Testing

/// Many workers finishing and leasing at once, as the build-farm benchmark drives the queue: a
/// finished build's slot is taken by the next lease while the statement freeing it may still be
/// running. Every lease must land (no unique-index violation on `running_slot` surfacing as an
/// error, no build stuck as running in the scheduler's memory) and every build run exactly once.
@Suite("Build queue under churn")
struct BuildQueueChurnTests {
    static let builds = 36
    static let workers = 6

    @Test(arguments: TestBackend.available)
    func manyWorkersLeasingAndFinishingAtOnceRunEveryBuildOnce(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend, configure: {
            $0.builds.inProcessWorkers = 0
            $0.builds.maxConcurrentPerNamespace = 2
            $0.builds.maxQueuedPerNamespace = 1000
            $0.builds.leaseTimeoutSeconds = 120
        })
        do {
            let queue = registry.buildFarm.queue
            let admin = try #require(try await registry.services.accounts.namespace(named: "admin"))
            var repos: [Repository] = []
            for i in 0..<3 {
                repos.append(try await registry.services.accounts.createRepository(namespaceID: admin.id, name: "churn\(i)", visibility: .private).0)
            }
            var ids: Set<String> = []
            for i in 0..<Self.builds {
                let record = BuildRecord(repository: repos[i % repos.count], sourceKind: "archive", archiveURL: "https://example.invalid/ctx.tar",
                                         dockerfilePath: "Dockerfile", context: "", tags: ["latest"], displayName: "churn \(i)", manualUserID: nil)
                guard case .accepted(let row) = try await queue.enqueue(record) else { throw TestFailure("build \(i) not queued") }
                ids.insert(row.uuid)
            }
            let finishedCount = Counter()
            let finished = try await TestDeadline.race(.seconds(240), "running \(Self.builds) builds with \(Self.workers) workers") {
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for w in 0..<Self.workers {
                        group.addTask {
                            var done: [String] = []
                            // Every worker keeps asking until all builds have run, so most leases
                            // race with a finishing build for its slot.
                            while finishedCount.value < Self.builds {
                                guard let (build, leaseID, _) = try await queue.lease(workerID: "w\(w)", wait: .milliseconds(300)) else { continue }
                                let completed = try await queue.complete(uuid: build.uuid, leaseID: leaseID, workerID: "w\(w)",
                                                                         completion: Completion(outcome: .complete))
                                #expect(completed, "build \(build.uuid) could not be completed by its lease holder")
                                done.append(build.uuid)
                                finishedCount.add(1)
                            }
                            return done
                        }
                    }
                    var all: [String] = []
                    for try await done in group { all += done }
                    return all
                }
            }
            #expect(finished.count == Self.builds, "\(finished.count) leases for \(Self.builds) builds")
            #expect(Set(finished) == ids)
            for id in ids {
                let row = try #require(try await registry.buildFarm.store.build(uuid: id))
                #expect(row.phase == .complete && row.attempts == 1 && row.leaseID == nil, "\(id): \(row.phase) attempts \(row.attempts)")
            }
        } catch {
            try? await registry.stopWithinDeadline()
            throw error
        }
        try await registry.stopWithinDeadline()
    }
}

/// A count shared by the test's workers.
private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add(_ n: Int) { count.withLock { $0 += n } }
}
