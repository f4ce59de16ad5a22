import BuildProtocol
import Foundation
import Logging
import Registry
import ServiceLifecycle
import SlipwayCore

/// The durable build queue: `BuildSchedulerState` decides, this actor persists each decision in
/// the `builds` table and talks to workers. On start-up the state is rebuilt from unfinished
/// rows, so a restart loses no build; a build a worker held gets one fresh heartbeat window.
///
/// On PostgreSQL several server replicas share one queue: every queue operation runs under a
/// cluster-wide advisory lock and starts by reloading the scheduler state from the database
/// (heartbeats included), so the caps, the one-build-per-repository rule and lease expiry are
/// decided once for the whole cluster and no build is leased twice. On SQLite there is one
/// process and the in-memory state is the truth between restarts.
public actor BuildQueue {
    public enum EnqueueResult: Sendable { case accepted(BuildRecord), queueFull(limit: Int) }
    public enum CancelResult: Sendable, Equatable { case cancelled, signalledWorker, alreadyFinished, notFound }

    let services: RegistryServices
    let store: BuildStore
    let logger: Logger
    private var state: BuildSchedulerState
    private var leaseIDs: [String: String] = [:]
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    /// Held heartbeats (`awaitStop`), by build; woken when that build's lease changes.
    private var stopWaiters: [UUID: (build: String, continuation: CheckedContinuation<Void, Never>)] = [:]
    /// Counts wake-ups of held heartbeats, so one that lands while a wait reads the database
    /// (before it sleeps) is not missed.
    private var stopSignals = 0
    private var restored = false

    /// Set on PostgreSQL: the queue is shared with other replicas.
    private let sharedDatabase: PostgresBackend?
    /// One coordinated operation of this process at a time (so waiting for the cluster lock
    /// never takes more than one pooled connection).
    private var coordinating = false
    private var coordinationWaiters: [CheckedContinuation<Void, Never>] = []
    private var clusterLock: ClusterLock?
    static let clusterLockKey: Int64 = 0x534C_4950_5741_5901  // "SLIPWAY" + 1

    private let events: BuildEvents
    private let enqueueBatches = GroupCommit<PendingEnqueue, EnqueueResult>()
    private let metrics = BuildMetrics()
    /// Namespace id → name, for metric labels.
    private var namespaceNames: [String: String] = [:]

    public init(services: RegistryServices, store: BuildStore, sources: any BuildSourceSecrets = NoBuildSourceSecrets()) {
        self.services = services
        self.store = store
        self.events = BuildEvents(services: services, sources: sources)
        self.logger = services.logger
        self.sharedDatabase = store.sharedDatabase
        let b = services.config.builds
        self.state = BuildSchedulerState(configuration: .init(
            maxConcurrentPerNamespace: b.maxConcurrentPerNamespace, maxQueuedPerNamespace: b.maxQueuedPerNamespace,
            heartbeatTimeout: .seconds(b.leaseTimeoutSeconds), buildTimeout: .seconds(b.timeoutSeconds),
            retryDelay: .seconds(min(30, max(1, b.leaseTimeoutSeconds / 2)))))
    }

    static func now() -> BuildSchedulerState.Instant { .init(millisecondsSinceEpoch: Clock.nowMillis()) }

    /// Rebuilds the scheduler from the database (idempotent; called lazily on first use).
    func restoreIfNeeded() async throws {
        guard !restored else { return }
        try await reload(useStoredHeartbeats: false)
        restored = true
        if !state.persistedBuilds.isEmpty { logger.info("build queue restored", metadata: ["builds": "\(state.persistedBuilds.count)"]) }
    }

    /// Replaces the state with the database's unfinished builds. With stored heartbeats a
    /// lease runs out a heartbeat timeout after the last one any replica recorded; without,
    /// running builds get a fresh window (the restart of a single process).
    private func reload(useStoredHeartbeats: Bool) async throws {
        var persisted: [BuildSchedulerState.PersistedBuild] = []
        var leases: [String: String] = [:]
        for b in try await store.unfinishedBuilds() {
            let running: BuildSchedulerState.PersistedBuild.Running? = b.workerID.flatMap { worker in
                b.startedAt.map { started in
                    .init(workerID: worker, startedAt: .init(millisecondsSinceEpoch: started),
                          stop: b.stopReason.flatMap(BuildSchedulerState.StopReason.init(rawValue:)),
                          lastHeartbeat: useStoredHeartbeats ? .init(millisecondsSinceEpoch: b.heartbeatAt ?? started) : nil)
                }
            }
            persisted.append(.init(build: .init(id: b.uuid, namespace: String(b.namespaceID), repository: String(b.repositoryID)),
                                   enqueuedAt: .init(millisecondsSinceEpoch: b.queuedAt), attempts: b.attempts,
                                   notBefore: b.notBefore.map { .init(millisecondsSinceEpoch: $0) }, running: running))
            if let lease = b.leaseID { leases[b.uuid] = lease }
        }
        leaseIDs = leases
        state = BuildSchedulerState(configuration: state.configuration, restoring: persisted, now: Self.now())
        await refreshMetrics()
    }

    /// Runs one queue operation: on a shared queue under the cluster lock with the state
    /// reloaded first; otherwise on the in-memory state.
    private func coordinated<T>(_ body: () async throws -> T) async throws -> T {
        guard let shared = sharedDatabase else {
            try await restoreIfNeeded()
            return try await body()
        }
        if coordinating {
            await withCheckedContinuation { coordinationWaiters.append($0) }
        }
        coordinating = true
        do {
            clusterLock = try await shared.acquireClusterLock(Self.clusterLockKey)
            try await reload(useStoredHeartbeats: true)
            let result = try await body()
            await endCoordinated()
            return result
        } catch {
            await endCoordinated()
            throw error
        }
    }

    private func endCoordinated() async {
        if let lock = clusterLock {
            clusterLock = nil
            await lock.release()
        }
        // Hand over directly to the next waiter (which finds `coordinating` still set).
        if coordinationWaiters.isEmpty { coordinating = false } else { coordinationWaiters.removeFirst().resume() }
    }

    // MARK: API side

    /// Queues a new build (the row is written here, after the namespace's queue cap is checked).
    /// Queues a build. `repository` and `trigger`, when the caller has them, spare the reads
    /// (and the re-parsing) that building the `build_queued` event would otherwise do. Builds queued while
    /// an earlier insert is in flight are written together (`GroupCommit`), so a burst of
    /// webhooks costs one transaction per batch instead of one per build.
    public nonisolated func enqueue(_ record: BuildRecord, repository: Repository? = nil,
                                    trigger: TriggerContext? = nil) async throws -> EnqueueResult {
        // The event is prepared outside the actor: it only reads.
        let event = try await events.prepare(.buildQueued, record, repository: repository, trigger: trigger)
        return try await enqueueBatches.submit(PendingEnqueue(record: record, event: event)) { batch in
            try await self.enqueueBatch(batch)
        }
    }

    struct PendingEnqueue: Sendable {
        let record: BuildRecord
        let event: BuildEvents.Prepared?
    }

    private func enqueueBatch(_ batch: [PendingEnqueue]) async throws -> [EnqueueResult] {
        try await coordinated { try await enqueueBatchNow(batch) }
    }

    private func enqueueBatchNow(_ batch: [PendingEnqueue]) async throws -> [EnqueueResult] {
        let limit = state.configuration.maxQueuedPerNamespace
        var results = [EnqueueResult](repeating: .queueFull(limit: limit), count: batch.count)
        var admitted: [Int] = []
        var admittedPerNamespace: [String: Int] = [:]
        for (i, pending) in batch.enumerated() {
            let namespace = String(pending.record.namespaceID)
            guard state.queuedCount(namespace: namespace) + admittedPerNamespace[namespace, default: 0] < limit else { continue }
            admittedPerNamespace[namespace, default: 0] += 1
            admitted.append(i)
        }
        guard !admitted.isEmpty else { return results }
        // The build_queued events commit with the rows: no queued build without its event.
        let stored = try await store.insertBuilds(admitted.map { (batch[$0].record, batch[$0].event) })
        for (row, i) in zip(stored, admitted) {
            let record = batch[i].record
            let build = BuildSchedulerState.Build(id: record.uuid, namespace: String(record.namespaceID), repository: String(record.repositoryID))
            switch state.enqueue(build, now: Self.now()) {
            case .accepted, .rejected(.duplicate):
                results[i] = .accepted(row)
            case .rejected(.queueFull(let limit)):
                try await store.finishBuild(uuid: record.uuid, phase: .error, error: "queue full", manifestDigests: [:])
                results[i] = .queueFull(limit: limit)
            }
        }
        wakeWorkers()
        await refreshMetrics()
        return results
    }

    public func cancel(uuid: String) async throws -> CancelResult {
        try await coordinated { try await cancelNow(uuid: uuid) }
    }

    private func cancelNow(uuid: String) async throws -> CancelResult {
        switch state.cancel(buildID: uuid) {
        case .removedFromQueue:
            try await finish(uuid, .cancelled)
            return .cancelled
        case .signalWorker:
            try await persistLease(uuid)
            return .signalledWorker
        case .alreadyFinished:
            return .alreadyFinished
        case .notFound:
            let record = try await store.build(uuid: uuid)
            return record?.finishedAt != nil ? .alreadyFinished : .notFound
        }
    }

    /// Cancels every unfinished build of a repository (it is being deleted): queued builds are
    /// dropped, running ones are told to stop. Returns how many builds it touched.
    public func cancelBuilds(repositoryID: Int64) async throws -> Int {
        try await coordinated {
            let repository = String(repositoryID)
            let ids = state.queuedBuilds.map(\.build).filter { $0.repository == repository }.map(\.id)
                + state.leases.map(\.build).filter { $0.repository == repository }.map(\.id)
            for id in ids { _ = try await cancelNow(uuid: id) }
            return ids.count
        }
    }

    // MARK: Worker side

    /// Long-polls for work: returns a lease, or nil after `wait`.
    public func lease(workerID: String, wait: Duration) async throws -> (BuildRecord, leaseID: String, attempt: Int)? {
        let deadline = ContinuousClock.now + wait
        while true {
            if let leased = try await coordinated({ try await leaseNow(workerID: workerID) }) { return leased }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            // Enqueues in this process wake the wait; on a shared queue, other replicas' builds
            // are seen at the next poll (at most a second later).
            await sleepOrWake(min(remaining, .seconds(1)))
        }
    }

    private func leaseNow(workerID: String) async throws -> (BuildRecord, leaseID: String, attempt: Int)? {
        try await applyTick(state.tick(now: Self.now()))
        while case .leased(let lease) = state.lease(workerID: workerID, now: Self.now()) {
            let leaseID = UUID().uuidString.lowercased()
            leaseIDs[lease.build.id] = leaseID
            try await store.updateBuildQueueState(
                uuid: lease.build.id, phase: .buildScheduled, attempts: lease.attempt, notBefore: nil, workerID: workerID,
                leaseID: leaseID, startedAt: lease.startedAt.millisecondsSinceEpoch, stopReason: nil,
                heartbeatAt: lease.startedAt.millisecondsSinceEpoch)
            guard let record = try await store.build(uuid: lease.build.id) else { continue }
            metrics.started(queuedAt: record.queuedAt, now: Clock.nowMillis())
            await refreshMetrics()
            try await events.emit(.buildStart, record)
            return (record, leaseID, lease.attempt)
        }
        return nil
    }

    /// Whether `leaseID` is the build's current lease (the database's word on a shared queue).
    public func validLease(uuid: String, leaseID: String) async -> Bool {
        if sharedDatabase != nil {
            return (try? await store.buildLeaseID(uuid: uuid)) == leaseID
        }
        return leaseIDs[uuid] == leaseID
    }

    public func heartbeat(uuid: String, leaseID: String, workerID: String) async throws -> HeartbeatResponse? {
        try await coordinated { try await heartbeatNow(uuid: uuid, leaseID: leaseID, workerID: workerID) }
    }

    private func heartbeatNow(uuid: String, leaseID: String, workerID: String) async throws -> HeartbeatResponse? {
        guard leaseIDs[uuid] == leaseID else { return nil }
        metrics.heartbeat(worker: workerID)
        let answer = state.heartbeat(buildID: uuid, workerID: workerID, now: Self.now())
        if sharedDatabase != nil, answer != .unknownLease {
            try await store.recordBuildHeartbeat(uuid: uuid, at: Clock.nowMillis())
        }
        switch answer {
        case .ok: return HeartbeatResponse(stop: nil)
        case .stop(let reason): return HeartbeatResponse(stop: Self.workerStop(reason))
        case .unknownLease: return nil
        }
    }

    /// A stop reason as the worker protocol spells it.
    static func workerStop(_ reason: BuildSchedulerState.StopReason) -> StopReason {
        reason == .cancelled ? .cancelled : .timedOut
    }

    /// How often a held heartbeat reads a stop another replica recorded (shared queue only; in
    /// this process a stop wakes it at once).
    static let stopPollInterval: Duration = .seconds(1)

    /// Holds a heartbeat until a stop is decided for the lease (a cancel, the build timeout) or
    /// `wait` passes, and returns the stop for the worker, or nil.
    /// A stop decided in this process wakes the wait at once; on a shared queue a stop recorded
    /// by another replica is read from the build's row about once a second. A lease that ends
    /// meanwhile ends the wait too: the worker's next heartbeat learns of it.
    public func awaitStop(uuid: String, leaseID: String, upTo wait: Duration) async -> StopReason? {
        let deadline = ContinuousClock.now + wait
        while true {
            let signals = stopSignals
            switch await leaseStop(uuid: uuid, leaseID: leaseID) {
            case .stop(let reason): return Self.workerStop(reason)
            case .leaseEnded: return nil
            case .running: break
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            if stopSignals != signals { continue }  // something changed while we read: look again
            await sleepOrStop(uuid, min(remaining, Self.stopPollInterval))
        }
    }

    private enum LeaseStop { case running, stop(BuildSchedulerState.StopReason), leaseEnded }

    private func leaseStop(uuid: String, leaseID: String) async -> LeaseStop {
        if sharedDatabase != nil {
            let row: (leaseID: String?, stopReason: String?)?
            do {
                row = try await store.buildLeaseStop(uuid: uuid)
            } catch {
                return .running  // a transient read error: the next poll tries again
            }
            guard let row, row.leaseID == leaseID else { return .leaseEnded }
            return row.stopReason.flatMap(BuildSchedulerState.StopReason.init(rawValue:)).map(LeaseStop.stop) ?? .running
        }
        guard leaseIDs[uuid] == leaseID, case .running(let lease)? = state.status(of: uuid) else { return .leaseEnded }
        return lease.stop.map(LeaseStop.stop) ?? .running
    }

    public func complete(uuid: String, leaseID: String, workerID: String, completion: Completion) async throws -> Bool {
        try await coordinated { try await completeNow(uuid: uuid, leaseID: leaseID, workerID: workerID, completion: completion) }
    }

    private func completeNow(uuid: String, leaseID: String, workerID: String, completion: Completion) async throws -> Bool {
        guard leaseIDs[uuid] == leaseID else { return false }
        let result: BuildSchedulerState.WorkerResult
        switch completion.outcome {
        case .complete: result = .succeeded
        case .error: result = .failed(completion.message ?? "the build failed")
        case .internalError: result = .internalError(completion.message ?? "internal error")
        case .cancelled: result = .cancelled
        }
        switch state.complete(buildID: uuid, workerID: workerID, result: result, now: Self.now()) {
        case .finished(let outcome):
            try await finish(uuid, outcome, digests: completion.manifestDigests)
        case .requeued(let attempts, let notBefore):
            leaseIDs[uuid] = nil
            wakeStopWaiters(uuid)
            metrics.requeued()
            await refreshMetrics()
            try await store.updateBuildQueueState(uuid: uuid, phase: .waiting, attempts: attempts, notBefore: notBefore.millisecondsSinceEpoch,
                                                           workerID: nil, leaseID: nil, startedAt: nil, stopReason: nil)
        case .alreadyFinished, .unknownLease:
            return false
        }
        wakeWorkers()
        return true
    }

    /// Lease checks, retries and timeouts; called by the queue's service loop.
    public func tick() async throws {
        try await coordinated { try await applyTick(state.tick(now: Self.now())) }
    }

    public var nextWakeUp: Int64? { state.nextWakeUp?.millisecondsSinceEpoch }

    // MARK: Internals

    /// Persists the scheduler's tick decisions. The state changed first (synchronously), so a
    /// request interleaving at an `await` here already sees the new decision.
    private func applyTick(_ actions: [BuildSchedulerState.TickAction]) async throws {
        for action in actions {
            switch action {
            case .requeued(let id, let attempts, let notBefore):
                leaseIDs[id] = nil
                wakeStopWaiters(id)
                metrics.requeued()
                await refreshMetrics()
                try await store.updateBuildQueueState(uuid: id, phase: .waiting, attempts: attempts, notBefore: notBefore.millisecondsSinceEpoch,
                                                               workerID: nil, leaseID: nil, startedAt: nil, stopReason: nil)
                logger.warning("build lease expired; requeued", metadata: ["build.id": "\(id)", "attempts": "\(attempts)"])
            case .stopWorker(let id, _, _):
                try await persistLease(id)
            case .finished(let id, let outcome):
                try await finish(id, outcome)
            }
        }
    }

    /// Writes a running build's lease (with the stop decided for it) and wakes its held
    /// heartbeat, so the worker hears of a stop at once.
    private func persistLease(_ uuid: String) async throws {
        guard case .running(let lease)? = state.status(of: uuid) else { return }
        try await store.updateBuildQueueState(
            uuid: uuid, phase: (try await store.build(uuid: uuid))?.phase ?? .building, attempts: lease.attempt, notBefore: nil,
            workerID: lease.workerID, leaseID: leaseIDs[uuid], startedAt: lease.startedAt.millisecondsSinceEpoch, stopReason: lease.stop?.rawValue)
        wakeStopWaiters(uuid)
    }

    private func finish(_ uuid: String, _ outcome: BuildSchedulerState.FinalOutcome, digests: [String: String] = [:]) async throws {
        // The scheduler freed the slot just now (before any await), so record that instant:
        // a build leased into the slot while this finishes must not look like an overlap.
        let finishedAt = Clock.nowMillis()
        leaseIDs[uuid] = nil
        wakeStopWaiters(uuid)
        var message: String?
        switch outcome {
        case .error(let m), .internalError(let m): message = m
        default: break
        }
        var event: BuildEvents.Prepared?
        if let before = try await store.build(uuid: uuid) {
            event = try await events.prepare(BuildEvents.kind(forFinal: outcome.phase), before, finalError: message, finalDigests: digests)
        }
        try await store.finishBuild(uuid: uuid, phase: outcome.phase, error: message, manifestDigests: digests, event: event,
                                             finishedAt: finishedAt)
        if let record = try await store.build(uuid: uuid) {
            if let token = record.pushTokenUUID {
                _ = try? await services.store.deleteRepositoryToken(repositoryID: record.repositoryID, uuid: token, kind: "build-worker")
            }
            metrics.finished(phase: outcome.phase.rawValue, startedAt: record.startedAt, now: Clock.nowMillis())
            do {
                try await BuildLogStore(store: store, storage: services.storage).archive(record)
            } catch {
                // The live rows stay and keep being served; nothing is lost.
                logger.error("archiving the build log failed", metadata: ["build.id": "\(uuid)", "error": "\(error)"])
            }
        }
        await refreshMetrics()
        logger.info("build finished", metadata: ["build.id": "\(uuid)", "phase": "\(outcome.phase.rawValue)"])
    }

    /// Gauges from the scheduler state (queued and running per namespace, running per worker).
    private func refreshMetrics() async {
        var queued: [String: Int] = [:], running: [String: Int] = [:], byWorker: [String: Int] = [:]
        for (namespace, count) in state.queuedCountsByNamespace { queued[await namespaceName(namespace), default: 0] += count }
        for l in state.leases {
            running[await namespaceName(l.build.namespace), default: 0] += 1
            byWorker[l.workerID, default: 0] += 1
        }
        metrics.refresh(queued: queued, running: running, runningByWorker: byWorker)
    }

    private func namespaceName(_ id: String) async -> String {
        if let name = namespaceNames[id] { return name }
        guard let numeric = Int64(id), let ns = try? await services.store.namespace(id: numeric) else { return id }
        namespaceNames[id] = ns.name
        return ns.name
    }

    private func wakeWorkers() {
        let all = waiters
        waiters.removeAll()
        for (_, c) in all { c.resume() }
    }

    private func sleepOrWake(_ duration: Duration) async {
        let id = UUID()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters[id] = c
            Task { [weak self] in
                try? await Task.sleep(for: duration)
                await self?.timeoutWaiter(id)
            }
        }
    }

    private func timeoutWaiter(_ id: UUID) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func sleepOrStop(_ uuid: String, _ duration: Duration) async {
        let id = UUID()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            stopWaiters[id] = (uuid, c)
            Task { [weak self] in
                try? await Task.sleep(for: duration)
                await self?.timeoutStopWaiter(id)
            }
        }
    }

    private func timeoutStopWaiter(_ id: UUID) {
        stopWaiters.removeValue(forKey: id)?.continuation.resume()
    }

    private func wakeStopWaiters(_ uuid: String) {
        stopSignals &+= 1
        for (id, waiter) in stopWaiters where waiter.build == uuid {
            stopWaiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }
}

/// Runs the queue's lease checks (expired heartbeats, timeouts, retries) once a second.
public struct BuildQueueTicker: Service {
    let queue: BuildQueue

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await queue.tick()
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
