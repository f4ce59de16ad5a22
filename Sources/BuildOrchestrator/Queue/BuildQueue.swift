import Accounts
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
/// On SQLite there is one process and the in-memory state is the truth between restarts.
///
/// On PostgreSQL several server replicas share one queue, without a cluster-wide lock: each
/// replica's state machine picks what to lease, and the database enforces the invariants.
/// A lease is one conditional update into one of the namespace's running slots (unique
/// indexes: a slot per cap, one running build per repository), so when two replicas race,
/// one wins and the other resyncs that namespace and tries its next candidate. Heartbeats,
/// completions and cancels are single-row statements conditional on the lease; a heartbeat
/// reads the stop from the row. Lease and heartbeat times come from the database clock, and
/// lease expiry is decided by one set-based read per tick that the requeue re-checks. Every
/// change is announced with `NOTIFY slipway_builds` (`BuildNotice`); `BuildQueueListener`
/// applies other replicas' changes to this replica's state (`sync`) and wakes its waiting
/// long-polls and held heartbeats, and the ticker resyncs namespaces whose summary differs
/// from the database's (a lost notification) every few seconds.
public actor BuildQueue {
    public enum EnqueueResult: Sendable { case accepted(BuildRecord), queueFull(limit: Int) }
    public enum CancelResult: Sendable, Equatable { case cancelled, signalledWorker, alreadyFinished, notFound }

    let services: RegistryServices
    let store: BuildStore
    let logger: Logger
    private var state: BuildSchedulerState
    private var leaseIDs: [String: String] = [:]
    /// The running slot each leased build holds in the database (see `BuildsSchema` version 6),
    /// by build. A slot stays here until the statement that frees it has run, so a lease never
    /// reaches for a slot or repository whose finish is still being written.
    private var slots: [String: HeldSlot] = [:]

    struct HeldSlot {
        var namespace: String
        var repository: String
        var slot: Int
    }
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    /// Held heartbeats (`awaitStop`), by build; woken when that build's lease changes.
    private var stopWaiters: [UUID: (build: String, continuation: CheckedContinuation<Void, Never>)] = [:]
    /// Counts wake-ups of held heartbeats, so one that lands while a wait reads the database
    /// (before it sleeps) is not missed.
    private var stopSignals = 0
    private var restored = false
    /// The workers that polled this replica lately and what they can build.
    private var workers = ConnectedWorkers()

    /// The queue is shared with other replicas (PostgreSQL).
    private let shared: Bool
    /// This replica's name in its notices (it skips its own).
    nonisolated let origin = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    /// This process's clock (epoch milliseconds); tests give a replica a skewed one.
    private let localClock: @Sendable () -> Int64
    /// The database clock minus `localClock` (PostgreSQL), learnt from every statement that
    /// reads the database clock: the scheduler runs on the clock all replicas share.
    private var clockOffset: Int64 = 0
    private var lastResync: Int64 = 0
    /// How often a replica compares its view with the database (lost notifications).
    static let resyncInterval: Int64 = 5_000

    private let events: BuildEvents
    private let enqueueBatches = GroupCommit<PendingEnqueue, EnqueueResult>()
    private let metrics = BuildMetrics()
    /// Namespace id → name, for metric labels.
    private var namespaceNames: [String: String] = [:]

    public init(services: RegistryServices, store: BuildStore, sources: any BuildSourceSecrets = NoBuildSourceSecrets(),
                clock: @escaping @Sendable () -> Int64 = Clock.nowMillis) {
        self.services = services
        self.store = store
        self.events = BuildEvents(services: services, sources: sources)
        self.logger = services.logger
        self.shared = store.sharedDatabase != nil
        self.localClock = clock
        let b = services.config.builds
        self.state = BuildSchedulerState(configuration: .init(
            maxConcurrentPerNamespace: b.maxConcurrentPerNamespace, maxQueuedPerNamespace: b.maxQueuedPerNamespace,
            heartbeatTimeout: .seconds(b.leaseTimeoutSeconds), leaseAcceptTimeout: .seconds(b.leaseAcceptSeconds), buildTimeout: .seconds(b.timeoutSeconds),
            retryDelay: .seconds(min(30, max(1, b.leaseTimeoutSeconds / 2)))))
    }

    /// The scheduler's now: this process's clock, corrected to the database's on a shared queue.
    private func now() -> BuildSchedulerState.Instant { .init(millisecondsSinceEpoch: localClock() + clockOffset) }

    private func learnDatabaseClock(_ databaseNow: Int64) {
        clockOffset = databaseNow - localClock()
    }

    private var heartbeatTimeoutMillis: Int64 { state.configuration.heartbeatTimeout.schedulerMilliseconds }

    /// Rebuilds the scheduler from the database (idempotent; called lazily on first use).
    func restoreIfNeeded() async throws {
        guard !restored else { return }
        var rows: [BuildSchedulerState.PersistedBuild] = []
        if shared {
            // Stored heartbeats are on the database clock: learn it first.
            learnDatabaseClock(try await store.leasesDue(heartbeatTimeout: Int64.max / 4, buildTimeout: Int64.max / 4, now: localClock()).now)
        }
        for b in try await store.unfinishedBuilds() {
            rows.append(persisted(b))
            if let lease = b.leaseID { leaseIDs[b.uuid] = lease }
            if let slot = b.runningSlot { slots[b.uuid] = HeldSlot(namespace: String(b.namespaceID), repository: String(b.repositoryID), slot: slot) }
        }
        guard !restored else { return }
        // A shared queue's leases run out a heartbeat timeout after the last heartbeat any
        // replica recorded; a single process's running builds get a fresh window.
        state = BuildSchedulerState(configuration: state.configuration, restoring: rows, now: now())
        restored = true
        lastResync = localClock()
        await refreshMetrics()
        if !state.persistedBuilds.isEmpty { logger.info("build queue restored", metadata: ["builds": "\(state.persistedBuilds.count)"]) }
    }

    /// A stored unfinished build as the scheduler sees it.
    private func persisted(_ b: BuildRecord) -> BuildSchedulerState.PersistedBuild {
        let running: BuildSchedulerState.PersistedBuild.Running? = b.workerID.flatMap { worker in
            b.startedAt.map { started in
                .init(workerID: worker, startedAt: .init(millisecondsSinceEpoch: started),
                      stop: b.stopReason.flatMap(BuildSchedulerState.StopReason.init(rawValue:)),
                      lastHeartbeat: shared ? .init(millisecondsSinceEpoch: b.heartbeatAt ?? started) : nil)
            }
        }
        return .init(build: .init(id: b.uuid, namespace: String(b.namespaceID), repository: String(b.repositoryID), platforms: b.platforms),
                     enqueuedAt: .init(millisecondsSinceEpoch: b.queuedAt), attempts: b.attempts,
                     notBefore: b.notBefore.map { .init(millisecondsSinceEpoch: $0) }, running: running)
    }

    // MARK: Keeping in step with other replicas (shared queue)

    /// Makes this replica's state agree with a row just read from the database.
    private func sync(_ row: BuildRecord) {
        if row.finishedAt != nil {
            forget(row.uuid)
        } else {
            state.sync(.unfinished(persisted(row)), now: now())
            leaseIDs[row.uuid] = row.leaseID
            slots[row.uuid] = row.runningSlot.map { HeldSlot(namespace: String(row.namespaceID), repository: String(row.repositoryID), slot: $0) }
        }
    }

    /// A build finished elsewhere (or is gone).
    private func forget(_ uuid: String) {
        state.sync(.finished(uuid, nil), now: now())
        leaseIDs[uuid] = nil
        slots[uuid] = nil
    }

    private func resync(build uuid: String) async throws {
        if let row = try await store.build(uuid: uuid) { sync(row) } else { forget(uuid) }
        wakeStopWaiters(uuid)
    }

    /// Replaces what this replica knows of one namespace with the database's unfinished builds
    /// there: a bounded read (the namespace's queue and running caps).
    private func resync(namespace: Int64) async throws {
        let rows = try await store.unfinishedBuilds(namespaceID: namespace)
        let stored = Set(rows.map(\.uuid))
        let key = String(namespace)
        let known = state.queuedBuilds.map(\.build) + state.leases.map(\.build)
        for build in known where build.namespace == key && !stored.contains(build.id) {
            forget(build.id)
            wakeStopWaiters(build.id)
        }
        for row in rows { sync(row) }
        wakeWorkers()
    }

    /// Applies other replicas' changes (`BuildQueueListener` hands them over in batches): a
    /// finished build is dropped, any other change is read back (one query for the batch).
    func apply(_ notices: [BuildNotice]) async {
        let theirs = notices.filter { $0.origin != origin }
        guard !theirs.isEmpty, restored else { return }
        var finished = Set<String>(), changed: [String] = [], seen = Set<String>()
        for notice in theirs {
            if notice.operation == .finished { finished.insert(notice.buildID) }
        }
        for notice in theirs where !finished.contains(notice.buildID) && seen.insert(notice.buildID).inserted {
            changed.append(notice.buildID)
        }
        for uuid in finished {
            forget(uuid)
            wakeStopWaiters(uuid)
        }
        do {
            var index = 0
            while index < changed.count {
                let chunk = Array(changed[index..<min(index + 500, changed.count)])
                index += chunk.count
                for row in try await store.builds(uuids: chunk) {
                    sync(row)
                    wakeStopWaiters(row.uuid)
                }
            }
        } catch {
            // The periodic resync catches up.
            logger.warning("reading notified builds failed", metadata: ["error": "\(error)"])
        }
        wakeWorkers()
        await refreshMetrics()
    }

    /// Compares each namespace's summary with the database's and resyncs those that differ:
    /// what a lost notification left out of step. Cheap: one aggregate over unfinished builds.
    public func resyncChangedNamespaces() async throws {
        guard shared else { return }
        try await restoreIfNeeded()
        lastResync = localClock()
        let remote = try await store.namespaceFingerprints()
        var local: [Int64: QueueFingerprint] = [:]
        for queued in state.queuedBuilds {
            guard let ns = Int64(queued.build.namespace) else { continue }
            local[ns, default: .init()].unfinished += 1
            local[ns, default: .init()].attempts += queued.attempts
        }
        for lease in state.leases {
            guard let ns = Int64(lease.build.namespace) else { continue }
            local[ns, default: .init()].unfinished += 1
            local[ns, default: .init()].running += 1
            local[ns, default: .init()].attempts += lease.attempt
            if lease.stop != nil { local[ns, default: .init()].stopping += 1 }
        }
        for namespace in Set(remote.keys).union(local.keys) where remote[namespace] != local[namespace] {
            logger.debug("build queue resync", metadata: ["namespace": "\(namespace)"])
            try await resync(namespace: namespace)
        }
        await refreshMetrics()
    }

    // MARK: API side

    /// Queues a build (the row is written here, after the namespace's queue cap is checked).
    /// `repository` and `trigger`, when the caller has them, spare the reads (and the
    /// re-parsing) that building the `build_queued` event would otherwise do. Builds queued while
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
        try await restoreIfNeeded()
        guard shared else { return try await enqueueBatchInProcess(batch) }
        // The database counts each namespace's waiting builds under that namespace's lock.
        let limit = state.configuration.maxQueuedPerNamespace
        let stored = try await store.insertBuilds(batch.map { ($0.record, $0.event) }, queuedLimit: limit, origin: origin)
        let results: [EnqueueResult] = stored.map { row in
            guard let row else { return .queueFull(limit: limit) }
            sync(row)
            return .accepted(row)
        }
        wakeWorkers()
        await refreshMetrics()
        return results
    }

    private func enqueueBatchInProcess(_ batch: [PendingEnqueue]) async throws -> [EnqueueResult] {
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
            let build = BuildSchedulerState.Build(id: record.uuid, namespace: String(record.namespaceID), repository: String(record.repositoryID),
                                                  platforms: record.platforms)
            switch state.enqueue(build, now: now()) {
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
        try await restoreIfNeeded()
        guard shared else { return try await cancelInProcess(uuid: uuid) }
        // Read the row, decide, write conditionally; a write that finds the row changed (it was
        // leased or finished meanwhile) decides again from the new row.
        for _ in 0..<8 {
            guard let row = try await store.build(uuid: uuid) else { return .notFound }
            guard row.finishedAt == nil else {
                forget(uuid)
                return .alreadyFinished
            }
            sync(row)
            switch state.cancel(buildID: uuid) {
            case .removedFromQueue:
                if try await finish(uuid, .cancelled, before: row, condition: .waiting) {
                    wakeWorkers()
                    return .cancelled
                }
            case .signalWorker:
                if let leaseID = row.leaseID,
                   let stopped = try await store.stopBuild(uuid: uuid, leaseID: leaseID, reason: BuildSchedulerState.StopReason.cancelled.rawValue,
                                                           origin: origin) {
                    sync(stopped)
                    wakeStopWaiters(uuid)
                    return .signalledWorker
                }
            case .alreadyFinished:
                return .alreadyFinished
            case .notFound:
                return .notFound
            }
        }
        throw APIError(.serviceUnavailable, "internal_error", "the build kept changing; try again")
    }

    private func cancelInProcess(uuid: String) async throws -> CancelResult {
        switch state.cancel(buildID: uuid) {
        case .removedFromQueue:
            try await finish(uuid, .cancelled)
            return .cancelled
        case .signalWorker:
            try await persistStop(uuid)
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
        try await restoreIfNeeded()
        let ids: [String]
        if shared {
            ids = try await store.unfinishedBuilds(repositoryID: repositoryID).map(\.uuid)
        } else {
            let repository = String(repositoryID)
            ids = state.queuedBuilds.map(\.build).filter { $0.repository == repository }.map(\.id)
                + state.leases.map(\.build).filter { $0.repository == repository }.map(\.id)
        }
        for id in ids { _ = try await cancel(uuid: id) }
        return ids.count
    }

    // MARK: Worker side

    /// Long-polls for work: returns a lease, or nil after `wait`. New builds, freed slots and due
    /// retries wake the wait (on a shared queue other replicas' changes arrive by NOTIFY).
    /// `platforms`: what the worker can build (`LeaseRequest.platforms`); only builds it can run
    /// all the platforms of are leased to it.
    public func lease(workerID: String, platforms: [String]? = nil, wait: Duration) async throws -> (BuildRecord, leaseID: String, attempt: Int)? {
        let deadline = ContinuousClock.now + wait
        workers.seen(workerID, platforms: platforms)
        let capable = platforms.map { Set($0) }
        while true {
            try await restoreIfNeeded()
            if let leased = try await leaseNow(workerID: workerID, platforms: capable) { return leased }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            await sleepOrWake(remaining)
        }
    }

    /// Why a waiting build of `platforms` is not taken, if the workers that polled this replica
    /// lately explain it (see `ConnectedWorkers`); nil for a single-platform build.
    public func waitingReason(platforms: [String]) -> String? {
        workers.waitingReason(platforms: platforms, busy: Set(state.leases.map(\.workerID)))
    }

    private func leaseNow(workerID: String, platforms: Set<String>?) async throws -> (BuildRecord, leaseID: String, attempt: Int)? {
        if !shared { try await applyTick(state.tick(now: now())) }
        // A lost race (another replica leased the build or filled the slot) resyncs the
        // namespace and tries the next candidate; after a few in a row the long-poll waits.
        for _ in 0..<8 {
            guard case .leased(let lease) = state.lease(workerID: workerID, platforms: platforms, now: now()) else { return nil }
            let id = lease.build.id
            guard let slot = freeSlot(for: lease.build) else {
                // The state freed the slot or the repository, but the statement freeing it in the
                // database is still being written: the build waits (unchanged) and the end of
                // that write wakes the long-polls.
                state.sync(.unfinished(.init(build: lease.build, enqueuedAt: lease.enqueuedAt, attempts: lease.attempt - 1)), now: now())
                return nil
            }
            let leaseID = UUID().uuidString.lowercased()
            var record: BuildRecord?
            // Taken before the write: a lease interleaving at the await picks another.
            slots[id] = HeldSlot(namespace: lease.build.namespace, repository: lease.build.repository, slot: slot)
            do {
                let unconfirmed = (state.configuration.heartbeatTimeout - state.configuration.initialLeaseTimeout).schedulerMilliseconds
                record = try await store.leaseBuild(uuid: id, slot: slot, attempts: lease.attempt, workerID: workerID, leaseID: leaseID,
                                                    now: lease.startedAt.millisecondsSinceEpoch - clockOffset, acceptWindowShortfall: unconfirmed,
                                                    origin: shared ? origin : nil)
            } catch {
                slots[id] = nil
                if shared, let namespace = Int64(lease.build.namespace) { try? await resync(namespace: namespace) }
                throw error
            }
            guard let record else {
                slots[id] = nil
                if shared, let namespace = Int64(lease.build.namespace) {
                    try await resync(namespace: namespace)
                } else {
                    try await resync(build: id)  // the row changed under this process: take it as it is
                }
                continue
            }
            leaseIDs[id] = leaseID
            if shared {
                // The lease's times are the database's: keep the state on them.
                if let started = record.startedAt { learnDatabaseClock(started) }
                sync(record)
            }
            metrics.started(queuedAt: record.queuedAt, now: localClock() + clockOffset)
            await refreshMetrics()
            try await events.emit(.buildStart, record)
            return (record, leaseID, lease.attempt)
        }
        return nil
    }

    /// The lowest slot of the build's namespace no build this replica knows of holds, under the
    /// cap; nil while the build's repository still holds a slot (its last build's end is being
    /// written) or every slot is held.
    private func freeSlot(for build: BuildSchedulerState.Build) -> Int? {
        var used = Set<Int>()
        for (id, held) in slots where id != build.id && held.namespace == build.namespace {
            if state.configuration.oneRunningPerRepository, held.repository == build.repository { return nil }
            used.insert(held.slot)
        }
        return (0..<state.configuration.maxConcurrentPerNamespace).first { !used.contains($0) }
    }

    /// Whether `leaseID` is the build's current lease (the database's word on a shared queue).
    public func validLease(uuid: String, leaseID: String) async -> Bool {
        if shared {
            return (try? await store.buildLeaseID(uuid: uuid)) == leaseID
        }
        return leaseIDs[uuid] == leaseID
    }

    public func heartbeat(uuid: String, leaseID: String, workerID: String) async throws -> HeartbeatResponse? {
        try await restoreIfNeeded()
        if shared {
            // One statement: renews the lease by the database clock and reads the stop any
            // replica recorded.
            let answer = try await store.heartbeatBuild(uuid: uuid, leaseID: leaseID, workerID: workerID, timeoutMillis: heartbeatTimeoutMillis,
                                                        now: localClock())
            guard answer.live else { return nil }
            metrics.heartbeat(worker: workerID)
            return HeartbeatResponse(stop: answer.stop.flatMap(BuildSchedulerState.StopReason.init(rawValue:)).map(Self.workerStop))
        }
        guard leaseIDs[uuid] == leaseID else { return nil }
        metrics.heartbeat(worker: workerID)
        switch state.heartbeat(buildID: uuid, workerID: workerID, now: now()) {
        case .ok: return HeartbeatResponse(stop: nil)
        case .stop(let reason): return HeartbeatResponse(stop: Self.workerStop(reason))
        case .unknownLease: return nil
        }
    }

    /// A stop reason as the worker protocol spells it.
    static func workerStop(_ reason: BuildSchedulerState.StopReason) -> StopReason {
        reason == .cancelled ? .cancelled : .timedOut
    }

    /// How long a held heartbeat sleeps between reads of its build's row when nothing wakes it:
    /// only a fallback for a lost notification (a stop decided here or announced by another
    /// replica wakes it at once).
    static let stopPollInterval: Duration = .seconds(5)

    /// Holds a heartbeat until a stop is decided for the lease (a cancel, the build timeout) or
    /// `wait` passes, and returns the stop for the worker, or nil. A stop decided in this
    /// process, or announced by another replica (NOTIFY), wakes the wait at once. A lease that
    /// ends meanwhile ends the wait too: the worker's next heartbeat learns of it.
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
        if shared {
            let row: (leaseID: String?, stopReason: String?)?
            do {
                row = try await store.buildLeaseStop(uuid: uuid)
            } catch {
                return .running  // a transient read error: the next look tries again
            }
            guard let row, row.leaseID == leaseID else { return .leaseEnded }
            return row.stopReason.flatMap(BuildSchedulerState.StopReason.init(rawValue:)).map(LeaseStop.stop) ?? .running
        }
        guard leaseIDs[uuid] == leaseID, case .running(let lease)? = state.status(of: uuid) else { return .leaseEnded }
        return lease.stop.map(LeaseStop.stop) ?? .running
    }

    public func complete(uuid: String, leaseID: String, workerID: String, completion: Completion) async throws -> Bool {
        try await restoreIfNeeded()
        var before: BuildRecord?
        if shared {
            // The row has the stop another replica may have decided (it decides the outcome).
            guard let row = try await store.build(uuid: uuid) else { return false }
            sync(row)
            guard row.finishedAt == nil, row.leaseID == leaseID else { return false }
            before = row
        } else {
            guard leaseIDs[uuid] == leaseID else { return false }
        }
        let result: BuildSchedulerState.WorkerResult
        switch completion.outcome {
        case .complete: result = .succeeded
        case .error: result = .failed(completion.message ?? "the build failed")
        case .internalError: result = .internalError(completion.message ?? "internal error")
        case .cancelled: result = .cancelled
        }
        switch state.complete(buildID: uuid, workerID: workerID, result: result, now: now()) {
        case .finished(let outcome):
            guard try await finish(uuid, outcome, digests: completion.manifestDigests, before: before,
                                   condition: .lease(leaseID, expiredAfter: nil)) else {
                if shared { try await resync(build: uuid) }
                return false
            }
        case .requeued(let attempts, let notBefore):
            leaseIDs[uuid] = nil
            wakeStopWaiters(uuid)
            metrics.requeued()
            let row = try await store.requeueBuild(uuid: uuid, leaseID: leaseID, attempts: attempts, notBefore: notBefore.millisecondsSinceEpoch,
                                                   expiredAfter: nil, now: localClock(), origin: shared ? origin : nil)
            slots[uuid] = nil
            if shared {
                guard let row else {
                    try await resync(build: uuid)
                    return false
                }
                sync(row)
            }
            await refreshMetrics()
        case .alreadyFinished, .unknownLease:
            return false
        }
        wakeWorkers()
        return true
    }

    /// Lease checks, retries and timeouts; called by the queue's service loop every second.
    public func tick() async throws {
        try await restoreIfNeeded()
        if shared {
            try await tickShared()
        } else {
            let actions = state.tick(now: now())
            try await applyTick(actions)
            if !actions.isEmpty { wakeWorkers() }  // slots freed
        }
        // Retries whose delay has passed are leasable now: waiting long-polls look again.
        let current = now()
        if state.queuedBuilds.contains(where: { $0.notBefore.map { $0 <= current } ?? false }) { wakeWorkers() }
        if shared, localClock() - lastResync >= Self.resyncInterval { try await resyncChangedNamespaces() }
    }

    /// The shared queue's lease checks: the database names the leases due by its clock, a
    /// scheduler over just those decides, and each decision is a conditional single-row write
    /// (a requeue re-checks the heartbeat, so one recorded meanwhile by any replica wins).
    private func tickShared() async throws {
        let timeout = heartbeatTimeoutMillis
        let (databaseNow, due) = try await store.leasesDue(heartbeatTimeout: timeout, buildTimeout: state.configuration.buildTimeout.schedulerMilliseconds,
                                                           now: localClock())
        learnDatabaseClock(databaseNow)
        guard !due.isEmpty else { return }
        let leaseOf = Dictionary(due.map { ($0.uuid, $0.leaseID ?? "") }, uniquingKeysWith: { a, _ in a })
        let clock = BuildSchedulerState.Instant(millisecondsSinceEpoch: databaseNow)
        var view = BuildSchedulerState(configuration: state.configuration, restoring: due.map(persisted), now: clock)
        for action in view.tick(now: clock) {
            switch action {
            case .requeued(let id, let attempts, let notBefore):
                guard let row = try await store.requeueBuild(uuid: id, leaseID: leaseOf[id], attempts: attempts, notBefore: notBefore.millisecondsSinceEpoch,
                                                             expiredAfter: timeout, now: localClock(), origin: origin) else {
                    try await resync(build: id)
                    continue
                }
                sync(row)
                wakeStopWaiters(id)
                metrics.requeued()
                logger.warning("build lease expired; requeued", metadata: ["build.id": "\(id)", "attempts": "\(attempts)"])
            case .stopWorker(let id, _, let reason):
                if let row = try await store.stopBuild(uuid: id, leaseID: leaseOf[id] ?? "", reason: reason.rawValue, origin: origin) {
                    sync(row)
                    wakeStopWaiters(id)
                } else {
                    try await resync(build: id)
                }
            case .finished(let id, let outcome):
                state.sync(.finished(id, outcome), now: clock)
                if !(try await finish(id, outcome, condition: .lease(leaseOf[id] ?? "", expiredAfter: timeout))) {
                    try await resync(build: id)
                }
            }
        }
        wakeWorkers()
        await refreshMetrics()
    }

    public var nextWakeUp: Int64? { state.nextWakeUp?.millisecondsSinceEpoch }

    // MARK: Internals

    /// Persists the scheduler's tick decisions (single process). The state changed first
    /// (synchronously), so a request interleaving at an `await` here already sees the new
    /// decision.
    private func applyTick(_ actions: [BuildSchedulerState.TickAction]) async throws {
        for action in actions {
            switch action {
            case .requeued(let id, let attempts, let notBefore):
                let leaseID = leaseIDs.removeValue(forKey: id)
                wakeStopWaiters(id)
                metrics.requeued()
                await refreshMetrics()
                _ = try await store.requeueBuild(uuid: id, leaseID: leaseID, attempts: attempts, notBefore: notBefore.millisecondsSinceEpoch,
                                                 expiredAfter: nil, now: localClock(), origin: nil)
                slots[id] = nil
                logger.warning("build lease expired; requeued", metadata: ["build.id": "\(id)", "attempts": "\(attempts)"])
            case .stopWorker(let id, _, _):
                try await persistStop(id)
            case .finished(let id, let outcome):
                try await finish(id, outcome)
            }
        }
    }

    /// Writes the stop decided for a running build and wakes its held heartbeat, so the worker
    /// hears of it at once (single process).
    private func persistStop(_ uuid: String) async throws {
        guard case .running(let lease)? = state.status(of: uuid), let stop = lease.stop, let leaseID = leaseIDs[uuid] else { return }
        _ = try await store.stopBuild(uuid: uuid, leaseID: leaseID, reason: stop.rawValue, origin: nil)
        wakeStopWaiters(uuid)
    }

    /// Writes a build's end (conditional on `condition`; the state already decided it), then,
    /// after that statement and outside any lock, revokes its push token and archives its log.
    /// Returns whether this call finished the build.
    @discardableResult
    private func finish(_ uuid: String, _ outcome: BuildSchedulerState.FinalOutcome, digests: [String: String] = [:], before: BuildRecord? = nil,
                        condition: BuildStore.FinishCondition = .unfinished) async throws -> Bool {
        // The scheduler freed the slot just now (before any await), so record that instant:
        // a build leased into the slot while this finishes must not look like an overlap.
        let finishedAt = localClock()
        leaseIDs[uuid] = nil
        wakeStopWaiters(uuid)
        var message: String?
        switch outcome {
        case .error(let m), .internalError(let m): message = m
        default: break
        }
        var event: BuildEvents.Prepared?
        var current = before
        if current == nil { current = try await store.build(uuid: uuid) }
        if let current {
            event = try await events.prepare(BuildEvents.kind(forFinal: outcome.phase), current, finalError: message, finalDigests: digests)
        }
        let finished = try await store.finishBuild(uuid: uuid, phase: outcome.phase, error: message, manifestDigests: digests, event: event,
                                                   finishedAt: finishedAt, condition: condition, origin: shared ? origin : nil)
        slots[uuid] = nil  // freed in the database now (or held by someone else: a resync follows)
        guard finished else { return false }
        if let record = try await store.build(uuid: uuid) {
            if let token = record.pushTokenUUID {
                _ = try? await services.accounts.deleteRepositoryToken(repositoryID: record.repositoryID, uuid: token, kind: "build-worker")
            }
            if let token = record.cacheTokenUUID, let path = record.cacheRepository, let slash = path.firstIndex(of: "/"),
               let cache = try? await services.accounts.repository(RepositoryPath(namespace: String(path[..<slash]),
                                                                                 name: String(path[path.index(after: slash)...]))) {
                _ = try? await services.accounts.deleteRepositoryToken(repositoryID: cache.id, uuid: token, kind: "build-cache")
            }
            metrics.finished(phase: outcome.phase.rawValue, startedAt: record.startedAt, now: localClock() + clockOffset)
            metrics.phases(BuildTimeline(record))
            do {
                try await BuildLogStore(store: store, storage: services.storage).archive(record)
            } catch {
                // The live rows stay and keep being served; nothing is lost.
                logger.error("archiving the build log failed", metadata: ["build.id": "\(uuid)", "error": "\(error)"])
            }
        }
        await refreshMetrics()
        logger.info("build finished", metadata: ["build.id": "\(uuid)", "phase": "\(outcome.phase.rawValue)"])
        return true
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
        guard let numeric = Int64(id), let ns = try? await services.accounts.namespace(id: numeric) else { return id }
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

/// Runs the queue's lease checks (expired heartbeats, timeouts, retries) once a second, and on
/// a shared queue the resync of namespaces a lost notification left out of step.
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
