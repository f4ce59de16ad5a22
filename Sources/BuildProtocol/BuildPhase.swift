// Wire types shared by the orchestrator and remote workers. The worker protocol grows here
// (lease, build pack, log batch) without the worker ever linking the server.

/// The phases a build moves through, spelled as Quay's API reports them.
public enum BuildPhase: String, Codable, Sendable, CaseIterable {
    case waiting
    case buildScheduled = "build-scheduled"
    case unpacking
    case pulling
    case building
    case pushing
    case complete
    case error
    case internalError = "internalerror"
    case cancelled

    /// Terminal phases never change again.
    public var isTerminal: Bool {
        switch self {
        case .complete, .error, .internalError, .cancelled: return true
        default: return false
        }
    }
}
