/// The moments a consumer of one queue should try to claim: at once on the first iteration,
/// then whenever the queue is signalled (a push, a retry, a finished job of an ordering key),
/// when the next retry or expired lease becomes due, and at least every `fallbackPoll` (which
/// covers a lost notification). Never ends except by cancellation.
///
/// A consumer claims after each element (`JobQueueRunner` does exactly this):
///
///     for await _ in driver.wakeUps(queue: "mail") {
///         let jobs = try await driver.claim(queue: "mail", limit: 4, visibilityTimeout: .seconds(60))
///         ...
///     }
public struct JobWakeUps: AsyncSequence, Sendable {
    public typealias Element = Void

    let queue: String
    let signal: JobWakeSignal
    let clock: JobClock
    let fallbackPoll: Duration
    /// When the earliest job of the queue that was not claimable at the given instant (epoch
    /// ms) becomes claimable, if any.
    let nextDue: @Sendable (_ after: Int64) async throws -> Int64?

    public init(queue: String, signal: JobWakeSignal, clock: JobClock, fallbackPoll: Duration,
                nextDue: @escaping @Sendable (_ after: Int64) async throws -> Int64?) {
        self.queue = queue
        self.signal = signal
        self.clock = clock
        self.fallbackPoll = fallbackPoll
        self.nextDue = nextDue
    }

    public func makeAsyncIterator() -> Iterator { Iterator(source: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let source: JobWakeUps
        /// The generation seen and the time when the last element was handed out (nil before
        /// the first).
        var seen: (generation: UInt64, at: Int64)?

        public mutating func next() async -> Void? {
            guard !Task.isCancelled else { return nil }
            if let seen, source.signal.generation(of: source.queue) == seen.generation {
                await source.signal.wait(for: source.queue, after: seen.generation, timeout: await source.timeout(after: seen.at))
                guard !Task.isCancelled else { return nil }
            }
            // Taken before the consumer claims, so a signal during its claim wakes the next wait,
            // and a job that becomes due during the claim counts as due after it.
            seen = (source.signal.generation(of: source.queue), source.clock.now())
            return ()
        }
    }

    /// Until the next job not claimable at `after` (the consumer's last claim) becomes due,
    /// at most `fallbackPoll`; zero when one has become due since.
    func timeout(after: Int64) async -> Duration {
        guard let due = try? await nextDue(after) else { return fallbackPoll }
        return Swift.min(fallbackPoll, .milliseconds(Swift.max(0, due - clock.now())))
    }
}
