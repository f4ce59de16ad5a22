import Foundation
import Scanner
import SlipwayCore
import SQLKit

/// What the tags view shows per manifest: the scan status and, once scanned, vulnerabilities
/// counted by severity.
extension ScanStore {
    public struct Summary: Sendable, Equatable {
        public let status: ScanStatus
        public let counts: [Severity: Int]
        /// Vulnerabilities with a fixed version.
        public let fixable: Int
    }

    /// Summaries of the manifests among `digests` that the pipeline knows.
    public func summaries(_ digests: [String]) async throws -> [String: Summary] {
        let unique = Array(Set(digests))
        guard !unique.isEmpty else { return [:] }
        let rows: [(String, String, String?)] = try await database.read { db in
            try await db.raw("SELECT digest, status, report FROM scan_manifests WHERE digest IN (\(binds: unique))").all().map {
                (try $0.string("digest"), try $0.string("status"), try $0.optionalString("report"))
            }
        }
        var out: [String: Summary] = [:]
        for (digest, status, reportText) in rows {
            let status = ScanStatus(rawValue: status) ?? .failed
            let report = status == .scanned ? try Self.decode(VulnerabilityReport.self, reportText) : nil
            let fixable = report?.Layer.Features.flatMap(\.Vulnerabilities).filter { !$0.FixedBy.isEmpty }.count ?? 0
            out[digest] = Summary(status: status, counts: report?.counts() ?? [:], fixable: fixable)
        }
        return out
    }
}
