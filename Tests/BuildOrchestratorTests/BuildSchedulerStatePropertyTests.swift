// Randomised test of the build scheduler: thousands of seeded steps of enqueue, lease,
// heartbeat, complete, cancel, clock advance + tick and restart, checking the invariants after
// every step against a small model, then draining everything to prove nothing gets stuck.

import BuildOrchestrator
import Testing

@Suite("BuildSchedulerState properties")
struct BuildSchedulerStatePropertyTests {
    static let configuration = Scheduler.Configuration(
        maxConcurrentPerNamespace: 2, maxQueuedPerNamespace: 6, oneRunningPerRepository: true,
        maxAttempts: 3, heartbeatTimeout: .seconds(60), buildTimeout: .seconds(150),
        retryDelay: .seconds(30))

    @Test(arguments: [1, 2, 3, 42, 2024, 99_991] as [UInt64])
    func invariantsHoldUnderRandomEvents(seed: UInt64) throws {
        var run = Run(seed: seed, configuration: Self.configuration)
        for _ in 0..<3000 {
            run.step()
            run.checkInvariants()
        }
        run.drain()
        #expect(run.stats.leases > 100 && run.stats.requeues > 0 && run.stats.timeouts > 0
                && run.stats.rejections > 0 && run.stats.restarts > 0 && run.stats.idleLeases > 0,
                "the run exercised every path: \(run.stats)")
    }

    @Test func invariantsHoldWithoutTheRepositoryRule() {
        var configuration = Self.configuration
        configuration.oneRunningPerRepository = false
        var run = Run(seed: 7, configuration: configuration)
        for _ in 0..<3000 {
            run.step()
            run.checkInvariants()
        }
        run.drain()
    }
}

/// One randomised run: the state under test, a model of where each build is, and the mock clock.
private struct Run {
    enum Where: Equatable {
        case queued
        case running(worker: String)
        case finished(Scheduler.FinalOutcome)
    }

    struct Stats: CustomStringConvertible {
        var leases = 0, idleLeases = 0, requeues = 0, timeouts = 0, rejections = 0, restarts = 0, cancels = 0
        var description: String {
            "leases \(leases), idle \(idleLeases), requeues \(requeues), timeouts \(timeouts), rejections \(rejections), restarts \(restarts), cancels \(cancels)"
        }
    }

    let configuration: Scheduler.Configuration
    var rng: SplitMix64
    var clock = MockClock()
    var state: Scheduler
    var model: [String: Where] = [:]
    /// Least-recently-served bookkeeping, kept independently of the state (reset on restart).
    var lastServed: [String: Int] = [:]
    var serves = 0
    var nextID = 0
    var stats = Stats()

    let namespaces = ["acme", "globex", "initech", "umbrella"]
    let repositories = ["app", "api", "web"]
    let workers = (0..<6).map { "worker-\($0)" }

    init(seed: UInt64, configuration: Scheduler.Configuration) {
        self.configuration = configuration
        rng = SplitMix64(seed: seed)
        state = Scheduler(configuration: configuration)
    }

    mutating func step() {
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<28: enqueue()
        case 28..<52: lease()
        case 52..<67: heartbeat()
        case 67..<80: complete()
        case 80..<85: cancel()
        case 85..<99: advanceAndTick()
        default: restart()
        }
    }

    // MARK: Events

    mutating func enqueue() {
        let namespace = namespaces.randomElement(using: &rng)!
        let repository = repositories.randomElement(using: &rng)!
        let id = "b\(nextID)"
        nextID += 1
        let queuedBefore = state.queuedCount(namespace: namespace)
        switch state.enqueue(build(id, namespace, repository), now: clock.now) {
        case .accepted:
            #expect(queuedBefore < configuration.maxQueuedPerNamespace)
            model[id] = .queued
        case .rejected(.queueFull(let limit)):
            #expect(limit == configuration.maxQueuedPerNamespace && queuedBefore >= limit)
            stats.rejections += 1
        case .rejected(.duplicate):
            Issue.record("fresh id \(id) rejected as duplicate")
        }
    }

    mutating func lease() {
        let worker = workers.randomElement(using: &rng)!
        let eligible = eligibleBuilds()
        switch state.lease(workerID: worker, now: clock.now) {
        case .nothingRunnable:
            #expect(eligible.isEmpty, "work-conserving: nothing runnable although \(eligible.map(\.build.id)) is")
            stats.idleLeases += 1
        case .leased(let lease):
            let id = lease.build.id
            #expect(model[id] == .queued)
            #expect(lease.workerID == worker && lease.startedAt == clock.now)
            #expect(lease.leaseDeadline == clock.now + configuration.heartbeatTimeout)
            // Fairness: the least recently served namespace with runnable work, its oldest build.
            let best = eligible.min { a, b in
                (lastServed[a.build.namespace] ?? 0, a.position) < (lastServed[b.build.namespace] ?? 0, b.position)
            }
            #expect(best?.build.id == id, "expected \(best?.build.id ?? "nothing"), got \(id)")
            serves += 1
            lastServed[lease.build.namespace] = serves
            model[id] = .running(worker: worker)
            stats.leases += 1
        }
    }

    /// Workers 0...3 are healthy and sometimes renew all their leases at once; 4 and 5 are
    /// flaky and only renew through the single random heartbeat below.
    mutating func heartbeat() {
        if Bool.random(using: &rng) {
            for lease in state.leases where workers.prefix(4).contains(lease.workerID) {
                renew(lease)
            }
        } else if let lease = state.leases.randomElement(using: &rng) {
            renew(lease)
        }
    }

    mutating func renew(_ original: Scheduler.Lease) {
        var lease = original
        let wrongWorker = Int.random(in: 0..<10, using: &rng) == 0
        let worker = wrongWorker ? "stranger" : lease.workerID
        let result = state.heartbeat(buildID: lease.build.id, workerID: worker, now: clock.now)
        if wrongWorker || clock.now >= lease.leaseDeadline {
            #expect(result == .unknownLease)
        } else if let stop = lease.stop {
            #expect(result == .stop(stop))
        } else {
            #expect(result == .ok(leaseDeadline: clock.now + configuration.heartbeatTimeout))
        }
        lease = state.leases.first { $0.build.id == lease.build.id }!
        #expect(lease.leaseDeadline <= clock.now + configuration.heartbeatTimeout)
        if original.stop != nil {
            #expect(lease.leaseDeadline == original.leaseDeadline, "a stopped lease is never renewed")
        }
    }

    mutating func complete() {
        guard let lease = state.leases.randomElement(using: &rng) else { return }
        let id = lease.build.id
        let results: [Scheduler.WorkerResult] = [.succeeded, .succeeded, .failed("step failed"),
                                                 .internalError("builder crashed"), .cancelled]
        let reported = results.randomElement(using: &rng)!
        let result = state.complete(buildID: id, workerID: lease.workerID, result: reported, now: clock.now)
        if clock.now >= lease.leaseDeadline {
            #expect(result == .unknownLease)
            return
        }
        switch result {
        case .finished(let outcome):
            if reported == .succeeded { #expect(outcome == .complete) }
            if lease.stop == .cancelled && reported != .succeeded { #expect(outcome == .cancelled) }
            if lease.stop == .timedOut && reported != .succeeded {
                #expect(outcome == .error(configuration.timeoutMessage))
            }
            finish(id, outcome)
        case .requeued(let attemptsUsed, let notBefore):
            #expect(reported == .internalError("builder crashed") && lease.stop == nil)
            #expect(attemptsUsed == lease.attempt && attemptsUsed < configuration.maxAttempts)
            #expect(notBefore == clock.now + configuration.retryDelay)
            model[id] = .queued
            stats.requeues += 1
        case .alreadyFinished, .unknownLease:
            Issue.record("live lease \(id) refused: \(result)")
        }
    }

    mutating func cancel() {
        guard let id = model.keys.sorted().randomElement(using: &rng) else { return }
        stats.cancels += 1
        let result = state.cancel(buildID: id)
        switch model[id]! {
        case .queued:
            #expect(result == .removedFromQueue)
            finish(id, .cancelled)
        case .running(let worker):
            #expect(result == .signalWorker(worker))
        case .finished(let outcome):
            // After a restart the state forgets finished builds; the store still knows them.
            #expect(result == .alreadyFinished(outcome) || result == .notFound)
        }
    }

    mutating func advanceAndTick() {
        clock.advance(.milliseconds(Int64.random(in: 0...45_000, using: &rng)))
        let before = Dictionary(uniqueKeysWithValues: state.leases.map { ($0.build.id, $0) })
        for action in state.tick(now: clock.now) {
            switch action {
            case .requeued(let id, let attemptsUsed, let notBefore):
                let lease = before[id]!
                #expect(clock.now >= lease.leaseDeadline && lease.stop == nil && clock.now < lease.hardDeadline)
                #expect(attemptsUsed == lease.attempt && attemptsUsed < configuration.maxAttempts)
                // A lease no heartbeat ever confirmed was never received: back in line at once.
                #expect(notBefore == clock.now + (lease.confirmed ? configuration.retryDelay : .zero))
                model[id] = .queued
                stats.requeues += 1
            case .stopWorker(let id, let worker, let reason):
                let lease = before[id]!
                #expect(reason == .timedOut && lease.stop == nil && worker == lease.workerID)
                #expect(clock.now >= lease.hardDeadline && clock.now < lease.leaseDeadline)
                stats.timeouts += 1
            case .finished(let id, let outcome):
                let lease = before[id]!
                #expect(clock.now >= lease.leaseDeadline)
                switch outcome {
                case .cancelled: #expect(lease.stop == .cancelled)
                case .error(let message):
                    #expect(message == configuration.timeoutMessage)
                    #expect(lease.stop == .timedOut || clock.now >= lease.hardDeadline)
                    if lease.stop == nil { stats.timeouts += 1 }
                case .internalError(let message):
                    #expect(message == configuration.workerLostMessage && lease.attempt == configuration.maxAttempts)
                case .complete: Issue.record("tick never completes a build")
                }
                finish(id, outcome)
            }
        }
        // After a tick no lease is past its deadline, and no unstopped lease is past its timeout.
        for lease in state.leases {
            #expect(clock.now < lease.leaseDeadline)
            #expect(lease.stop != nil || clock.now < lease.hardDeadline)
        }
    }

    /// A server restart: the store's rows rebuild the state; fairness memory starts over.
    mutating func restart() {
        let rows = state.persistedBuilds
        let queueBefore = state.queuedBuilds.map(\.build.id)
        state = Scheduler(configuration: configuration, restoring: rows, now: clock.now)
        #expect(state.persistedBuilds == rows)
        #expect(state.queuedBuilds.map(\.build.id) == queueBefore)
        for lease in state.leases {
            #expect(lease.leaseDeadline == clock.now + configuration.heartbeatTimeout)
            #expect(lease.hardDeadline == lease.startedAt + configuration.buildTimeout)
        }
        lastServed = [:]
        serves = 0
        stats.restarts += 1
    }

    /// Stop adding work; keep leasing and finishing until nothing is left. Every accepted build
    /// must end exactly once, and quickly.
    mutating func drain() {
        var rounds = 0
        while !state.queuedBuilds.isEmpty || !state.leases.isEmpty {
            rounds += 1
            guard rounds < 10_000 else {
                Issue.record("did not drain: \(state.queuedBuilds.count) queued, \(state.leases.count) leased")
                return
            }
            clock.advance(.seconds(10))
            for action in state.tick(now: clock.now) {
                switch action {
                case .requeued(let id, _, _): model[id] = .queued
                case .finished(let id, let outcome): finish(id, outcome)
                case .stopWorker: break
                }
            }
            for worker in workers {
                guard let lease = state.lease(workerID: worker, now: clock.now).lease else { break }
                model[lease.build.id] = .running(worker: worker)
            }
            for lease in state.leases where clock.now < lease.leaseDeadline {
                if case .finished(let outcome) = state.complete(buildID: lease.build.id, workerID: lease.workerID,
                                                                result: .succeeded, now: clock.now) {
                    finish(lease.build.id, outcome)
                }
            }
            checkInvariants()
        }
        for (id, place) in model {
            guard case .finished = place else {
                Issue.record("\(id) never finished: \(place)")
                continue
            }
        }
    }

    // MARK: Checks

    mutating func finish(_ id: String, _ outcome: Scheduler.FinalOutcome) {
        if case .finished(let previous) = model[id] {
            Issue.record("\(id) finished twice: \(previous) then \(outcome)")
        }
        model[id] = .finished(outcome)
    }

    /// Queued builds that may start now, by the documented rules, computed from the public view.
    func eligibleBuilds() -> [(build: Scheduler.Build, position: Int)] {
        let leases = state.leases
        let queue = state.queuedBuilds
        var firstPerNamespace: [String: (build: Scheduler.Build, position: Int)] = [:]
        for (position, queued) in queue.enumerated() {
            let b = queued.build
            guard firstPerNamespace[b.namespace] == nil else { continue }
            guard leases.filter({ $0.build.namespace == b.namespace }).count < configuration.maxConcurrentPerNamespace
            else { continue }
            if let notBefore = queued.notBefore, notBefore > clock.now { continue }
            if configuration.oneRunningPerRepository {
                let sameRepository = { (other: Scheduler.Build) in
                    other.namespace == b.namespace && other.repository == b.repository
                }
                if leases.contains(where: { sameRepository($0.build) }) { continue }
                if queue[..<position].contains(where: { sameRepository($0.build) }) { continue }
            }
            firstPerNamespace[b.namespace] = (b, position)
        }
        return Array(firstPerNamespace.values)
    }

    func checkInvariants() {
        let queue = state.queuedBuilds
        let leases = state.leases
        let queuedIDs = queue.map(\.build.id)
        // The per-namespace index agrees with the queue itself.
        let counted = Dictionary(queue.map { ($0.build.namespace, 1) }, uniquingKeysWith: +)
        #expect(state.queuedCountsByNamespace == counted, "queued-per-namespace index out of step")
        let leasedIDs = leases.map(\.build.id)
        #expect(Set(queuedIDs).count == queuedIDs.count && Set(leasedIDs).count == leasedIDs.count)
        #expect(Set(queuedIDs).isDisjoint(with: leasedIDs))

        // The model and the state agree on where every build is.
        #expect(Set(queuedIDs) == Set(model.filter { $0.value == .queued }.keys))
        let running = Dictionary(uniqueKeysWithValues: leases.map { ($0.build.id, $0.workerID) })
        let modelRunning = model.compactMapValues { place -> String? in
            if case .running(let worker) = place { return worker }
            return nil
        }
        #expect(running == modelRunning)

        for namespace in namespaces {
            #expect(state.runningCount(namespace: namespace) <= configuration.maxConcurrentPerNamespace)
            // Only builds put back after a lost worker can push a namespace past its queue cap.
            #expect(state.queuedCount(namespace: namespace)
                    <= configuration.maxQueuedPerNamespace + configuration.maxConcurrentPerNamespace)
        }
        if configuration.oneRunningPerRepository {
            let repositories = leases.map { "\($0.build.namespace)/\($0.build.repository)" }
            #expect(Set(repositories).count == repositories.count, "one running build per repository")
        }
        for lease in leases {
            #expect((1...configuration.maxAttempts).contains(lease.attempt))
            #expect(lease.hardDeadline == lease.startedAt + configuration.buildTimeout)
        }
        for queued in queue {
            #expect((0..<configuration.maxAttempts).contains(queued.attempts))
            #expect((queued.notBefore != nil) == (queued.attempts > 0))
        }
        #expect(zip(queue, queue.dropFirst()).allSatisfy { $0.enqueuedAt <= $1.enqueuedAt }, "queue order")
        let wakeUps = leases.flatMap { [$0.leaseDeadline] + ($0.stop == nil ? [$0.hardDeadline] : []) }
            + queue.compactMap(\.notBefore)
        #expect(state.nextWakeUp == wakeUps.min())
    }
}
