import Foundation

// Each vulnerability source's severity scale mapped onto Clair's, exactly as the guide's "Clair
// severity mapping" tables give them. Matching is case-insensitive; a value a table does not
// list is Unknown (the tables' `*` rows), never a guess.

public enum SeveritySource: String, Sendable, Codable, CaseIterable {
    case alpine
    case aws
    case debian
    case oracle
    case rhel
    case suse
    case ubuntu
    /// GitHub's advisory database scale (LOW / MODERATE / HIGH / CRITICAL), which OSV copies
    /// into `database_specific.severity` for GHSA entries.
    case ghsa
}

public enum SeverityMapping {
    /// The source's word for a severity, mapped by the guide's table for that source.
    public static func severity(_ value: String, from source: SeveritySource) -> Severity {
        let word = value.trimmingCharacters(in: .whitespaces).lowercased()
        switch source {
        case .alpine:
            // "Alpine SecDB database does not provide severity information."
            return .unknown
        case .aws:
            return ["low": .low, "medium": .medium, "important": .high, "critical": .critical][word] ?? .unknown
        case .debian:
            // The Security Tracker's urgencies sit one step above their names in Clair's scale
            // (its "low" is Clair's Medium); "not yet assigned", "end-of-life" and the rest are
            // the table's `*`. A trailing `*` or `**` (the tracker's "low**" notes) is dropped.
            let urgency = word.trimmingCharacters(in: ["*"])
            return ["unimportant": .low, "low": .medium, "medium": .high, "high": .critical][urgency] ?? .unknown
        case .oracle:
            return ["n/a": .unknown, "low": .low, "moderate": .medium, "important": .high, "critical": .critical][word] ?? .unknown
        case .rhel, .suse:
            return ["none": .unknown, "low": .low, "moderate": .medium, "important": .high, "critical": .critical][word] ?? .unknown
        case .ubuntu:
            return ["untriaged": .unknown, "negligible": .negligible, "low": .low, "medium": .medium,
                    "high": .high, "critical": .critical][word] ?? .unknown
        case .ghsa:
            return ["low": .low, "moderate": .medium, "medium": .medium, "high": .high, "critical": .critical][word] ?? .unknown
        }
    }

    /// The guide's OSV table for CVSS v3 base scores.
    public static func severity(cvss3 score: Double) -> Severity {
        switch score {
        case ..<0: .unknown
        case 0: .negligible
        case ..<4: .low
        case ..<7: .medium
        case ..<9: .high
        case ...10: .critical
        default: .unknown
        }
    }

    /// The guide's OSV table for CVSS v2 base scores.
    public static func severity(cvss2 score: Double) -> Severity {
        switch score {
        case ..<0: .unknown
        case ..<4: .low
        case ..<7: .medium
        case ...10: .high
        default: .unknown
        }
    }
}
