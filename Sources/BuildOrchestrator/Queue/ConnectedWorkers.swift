import BuildProtocol

/// The workers that asked this replica for work lately, with the platforms each reported: what
/// lets a waiting multi-architecture build say why it waits (#18). A worker long-polls every few
/// seconds while idle, so one not seen for `window` is taken as gone, unless it holds a lease
/// (busy: it polls again when done). Each replica knows only its own pollers (on PostgreSQL,
/// workers spread over replicas, so the reason is advice, never a decision).
struct ConnectedWorkers {
    static let window: Duration = .seconds(30)

    private var lastSeen: [String: (platforms: Set<String>?, at: ContinuousClock.Instant)] = [:]

    mutating func seen(_ workerID: String, platforms: [String]?, now: ContinuousClock.Instant = .now) {
        lastSeen[workerID] = (platforms.map { Set($0) }, now)
        // Forget workers gone for long (a busy one's entry is refreshed by its next poll).
        lastSeen = lastSeen.filter { now - $0.value.at < .seconds(86_400) }
    }

    /// nil when the build needs no particular platform or a worker seen lately can run all of
    /// its platforms; otherwise what to do about it.
    func waitingReason(platforms: [String], busy: Set<String>, now: ContinuousClock.Instant = .now) -> String? {
        guard !platforms.isEmpty else { return nil }
        let live = lastSeen.filter { now - $0.value.at < Self.window || busy.contains($0.key) }.values
        if live.contains(where: { BuildPlatforms.canRun(platforms, on: $0.platforms) }) { return nil }
        let covered = live.reduce(into: Set<String>()) { $0.formUnion($1.platforms ?? []) }
        let missing = platforms.filter { !covered.contains($0) }
        let remedy = "connect a worker of that architecture, or install qemu-user-static (with its binfmt_misc entries enabled) on a worker and restart it"
        if missing.isEmpty {
            return "no connected worker can build all of \(platforms.joined(separator: ", ")) (one worker builds every platform of a build): \(remedy)"
        }
        return "no connected worker can build \(missing.joined(separator: ", ")): \(remedy)"
    }
}
