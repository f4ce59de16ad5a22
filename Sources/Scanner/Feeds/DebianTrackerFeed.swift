// The Debian Security Tracker's JSON export (https://security-tracker.debian.org/tracker/data/json):
// source package → CVE → per-release status. A release whose fix is version "0" was never
// affected; `open` and `undetermined` affect every version (no fix yet); `resolved` affects the
// versions below its `fixed_version`. Urgencies map by the guide's Debian table; an advisory
// takes the highest of its releases'.

enum DebianTrackerFeed {
    /// Debian's release code names (the tracker's keys) and their numbers (os-release's VERSION_ID).
    static let releases = ["buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14"]

    static func parse(_ data: [UInt8], file: String) throws(FeedError) -> FeedParseResult {
        guard let root = try JSONInput.object(data, file: file) as? [String: Any] else {
            throw FeedError(file: file, message: "the Debian tracker's export is an object of source packages")
        }
        var result = FeedParseResult()
        for (package, value) in root.sorted(by: { $0.key < $1.key }) {
            guard let issues = value as? [String: Any] else {
                result.skip(package, "not an object of issues")
                continue
            }
            for (id, issueValue) in issues.sorted(by: { $0.key < $1.key }) {
                guard let issue = issueValue as? [String: Any], let perRelease = issue["releases"] as? [String: Any] else {
                    result.skip("\(id) \(package)", "no releases")
                    continue
                }
                var affected: [AffectedPackage] = []
                var severities: [Severity] = []
                // Oldest release first, so the advisory reads in release order.
                let ordered = perRelease.sorted { Int(releases[$0.key] ?? "") ?? 0 < Int(releases[$1.key] ?? "") ?? 0 }
                for (codename, releaseValue) in ordered {
                    guard let number = releases[codename], let release = releaseValue as? [String: Any],
                          let status = release["status"] as? String else { continue }
                    let namespace = PackageNamespace.debian(number)
                    let range: AffectedRange
                    switch status {
                    case "resolved":
                        guard let fixed = release["fixed_version"] as? String, fixed != "0" else { continue }
                        guard namespace.format.isValid(fixed) else {
                            result.skip("\(id) \(package) \(codename)", "'\(fixed.prefix(64))' is not a dpkg version")
                            continue
                        }
                        range = AffectedRange(fixed: fixed)
                    case "open", "undetermined":
                        range = AffectedRange()
                    default:
                        continue
                    }
                    affected.append(AffectedPackage(namespace: namespace, name: package, ranges: [range]))
                    severities.append(SeverityMapping.severity(release["urgency"] as? String ?? "", from: .debian))
                }
                guard !affected.isEmpty else { continue }
                result.advisories.append(Advisory(
                    id: id, source: "debian", summary: "", description: issue["description"] as? String ?? "",
                    link: "https://security-tracker.debian.org/tracker/\(id)", severity: severities.max() ?? .unknown,
                    affected: affected))
            }
        }
        return result
    }
}
