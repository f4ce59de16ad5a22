// A mock clock, a seeded random generator and small conveniences for the scheduler tests.

import BuildOrchestrator

typealias Scheduler = BuildSchedulerState

/// Time only moves when a test says so.
struct MockClock {
    var now = Scheduler.Instant(millisecondsSinceEpoch: 1_700_000_000_000)

    mutating func advance(_ duration: Duration) { now = now + duration }
}

/// SplitMix64: tiny, seedable, and the same on every platform.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Scheduler.LeaseResult {
    var lease: Scheduler.Lease? {
        if case .leased(let lease) = self { return lease }
        return nil
    }
}

func build(_ id: String, _ namespace: String, _ repository: String) -> Scheduler.Build {
    Scheduler.Build(id: id, namespace: namespace, repository: repository)
}
