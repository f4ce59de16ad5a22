/// Every kind of repository event Slipway records in the outbox, under Quay's names (the raw
/// values are what notifications are configured with and what receivers see).
public enum RepositoryEventKind: String, Sendable, CaseIterable {
    case repoPush = "repo_push"
    case buildQueued = "build_queued"
    case buildStart = "build_start"
    case buildSuccess = "build_success"
    case buildFailure = "build_failure"
    case buildCancelled = "build_cancelled"
    case repoImageExpiry = "repo_image_expiry"
    /// A vulnerability newly affects a scanned, tagged manifest (the scanner's re-match).
    case vulnerabilityFound = "vulnerability_found"

    /// The events of a build's life.
    public static let buildEvents: Set<RepositoryEventKind> = [.buildQueued, .buildStart, .buildSuccess, .buildFailure, .buildCancelled]
}
