import BuildProtocol
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The lease loop of a build worker (`slipway worker`, and in-process under `slipway serve`):
/// lease a build, run it with `BuildRunner` while heart-beating (a `stop` answer or a lost
/// lease cancels the run, which kills the builder's process group), ship phases and log lines
/// in sequenced batches, report the completion.
///
/// Graceful shutdown (SIGTERM): leasing stops at once; running builds get `shutdownGrace` to
/// finish, then they are cancelled and reported as internal errors so the orchestrator retries
/// them on another worker.
public struct WorkerAgent: Service {
    let client: OrchestratorClient
    let runner: BuildRunner
    let concurrency: Int
    let shutdownGrace: Duration
    let logger: Logger

    public init(client: OrchestratorClient, runner: BuildRunner, concurrency: Int, shutdownGrace: Duration = .seconds(30), logger: Logger) {
        self.client = client
        self.runner = runner
        self.concurrency = max(1, concurrency)
        self.shutdownGrace = shutdownGrace
        self.logger = logger
    }

    public func run() async throws {
        let draining = Draining()
        let work = Task {
            await withTaskGroup(of: Void.self) { group in
                for slot in 0..<concurrency {
                    group.addTask { await leaseLoop(slot: slot, draining: draining) }
                }
            }
        }
        let grace = shutdownGrace
        let logger = logger
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await work.value
            } onGracefulShutdown: {
                let running = draining.begin()
                logger.info("worker draining", metadata: ["running": "\(running)", "grace": "\(grace)"])
                Task {
                    try? await Task.sleep(for: grace)
                    if !work.isCancelled { work.cancel() }
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    private func leaseLoop(slot: Int, draining: Draining) async {
        while !Task.isCancelled && !draining.isDraining {
            do {
                let pack = try await draining.leasing { try await client.lease() }
                guard let pack else { continue }
                if draining.isDraining {
                    // Leased just as the drain began: hand it straight back for a retry.
                    try? await client.complete(pack, Completion(outcome: .internalError, message: "the worker shut down before the build started; it will be retried"))
                    return
                }
                draining.started()
                await runOne(pack)
                draining.finished()
            } catch is CancellationError {
                return
            } catch {
                if draining.isDraining { return }
                logger.warning("lease failed; retrying", metadata: ["error": "\(error)", "slot": "\(slot)"])
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// Runs one build to completion and reports it. Never throws.
    func runOne(_ pack: BuildPack) async {
        logger.info("build leased", metadata: ["build.id": "\(pack.buildID)", "attempt": "\(pack.attempt)"])
        let shipper = LogShipper(client: client, pack: pack)
        let stopReason = StopFlag()
        let completion: Completion = await withTaskGroup(of: Completion?.self) { group in
            group.addTask {
                await runner.run(pack) { event in
                    switch event {
                    case .phase(let update):
                        shipper.enqueuePhase(update)
                    case .log(let entry):
                        shipper.enqueue(entry)
                    }
                }
            }
            group.addTask {
                // Heartbeats; a stop answer or a lost lease ends the build. Each heartbeat asks
                // the orchestrator to hold it until the build must stop (up to an interval), so a
                // cancel arrives at once; an orchestrator that answers at once is asked again
                // after the interval, as before.
                let interval = Duration.seconds(max(1, pack.heartbeatIntervalSeconds))
                var next = ContinuousClock.now  // the first one is held from the start
                while !Task.isCancelled {
                    try? await Task.sleep(until: next)
                    if Task.isCancelled { return nil }
                    let sent = ContinuousClock.now
                    next = sent + interval
                    do {
                        let answer = try await client.heartbeat(pack, wait: pack.heartbeatIntervalSeconds)
                        if let stop = answer.stop {
                            stopReason.set(stop)
                            return nil
                        }
                        // Held: go again at once (but never more than once a second).
                        if answer.held == true { next = sent + .seconds(1) }
                    } catch is CancellationError {
                        return nil
                    } catch let error as OrchestratorClient.ProtocolError where error.status == 409 {
                        stopReason.set(.leaseLost)
                        return nil
                    } catch {
                        // A transient network error: try again soon (the first heartbeat tells
                        // the orchestrator the lease arrived); the lease deadline decides.
                        next = sent + .seconds(1)
                        continue
                    }
                }
                return nil
            }
            group.addTask {
                await shipper.runUntilCancelled()
                return nil
            }
            var result: Completion?
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                } else if stopReason.value != nil {
                    group.cancelAll()  // the build task then yields a cancelled completion
                }
            }
            return result ?? Completion(outcome: .internalError, message: "the build did not report a result")
        }
        // The log's tail and the result go through whichever replica answers; one that dies
        // mid-request is retried on another (ReplicaRetry).
        try? await ReplicaRetry().deliver {
            await shipper.flush()
            if !shipper.isEmpty { throw LogShipper.Unsent() }
        }
        var final = completion
        if let stop = stopReason.value {
            switch stop {
            case .timedOut: final = Completion(outcome: .error, message: "build exceeded its time limit and was stopped")
            case .cancelled: final = Completion(outcome: .cancelled)
            case .leaseLost, .other: break
            }
        } else if Task.isCancelled && final.outcome == .cancelled {
            final = Completion(outcome: .internalError, message: "the worker shut down during the build; it will be retried")
        }
        let result = final
        do {
            try await ReplicaRetry().deliver { try await client.complete(pack, result) }
        } catch {
            logger.error("reporting a build result failed", metadata: ["build.id": "\(pack.buildID)", "error": "\(error)"])
        }
        logger.info("build done", metadata: ["build.id": "\(pack.buildID)", "outcome": "\(final.outcome.rawValue)"])
    }
}

/// What `LogShipper` needs from the orchestrator (`OrchestratorClient`; tests script it).
protocol BuildLogSink: Sendable {
    /// Sends a batch; returns the next sequence the orchestrator expects.
    func logs(_ pack: BuildPack, _ batch: LogBatch) async throws -> Int
    func phase(_ pack: BuildPack, _ update: PhaseUpdate) async throws
}

extension OrchestratorClient: BuildLogSink {}

/// Buffers log entries and phase changes and ships them in order, in sequenced batches. A phase
/// change is a `phase` log entry plus a phase update; the update goes out right after its entry
/// was accepted and before any later entry is sent, so the build's phase and its log agree.
/// Nothing leaves the buffer before the orchestrator took it: a failed request is retried at
/// the next flush, from the same place.
final class LogShipper: Sendable {
    private struct State {
        /// Entries not accepted yet; the first has sequence `nextSequence`.
        var pending: [BuildLogEntry] = []
        var nextSequence = 0
        /// Phase updates not delivered yet, with the sequence of their log entry, in order.
        var phases: [(sequence: Int, update: PhaseUpdate)] = []
    }
    private let state = Mutex(State())
    private let client: any BuildLogSink
    private let pack: BuildPack
    /// Epoch milliseconds for the entries' `datetime` (tests fix it).
    private let clock: @Sendable () -> Int64
    static let maxBatch = 1000

    init(client: any BuildLogSink, pack: BuildPack, clock: @escaping @Sendable () -> Int64 = LogTimestamp.nowMillis) {
        self.client = client
        self.pack = pack
        self.clock = clock
    }

    /// What is left after a failed flush (`isEmpty` is false), as an error to retry on.
    struct Unsent: Error {}

    /// Nothing is waiting to be shipped (entries or phase updates).
    var isEmpty: Bool { state.withLock { $0.pending.isEmpty && $0.phases.isEmpty } }

    /// Phase and command entries are stamped with the time they were enqueued (`datetime`).
    func enqueue(_ entry: BuildLogEntry) {
        let stamped = entry.stamped(millis: clock())
        state.withLock { $0.pending.append(stamped) }
    }

    /// A phase change is both a `phase` log entry and, for the phases a worker reports (not the
    /// terminal ones, which the completion carries), a phase update. Both carry the moment of the
    /// change as `datetime`: the orchestrator times the build's phases from it, not from when the
    /// batched update arrives.
    func enqueuePhase(_ update: PhaseUpdate) {
        var update = update
        if update.data[LogTimestamp.key] == nil { update.data[LogTimestamp.key] = LogTimestamp.format(millis: clock()) }
        let stamped = update
        state.withLock { s in
            let sequence = s.nextSequence + s.pending.count
            s.pending.append(BuildLogEntry(message: stamped.phase.rawValue, type: "phase", data: stamped.data))
            if !stamped.phase.isTerminal { s.phases.append((sequence, stamped)) }
        }
    }

    func runUntilCancelled() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(300))
            await flush()
        }
    }

    /// Ships what is buffered. Stops at the first failed request (the rest waits for the next
    /// flush). One flush at a time: the agent calls it from one task.
    func flush() async {
        while true {
            let (entries, first, phase) = state.withLock { s in (s.pending, s.nextSequence, s.phases.first) }
            if let phase, phase.sequence < first {
                do {
                    try await client.phase(pack, phase.update)
                } catch let error as OrchestratorClient.ProtocolError where (400..<500).contains(error.status) {
                    // Refused for good (the lease is gone, or the phase is not one a worker
                    // reports): retrying cannot help, and the log must not wait behind it.
                } catch {
                    return
                }
                state.withLock { _ = $0.phases.removeFirst() }
                continue
            }
            guard !entries.isEmpty else { return }
            // Up to and including the next phase entry, so its update follows at once.
            var count = min(entries.count, Self.maxBatch)
            if let phase { count = min(count, phase.sequence - first + 1) }
            guard let next = try? await client.logs(pack, LogBatch(firstSequence: first, entries: Array(entries[0..<count]))) else { return }
            let progressed = state.withLock { s -> Bool in
                guard next > s.nextSequence else { return false }
                s.pending.removeFirst(min(next - s.nextSequence, s.pending.count))
                s.nextSequence = next
                return true
            }
            if !progressed { return }
        }
    }
}

/// Why the orchestrator asked a build to stop, shared between the heartbeat and the runner.
final class StopFlag: Sendable {
    private let reason = Mutex<StopReason?>(nil)
    func set(_ value: StopReason) { reason.withLock { $0 = value } }
    var value: StopReason? { reason.withLock { $0 } }
}

/// The drain state of a worker: once draining, no new lease is taken and lease long-polls in
/// flight are cancelled; running builds go on until the grace period ends.
final class Draining: Sendable {
    private struct State {
        var draining = false
        var running = 0
        var polls: [UUID: Task<BuildPack?, any Error>] = [:]
    }
    private let state = Mutex(State())

    var isDraining: Bool { state.withLock { $0.draining } }

    /// Starts draining; returns how many builds are running.
    func begin() -> Int {
        let (polls, running) = state.withLock { s -> ([Task<BuildPack?, any Error>], Int) in
            s.draining = true
            return (Array(s.polls.values), s.running)
        }
        polls.forEach { $0.cancel() }
        return running
    }

    /// Runs a lease long-poll that `begin()` can cancel.
    func leasing(_ poll: @escaping @Sendable () async throws -> BuildPack?) async throws -> BuildPack? {
        let id = UUID()
        let task = Task { try await poll() }
        let proceed = state.withLock { s -> Bool in
            guard !s.draining else { return false }
            s.polls[id] = task
            return true
        }
        guard proceed else { task.cancel(); _ = try? await task.value; return nil }
        defer { _ = state.withLock { $0.polls.removeValue(forKey: id) } }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    func started() { state.withLock { $0.running += 1 } }
    func finished() { state.withLock { $0.running -= 1 } }
}
