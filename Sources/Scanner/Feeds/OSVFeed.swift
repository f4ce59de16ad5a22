// OSV JSON (https://ossf.github.io/osv-schema/): an advisory per object, with `affected`
// packages by ecosystem and `ECOSYSTEM`/`SEMVER` ranges of events. GIT ranges name commits,
// which an image's packages do not have, so they are ignored. Severity: a CVSS v3 vector's base
// score, else v2's, by the guide's OSV tables; else the source's own word (GitHub's
// `database_specific.severity`, Ubuntu's `Ubuntu` severity, Debian's `urgency`) by its table.

enum OSVFeed {
    static func parse(_ data: [UInt8], file: String) throws(FeedError) -> FeedParseResult {
        let root = try JSONInput.object(data, file: file)
        let entries: [Any]
        if let array = root as? [Any] {
            entries = array
        } else if root is [String: Any] {
            entries = [root]
        } else {
            throw FeedError(file: file, message: "an OSV file holds an object or an array of objects")
        }
        var result = FeedParseResult()
        for (index, entry) in entries.enumerated() {
            guard let object = entry as? [String: Any], let id = object["id"] as? String, !id.isEmpty else {
                result.skip("#\(index)", "not an OSV entry (no id)")
                continue
            }
            if object["withdrawn"] is String {
                result.skip(id, "withdrawn")
                continue
            }
            var affected: [AffectedPackage] = []
            var reasons: [String] = []
            var perPackageSeverity: [Severity] = []
            for case let item as [String: Any] in (object["affected"] as? [Any]) ?? [] {
                let package = item["package"] as? [String: Any] ?? [:]
                guard let ecosystem = package["ecosystem"] as? String, let name = package["name"] as? String, !name.isEmpty else {
                    reasons.append("an affected package without ecosystem or name")
                    continue
                }
                guard let namespace = PackageNamespace(osvEcosystem: ecosystem) else {
                    reasons.append("unsupported ecosystem \(ecosystem)")
                    continue
                }
                let ranges = Self.ranges(item["ranges"] as? [Any] ?? [])
                let versions = (item["versions"] as? [Any] ?? []).compactMap { $0 as? String }
                let candidate = AffectedPackage(namespace: namespace, name: PackageName.normalised(name, in: namespace),
                                                ranges: ranges, versions: versions)
                if let bad = candidate.invalidVersion() {
                    reasons.append("\(name): '\(bad.prefix(64))' is not a \(namespace.format.rawValue) version")
                    continue
                }
                guard !ranges.isEmpty || !versions.isEmpty else {
                    reasons.append("\(name): no ecosystem ranges or versions")
                    continue
                }
                affected.append(candidate)
                if let specific = item["ecosystem_specific"] as? [String: Any], let urgency = specific["urgency"] as? String {
                    perPackageSeverity.append(SeverityMapping.severity(urgency, from: .debian))
                }
                perPackageSeverity.append(contentsOf: Self.severities(item["severity"] as? [Any]))
            }
            guard !affected.isEmpty else {
                result.skip(id, reasons.first ?? "no affected packages")
                continue
            }
            let severity = Self.severity(object, fallback: perPackageSeverity.max() ?? .unknown)
            let references = (object["references"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
            let link = references.first { ["ADVISORY", "WEB"].contains($0["type"] as? String ?? "") }?["url"] as? String
            result.advisories.append(Advisory(
                id: id, source: "osv", summary: object["summary"] as? String ?? "",
                description: object["details"] as? String ?? "",
                link: link ?? "https://osv.dev/vulnerability/\(id)", severity: severity, affected: affected))
        }
        return result
    }

    /// The ECOSYSTEM and SEMVER ranges' events, in order: each `introduced` opens a range that
    /// the next `fixed` or `last_affected` closes ("0" introduced means from the start).
    static func ranges(_ items: [Any]) -> [AffectedRange] {
        var ranges: [AffectedRange] = []
        for case let range as [String: Any] in items {
            guard let type = range["type"] as? String, type == "ECOSYSTEM" || type == "SEMVER" else { continue }
            var open: String??
            for case let event as [String: Any] in range["events"] as? [Any] ?? [] {
                if let introduced = event["introduced"] as? String {
                    if let start = open { ranges.append(AffectedRange(introduced: start)) }
                    open = .some(introduced == "0" ? nil : introduced)
                } else if let fixed = event["fixed"] as? String, let start = open {
                    ranges.append(AffectedRange(introduced: start, fixed: fixed))
                    open = nil
                } else if let last = event["last_affected"] as? String, let start = open {
                    ranges.append(AffectedRange(introduced: start, lastAffected: last))
                    open = nil
                }
            }
            if let start = open { ranges.append(AffectedRange(introduced: start)) }
        }
        return ranges
    }

    static func severities(_ items: [Any]?) -> [Severity] {
        var v3: [Severity] = [], v2: [Severity] = [], words: [Severity] = []
        for case let item as [String: Any] in items ?? [] {
            guard let type = item["type"] as? String, let score = item["score"] as? String else { continue }
            switch type {
            case "CVSS_V3": if let s = CVSS.baseScoreV3(score) { v3.append(SeverityMapping.severity(cvss3: s)) }
            case "CVSS_V2": if let s = CVSS.baseScoreV2(score) { v2.append(SeverityMapping.severity(cvss2: s)) }
            case "Ubuntu": words.append(SeverityMapping.severity(score, from: .ubuntu))
            default: break
            }
        }
        return !v3.isEmpty ? v3 : (!v2.isEmpty ? v2 : words)
    }

    static func severity(_ object: [String: Any], fallback: Severity) -> Severity {
        if let best = severities(object["severity"] as? [Any]).max() { return best }
        if let specific = object["database_specific"] as? [String: Any], let word = specific["severity"] as? String {
            let mapped = SeverityMapping.severity(word, from: .ghsa)
            if mapped != .unknown { return mapped }
        }
        return fallback
    }
}
