/// Why a build must stop before it finishes. On the wire as the strings of the first protocol
/// version ("cancelled", "timed out"), so workers and orchestrators of different versions
/// understand each other; a reason one side does not know arrives as `.other` and still stops
/// the build.
public enum StopReason: Sendable, Hashable, CustomStringConvertible {
    /// A user cancelled it (or its repository was deleted).
    case cancelled
    /// It ran past `builds.timeoutSeconds`.
    case timedOut
    /// The worker's own conclusion when the orchestrator no longer knows its lease (HTTP 409);
    /// the orchestrator never sends it.
    case leaseLost
    case other(String)

    public init(wire: String) {
        switch wire {
        case "cancelled": self = .cancelled
        case "timed out": self = .timedOut
        case "lease lost": self = .leaseLost
        default: self = .other(wire)
        }
    }

    public var wire: String {
        switch self {
        case .cancelled: return "cancelled"
        case .timedOut: return "timed out"
        case .leaseLost: return "lease lost"
        case .other(let text): return text
        }
    }

    public var description: String { wire }
}

extension StopReason: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(wire: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wire)
    }
}
