// The `scan-rematch` job: after vulnerability data changed, every scanned manifest's report is
// recomputed from its stored package list (no layer is read), a page of manifests at a time.
// A vulnerability a manifest had never been reported with is recorded in `scan_findings` and,
// where the manifest is tagged, announced as a `vulnerability_found` repository event in the
// same transaction as the new report: once per manifest and vulnerability.

import Events
import Foundation
import Logging
import Registry
import Scanner
import SlipwayCore
import SQLKit

struct Rematcher: Sendable {
    let database: any Database
    let store: ScanStore
    let vulnerabilities: VulnerabilityStore
    let events: EventOutbox
    let metrics: ScanMetrics
    /// `server.publicURL` or the configured host and port (the events' `docker_url`, `homepage`).
    let baseURL: String
    let logger: Logger
    var pageSize = 200

    func handle(_ job: QueuedJob) async throws -> JobOutcome {
        let started = ContinuousClock.now
        let (rematched, announced) = try await rematchAll()
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // The duration is what Benchmarks/scanner_rematch_bench.py reports.
        logger.info("scanned manifests re-matched", metadata: ["manifests": "\(rematched)", "new_findings": "\(announced)",
                                                                "seconds": "\(String(format: "%.3f", seconds))"])
        return .completed
    }

    /// Re-matches every scanned manifest not matched against the current data yet. Returns how
    /// many reports were recomputed and how many new findings were recorded.
    @discardableResult
    func rematchAll() async throws -> (manifests: Int, findings: Int) {
        let generation = try await vulnerabilities.dataGeneration()
        var after = ""
        var manifests = 0, findings = 0
        while true {
            let page = try await store.scannedPage(after: after, notMatchedWith: generation, limit: pageSize)
            guard let last = page.last else { break }
            after = last.digest
            let stale = page.filter { $0.matchedGeneration != generation && $0.index != nil }
            guard !stale.isEmpty else { continue }
            // One advisory look-up for the page: the advisories of every package in it.
            var packages = ImageIndex(layers: [])
            packages.packages = Array(Set(stale.flatMap { $0.index!.packages }))
            let advisories = try await vulnerabilities.advisories(for: packages)
            let updates = stale.map { scan in
                (scan, Matcher.report(manifest: scan.digest, index: scan.index!, advisories: advisories))
            }
            findings += try await save(updates, generation: generation)
            manifests += updates.count
            metrics.rematched.increment(by: Int64(updates.count))
        }
        return (manifests, findings)
    }

    private func save(_ updates: [(ScanStore.ManifestScan, VulnerabilityReport)], generation: String) async throws -> Int {
        let events = self.events, baseURL = self.baseURL
        // What each report adds to the one before it, by vulnerability (computed outside the transaction).
        var candidates: [(digest: String, vulnerability: String)] = []
        let encoded = try updates.map { try ScanStore.encode($0.1) }
        for (scan, report) in updates {
            var seen: Set<String> = []
            for finding in Matcher.newFindings(old: scan.report, new: report, level: .unknown) where seen.insert(finding.vulnerability).inserted {
                candidates.append((scan.digest, finding.vulnerability))
            }
        }
        let pending = candidates
        return try await database.transaction { db in
            for ((scan, _), report) in zip(updates, encoded) {
                try await ScanStore.updateReport(digest: scan.digest, report: report, generation: generation, in: db)
            }
            // Only what was never reported for the manifest is news.
            let recorded = try await ScanStore.insertFindings(pending, in: db)
            guard !recorded.isEmpty else { return 0 }
            var news: [String: [String]] = [:]
            for c in pending where recorded.contains(.init(digest: c.digest, vulnerability: c.vulnerability)) {
                news[c.digest, default: []].append(c.vulnerability)
            }
            var announcements: [NewRepositoryEvent] = []
            for (scan, report) in updates {
                let fresh = (news[scan.digest] ?? []).compactMap { Self.mostSevere($0, in: report) }
                guard !fresh.isEmpty, let digest = try? Digest(parsing: scan.digest) else { continue }
                for tagged in try await MetadataStore.liveTags(ofManifest: digest, in: db) {
                    for vulnerability in fresh {
                        let payload = Self.payload(vulnerability, manifest: scan.digest, tagged: tagged, baseURL: baseURL)
                        announcements.append(NewRepositoryEvent(
                            kind: .vulnerabilityFound, repository: tagged.repository, payload: payload,
                            dedupKey: "vulnerability_found:\(tagged.repository.id):\(scan.digest):\(vulnerability.Name)"))
                    }
                }
            }
            // Batched; the dedup key still keeps each (repository, manifest, vulnerability) once.
            try await events.appendOnce(announcements, in: db)
            return recorded.count
        }
    }

    /// The report's entry for `name` with the highest severity (a vulnerability may affect several packages).
    static func mostSevere(_ name: String, in report: VulnerabilityReport) -> VulnerabilityReport.Vulnerability? {
        report.Layer.Features.flatMap(\.Vulnerabilities).filter { $0.Name == name }
            .max { (Severity(rawValue: $0.Severity) ?? .unknown) < (Severity(rawValue: $1.Severity) ?? .unknown) }
    }

    /// Quay's `vulnerability_found` event data: the repository fields every event has, the
    /// manifest's tags in the repository, the image, and the vulnerability (`priority` is the
    /// normalised severity the notification's `level` is compared with).
    static func payload(_ vulnerability: VulnerabilityReport.Vulnerability, manifest: String, tagged: MetadataStore.TaggedManifest,
                        baseURL: String) -> [String: EventValue] {
        let repository = "\(tagged.repository.namespace)/\(tagged.repository.name)"
        let host = baseURL.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
        return [
            "repository": .string(repository), "namespace": .string(tagged.repository.namespace), "name": .string(tagged.repository.name),
            "docker_url": .string("\(host)/\(repository)"), "homepage": .string("\(baseURL)/repository/\(repository)"),
            "tags": .strings(tagged.tags), "image": .string(manifest),
            "vulnerability": .object([
                "id": .string(vulnerability.Name), "description": .string(vulnerability.Description),
                "link": .string(vulnerability.Link), "priority": .string(vulnerability.Severity),
                "has_fix": .bool(!vulnerability.FixedBy.isEmpty),
            ]),
        ]
    }
}

