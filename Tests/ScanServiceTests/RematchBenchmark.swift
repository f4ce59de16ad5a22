// The re-match benchmark: 1,000 scanned manifests of 100 Debian packages each (from a
// pool of 400, at varying versions) re-matched after a feed update that touches every package,
// with no layer read. Prints the time; the README records it. Opt-in (SLIPWAY_BENCH_REMATCH=1)
// so that the suite does not spend a minute on it; it asserts only what was computed.

import Foundation
@testable import ScanService
import Scanner
import SlipwayCore
import SlipwayTestSupport
import SQLKit
import Testing

@Suite("Re-match benchmark")
struct RematchBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["SLIPWAY_BENCH_REMATCH"] == "1"

    @Test(.enabled(if: enabled), arguments: TestBackend.available)
    func rematchOfAThousandManifests(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, _ in
            let database = registry.services.database
            let manifests = 1000, perImage = 100, pool = 400
            // The stored package lists, written as a scan would leave them.
            for batch in stride(from: 0, to: manifests, by: 100) {
                try await database.transaction { db in
                    for m in batch..<(batch + 100) {
                        var status = LayerContents.MetadataFile(packages: (0..<perImage).map { i in
                            let p = (m * 7 + i * 3) % pool
                            return IndexedPackage(namespace: .unboundDistribution(.dpkg), name: "pkg\(p)", version: "1.\(m % 5)-1", path: "var/lib/dpkg/status")
                        })
                        status.distribution = nil
                        var layer = LayerContents()
                        layer.files["var/lib/dpkg/status"] = status
                        layer.files["etc/os-release"] = .init(distribution: Distribution(id: "debian", versionID: "12", prettyName: "Debian 12"))
                        let index = ImageIndex(layers: [("sha256:layer\(m)", layer)])
                        let digest = "sha256:" + String(format: "%064d", m)
                        try await db.raw("""
                            INSERT INTO scan_manifests (digest, repository_id, status, image_index, report, matched_generation, queued_at)
                            VALUES (\(bind: digest), 1, 'scanned', \(bind: try ScanStore.encode(index)),
                                    \(bind: try ScanStore.encode(Matcher.report(manifest: digest, index: index, advisories: AdvisoryIndex()))), 'old', 0)
                            """).run()
                    }
                }
            }
            // A feed with two advisories for every package of the pool (one fixed above the
            // versions in use, one long fixed).
            var feed: [String: Any] = [:]
            for p in 0..<pool {
                feed["pkg\(p)"] = [
                    "CVE-2024-\(10000 + p)": ["releases": ["bookworm": ["status": "resolved", "fixed_version": "1.3-1", "urgency": "medium"]]],
                    "CVE-2020-\(10000 + p)": ["releases": ["bookworm": ["status": "resolved", "fixed_version": "0.9-1", "urgency": "low"]]],
                ]
            }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: feed), as: UTF8.self)
            try await ScanFixtures.importDebian(registry, name: "bench.json", json)

            let scans = ScanServiceModule(services: registry.services, layers: CountingLayerSource(storage: registry.services.storage))
            let started = ContinuousClock.now
            let (rematched, findings) = try await scans.rematcher.rematchAll()
            let elapsed = started.duration(to: .now)
            print("re-match benchmark (\(backend)): \(rematched) manifests × \(perImage) packages, \(findings) new findings, in \(elapsed)")
            #expect(rematched == manifests)
            // 3 of 5 version groups (1.0, 1.1, 1.2) are below the 1.3-1 fix: 600 manifests × 100 packages.
            #expect(findings == 600 * perImage)
        }
    }
}
