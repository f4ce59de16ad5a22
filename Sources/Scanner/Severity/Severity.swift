// The normalised severities a report carries, Clair's six (the guide's "Clair severity
// strings"), in order. Each source's own scale maps onto them in `SeverityMapping`.

public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case unknown = "Unknown"
    case negligible = "Negligible"
    case low = "Low"
    case medium = "Medium"
    case high = "High"
    case critical = "Critical"

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }

    /// Parses a normalised severity name, any case (the `level` of a `vulnerability_found`
    /// notification, a UI filter).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }
}
