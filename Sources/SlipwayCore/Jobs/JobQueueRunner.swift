import Logging
import ServiceLifecycle
import Synchronization

/// Runs one queue's handler over a `JobQueueDriver`: claims as many jobs as it has free slots
/// (at most `concurrency` in flight in this process), runs the handler on each, and records
/// the outcome. A thrown error or a `retry` outcome is tried again after `backoff`; out of
/// attempts (the job's `maxAttempts`, or the backoff's if smaller) the job is dead-lettered
/// with its last error. While a handler runs its lease is renewed (every third of the
/// visibility timeout by default), so a slow job is not handed to a second consumer.
///
/// Shutdown: on graceful shutdown it stops claiming and lets the jobs in flight finish. When
/// cancelled outright, handlers are cancelled and a job whose handler did not finish is given
/// back untried (`release`), so another consumer takes it at once.
public final class JobQueueRunner: Service, Sendable {
    public typealias Handler = @Sendable (QueuedJob) async throws -> JobOutcome
    /// A handler that also says when its job is under way (e.g. its request is on the wire), for
    /// `Settings.orderedStart`. Calling `underway` more than once, or never, is harmless.
    public typealias ProgressHandler = @Sendable (QueuedJob, _ underway: @escaping @Sendable () -> Void) async throws -> JobOutcome

    public struct Settings: Sendable {
        /// Jobs in flight at once in this runner.
        public var concurrency = 4
        public var visibilityTimeout: Duration = .seconds(60)
        /// How often a running job's lease is renewed; nil = a third of the visibility timeout.
        public var leaseRenewalInterval: Duration?
        public var backoff = RetryBackoff(base: .seconds(2), cap: .seconds(300), maxAttempts: .max)
        /// How often an idle runner looks anyway (a lost notification, a job pushed by another process on SQLite).
        public var fallbackPoll: Duration = .seconds(10)
        /// When set, the jobs of one claim are started in id order, each once the one before it
        /// is under way or this long has passed: jobs pushed in order reach the outside world in
        /// order, and one that hangs before getting under way holds the others up this long at most.
        public var orderedStart: Duration?
        /// What to record on the job's own rows (a delivery, a mail, an export) when it is given
        /// up because the consumer of its last attempt died holding it: the returned body runs in
        /// the dead-letter transaction, so the record never stays pending behind a dead job.
        public var recordAbandoned: (@Sendable (QueuedJob, _ error: String) -> JobTransactionBody?)?
        public init() {}
    }

    public let queue: String
    public let settings: Settings
    private let driver: any JobQueueDriver
    private let handler: ProgressHandler
    private let logger: Logger
    private let inFlight = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)

    public init(queue: String, driver: any JobQueueDriver, settings: Settings = Settings(), logger: Logger,
                handler: @escaping Handler) {
        self.queue = queue
        self.driver = driver
        self.settings = settings
        self.logger = logger
        self.handler = { job, _ in try await handler(job) }
    }

    /// A runner whose handler reports when each job is under way (see `Settings.orderedStart`).
    public init(queue: String, driver: any JobQueueDriver, settings: Settings = Settings(), logger: Logger,
                progressHandler: @escaping ProgressHandler) {
        self.queue = queue
        self.driver = driver
        self.settings = settings
        self.logger = logger
        self.handler = progressHandler
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                var wakeUps = driver.wakeUps(queue: queue, fallbackPoll: settings.fallbackPoll).makeAsyncIterator()
                while !stopping.load(ordering: .acquiring), await wakeUps.next() != nil, !stopping.load(ordering: .acquiring) {
                    await claimAndStart(in: &group)
                }
            } onGracefulShutdown: {
                self.stopping.store(true, ordering: .releasing)
                self.driver.wake(queue: self.queue)
            }
            // Leaving the group waits for the jobs in flight.
        }
    }

    /// Claims into the free slots until the queue has nothing claimable or the slots are full;
    /// a job finishing wakes the runner to fill its slot.
    private func claimAndStart(in group: inout DiscardingTaskGroup) async {
        while !stopping.load(ordering: .acquiring) {
            let free = settings.concurrency - inFlight.load(ordering: .acquiring)
            guard free > 0 else { return }
            let jobs: [QueuedJob]
            do {
                jobs = try await driver.claim(queue: queue, limit: free, visibilityTimeout: settings.visibilityTimeout)
            } catch {
                if Task.isCancelled { return }
                logger.error("job claim failed", metadata: ["queue": "\(queue)", "error": "\(String(reflecting: error))"])
                return
            }
            for job in jobs {
                inFlight.add(1, ordering: .acquiringAndReleasing)
                let (underway, signal) = AsyncStream<Void>.makeStream()
                group.addTask {
                    await self.process(job) { signal.finish() }
                    signal.finish()
                    self.inFlight.subtract(1, ordering: .acquiringAndReleasing)
                    self.driver.wake(queue: self.queue)
                }
                await waitForOrderedStart(underway)
            }
            if jobs.count < free { return }
        }
    }

    /// Claims and processes everything claimable now, `concurrency` at a time, and returns how
    /// many jobs were attempted. For tests and one-shot commands; the service uses `run()`.
    @discardableResult
    public func runOnce() async -> Int {
        var attempted = 0
        while !Task.isCancelled {
            let jobs: [QueuedJob]
            do {
                jobs = try await driver.claim(queue: queue, limit: settings.concurrency, visibilityTimeout: settings.visibilityTimeout)
            } catch {
                logger.error("job claim failed", metadata: ["queue": "\(queue)", "error": "\(String(reflecting: error))"])
                break
            }
            if jobs.isEmpty { break }
            await withDiscardingTaskGroup { group in
                for job in jobs {
                    let (underway, signal) = AsyncStream<Void>.makeStream()
                    group.addTask {
                        await self.process(job) { signal.finish() }
                        signal.finish()
                    }
                    await waitForOrderedStart(underway)
                }
            }
            attempted += jobs.count
        }
        return attempted
    }

    /// With `orderedStart`, returns once the job just started is under way (or finished), or
    /// after `orderedStart`; without it, at once.
    private func waitForOrderedStart(_ underway: AsyncStream<Void>) async {
        guard let limit = settings.orderedStart else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in underway {} }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: One job

    func process(_ job: QueuedJob, underway: @escaping @Sendable () -> Void = {}) async {
        if await settleIfAbandoned(job) { return }
        let outcome: JobOutcome
        do {
            outcome = try await runWithLeaseRenewal(job, underway: underway)
        } catch {
            if Task.isCancelled {
                await giveBack(job, meta: Self.metadata(queue, job))
                return
            }
            outcome = .retry(String(describing: error))
        }
        await settle(job, outcome)
    }

    // MARK: Jobs run elsewhere

    // A queue's work may be done outside this process (a scan worker over HTTP): the server
    // claims for it, renews the claim when it reports progress, and records the outcome it
    // reports, with this runner's settings and exactly the bookkeeping of its own jobs.

    /// Claims up to `limit` jobs with this runner's visibility timeout.
    public func claim(limit: Int) async throws -> [QueuedJob] {
        try await driver.claim(queue: queue, limit: limit, visibilityTimeout: settings.visibilityTimeout)
    }

    /// Extends a held claim by this runner's visibility timeout. False when the claim was lost.
    public func renewLease(_ job: QueuedJob) async throws -> Bool {
        try await driver.extendLease(job, visibilityTimeout: settings.visibilityTimeout)
    }

    /// A job claimed again after its last attempt's lease ran out (the consumer died holding
    /// it) is dead-lettered, with `recordAbandoned`'s record. True when `job` was one.
    public func settleIfAbandoned(_ job: QueuedJob) async -> Bool {
        guard job.attempts > job.maxAttempts else { return false }
        let meta = Self.metadata(queue, job)
        let error = "the lease of its last attempt expired" + (job.lastError.map { " (last error: \($0))" } ?? "")
        let body = settings.recordAbandoned?(job, error)
        _ = await record(job, meta: meta) { try await self.driver.deadLetter(job, error: error, body) }
        logger.warning("job dead-lettered", metadata: meta.merging(["error": "\(error)"]) { $1 })
        return true
    }

    /// Records a claimed job's outcome: completed, skipped, dead-lettered, or retried after the
    /// backoff (dead-lettered when out of attempts). False when the claim was lost meanwhile
    /// (nothing was recorded) or the database refused.
    @discardableResult
    public func settle(_ job: QueuedJob, _ outcome: JobOutcome) async -> Bool {
        var meta = Self.metadata(queue, job)
        let now = driver.clock.now()
        switch outcome.disposition {
        case .completed:
            let done = await record(job, meta: meta) { try await self.driver.complete(job, note: nil, outcome.record) }
            logger.debug("job completed", metadata: meta)
            return done
        case .skipped(let reason):
            meta["reason"] = "\(reason)"
            let done = await record(job, meta: meta) { try await self.driver.complete(job, note: reason, outcome.record) }
            logger.info("job skipped", metadata: meta)
            return done
        case .failed(let error):
            meta["error"] = "\(error)"
            let done = await record(job, meta: meta) { try await self.driver.deadLetter(job, error: error, outcome.record) }
            logger.warning("job failed", metadata: meta)
            return done
        case .retry(let error, let at):
            meta["error"] = "\(error)"
            if !job.isLastAttempt, let at = at ?? settings.backoff.nextAttempt(after: job.attempts, now: now) {
                let done = await record(job, meta: meta) { try await self.driver.retry(job, error: error, at: at, outcome.record) }
                logger.info("job will be retried", metadata: meta)
                return done
            }
            let done = await record(job, meta: meta) { try await self.driver.deadLetter(job, error: error, outcome.record) }
            logger.warning("job dead-lettered", metadata: meta)
            return done
        }
    }

    private static func metadata(_ queue: String, _ job: QueuedJob) -> Logger.Metadata {
        ["queue": "\(queue)", "job.id": "\(job.id)", "job.attempt": "\(job.attempts)"]
    }

    /// Runs the handler while renewing the job's lease; renewal stops when the claim is lost
    /// (the outcome will then be refused, and the job is another consumer's).
    private func runWithLeaseRenewal(_ job: QueuedJob, underway: @escaping @Sendable () -> Void) async throws -> JobOutcome {
        try await withThrowingTaskGroup(of: JobOutcome?.self) { group in
            group.addTask { try await self.handler(job, underway) }
            group.addTask {
                let interval = self.settings.leaseRenewalInterval ?? self.settings.visibilityTimeout / 3
                while true {
                    try await Task.sleep(for: interval)
                    do {
                        guard try await self.driver.extendLease(job, visibilityTimeout: self.settings.visibilityTimeout) else {
                            self.logger.warning("job claim lost while running", metadata: ["queue": "\(self.queue)", "job.id": "\(job.id)"])
                            return nil
                        }
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        self.logger.error("job lease renewal failed", metadata: ["queue": "\(self.queue)", "error": "\(error)"])
                    }
                }
            }
            while let result = try await group.next() {
                if let outcome = result {
                    group.cancelAll()
                    return outcome
                }
            }
            throw CancellationError()
        }
    }

    private func record(_ job: QueuedJob, meta: Logger.Metadata, _ operation: () async throws -> Bool) async -> Bool {
        do {
            if try await !operation() {
                logger.warning("job outcome refused: the claim was lost", metadata: meta)
                return false
            }
            return true
        } catch {
            logger.error("job outcome not recorded", metadata: meta.merging(["error": "\(String(reflecting: error))"]) { $1 })
            return false
        }
    }

    /// Returns an interrupted job to the queue. The runner is being cancelled, so the release
    /// runs in a task of its own that the cancellation does not reach; it is awaited, and if it
    /// fails anyway the lease running out returns the job.
    private func giveBack(_ job: QueuedJob, meta: Logger.Metadata) async {
        let driver = self.driver
        let released = await Task { try? await driver.release(job) }.value
        logger.info("job given back", metadata: meta.merging(["released": "\(released ?? false)"]) { $1 })
    }
}
