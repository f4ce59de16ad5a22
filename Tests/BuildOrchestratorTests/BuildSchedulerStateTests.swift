// Scenario tests for the pure build scheduler: caps, fairness, repository ordering, leases and
// heartbeats, retries, timeouts, cancellation and restore, all on a mock clock.

import BuildOrchestrator
import BuildProtocol
import Testing

@Suite("BuildSchedulerState")
struct BuildSchedulerStateTests {
    // MARK: Fairness and caps

    /// 20 builds over 3 namespaces (12/6/2), the big namespace queued first: the worst case for
    /// FIFO. Drained by `workers` workers, completing the oldest running build each round.
    @Test(arguments: [1, 2, 3, 5, 8])
    func fairnessAcrossNamespaces(workers: Int) throws {
        var clock = MockClock()
        var state = Scheduler()
        for (namespace, count) in [("alpha", 12), ("beta", 6), ("gamma", 2)] {
            for i in 0..<count {
                #expect(state.enqueue(build("\(namespace)-\(i)", namespace, "repo\(i)"), now: clock.now) == .accepted)
                clock.advance(.seconds(1))
            }
        }

        var startedNamespaces: [String] = []
        var busyWorkers = Set<String>()
        var completed = 0
        var rounds = 0
        while !state.queuedBuilds.isEmpty || !state.leases.isEmpty {
            rounds += 1
            try #require(rounds <= 100, "did not drain")
            for worker in (0..<workers).map({ "w\($0)" }) where !busyWorkers.contains(worker) {
                guard let lease = state.lease(workerID: worker, now: clock.now).lease else { break }
                busyWorkers.insert(worker)
                startedNamespaces.append(lease.build.namespace)
                for namespace in ["alpha", "beta", "gamma"] {
                    #expect(state.runningCount(namespace: namespace) <= 2)
                }
            }
            clock.advance(.seconds(10))
            for lease in state.leases {
                #expect(state.heartbeat(buildID: lease.build.id, workerID: lease.workerID, now: clock.now)
                        == .ok(leaseDeadline: clock.now + .seconds(60)))
            }
            let oldest = try #require(state.leases.first)
            #expect(state.complete(buildID: oldest.build.id, workerID: oldest.workerID, result: .succeeded,
                                   now: clock.now) == .finished(.complete))
            busyWorkers.remove(oldest.workerID)
            completed += 1
        }

        #expect(completed == 20)
        #expect(startedNamespaces.count == 20)
        func nthStart(_ namespace: String, _ n: Int) -> Int? {
            startedNamespaces.indices.filter { startedNamespaces[$0] == namespace }.dropFirst(n - 1).first
        }
        let firsts = ["alpha", "beta", "gamma"].map { nthStart($0, 1)! }
        let fifths = ["alpha", "beta", "gamma"].compactMap { nthStart($0, 5) }
        #expect(firsts.max()! < fifths.min()!, "every namespace's first build starts before any fifth: \(startedNamespaces)")
        // Round-robin: with every namespace still busy, starts alternate.
        #expect(Array(startedNamespaces.prefix(6)).sorted() == ["alpha", "alpha", "beta", "beta", "gamma", "gamma"])
    }

    @Test func aBusyNamespaceDoesNotStarveAnotherOnesSingleBuild() throws {
        var clock = MockClock()
        var state = Scheduler()
        for i in 0..<40 { _ = state.enqueue(build("big-\(i)", "big", "r\(i)"), now: clock.now) }
        clock.advance(.seconds(300))
        _ = state.enqueue(build("small-0", "small", "app"), now: clock.now)

        #expect(state.lease(workerID: "w1", now: clock.now).lease?.build.namespace == "big")
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "small-0")
    }

    @Test func runningCapPerNamespaceLeavesWorkersIdleRatherThanExceedIt() throws {
        let clock = MockClock()
        var state = Scheduler()
        for i in 0..<5 { _ = state.enqueue(build("b\(i)", "acme", "r\(i)"), now: clock.now) }
        #expect(state.lease(workerID: "w1", now: clock.now).lease?.build.id == "b0")
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "b1")
        #expect(state.lease(workerID: "w3", now: clock.now) == .nothingRunnable)
        _ = state.complete(buildID: "b0", workerID: "w1", result: .succeeded, now: clock.now)
        #expect(state.lease(workerID: "w3", now: clock.now).lease?.build.id == "b2")
    }

    @Test func queueCapRejectsTheFiftyFirstBuildOfANamespace() throws {
        let clock = MockClock()
        var state = Scheduler()
        for i in 0..<50 {
            #expect(state.enqueue(build("b\(i)", "acme", "r\(i)"), now: clock.now) == .accepted)
        }
        #expect(state.enqueue(build("b50", "acme", "r50"), now: clock.now) == .rejected(.queueFull(limit: 50)))
        #expect(state.enqueue(build("other", "globex", "r"), now: clock.now) == .accepted, "caps are per namespace")
        _ = state.lease(workerID: "w1", now: clock.now)
        #expect(state.queuedCount(namespace: "acme") == 49)
        #expect(state.enqueue(build("b50", "acme", "r50"), now: clock.now) == .accepted, "running builds do not count")
        #expect(state.enqueue(build("b51", "acme", "r51"), now: clock.now) == .rejected(.queueFull(limit: 50)))
    }

    @Test func duplicateIDsAreRejected() throws {
        let clock = MockClock()
        var state = Scheduler()
        #expect(state.enqueue(build("b", "acme", "r"), now: clock.now) == .accepted)
        #expect(state.enqueue(build("b", "acme", "r"), now: clock.now) == .rejected(.duplicate))
        _ = state.lease(workerID: "w", now: clock.now)
        #expect(state.enqueue(build("b", "acme", "r"), now: clock.now) == .rejected(.duplicate))
        _ = state.complete(buildID: "b", workerID: "w", result: .succeeded, now: clock.now)
        #expect(state.enqueue(build("b", "acme", "r"), now: clock.now) == .rejected(.duplicate))
    }

    // MARK: One running build per repository

    @Test func oneRunningBuildPerRepositoryInQueueOrder() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("first", "acme", "app"), now: clock.now)
        clock.advance(.seconds(1))
        _ = state.enqueue(build("second", "acme", "app"), now: clock.now)
        _ = state.enqueue(build("other", "acme", "lib"), now: clock.now)

        #expect(state.lease(workerID: "w1", now: clock.now).lease?.build.id == "first")
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "other", "skips the busy repository")
        _ = state.complete(buildID: "other", workerID: "w2", result: .succeeded, now: clock.now)
        #expect(state.lease(workerID: "w2", now: clock.now) == .nothingRunnable)
        _ = state.complete(buildID: "first", workerID: "w1", result: .failed("step 3 failed"), now: clock.now)
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "second")
    }

    @Test func aYoungerPushWaitsBehindAnOlderOneThatIsBeingRetried() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("old", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w1", now: clock.now)
        _ = state.heartbeat(buildID: "old", workerID: "w1", now: clock.now)  // w1 got it, then died
        clock.advance(.seconds(5))
        _ = state.enqueue(build("new", "acme", "app"), now: clock.now)
        clock.advance(.seconds(60))
        #expect(state.tick(now: clock.now) == [.requeued("old", attemptsUsed: 1, notBefore: clock.now + .seconds(30))])

        // "old" sits out its retry delay; "new" must not overtake it and push `latest` first.
        #expect(state.lease(workerID: "w2", now: clock.now) == .nothingRunnable)
        clock.advance(.seconds(30))
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "old")
    }

    @Test func withoutTheRepositoryRuleBuildsOfOneRepositoryRunSideBySide() throws {
        let clock = MockClock()
        var state = Scheduler(configuration: .init(oneRunningPerRepository: false))
        _ = state.enqueue(build("a", "acme", "app"), now: clock.now)
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        #expect(state.lease(workerID: "w1", now: clock.now).lease?.build.id == "a")
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "b")
    }

    // MARK: Leases, heartbeats, retries

    @Test func heartbeatsKeepALeaseAlive() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        #expect(state.lease(workerID: "w", now: clock.now).lease?.leaseDeadline == clock.now + .seconds(60))
        for _ in 0..<20 {
            clock.advance(.seconds(30))
            #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .ok(leaseDeadline: clock.now + .seconds(60)))
            #expect(state.tick(now: clock.now) == [])
        }
        #expect(state.heartbeat(buildID: "b", workerID: "intruder", now: clock.now) == .unknownLease)
    }

    @Test func aLostWorkerIsRetriedTwiceThenTheBuildFails() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)

        for attempt in 1...3 {
            let lease = try #require(state.lease(workerID: "w\(attempt)", now: clock.now).lease)
            #expect(lease.attempt == attempt)
            #expect(state.heartbeat(buildID: "b", workerID: "w\(attempt)", now: clock.now) == .ok(leaseDeadline: clock.now + .seconds(60)))
            clock.advance(.seconds(59))
            #expect(state.tick(now: clock.now) == [])
            clock.advance(.seconds(1))
            #expect(state.heartbeat(buildID: "b", workerID: "w\(attempt)", now: clock.now) == .unknownLease,
                    "60 s without a heartbeat loses the lease even before tick notices")
            let actions = state.tick(now: clock.now)
            if attempt < 3 {
                #expect(actions == [.requeued("b", attemptsUsed: attempt, notBefore: clock.now + .seconds(30))])
                #expect(state.lease(workerID: "x", now: clock.now) == .nothingRunnable, "retry delay")
                #expect(state.nextWakeUp == clock.now + .seconds(30))
                clock.advance(.seconds(30))
            } else {
                #expect(actions == [.finished("b", .internalError("worker lost after 3 attempts"))])
                #expect(Scheduler.FinalOutcome.internalError("").phase == .internalError)
            }
        }
        #expect(state.status(of: "b") == .finished(.internalError("worker lost after 3 attempts")))
        #expect(state.queuedBuilds.isEmpty && state.leases.isEmpty)
        #expect(state.nextWakeUp == nil)
    }

    @Test func aCompletionAfterTheLeaseRanOutIsRefused() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        _ = state.heartbeat(buildID: "b", workerID: "w", now: clock.now)
        clock.advance(.seconds(61))
        #expect(state.complete(buildID: "b", workerID: "w", result: .succeeded, now: clock.now) == .unknownLease)
        #expect(state.tick(now: clock.now) == [.requeued("b", attemptsUsed: 1, notBefore: clock.now + .seconds(30))])
    }

    /// A lease handed to a long-poll whose worker had gone (stopped while it waited for work) is
    /// never heartbeated: it is taken back after the accept window, not the heartbeat timeout,
    /// and may run again at once. A worker that did get its lease heartbeats at once and keeps it.
    @Test func aLeaseNoWorkerReceivedIsTakenBackAfterTheAcceptWindowWithoutRetryDelay() throws {
        var clock = MockClock()
        var state = Scheduler(configuration: .init(heartbeatTimeout: .seconds(60), leaseAcceptTimeout: .seconds(15)))
        _ = state.enqueue(build("lost", "acme", "app"), now: clock.now)
        _ = state.enqueue(build("kept", "acme", "other"), now: clock.now)
        #expect(state.lease(workerID: "gone", now: clock.now).lease?.leaseDeadline == clock.now + .seconds(15))
        _ = try #require(state.lease(workerID: "alive", now: clock.now).lease)
        #expect(state.heartbeat(buildID: "kept", workerID: "alive", now: clock.now) == .ok(leaseDeadline: clock.now + .seconds(60)))
        clock.advance(.seconds(14))
        #expect(state.tick(now: clock.now) == [])
        clock.advance(.seconds(1))
        #expect(state.tick(now: clock.now) == [.requeued("lost", attemptsUsed: 1, notBefore: clock.now)])
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "lost", "no retry delay: it never ran")
        guard case .running(let kept)? = state.status(of: "kept") else { Issue.record("the confirmed lease was taken"); return }
        #expect(kept.workerID == "alive" && kept.confirmed, "the confirmed lease is untouched")
    }

    @Test func aWorkerInternalErrorIsRetriedButABuildFailureIsFinal() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.enqueue(build("c", "acme", "lib"), now: clock.now)

        _ = state.lease(workerID: "w", now: clock.now)
        #expect(state.complete(buildID: "b", workerID: "w", result: .internalError("disk full"), now: clock.now)
                == .requeued(attemptsUsed: 1, notBefore: clock.now + .seconds(30)))
        #expect(state.lease(workerID: "w", now: clock.now).lease?.build.id == "c")
        #expect(state.complete(buildID: "c", workerID: "w", result: .failed("no such file: Dockerfile"), now: clock.now)
                == .finished(.error("no such file: Dockerfile")))
        #expect(state.complete(buildID: "c", workerID: "w", result: .failed("again"), now: clock.now)
                == .alreadyFinished(.error("no such file: Dockerfile")), "a repeated completion changes nothing")

        for attempt in 2...3 {
            clock.advance(.seconds(30))
            #expect(state.lease(workerID: "w", now: clock.now).lease?.attempt == attempt)
            let result = state.complete(buildID: "b", workerID: "w", result: .internalError("disk full"), now: clock.now)
            #expect(result == (attempt < 3 ? .requeued(attemptsUsed: attempt, notBefore: clock.now + .seconds(30))
                                           : .finished(.internalError("disk full"))))
        }
    }

    // MARK: Timeout

    @Test func aBuildPastItsTimeoutIsStoppedAndEndsInError() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        let lease = try #require(state.lease(workerID: "w", now: clock.now).lease)
        #expect(lease.hardDeadline == clock.now + .seconds(7200))
        while clock.now < lease.hardDeadline {
            clock.advance(.seconds(30))
            if clock.now < lease.hardDeadline {
                #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .ok(leaseDeadline: clock.now + .seconds(60)))
            }
            #expect(state.tick(now: clock.now) == (clock.now < lease.hardDeadline ? [] : [.stopWorker("b", "w", .timedOut)]))
        }
        #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .stop(.timedOut))
        #expect(state.complete(buildID: "b", workerID: "w", result: .cancelled, now: clock.now)
                == .finished(.error("build exceeded the 2h0m timeout")))
    }

    @Test func aWorkerIgnoringTheStopIsCutOffAtItsLeaseDeadline() throws {
        var clock = MockClock()
        var state = Scheduler(configuration: .init(buildTimeout: .seconds(600)))
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.enqueue(build("next", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        for _ in 0..<59 {
            clock.advance(.seconds(10))
            _ = state.heartbeat(buildID: "b", workerID: "w", now: clock.now)
        }
        // 590 s: the lease runs until 650 s.
        clock.advance(.seconds(10))
        #expect(state.tick(now: clock.now) == [.stopWorker("b", "w", .timedOut)])
        #expect(state.lease(workerID: "w2", now: clock.now) == .nothingRunnable, "the slot is held while the worker stops")
        for _ in 0..<3 {
            clock.advance(.seconds(15))
            #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .stop(.timedOut))
        }
        #expect(state.tick(now: clock.now) == [])
        clock.advance(.seconds(5))  // 650 s: the lease was never renewed after the stop
        #expect(state.tick(now: clock.now) == [.finished("b", .error("build exceeded the 10m timeout"))])
        #expect(state.lease(workerID: "w2", now: clock.now).lease?.build.id == "next")
    }

    @Test func aTimedOutBuildWhoseWorkerIsAlsoGoneEndsInErrorNotRetry() throws {
        var clock = MockClock()
        var state = Scheduler(configuration: .init(buildTimeout: .seconds(60)))
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        clock.advance(.seconds(120))
        #expect(state.tick(now: clock.now) == [.finished("b", .error("build exceeded the 1m timeout"))])
    }

    @Test func durationsAreDescribedLikeGo() throws {
        #expect(Scheduler.describe(.seconds(7200)) == "2h0m")
        #expect(Scheduler.describe(.seconds(5400)) == "1h30m")
        #expect(Scheduler.describe(.seconds(3630)) == "1h0m30s")
        #expect(Scheduler.describe(.seconds(90)) == "1m30s")
        #expect(Scheduler.describe(.seconds(45)) == "45s")
        #expect(Scheduler.Configuration().timeoutMessage == "build exceeded the 2h0m timeout")
    }

    // MARK: Cancel

    @Test func cancellingAWaitingBuildRemovesIt() throws {
        let clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        #expect(state.cancel(buildID: "b") == .removedFromQueue)
        #expect(state.queuedBuilds.isEmpty)
        #expect(state.cancel(buildID: "b") == .alreadyFinished(.cancelled))
        #expect(state.lease(workerID: "w", now: clock.now) == .nothingRunnable)
        #expect(state.cancel(buildID: "never-queued") == .notFound)
    }

    @Test func cancellingARunningBuildSignalsItsWorkerThroughTheHeartbeat() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        #expect(state.cancel(buildID: "b") == .signalWorker("w"))
        #expect(state.cancel(buildID: "b") == .signalWorker("w"), "idempotent")
        clock.advance(.seconds(20))
        #expect(state.heartbeat(buildID: "b", workerID: "w", now: clock.now) == .stop(.cancelled))
        #expect(state.complete(buildID: "b", workerID: "w", result: .cancelled, now: clock.now) == .finished(.cancelled))
        #expect(state.cancel(buildID: "b") == .alreadyFinished(.cancelled))
    }

    @Test func cancellingARunningBuildWhoseWorkerDiedEndsCancelledNotRetried() throws {
        var clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        _ = state.cancel(buildID: "b")
        clock.advance(.seconds(60))
        #expect(state.tick(now: clock.now) == [.finished("b", .cancelled)])
    }

    @Test func aBuildThatFinishedBeforeHearingTheCancelStaysComplete() throws {
        let clock = MockClock()
        var state = Scheduler()
        _ = state.enqueue(build("b", "acme", "app"), now: clock.now)
        _ = state.lease(workerID: "w", now: clock.now)
        _ = state.cancel(buildID: "b")
        #expect(state.complete(buildID: "b", workerID: "w", result: .succeeded, now: clock.now) == .finished(.complete))
        #expect(state.cancel(buildID: "b") == .alreadyFinished(.complete), "the API maps this to Quay's 400")
        #expect(Scheduler.FinalOutcome.complete.phase == BuildPhase.complete)
    }

    @Test func finishedMemoryIsBounded() throws {
        let clock = MockClock()
        var state = Scheduler(configuration: .init(finishedMemory: 2))
        for id in ["a", "b", "c"] {
            _ = state.enqueue(build(id, "acme", id), now: clock.now)
            _ = state.cancel(buildID: id)
        }
        #expect(state.cancel(buildID: "a") == .notFound)
        #expect(state.cancel(buildID: "c") == .alreadyFinished(.cancelled))
    }

    // MARK: Restore

    @Test func restoreRebuildsQueueAndLeasesAfterARestart() throws {
        var clock = MockClock()
        var state = Scheduler()
        for i in 0..<4 {
            _ = state.enqueue(build("b\(i)", "acme", "r\(i)"), now: clock.now)
            clock.advance(.seconds(1))
        }
        _ = state.enqueue(build("g", "globex", "app"), now: clock.now)
        _ = state.lease(workerID: "w1", now: clock.now)  // b0
        _ = state.lease(workerID: "w2", now: clock.now)  // g
        _ = state.cancel(buildID: "g")
        let startedAt = clock.now
        clock.advance(.seconds(600))

        let rows = state.persistedBuilds
        clock.advance(.seconds(120))  // the server was down for a while
        var restored = Scheduler(restoring: Array(rows.reversed()), now: clock.now)
        #expect(restored.persistedBuilds == rows)
        #expect(restored.queuedBuilds.map(\.build.id) == ["b1", "b2", "b3"])
        let b0 = try #require(restored.leases.first { $0.build.id == "b0" })
        #expect(b0.leaseDeadline == clock.now + .seconds(60), "a fresh heartbeat window")
        #expect(b0.hardDeadline == startedAt + .seconds(7200), "the timeout still counts from the start")

        #expect(restored.heartbeat(buildID: "b0", workerID: "w1", now: clock.now) == .ok(leaseDeadline: clock.now + .seconds(60)))
        #expect(restored.heartbeat(buildID: "g", workerID: "w2", now: clock.now) == .stop(.cancelled))
        #expect(restored.lease(workerID: "w3", now: clock.now).lease?.build.id == "b1", "acme had one of two slots in use")
        #expect(restored.lease(workerID: "w4", now: clock.now) == .nothingRunnable)
        clock.advance(.seconds(30))
        _ = restored.heartbeat(buildID: "b0", workerID: "w1", now: clock.now)
        _ = restored.heartbeat(buildID: "b1", workerID: "w3", now: clock.now)
        clock.advance(.seconds(30))
        #expect(restored.tick(now: clock.now) == [.finished("g", .cancelled)], "g's worker did not come back")
    }
}
