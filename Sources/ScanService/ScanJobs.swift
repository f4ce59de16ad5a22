/// The two job queues of the scan pipeline and their payloads.
public enum ScanQueues {
    /// One job per manifest digest: read its layers (those not indexed yet), match, store the report.
    public static let scan = "scan"
    /// Re-match every scanned manifest from its stored package list after vulnerability data changed.
    public static let rematch = "scan-rematch"
}

/// A `scan` job: the manifest and the repository to read it from.
struct ScanJob: Codable, Sendable {
    let manifest: String
    let repositoryID: Int64
}

/// A `scan-rematch` job: the vulnerability-data generation that made it.
struct RematchJob: Codable, Sendable {
    let generation: String
}
