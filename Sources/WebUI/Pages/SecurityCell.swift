import ScanService
import Scanner

/// The tags view's security column for one manifest, as Quay shows it: vulnerabilities counted
/// by severity (most severe first), "Passed" when there are none, or the scan's state; each
/// links to the manifest's Security Scanner page. A manifest list links to its tag's details,
/// where each platform's manifest has its own page.
struct SecurityCell: Sendable {
    let text: String
    /// `sev-critical` … `sev-none`, `scan-queued`, `scan-failed`, `scan-unsupported`.
    let cssClass: String
    let url: String

    static func make(_ summary: ScanStore.Summary?, url: String) -> SecurityCell {
        guard let summary else { return SecurityCell(text: "Queued", cssClass: "scan-queued", url: url) }
        switch summary.status {
        case .queued: return SecurityCell(text: "Queued", cssClass: "scan-queued", url: url)
        case .failed: return SecurityCell(text: "Failed", cssClass: "scan-failed", url: url)
        case .unsupported: return SecurityCell(text: "Unsupported", cssClass: "scan-unsupported", url: url)
        case .scanned:
            let present = Severity.allCases.sorted(by: >).compactMap { severity in
                summary.counts[severity].map { (severity, $0) }
            }.filter { $0.1 > 0 }
            guard let worst = present.first else { return SecurityCell(text: "Passed", cssClass: "sev-none", url: url) }
            let text = present.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: " · ")
                + (summary.fixable > 0 ? " (\(summary.fixable) fixable)" : "")
            return SecurityCell(text: text, cssClass: "sev-\(worst.0.rawValue.lowercased())", url: url)
        }
    }
}
