/// When a failed attempt is tried again: retry n waits `base * 2^(n-1)`, at most `cap`, and
/// after `maxAttempts` attempts it is given up. Shared by every job queue (notification
/// deliveries, the mail outbox, `JobQueueRunner`) so they all back off the same way.
public struct RetryBackoff: Sendable {
    public let base: Duration
    public let cap: Duration
    public let maxAttempts: Int

    public init(base: Duration, cap: Duration, maxAttempts: Int) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// The instant (milliseconds) of the next attempt after `attemptsSoFar` failed ones, or nil
    /// when the delivery should be given up.
    public func nextAttempt(after attemptsSoFar: Int, now: Int64) -> Int64? {
        guard attemptsSoFar < maxAttempts else { return nil }
        let baseMillis = Double(base.components.seconds) * 1000 + Double(base.components.attoseconds) / 1e15
        let capMillis = Double(cap.components.seconds) * 1000
        return now + Int64(min(capMillis, baseMillis * pow2(attemptsSoFar - 1)))
    }

    private func pow2(_ n: Int) -> Double { n <= 0 ? 1 : Double(1 << min(n, 52)) }
}
