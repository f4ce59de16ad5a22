import BuildProtocol
import Foundation
import SQLKit

extension BuildStore {
    /// Records the phase one platform of a running multi-architecture build reported (its
    /// worker's phase updates carry `platform`; the build's own phase is set as for any build).
    /// A read and a write in one transaction: one worker reports a build's phases in order.
    public func setPlatformPhase(uuid: String, leaseID: String, platform: String, phase: BuildPhase) async throws -> Bool {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                SELECT platform_phases FROM builds WHERE uuid = \(bind: uuid) AND lease_id = \(bind: leaseID) AND finished_at IS NULL
                """).first() else { return false }
            var phases = (try row.decode(column: "platform_phases", as: String?.self))
                .flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
            phases[platform] = phase.rawValue
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let json = String(decoding: try encoder.encode(phases), as: UTF8.self)
            try await db.raw("UPDATE builds SET platform_phases = \(bind: json) WHERE uuid = \(bind: uuid) AND lease_id = \(bind: leaseID)").run()
            return true
        }
    }
}

extension BuildRecord {
    /// Each platform's phase as the build view shows it: while the build runs, the last phase
    /// the platform reported (`waiting` before its first); once it ended, `complete` for all
    /// of a complete build, and for a failed one `error` for the platform its error names (a
    /// worker prefixes the message with `[os/arch]`) and the rest as they were.
    public var platformPhaseView: [String: String] {
        guard !platforms.isEmpty else { return [:] }
        var view: [String: String] = [:]
        for platform in platforms { view[platform] = platformPhases[platform] ?? BuildPhase.waiting.rawValue }
        switch phase {
        case .complete:
            for platform in platforms { view[platform] = BuildPhase.complete.rawValue }
        case .error, .internalError, .cancelled:
            if let failed = platforms.first(where: { errorMessage?.hasPrefix("[\($0)] ") == true }) { view[failed] = phase.rawValue }
        default:
            break
        }
        return view
    }
}
