/// A check a module adds to `GET /health/instance`: a named flag in Quay's `services` map, and
/// whether a failing flag makes the instance unhealthy (503) or is only reported.
public protocol HealthContributor: Sendable {
    func health() async -> HealthFlag
}

public struct HealthFlag: Sendable, Equatable {
    /// The key in the `services` map, e.g. `vulnerability_feeds`.
    public let name: String
    public let healthy: Bool
    /// A failing flag turns the answer into 503 (otherwise it is only reported).
    public let failsInstance: Bool

    public init(name: String, healthy: Bool, failsInstance: Bool) {
        self.name = name
        self.healthy = healthy
        self.failsInstance = failsInstance
    }
}
