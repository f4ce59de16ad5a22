// The values the build scheduler state machine takes and returns. Everything here is a plain
// `Sendable` value so the durable queue (an actor over the metadata store) can pass it around,
// persist it and replay it in tests.

import BuildProtocol

extension BuildSchedulerState {
    /// Build ids are Quay-style UUID strings; worker ids are whatever the worker registered with.
    public typealias BuildID = String
    public typealias WorkerID = String

    /// A point in time as epoch milliseconds, the unit the metadata store uses for timestamps.
    /// The state machine never reads a clock: every event carries its `now`.
    public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
        public var millisecondsSinceEpoch: Int64

        public init(millisecondsSinceEpoch: Int64) {
            self.millisecondsSinceEpoch = millisecondsSinceEpoch
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
        }

        public static func + (lhs: Instant, rhs: Duration) -> Instant {
            Instant(millisecondsSinceEpoch: lhs.millisecondsSinceEpoch + rhs.schedulerMilliseconds)
        }

        public static func - (lhs: Instant, rhs: Instant) -> Duration {
            .milliseconds(lhs.millisecondsSinceEpoch - rhs.millisecondsSinceEpoch)
        }

        public var description: String { "\(millisecondsSinceEpoch)ms" }
    }

    /// Scheduling policy knobs. Defaults are the documented `builds.*` defaults.
    public struct Configuration: Sendable, Hashable {
        /// `builds.maxConcurrentPerNamespace`: leased builds per namespace (user or org).
        public var maxConcurrentPerNamespace: Int
        /// `builds.maxQueuedPerNamespace`: waiting builds per namespace; `enqueue` past it is
        /// rejected (the API answers 429). Builds put back after a lost worker are not counted
        /// against it: they were accepted once already.
        public var maxQueuedPerNamespace: Int
        /// At most one leased build per repository, and a repository's builds start in the order
        /// they were queued, so two pushes cannot race `latest`.
        public var oneRunningPerRepository: Bool
        /// Leases a build may get (first run plus retries) before a lost worker fails it.
        public var maxAttempts: Int
        /// A lease not renewed by a heartbeat within this long is lost.
        public var heartbeatTimeout: Duration
        /// A new lease whose worker has not sent its first heartbeat within this long (it sends
        /// one as soon as it has the build) was never received: the long-poll that carried it
        /// had lost its worker (a worker stopped while it waited for work). It is taken back
        /// then, and put back in line without the retry delay.
        public var leaseAcceptTimeout: Duration
        /// How long a new lease lasts before its first heartbeat.
        public var initialLeaseTimeout: Duration { min(heartbeatTimeout, leaseAcceptTimeout) }
        /// `builds.timeout`: wall time from lease to kill.
        public var buildTimeout: Duration
        /// How long a build put back after a lost worker waits before it may be leased again.
        public var retryDelay: Duration
        /// How many finished build ids the state remembers (for idempotent completion and
        /// `cancel` → `alreadyFinished`). Older ones are the durable store's business.
        public var finishedMemory: Int

        public init(
            maxConcurrentPerNamespace: Int = 2,
            maxQueuedPerNamespace: Int = 50,
            oneRunningPerRepository: Bool = true,
            maxAttempts: Int = 3,
            heartbeatTimeout: Duration = .seconds(60),
            leaseAcceptTimeout: Duration? = nil,
            buildTimeout: Duration = .seconds(2 * 60 * 60),
            retryDelay: Duration = .seconds(30),
            finishedMemory: Int = 1024
        ) {
            self.maxConcurrentPerNamespace = maxConcurrentPerNamespace
            self.maxQueuedPerNamespace = maxQueuedPerNamespace
            self.oneRunningPerRepository = oneRunningPerRepository
            self.maxAttempts = maxAttempts
            self.heartbeatTimeout = heartbeatTimeout
            // nil: no separate accept window (the whole heartbeat timeout).
            self.leaseAcceptTimeout = leaseAcceptTimeout ?? heartbeatTimeout
            self.buildTimeout = buildTimeout
            self.retryDelay = retryDelay
            self.finishedMemory = finishedMemory
        }

        /// The message a build killed for running too long ends with.
        public var timeoutMessage: String {
            "build exceeded the \(BuildSchedulerState.describe(buildTimeout)) timeout"
        }

        /// The message a build ends with when its worker was lost on every attempt.
        public var workerLostMessage: String {
            "worker lost after \(maxAttempts) attempt\(maxAttempts == 1 ? "" : "s")"
        }
    }

    /// What the scheduler needs to know about a build: who owns it and which repository it
    /// pushes to. Everything else (source, tags, credentials) lives in the build record.
    public struct Build: Sendable, Hashable {
        public var id: BuildID
        /// The user or organisation owning the repository.
        public var namespace: String
        /// The repository name within `namespace`.
        public var repository: String
        /// The platforms a multi-architecture build needs its worker to run (natively or under
        /// emulation); empty: any worker.
        public var platforms: [String]

        public init(id: BuildID, namespace: String, repository: String, platforms: [String] = []) {
            self.id = id
            self.namespace = namespace
            self.repository = repository
            self.platforms = platforms
        }

        var repositoryKey: RepositoryKey { RepositoryKey(namespace: namespace, repository: repository) }
    }

    struct RepositoryKey: Hashable {
        var namespace: String
        var repository: String
    }

    /// A build waiting for a worker.
    public struct QueuedBuild: Sendable, Hashable {
        public let build: Build
        public let enqueuedAt: Instant
        /// Leases this build has had so far (0 until its first start).
        public internal(set) var attempts: Int
        /// Set after a lost worker: not leasable before this instant.
        public internal(set) var notBefore: Instant?
        /// Tie-break for builds queued in the same millisecond; keeps queue order total.
        let sequence: UInt64
    }

    /// A build a worker holds.
    public struct Lease: Sendable, Hashable {
        public let build: Build
        public let workerID: WorkerID
        /// 1 for the first run, 2 for the first retry, ...
        public let attempt: Int
        public let enqueuedAt: Instant
        public let startedAt: Instant
        /// Renewed by heartbeats; when it passes, `tick` takes the lease back.
        public internal(set) var leaseDeadline: Instant
        /// `startedAt + buildTimeout`; when it passes, `tick` asks the worker to stop.
        public let hardDeadline: Instant
        /// Set once the build has been cancelled or timed out: heartbeats answer `stop` and no
        /// longer renew the lease, so a worker that ignores the signal is cut off anyway.
        public internal(set) var stop: StopReason?
        let sequence: UInt64
        /// The worker has heartbeated this lease at least once (it received the build).
        public internal(set) var confirmed: Bool = false
    }

    /// Why a running build is being stopped.
    public enum StopReason: String, Sendable, Hashable {
        case cancelled
        case timedOut = "timed-out"
    }

    /// How a build ended. `phase` is the phase the build record gets.
    public enum FinalOutcome: Sendable, Hashable {
        case complete
        case error(String)
        case internalError(String)
        case cancelled

        public var phase: BuildPhase {
            switch self {
            case .complete: return .complete
            case .error: return .error
            case .internalError: return .internalError
            case .cancelled: return .cancelled
            }
        }
    }

    /// What a worker reports when it is done with a lease.
    public enum WorkerResult: Sendable, Hashable {
        case succeeded
        /// The build itself failed (bad Dockerfile, failing step, push refused): final.
        case failed(String)
        /// The worker could not do its job (disk full, builder crashed): retried while attempts
        /// remain.
        case internalError(String)
        /// The worker stopped the build, normally after a heartbeat answered `stop`.
        case cancelled
    }

    public enum EnqueueResult: Sendable, Hashable {
        case accepted
        case rejected(EnqueueRejection)
    }

    public enum EnqueueRejection: Error, Sendable, Hashable {
        /// The namespace already has `limit` builds waiting (API: 429).
        case queueFull(limit: Int)
        /// A build with this id is already queued, running or recently finished.
        case duplicate
    }

    public enum LeaseResult: Sendable, Hashable {
        case leased(Lease)
        case nothingRunnable
    }

    public enum HeartbeatResult: Sendable, Hashable {
        /// Keep going; the lease now runs until `leaseDeadline`.
        case ok(leaseDeadline: Instant)
        /// Kill the build and report `complete(..., .cancelled)`.
        case stop(StopReason)
        /// This worker does not hold a live lease on this build (it expired, was handed to
        /// another worker, or the build ended): stop working on it and report nothing.
        case unknownLease
    }

    public enum CompletionResult: Sendable, Hashable {
        case finished(FinalOutcome)
        /// The worker reported an internal error and attempts remain.
        case requeued(attemptsUsed: Int, notBefore: Instant)
        /// A repeated completion; nothing changed.
        case alreadyFinished(FinalOutcome)
        case unknownLease
    }

    public enum CancelResult: Sendable, Hashable {
        /// The build was waiting and is now `cancelled`.
        case removedFromQueue
        /// The build is running: the worker learns it at its next heartbeat. The build ends
        /// `cancelled` when the worker confirms or its lease runs out, whichever is first.
        case signalWorker(WorkerID)
        /// Quay answers 400 "Build is currently running or has finished" here.
        case alreadyFinished(FinalOutcome)
        /// Unknown to the state; the caller checks the durable store (it may have finished long
        /// ago).
        case notFound
    }

    /// What `tick` decided; each one is a row update (and maybe a signal) for the durable layer.
    public enum TickAction: Sendable, Hashable {
        /// The worker was lost; the build waits again (keeping its place in line).
        case requeued(BuildID, attemptsUsed: Int, notBefore: Instant)
        /// Tell the worker (at its next heartbeat) to kill the build.
        case stopWorker(BuildID, WorkerID, StopReason)
        case finished(BuildID, FinalOutcome)
    }

    public enum BuildStatus: Sendable, Hashable {
        case queued(QueuedBuild)
        case running(Lease)
        case finished(FinalOutcome)
    }

    /// Go-style duration text: `2h0m`, `1h30m`, `90s` → `1m30s`, `45s`.
    public static func describe(_ duration: Duration) -> String {
        let total = duration.components.seconds
        let hours = total / 3600, minutes = (total % 3600) / 60, seconds = total % 60
        let tail = seconds > 0 ? "\(seconds)s" : ""
        if hours > 0 { return "\(hours)h\(minutes)m" + tail }
        if minutes > 0 { return "\(minutes)m" + tail }
        return "\(seconds)s"
    }
}

extension Duration {
    /// Whole milliseconds (sub-millisecond parts are dropped).
    var schedulerMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
