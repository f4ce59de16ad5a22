// Matching an image index against advisories: each package looks up the advisories of its
// namespace and name and keeps those whose ranges contain its version. The version a report
// says fixes a vulnerability is the lowest fix among the matching ranges.

public enum Matcher {
    /// The version of the index format reports carry (Quay's `IndexedByVersion`).
    public static let indexVersion = 1

    public static func report(manifest: String, index: ImageIndex, advisories: AdvisoryIndex) -> VulnerabilityReport {
        let distribution = index.distribution
        let features = index.packages.map { entry -> VulnerabilityReport.Feature in
            let package = entry.package
            var vulnerabilities: [VulnerabilityReport.Vulnerability] = []
            var seen: Set<String> = []
            for candidate in advisories.candidates(package) {
                guard let match = candidate.affected.match(package.version),
                      seen.insert(candidate.advisory.id).inserted else { continue }
                let advisory = candidate.advisory
                var metadata = ["UpdatedBy": advisory.source]
                if let distribution, package.namespace == distribution.namespace {
                    metadata["DistroName"] = distribution.prettyName
                    metadata["DistroVersion"] = distribution.versionID
                }
                vulnerabilities.append(.init(
                    Severity: advisory.severity.rawValue, NamespaceName: package.namespace.name, Link: advisory.link,
                    FixedBy: lowestFix(package, advisory: advisory) ?? match.fixedBy ?? "",
                    Description: advisory.summary.isEmpty ? advisory.description : advisory.summary,
                    Name: advisory.id, UpdatedBy: advisory.source, Metadata: metadata))
            }
            vulnerabilities.sort { ($0.Severity == $1.Severity) ? $0.Name < $1.Name
                : (Severity(rawValue: $0.Severity) ?? .unknown) > (Severity(rawValue: $1.Severity) ?? .unknown) }
            return .init(Name: package.binaryName ?? package.name, VersionFormat: package.namespace.format.rawValue,
                         NamespaceName: package.namespace.name, AddedBy: entry.addedBy, Version: package.version,
                         Vulnerabilities: vulnerabilities, InstalledFrom: .init(Name: package.path, Link: nil))
        }
        return VulnerabilityReport(Layer: .init(Name: manifest, ParentName: "", NamespaceName: distribution?.namespace?.name ?? "",
                                                IndexedByVersion: indexVersion, Features: features))
    }

    /// The lowest fixing version among the advisory's ranges that contain the package's version.
    static func lowestFix(_ package: IndexedPackage, advisory: Advisory) -> String? {
        let format = package.namespace.format
        let fixes = advisory.affected
            .filter { $0.namespace == package.namespace && $0.name == package.name }
            .flatMap(\.ranges)
            .filter { $0.contains(package.version, format: format) == true }
            .compactMap(\.fixed)
        return fixes.min { format.compare($0, $1) == .older }
    }

    /// The findings of `new` that `old` did not have, at or above `level` (what a
    /// `vulnerability_found` notification reports once per manifest and vulnerability).
    public static func newFindings(old: VulnerabilityReport?, new: VulnerabilityReport, level: Severity) -> [VulnerabilityReport.Finding] {
        let before = old?.findings() ?? []
        return new.findings().subtracting(before).filter { $0.severity >= level }
            .sorted { ($0.severity, $0.vulnerability, $0.package) > ($1.severity, $1.vulnerability, $1.package) }
    }
}
