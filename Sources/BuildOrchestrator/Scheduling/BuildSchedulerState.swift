// The build scheduler's decisions as a pure value: no I/O, no clock, no tasks. The durable
// build queue (an actor over the metadata store) feeds it events with the current time, writes
// the returned actions to the database and signals workers; tests drive it with a mock clock.
// Shape borrowed from PostgresNIO's PoolStateMachine: events in, actions out.
//
// Policy
// ------
// * Caps. A namespace (the user or org owning the repository) has at most
//   `maxConcurrentPerNamespace` leased builds (default 2) and at most `maxQueuedPerNamespace`
//   waiting ones (default 50; `enqueue` past it is rejected, the API answers 429). With
//   `oneRunningPerRepository` (default on) a repository has at most one leased build and its
//   builds start in the order they were queued, so two pushes cannot race `latest`.
// * Who runs next. Among namespaces that have a runnable build (under their running cap, and
//   whose oldest waiting build of some repository is ready and that repository is idle), the one
//   served least recently wins; ties go to the oldest build. Within a namespace the oldest
//   runnable build goes first. A namespace with 40 waiting builds therefore gets every other
//   start at most when one other namespace has work, never all of them.
// * Leases. A lease lasts `heartbeatTimeout` (60 s) and each heartbeat renews it; until its
//   first heartbeat only `leaseAcceptTimeout` (15 s), and a lease lost before any heartbeat
//   (the worker never got it) is put back without the retry delay. A heartbeat or
//   completion that arrives after the deadline is refused (`unknownLease`) even before `tick`
//   has noticed, so the outcome never depends on how often `tick` runs. `tick` takes expired
//   leases back: the build waits again (same place in line, not before `retryDelay`) until it
//   has had `maxAttempts` (3) leases, then ends `internalerror` ("worker lost after 3
//   attempts"; Quay shows this as `expired`). A worker-reported internal error is retried the
//   same way; a build failure is final.
// * Timeout. When a lease reaches `startedAt + buildTimeout` (2 h), `tick` asks the worker to
//   stop; the build ends `error` ("build exceeded the 2h0m timeout").
// * Cancel. A waiting build is removed and ends `cancelled`. A running build is flagged; its
//   worker hears `stop` on the next heartbeat and the build ends `cancelled`.
// * Stopping. A stopped lease (cancel or timeout) keeps its slot, so the repository's next build
//   cannot start while the old one may still push, but heartbeats no longer renew it: the build
//   ends when the worker confirms or at the lease deadline, whichever is first. Nothing can stay
//   `building` forever.
//
// Persistence contract (for the durable queue): `enqueue` accepted → insert a waiting row;
// `lease` → mark the row running (worker, start time, attempts); `requeued` → back to waiting
// with attempts and not-before; `stopWorker`/`signalWorker` → store the stop reason; `finished`
// → terminal phase, drop from the queue. Heartbeats need no write: `restore` gives every running
// build a fresh heartbeat window, and the hard deadline is derived from the start time.

import BuildProtocol

public struct BuildSchedulerState: Sendable {
    public let configuration: Configuration

    /// Waiting builds ordered by (`enqueuedAt`, `sequence`).
    private var queue: [QueuedBuild] = []
    /// Indexes of `queue`, kept in step by `insertIntoQueue`/`removeFromQueue`, so admitting a
    /// build (duplicate check, per-namespace cap) does not scan a long queue.
    private var queuedIDs: Set<BuildID> = []
    private var queuedPerNamespace: [String: Int] = [:]
    private var running: [BuildID: Lease] = [:]
    private var finished: [BuildID: FinalOutcome] = [:]
    private var finishedOrder: [BuildID] = []
    /// Round-robin memory: the `serveCount` at which each namespace last got a lease. Not
    /// persisted; after a restart every namespace starts even.
    private var lastServed: [String: UInt64] = [:]
    private var serveCount: UInt64 = 0
    private var nextSequence: UInt64 = 0

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.maxConcurrentPerNamespace >= 1, "maxConcurrentPerNamespace must be at least 1")
        precondition(configuration.maxQueuedPerNamespace >= 0, "maxQueuedPerNamespace must not be negative")
        precondition(configuration.maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition(configuration.heartbeatTimeout > .zero, "heartbeatTimeout must be positive")
        precondition(configuration.buildTimeout > .zero, "buildTimeout must be positive")
        precondition(configuration.retryDelay >= .zero, "retryDelay must not be negative")
        precondition(configuration.finishedMemory >= 0, "finishedMemory must not be negative")
        self.configuration = configuration
    }

    // MARK: Events

    /// A new build asks for a place in line.
    public mutating func enqueue(_ build: Build, now: Instant) -> EnqueueResult {
        if contains(build.id) { return .rejected(.duplicate) }
        if queuedCount(namespace: build.namespace) >= configuration.maxQueuedPerNamespace {
            return .rejected(.queueFull(limit: configuration.maxQueuedPerNamespace))
        }
        insertIntoQueue(QueuedBuild(build: build, enqueuedAt: now, attempts: 0, notBefore: nil,
                                    sequence: takeSequence()))
        return .accepted
    }

    /// A worker with a free slot asks for work. Call `tick` first so expired leases free their
    /// slots. `platforms`: what the worker can build (nil: it reports none); a build whose
    /// platforms it cannot all run is left for another worker.
    public mutating func lease(workerID: WorkerID, platforms: Set<String>? = nil, now: Instant) -> LeaseResult {
        guard let index = nextRunnableIndex(now: now, workerPlatforms: platforms) else { return .nothingRunnable }
        let next = removeFromQueue(at: index)
        serveCount += 1
        lastServed[next.build.namespace] = serveCount
        let lease = Lease(
            build: next.build, workerID: workerID, attempt: next.attempts + 1,
            enqueuedAt: next.enqueuedAt, startedAt: now,
            leaseDeadline: now + configuration.initialLeaseTimeout,
            hardDeadline: now + configuration.buildTimeout,
            stop: nil, sequence: next.sequence)
        running[next.build.id] = lease
        return .leased(lease)
    }

    /// The worker holding `buildID` is alive.
    public mutating func heartbeat(buildID: BuildID, workerID: WorkerID, now: Instant) -> HeartbeatResult {
        guard var lease = liveLease(buildID, workerID: workerID, now: now) else { return .unknownLease }
        if let stop = lease.stop { return .stop(stop) }
        lease.leaseDeadline = max(lease.leaseDeadline, now + configuration.heartbeatTimeout)
        lease.confirmed = true
        running[buildID] = lease
        return .ok(leaseDeadline: lease.leaseDeadline)
    }

    /// The worker holding `buildID` is done with it.
    public mutating func complete(buildID: BuildID, workerID: WorkerID, result: WorkerResult,
                                  now: Instant) -> CompletionResult {
        if let outcome = finished[buildID] { return .alreadyFinished(outcome) }
        guard let lease = liveLease(buildID, workerID: workerID, now: now) else { return .unknownLease }
        running[buildID] = nil
        let outcome: FinalOutcome
        switch (result, lease.stop) {
        case (.succeeded, _):
            // Finished before it heard the stop: the images are pushed, say so.
            outcome = .complete
        case (_, .cancelled?):
            outcome = .cancelled
        case (_, .timedOut?):
            outcome = .error(configuration.timeoutMessage)
        case (.failed(let message), nil):
            outcome = .error(message)
        case (.cancelled, nil):
            outcome = .cancelled
        case (.internalError(let message), nil):
            if lease.attempt < configuration.maxAttempts {
                let notBefore = requeue(lease, now: now, received: true)
                return .requeued(attemptsUsed: lease.attempt, notBefore: notBefore)
            }
            outcome = .internalError(message)
        }
        recordFinished(buildID, outcome)
        return .finished(outcome)
    }

    /// A user cancels `buildID`.
    public mutating func cancel(buildID: BuildID) -> CancelResult {
        if queuedIDs.contains(buildID), let index = queue.firstIndex(where: { $0.build.id == buildID }) {
            removeFromQueue(at: index)
            recordFinished(buildID, .cancelled)
            return .removedFromQueue
        }
        if var lease = running[buildID] {
            if lease.stop == nil {
                lease.stop = .cancelled
                running[buildID] = lease
            }
            return .signalWorker(lease.workerID)
        }
        if let outcome = finished[buildID] { return .alreadyFinished(outcome) }
        return .notFound
    }

    /// Time passed: take back expired leases and stop builds past their timeout. Actions come in
    /// lease start order.
    public mutating func tick(now: Instant) -> [TickAction] {
        var actions: [TickAction] = []
        let leases = running.values.sorted { ($0.startedAt, $0.sequence) < ($1.startedAt, $1.sequence) }
        for var lease in leases {
            let id = lease.build.id
            let leaseLost = now >= lease.leaseDeadline
            if let stop = lease.stop {
                guard leaseLost else { continue }
                running[id] = nil
                let outcome = self.outcome(for: stop)
                recordFinished(id, outcome)
                actions.append(.finished(id, outcome))
            } else if now >= lease.hardDeadline {
                if leaseLost {
                    // Nothing left to kill: the worker is gone too.
                    running[id] = nil
                    let outcome = FinalOutcome.error(configuration.timeoutMessage)
                    recordFinished(id, outcome)
                    actions.append(.finished(id, outcome))
                } else {
                    lease.stop = .timedOut
                    running[id] = lease
                    actions.append(.stopWorker(id, lease.workerID, .timedOut))
                }
            } else if leaseLost {
                running[id] = nil
                if lease.attempt < configuration.maxAttempts {
                    let notBefore = requeue(lease, now: now, received: lease.confirmed)
                    actions.append(.requeued(id, attemptsUsed: lease.attempt, notBefore: notBefore))
                } else {
                    let outcome = FinalOutcome.internalError(configuration.workerLostMessage)
                    recordFinished(id, outcome)
                    actions.append(.finished(id, outcome))
                }
            }
        }
        return actions
    }

    // MARK: Queries

    /// Waiting builds in queue order.
    public var queuedBuilds: [QueuedBuild] { queue }

    /// Leased builds in start order.
    public var leases: [Lease] {
        running.values.sorted { ($0.startedAt, $0.sequence) < ($1.startedAt, $1.sequence) }
    }

    public func status(of buildID: BuildID) -> BuildStatus? {
        if let lease = running[buildID] { return .running(lease) }
        if let queued = queue.first(where: { $0.build.id == buildID }) { return .queued(queued) }
        if let outcome = finished[buildID] { return .finished(outcome) }
        return nil
    }

    /// Queued builds per namespace (namespaces with none are absent).
    public var queuedCountsByNamespace: [String: Int] { queuedPerNamespace }

    public func queuedCount(namespace: String) -> Int {
        queuedPerNamespace[namespace, default: 0]
    }

    public func runningCount(namespace: String) -> Int {
        running.values.reduce(0) { $0 + ($1.build.namespace == namespace ? 1 : 0) }
    }

    /// The earliest instant at which `tick` or `lease` could decide something new without any
    /// other event: a lease or hard deadline, or a retry becoming leasable. The durable queue
    /// sleeps until then (or until an event arrives).
    public var nextWakeUp: Instant? {
        var candidates: [Instant] = []
        for lease in running.values {
            candidates.append(lease.leaseDeadline)
            if lease.stop == nil { candidates.append(lease.hardDeadline) }
        }
        for queued in queue {
            if let notBefore = queued.notBefore { candidates.append(notBefore) }
        }
        return candidates.min()
    }

    // MARK: Internals

    /// The queue index of the build to lease next, or nil. See the policy in the file header.
    private func nextRunnableIndex(now: Instant, workerPlatforms: Set<String>?) -> Int? {
        var runningPerNamespace: [String: Int] = [:]
        var blockedRepositories = Set<RepositoryKey>()
        for lease in running.values {
            runningPerNamespace[lease.build.namespace, default: 0] += 1
            if configuration.oneRunningPerRepository { blockedRepositories.insert(lease.build.repositoryKey) }
        }
        // The oldest runnable build of each namespace.
        var candidates: [String: Int] = [:]
        for (index, queued) in queue.enumerated() {
            let namespace = queued.build.namespace
            if candidates[namespace] != nil { continue }
            if runningPerNamespace[namespace, default: 0] >= configuration.maxConcurrentPerNamespace { continue }
            if configuration.oneRunningPerRepository {
                // Only a repository's oldest waiting build may start: younger ones wait behind it
                // even when it is held back by its retry delay.
                let key = queued.build.repositoryKey
                if blockedRepositories.contains(key) { continue }
                blockedRepositories.insert(key)
            }
            if let notBefore = queued.notBefore, notBefore > now { continue }
            // After the repository check: a build this worker cannot run still holds its
            // repository's place in line; the namespace's next build may go to this worker.
            if !BuildPlatforms.canRun(queued.build.platforms, on: workerPlatforms) { continue }
            candidates[namespace] = index
        }
        // Least recently served namespace first (never served counts as 0), then oldest build.
        return candidates.min { a, b in
            (lastServed[a.key] ?? 0, a.value) < (lastServed[b.key] ?? 0, b.value)
        }?.value
    }

    private func liveLease(_ buildID: BuildID, workerID: WorkerID, now: Instant) -> Lease? {
        guard let lease = running[buildID], lease.workerID == workerID, now < lease.leaseDeadline else {
            return nil
        }
        return lease
    }

    private func contains(_ buildID: BuildID) -> Bool {
        running[buildID] != nil || finished[buildID] != nil || queuedIDs.contains(buildID)
    }

    /// Puts a lost or failed lease back in line at its original place; one its worker never
    /// received may run again at once.
    private mutating func requeue(_ lease: Lease, now: Instant, received: Bool) -> Instant {
        let notBefore = received ? now + configuration.retryDelay : now
        insertIntoQueue(QueuedBuild(build: lease.build, enqueuedAt: lease.enqueuedAt,
                                    attempts: lease.attempt, notBefore: notBefore,
                                    sequence: lease.sequence))
        return notBefore
    }

    private mutating func insertIntoQueue(_ queued: QueuedBuild) {
        let key = (queued.enqueuedAt, queued.sequence)
        let index = queue.lastIndex { ($0.enqueuedAt, $0.sequence) <= key }.map { $0 + 1 } ?? 0
        queue.insert(queued, at: index)
        queuedIDs.insert(queued.build.id)
        queuedPerNamespace[queued.build.namespace, default: 0] += 1
    }

    @discardableResult
    private mutating func removeFromQueue(at index: Int) -> QueuedBuild {
        let removed = queue.remove(at: index)
        queuedIDs.remove(removed.build.id)
        let namespace = removed.build.namespace
        let left = queuedPerNamespace[namespace, default: 1] - 1
        queuedPerNamespace[namespace] = left > 0 ? left : nil
        return removed
    }

    private mutating func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    private mutating func recordFinished(_ buildID: BuildID, _ outcome: FinalOutcome) {
        guard configuration.finishedMemory > 0 else { return }
        finished[buildID] = outcome
        finishedOrder.append(buildID)
        if finishedOrder.count > configuration.finishedMemory {
            finished[finishedOrder.removeFirst()] = nil
        }
    }

    private func outcome(for stop: StopReason) -> FinalOutcome {
        switch stop {
        case .cancelled: return .cancelled
        case .timedOut: return .error(configuration.timeoutMessage)
        }
    }
}

// MARK: - Restore

extension BuildSchedulerState {
    /// One unfinished build as the durable store keeps it.
    public struct PersistedBuild: Sendable, Hashable {
        public var build: Build
        public var enqueuedAt: Instant
        /// Leases started so far, including the current one if running.
        public var attempts: Int
        /// A waiting retry is not leasable before this.
        public var notBefore: Instant?
        /// Set while a worker holds the build.
        public var running: Running?

        public struct Running: Sendable, Hashable {
            public var workerID: WorkerID
            public var startedAt: Instant
            public var stop: StopReason?
            /// The worker's last heartbeat as stored. nil: a fresh window from `now` (a restart
            /// of the only process); set: the lease runs out a heartbeat timeout after it
            /// (replicas reloading a shared queue must agree on when a worker is gone).
            public var lastHeartbeat: Instant?

            public init(workerID: WorkerID, startedAt: Instant, stop: StopReason? = nil, lastHeartbeat: Instant? = nil) {
                self.workerID = workerID
                self.startedAt = startedAt
                self.stop = stop
                self.lastHeartbeat = lastHeartbeat
            }
        }

        public init(build: Build, enqueuedAt: Instant, attempts: Int, notBefore: Instant? = nil,
                    running: Running? = nil) {
            self.build = build
            self.enqueuedAt = enqueuedAt
            self.attempts = attempts
            self.notBefore = notBefore
            self.running = running
        }
    }

    /// Rebuilds the state after a restart from the store's unfinished builds. Running builds keep
    /// their worker and start time (so their hard deadline stands) and get one fresh heartbeat
    /// window from `now`: a worker that survived the restart carries on, a dead one is taken
    /// back by `tick` as usual. Caps are not re-checked: what was running keeps running. Rows
    /// with a repeated id are ignored after the first. Builds queued in the same millisecond keep
    /// the order they have in `rows` (the store orders by its insertion id).
    public init(configuration: Configuration = Configuration(), restoring rows: [PersistedBuild], now: Instant) {
        self.init(configuration: configuration)
        let ordered = rows.enumerated()
            .sorted { ($0.element.enqueuedAt, $0.offset) < ($1.element.enqueuedAt, $1.offset) }
            .map(\.element)
        for row in ordered where !contains(row.build.id) {
            place(row, sequence: takeSequence(), now: now)
        }
    }

    /// Puts a stored unfinished build into the queue or the leases.
    private mutating func place(_ row: PersistedBuild, sequence: UInt64, now: Instant) {
        if let run = row.running {
            running[row.build.id] = Lease(
                build: row.build, workerID: run.workerID, attempt: max(row.attempts, 1),
                enqueuedAt: row.enqueuedAt, startedAt: run.startedAt,
                leaseDeadline: (run.lastHeartbeat ?? now) + configuration.heartbeatTimeout,
                hardDeadline: run.startedAt + configuration.buildTimeout,
                stop: run.stop, sequence: sequence,
                // A stored lease is stamped with a heartbeat before its start until its worker's
                // first heartbeat (`BuildStore.leaseBuild`); rows without one count as confirmed.
                confirmed: run.lastHeartbeat.map { $0 >= run.startedAt } ?? true)
        } else {
            insertIntoQueue(QueuedBuild(build: row.build, enqueuedAt: row.enqueuedAt,
                                        attempts: max(row.attempts, 0), notBefore: row.notBefore,
                                        sequence: sequence))
        }
    }

    /// What the shared store says about one build now.
    public enum SyncedBuild: Sendable, Hashable {
        case unfinished(PersistedBuild)
        /// Finished (with its outcome when known) or gone from the store.
        case finished(BuildID, FinalOutcome?)
    }

    /// Makes the state agree with the store about one build, whatever it thought before: how a
    /// replica sharing the queue applies what other replicas changed (their notifications, its
    /// resyncs) without rebuilding everything. A build keeps its place in line; a running one's
    /// lease runs a heartbeat timeout past its stored heartbeat (or `now` without one). The
    /// store wins over a decision of this state it did not take: a build this state finished
    /// (a cancel, a completion) whose write lost to another replica's lease is unfinished again.
    public mutating func sync(_ build: SyncedBuild, now: Instant) {
        let id: BuildID
        switch build {
        case .unfinished(let row):
            id = row.build.id
            finished[id] = nil
        case .finished(let finishedID, _):
            id = finishedID
            if finished[id] != nil { return }
        }
        var sequence: UInt64?
        if let lease = running.removeValue(forKey: id) { sequence = lease.sequence }
        if queuedIDs.contains(id), let index = queue.firstIndex(where: { $0.build.id == id }) {
            sequence = removeFromQueue(at: index).sequence
        }
        switch build {
        case .finished(_, let outcome):
            if let outcome { recordFinished(id, outcome) }
        case .unfinished(let row):
            place(row, sequence: sequence ?? takeSequence(), now: now)
        }
    }

    /// The unfinished builds as rows, queue first (in order), then leases (in start order).
    /// `BuildSchedulerState(restoring: persistedBuilds, now:)` rebuilds the same queue and leases.
    public var persistedBuilds: [PersistedBuild] {
        queue.map {
            PersistedBuild(build: $0.build, enqueuedAt: $0.enqueuedAt, attempts: $0.attempts,
                           notBefore: $0.notBefore)
        } + leases.map {
            PersistedBuild(build: $0.build, enqueuedAt: $0.enqueuedAt, attempts: $0.attempt,
                           running: .init(workerID: $0.workerID, startedAt: $0.startedAt, stop: $0.stop))
        }
    }
}
