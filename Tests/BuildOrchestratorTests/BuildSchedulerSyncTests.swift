// `sync`: how a replica sharing the queue applies what the store says about one build.

import BuildOrchestrator
import BuildProtocol
import Testing

@Suite("BuildSchedulerState sync")
struct BuildSchedulerSyncTests {
    typealias Persisted = Scheduler.PersistedBuild

    /// Another replica queued a build, leased it, then finished it: each sync moves the build
    /// to where the store has it, and the caps count it there.
    @Test
    func aBuildFollowsTheStore() {
        let clock = MockClock()
        var state = Scheduler(configuration: .init(maxConcurrentPerNamespace: 1))
        let b1 = build("b1", "ns", "r1"), b2 = build("b2", "ns", "r2")
        #expect(state.enqueue(b1, now: clock.now) == .accepted)

        // Queued elsewhere: it joins the line behind b1 (it was queued later).
        state.sync(.unfinished(Persisted(build: b2, enqueuedAt: clock.now + .seconds(1), attempts: 0)), now: clock.now)
        #expect(state.queuedBuilds.map(\.build.id) == ["b1", "b2"])

        // b1 leased by another replica: the namespace's only slot is taken here too.
        state.sync(.unfinished(Persisted(build: b1, enqueuedAt: clock.now, attempts: 1,
                                         running: .init(workerID: "elsewhere", startedAt: clock.now, lastHeartbeat: clock.now))), now: clock.now)
        #expect(state.leases.map(\.build.id) == ["b1"])
        #expect(state.runningCount(namespace: "ns") == 1)
        #expect(state.lease(workerID: "here", now: clock.now) == .nothingRunnable)

        // Finished elsewhere: the slot is free and b2 runs here.
        state.sync(.finished("b1", .complete), now: clock.now)
        #expect(state.status(of: "b1") == .finished(.complete))
        #expect(state.lease(workerID: "here", now: clock.now).lease?.build.id == "b2")

        // A build gone from the store (no outcome known) is dropped, wherever it was.
        state.sync(.finished("b2", nil), now: clock.now)
        #expect(state.leases.isEmpty && state.queuedBuilds.isEmpty)
    }

    /// A synced lease runs out a heartbeat timeout after its stored heartbeat, by the clock the
    /// caller passes (the database's on a shared queue), and keeps the stop the store has.
    @Test
    func aSyncedLeaseKeepsItsStoredHeartbeatAndStop() {
        var clock = MockClock()
        var state = Scheduler()
        let b = build("b", "ns", "r")
        let heartbeat = clock.now
        clock.advance(.seconds(50))
        state.sync(.unfinished(Persisted(build: b, enqueuedAt: heartbeat, attempts: 1,
                                         running: .init(workerID: "w", startedAt: heartbeat, stop: .cancelled, lastHeartbeat: heartbeat))), now: clock.now)
        #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .stop(.cancelled))
        clock.advance(.seconds(10))
        #expect(state.tick(now: clock.now) == [.finished("b", .cancelled)])
    }
}

extension BuildSchedulerSyncTests {
    /// This replica cancelled a waiting build, but another replica leased it first (the
    /// conditional write found it running): the store's row makes it running again here, and
    /// the cancel becomes a stop for its worker.
    @Test
    func theStoreWinsOverADecisionItDidNotTake() {
        let clock = MockClock()
        var state = Scheduler()
        let b = build("b", "ns", "r")
        #expect(state.enqueue(b, now: clock.now) == .accepted)
        #expect(state.cancel(buildID: "b") == .removedFromQueue)
        state.sync(.unfinished(Persisted(build: b, enqueuedAt: clock.now, attempts: 1,
                                         running: .init(workerID: "elsewhere", startedAt: clock.now, lastHeartbeat: clock.now))), now: clock.now)
        #expect(state.cancel(buildID: "b") == .signalWorker("elsewhere"))
    }
}
