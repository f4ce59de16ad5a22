/// Where a job queue reads the time (epoch milliseconds). Every time the queue stores (due
/// times, leases, finish times) comes from it, so tests move time forward instead of sleeping.
public struct JobClock: Sendable {
    public let now: @Sendable () -> Int64

    public init(now: @escaping @Sendable () -> Int64) {
        self.now = now
    }

    public static let system = JobClock { Clock.nowMillis() }
}
