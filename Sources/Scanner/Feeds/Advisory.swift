// One vulnerability as the scanner stores it after import, whatever feed it came from: its id,
// text, link, normalised severity and the package versions it affects.

public struct Advisory: Sendable, Equatable, Codable {
    /// CVE, GHSA, DSA, ... as the source names it.
    public let id: String
    /// The feed it came from (`osv`, `debian`, `alpine`), shown as the report's source.
    public let source: String
    public let summary: String
    public let description: String
    public let link: String
    public let severity: Severity
    public let affected: [AffectedPackage]

    public init(id: String, source: String, summary: String = "", description: String = "", link: String,
                severity: Severity, affected: [AffectedPackage]) {
        self.id = id
        self.source = source
        self.summary = summary
        self.description = description
        self.link = link
        self.severity = severity
        self.affected = affected
    }
}

/// The versions of one package an advisory affects: ranges of `[introduced, fixed)` or
/// `[introduced, lastAffected]`, and versions listed one by one.
public struct AffectedPackage: Sendable, Equatable, Codable {
    public let namespace: PackageNamespace
    public let name: String
    public let ranges: [AffectedRange]
    public let versions: [String]

    public init(namespace: PackageNamespace, name: String, ranges: [AffectedRange], versions: [String] = []) {
        self.namespace = namespace
        self.name = name
        self.ranges = ranges
        self.versions = versions
    }

    /// Whether `version` is affected and, if a range that contains it ends in a fix, the
    /// version that fixes it (Quay's `FixedBy`). nil: not affected (or not comparable).
    public func match(_ version: String) -> Match? {
        let format = namespace.format
        if versions.contains(where: { format.compare($0, version) == .same }) {
            return Match(fixedBy: ranges.lazy.compactMap { $0.contains(version, format: format) == true ? $0.fixed : nil }.first)
        }
        for range in ranges where range.contains(version, format: format) == true {
            return Match(fixedBy: range.fixed)
        }
        return nil
    }

    public struct Match: Sendable, Equatable {
        public let fixedBy: String?

        public init(fixedBy: String?) { self.fixedBy = fixedBy }
    }

    /// Every version the entry names parses in its namespace's scheme (checked at import, so a
    /// bogus range is reported there instead of silently never matching).
    public func invalidVersion() -> String? {
        let format = namespace.format
        let named = versions + ranges.flatMap { [$0.introduced, $0.fixed, $0.lastAffected].compactMap { $0 } }
        return named.first { !format.isValid($0) }
    }
}

public struct AffectedRange: Sendable, Equatable, Codable {
    /// nil: from the first version.
    public let introduced: String?
    public let fixed: String?
    public let lastAffected: String?

    public init(introduced: String? = nil, fixed: String? = nil, lastAffected: String? = nil) {
        self.introduced = introduced
        self.fixed = fixed
        self.lastAffected = lastAffected
    }

    /// nil when a bound does not parse in `format`.
    func contains(_ version: String, format: VersionFormat) -> Bool? {
        if let introduced {
            guard let order = format.compare(version, introduced) else { return nil }
            if order == .older { return false }
        }
        if let fixed {
            guard let order = format.compare(version, fixed) else { return nil }
            return order == .older
        }
        if let lastAffected {
            guard let order = format.compare(version, lastAffected) else { return nil }
            return order != .newer
        }
        return true
    }
}
