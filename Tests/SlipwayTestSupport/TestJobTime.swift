import SlipwayCore
import Synchronization

/// The job queues' clock in a test registry: real time until a test pins it, so a test moves
/// retries and backoff forward instead of sleeping (`set(nil)` returns to real time).
public final class TestJobTime: Sendable {
    private let pinned = Mutex<Int64?>(nil)

    public init() {}

    public var clock: JobClock { JobClock { self.now } }

    public var now: Int64 { pinned.withLock { $0 } ?? Clock.nowMillis() }

    public func set(_ now: Int64?) {
        pinned.withLock { $0 = now }
    }
}
