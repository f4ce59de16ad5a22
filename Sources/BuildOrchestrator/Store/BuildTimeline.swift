import BuildProtocol

/// Where a build's time went: queued → leased (`build-scheduled` until the worker's first
/// phase) → each phase the worker reported → finished. A segment ends where the next recorded
/// one begins; the last one ends at the finish, or is still open while the build runs. Phases
/// a build never reached (a failure while unpacking) have no segment.
public struct BuildTimeline: Sendable, Equatable {
    public struct Segment: Sendable, Equatable {
        /// `waiting` (queued → leased), `build-scheduled` (leased → first phase), then the phases.
        public let phase: BuildPhase
        public let start: Int64
        /// nil while the build is still in this segment.
        public let end: Int64?
        public var millis: Int64? { end.map { max(0, $0 - start) } }

        public init(phase: BuildPhase, start: Int64, end: Int64?) {
            self.phase = phase
            self.start = start
            self.end = end
        }
    }

    /// The phases a worker reports, in order.
    public static let workerPhases: [BuildPhase] = [.unpacking, .pulling, .building, .pushing]

    public let queuedAt: Int64
    public let leasedAt: Int64?
    public let finishedAt: Int64?
    public let segments: [Segment]

    public init(_ b: BuildRecord) {
        queuedAt = b.queuedAt
        leasedAt = b.startedAt
        finishedAt = b.finishedAt
        var starts: [(BuildPhase, Int64)] = []
        if let leased = b.startedAt {
            starts.append((.buildScheduled, leased))
            starts += Self.workerPhases.compactMap { phase in b.phaseStartedAt[phase].map { (phase, $0) } }
        }
        var segments: [Segment] = []
        // Waiting ends at the lease; a build finished without one (cancelled while waiting)
        // waited until its finish.
        segments.append(Segment(phase: .waiting, start: b.queuedAt, end: b.startedAt ?? b.finishedAt))
        for (index, (phase, start)) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1].1 : b.finishedAt
            segments.append(Segment(phase: phase, start: start, end: end))
        }
        self.segments = segments
    }

    /// Queued → finished, or nil while the build runs.
    public var totalMillis: Int64? { finishedAt.map { max(0, $0 - queuedAt) } }
}
