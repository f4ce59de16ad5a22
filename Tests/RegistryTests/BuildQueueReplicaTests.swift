import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import Logging
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Replicas sharing one PostgreSQL build queue without a cluster-wide lock: each replica here
/// is a `BuildQueue` over its own connection pool (and its own `LISTEN` connection), so races
/// between them are real. The database enforces the invariants; notifications and resyncs
/// keep each replica's scheduler in step; lease times are the database's.
@Suite("Build queue replicas on PostgreSQL")
struct BuildQueueReplicaTests {
    /// One replica: a queue over its own pool; `clock` is its (possibly wrong) wall clock.
    struct Replica: Sendable {
        let queue: BuildQueue
        let database: PostgresBackend

        init(_ registry: TestRegistry, clock: @escaping @Sendable () -> Int64 = Clock.nowMillis) throws {
            database = try PostgresBackend.running(url: registry.services.config.database.postgresURL, logger: TestRegistry.logger)
            queue = BuildQueue(services: registry.services, store: BuildStore(database: database, events: registry.services.events), clock: clock)
        }

        var listener: BuildQueueListener { BuildQueueListener(queue: queue, database: database, logger: TestRegistry.logger) }
    }

    /// A registry on a fresh PostgreSQL database with two replicas listening (unless `listen`
    /// is off for one), and `repositories` repositories in the admin namespace.
    /// `leaseTimeoutSeconds` is long by default, so a loaded machine cannot turn a slow
    /// heartbeat into a lost lease; the test of lease expiry passes a short one.
    static func withReplicas(repositories: Int, skewB: Int64 = 0, listenB: Bool = true, leaseTimeoutSeconds: Int = 30,
                             _ body: @escaping @Sendable (TestRegistry, Replica, Replica, [Repository]) async throws -> Void) async throws {
        let registry = try await TestRegistry.start(.postgres, configure: {
            $0.builds.inProcessWorkers = 0
            $0.builds.leaseTimeoutSeconds = leaseTimeoutSeconds
            $0.builds.maxConcurrentPerNamespace = 2
        })
        let a = try Replica(registry)
        let b = try Replica(registry, clock: { Clock.nowMillis() + skewB })
        do {
            let admin = try #require(try await registry.services.accounts.namespace(named: "admin"))
            var repos: [Repository] = []
            for i in 0..<repositories {
                repos.append(try await registry.services.accounts.createRepository(namespaceID: admin.id, name: "r\(i)", visibility: .private).0)
            }
            try await a.queue.resyncChangedNamespaces()
            try await b.queue.resyncChangedNamespaces()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await a.listener.run() }
                if listenB { group.addTask { try await b.listener.run() } }
                // Both listeners are in place before the body runs (a notice sent earlier is lost).
                try await Task.sleep(for: .milliseconds(300))
                try await body(registry, a, b, repos)
                group.cancelAll()
            }
        } catch {
            await a.database.shutdown()
            await b.database.shutdown()
            await registry.stop()
            throw error
        }
        await a.database.shutdown()
        await b.database.shutdown()
        await registry.stop()
    }

    static func record(_ repo: Repository) -> BuildRecord {
        BuildRecord(repository: repo, sourceKind: "archive", archiveURL: "https://example.invalid/ctx.tar", dockerfilePath: "Dockerfile",
                    context: "", tags: ["latest"], displayName: "replica test", manualUserID: nil)
    }

    static func enqueue(_ replica: Replica, _ repo: Repository) async throws -> String {
        guard case .accepted(let row) = try await replica.queue.enqueue(record(repo)) else { throw TestFailure("not queued") }
        return row.uuid
    }

    static func runningRows(_ registry: TestRegistry) async throws -> [BuildRecord] {
        try await registry.buildFarm.store.unfinishedBuilds().filter { $0.leaseID != nil }
    }

    static var postgres: Bool { TestBackend.postgresURL != nil }

    /// One waiting build, both replicas' workers asking at the same moment, many times over:
    /// exactly one lease each time.
    @Test(.enabled(if: postgres))
    func twoReplicasRacingForOneBuildLeaseItOnce() async throws {
        try await Self.withReplicas(repositories: 1) { registry, a, b, repos in
            for round in 0..<25 {
                let id = try await Self.enqueue(round % 2 == 0 ? a : b, repos[0])
                async let fromA = a.queue.lease(workerID: "wa", wait: .milliseconds(400))
                async let fromB = b.queue.lease(workerID: "wb", wait: .milliseconds(400))
                let winners = [try await fromA, try await fromB].compactMap { $0 }
                #expect(winners.count == 1, "round \(round): \(winners.count) leases of one build")
                let won = try #require(winners.first)
                #expect(won.0.uuid == id)
                let replica = won.0.workerID == "wa" ? a : b
                #expect(try await replica.queue.complete(uuid: id, leaseID: won.leaseID, workerID: won.0.workerID ?? "",
                                                         completion: Completion(outcome: .complete)))
            }
            let rows = try await registry.buildFarm.store.builds(repositoryID: repos[0].id, since: nil, limit: 100)
            #expect(rows.count == 25 && rows.allSatisfy { $0.phase == .complete && $0.attempts == 1 })
        }
    }

    /// The namespace runs one build of its cap of two; two more wait in other repositories and
    /// both replicas ask for work at once: one gets the last slot, the other nothing.
    @Test(.enabled(if: postgres))
    func twoReplicasRacingForTheLastSlotFillItOnce() async throws {
        try await Self.withReplicas(repositories: 3) { registry, a, b, repos in
            for round in 0..<15 {
                let first = try await Self.enqueue(a, repos[0])
                let held = try #require(try await a.queue.lease(workerID: "holder", wait: .seconds(10)))
                #expect(held.0.uuid == first)
                _ = try await Self.enqueue(a, repos[1])
                _ = try await Self.enqueue(b, repos[2])
                async let fromA = a.queue.lease(workerID: "wa", wait: .milliseconds(400))
                async let fromB = b.queue.lease(workerID: "wb", wait: .milliseconds(400))
                let winners = [try await fromA, try await fromB].compactMap { $0 }
                #expect(winners.count == 1, "round \(round): \(winners.count) builds took the last slot")
                #expect(try await Self.runningRows(registry).count == 2, "round \(round): the cap of 2 is exceeded")
                // Empty the namespace for the next round.
                for row in try await registry.buildFarm.store.unfinishedBuilds() {
                    if let lease = row.leaseID {
                        #expect(try await (row.workerID == "wb" ? b : a).queue.complete(
                            uuid: row.uuid, leaseID: lease, workerID: row.workerID ?? "", completion: Completion(outcome: .complete)))
                    } else {
                        #expect(try await a.queue.cancel(uuid: row.uuid) == .cancelled)
                    }
                }
            }
        }
    }

    /// Replica B misses the notification of a new build (it is not listening): the periodic
    /// resync of changed namespaces finds it, and B leases it.
    @Test(.enabled(if: postgres))
    func aLostNotificationIsPickedUpByTheResync() async throws {
        try await Self.withReplicas(repositories: 1, listenB: false) { _, a, b, repos in
            let id = try await Self.enqueue(a, repos[0])
            #expect(try await b.queue.lease(workerID: "wb", wait: .milliseconds(200)) == nil, "B cannot know of the build yet")
            try await b.queue.resyncChangedNamespaces()
            let leased = try await b.queue.lease(workerID: "wb", wait: .milliseconds(200))
            #expect(leased?.0.uuid == id)
        }
    }

    /// Replica A is killed while its worker holds a lease (no more heartbeats); replica B, whose
    /// clock is ten minutes behind, still requeues the build once the lease has run out by the
    /// database's clock, and it is leased again.
    @Test(.enabled(if: postgres))
    func aKilledReplicasLeaseIsRequeuedByTheDatabaseClock() async throws {
        try await Self.withReplicas(repositories: 1, skewB: -10 * 60 * 1000, leaseTimeoutSeconds: 2) { registry, a, b, repos in
            let id = try await Self.enqueue(a, repos[0])
            let held = try #require(try await a.queue.lease(workerID: "wa", wait: .seconds(2)))
            #expect(held.0.uuid == id)
            await a.database.shutdown()  // the replica is gone, and its worker's heartbeats with it
            let deadline = ContinuousClock.now + .seconds(20)
            var row = try await registry.buildFarm.store.build(uuid: id)
            while row?.leaseID != nil, ContinuousClock.now < deadline {
                try await b.queue.tick()
                if try await registry.buildFarm.store.build(uuid: id)?.leaseID == nil { break }
                try await Task.sleep(for: .milliseconds(200))
                row = try await registry.buildFarm.store.build(uuid: id)
            }
            row = try await registry.buildFarm.store.build(uuid: id)
            #expect(row?.leaseID == nil && row?.phase == .waiting && row?.attempts == 1, "the lost lease was not requeued: \(String(describing: row))")
            let again = try await b.queue.lease(workerID: "wb", wait: .seconds(5))
            #expect(again?.0.uuid == id && again?.attempt == 2)
        }
    }

    /// Replica B's clock runs ten minutes ahead: its lease checks do not take back a lease whose
    /// worker heartbeats through replica A, and a lease B hands out lasts its full window.
    @Test(.enabled(if: postgres))
    func aReplicaWithAFastClockDoesNotExpireLeasesEarly() async throws {
        try await Self.withReplicas(repositories: 2, skewB: 10 * 60 * 1000) { registry, a, b, repos in
            let id = try await Self.enqueue(a, repos[0])
            let held = try #require(try await a.queue.lease(workerID: "wa", wait: .seconds(2)))
            let other = try await Self.enqueue(a, repos[1])
            let heldByB = try #require(try await b.queue.lease(workerID: "wb", wait: .seconds(2)))
            #expect(held.0.uuid == id && heldByB.0.uuid == other)
            for _ in 0..<4 {
                #expect(try await a.queue.heartbeat(uuid: id, leaseID: held.leaseID, workerID: "wa") == HeartbeatResponse(stop: nil))
                #expect(try await b.queue.heartbeat(uuid: other, leaseID: heldByB.leaseID, workerID: "wb") == HeartbeatResponse(stop: nil))
                try await b.queue.tick()
                try await a.queue.tick()
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(try await registry.buildFarm.store.build(uuid: id)?.leaseID == held.leaseID, "B took A's live lease back")
            #expect(try await registry.buildFarm.store.build(uuid: other)?.leaseID == heldByB.leaseID, "B's own lease ran out early")
        }
    }

    /// A worker's log batch reaches both replicas at once (a flush whose answer it stopped waiting
    /// for, then the same batch again through the load balancer): both requests succeed and each
    /// entry is stored once, in order. Each replica appends over its own pool, as in a cluster.
    @Test(.enabled(if: postgres))
    func theSameLogBatchThroughBothReplicasAtOnceIsStoredOnce() async throws {
        try await Self.withReplicas(repositories: 1) { registry, a, b, repos in
            let id = try await Self.enqueue(a, repos[0])
            _ = try #require(try await a.queue.lease(workerID: "wa", wait: .seconds(2)))
            let buildID = try #require(try await registry.buildFarm.store.build(uuid: id)).id
            let storeA = BuildStore(database: a.database, events: registry.services.events)
            let storeB = BuildStore(database: b.database, events: registry.services.events)
            var expected: [String] = []
            for round in 0..<30 {
                let entries = (0..<20).map { BuildLogEntry(message: "round \(round) line \($0)") }
                let first = expected.count
                // Two requests on each replica, so the appends overlap whatever the timing.
                let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                    for store in [storeA, storeB, storeA, storeB] {
                        group.addTask { try await store.appendBuildLogs(buildID: buildID, first: first, entries: entries, cap: 10_000) }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                expected += entries.map(\.message)
                #expect(answers == Array(repeating: expected.count, count: 4), "round \(round): \(answers)")
            }
            let stored = try await registry.buildFarm.store.buildLogs(buildID: buildID, start: 0).map(\.message)
            #expect(stored == expected)
        }
    }
}
