// How old each source's vulnerability data is: since its feed was last confirmed current (a
// 304 counts: the data is still the latest) or, for a source imported offline, since its
// import. What the age gauge records and the health flag judges.

import SlipwayCore

public struct FeedAges: Sendable {
    let vulnerabilities: VulnerabilityStore
    let state: FeedStateStore

    public init(database: any Database) {
        self.init(vulnerabilities: VulnerabilityStore(database: database), state: FeedStateStore(database: database))
    }

    init(vulnerabilities: VulnerabilityStore, state: FeedStateStore) {
        self.vulnerabilities = vulnerabilities
        self.state = state
    }

    /// Milliseconds since each source was last known current, by source name.
    public func ages(now: Int64) async throws -> [String: Int64] {
        let current = Dictionary(try await state.states().compactMap { s in s.currentAt.map { (s.name, $0) } }) { a, _ in a }
        var ages: [String: Int64] = [:]
        for source in try await vulnerabilities.sources() {
            ages[source.name] = now - max(source.importedAt, current[source.name] ?? 0)
        }
        return ages
    }
}

/// The `vulnerability_feeds` flag of `/health/instance`: false when a source is older than
/// `security.maxFeedAgeSeconds` or a configured feed has never been imported. It fails the
/// instance (503) only with `security.staleFeedsFailHealth`.
public struct FeedHealth: HealthContributor {
    let ages: FeedAges
    let feeds: [String]
    let maxAgeMillis: Int64
    let failsInstance: Bool

    public init(database: any Database, config: SlipwayConfig) {
        ages = FeedAges(database: database)
        feeds = config.security.feeds.map(\.name)
        maxAgeMillis = Int64(config.security.maxFeedAgeSeconds) * 1000
        failsInstance = config.security.staleFeedsFailHealth
    }

    public func health() async -> HealthFlag {
        let healthy: Bool
        if let ages = try? await ages.ages(now: Clock.nowMillis()) {
            healthy = feeds.allSatisfy { ages[$0] != nil } && ages.values.allSatisfy { $0 <= maxAgeMillis }
        } else {
            healthy = false
        }
        return HealthFlag(name: "vulnerability_feeds", healthy: healthy, failsInstance: failsInstance)
    }
}
