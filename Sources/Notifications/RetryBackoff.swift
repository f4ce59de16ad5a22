/// When a failed delivery is tried again: retry n waits `base * 2^(n-1)`, at most `cap`, and
/// after `maxAttempts` attempts it is given up. Shared by webhook/e-mail deliveries and the mail
/// outbox so both back off the same way.
struct RetryBackoff: Sendable {
    let base: Duration
    let cap: Duration
    let maxAttempts: Int

    /// The instant (milliseconds) of the next attempt after `attemptsSoFar` failed ones, or nil
    /// when the delivery should be given up.
    func nextAttempt(after attemptsSoFar: Int, now: Int64) -> Int64? {
        guard attemptsSoFar < maxAttempts else { return nil }
        let baseMillis = Double(base.components.seconds) * 1000 + Double(base.components.attoseconds) / 1e15
        let capMillis = Double(cap.components.seconds) * 1000
        return now + Int64(min(capMillis, baseMillis * pow2(attemptsSoFar - 1)))
    }

    private func pow2(_ n: Int) -> Double { n <= 0 ? 1 : Double(1 << min(n, 52)) }
}
