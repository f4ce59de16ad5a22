// The version schemes the scanner compares, one per package ecosystem. A vulnerability range
// ("affected from A, fixed in B") is only meaningful in the scheme of the package it names: the
// same string orders differently under dpkg and semver ("1.0~rc1" < "1.0" only for dpkg), so a
// comparison always names its format.

/// A package ecosystem's version scheme.
public enum VersionFormat: String, Sendable, Codable, CaseIterable {
    case dpkg
    case apk
    case rpm
    case pep440
    case semver
    case maven
    case rubygems

    /// Orders two versions of this scheme; nil when either is not a version of it (the caller
    /// reports the feed entry or package as unusable instead of guessing an order).
    public func compare(_ a: String, _ b: String) -> VersionOrder? {
        switch self {
        case .dpkg:
            guard let x = DpkgVersion(a), let y = DpkgVersion(b) else { return nil }
            return VersionOrder(x, y)
        case .apk:
            guard let x = ApkVersion(a), let y = ApkVersion(b) else { return nil }
            return VersionOrder(x, y)
        case .rpm:
            guard let x = RPMVersion(a), let y = RPMVersion(b) else { return nil }
            return VersionOrder(x, y)
        case .pep440:
            guard let x = PEP440Version(a), let y = PEP440Version(b) else { return nil }
            return VersionOrder(x, y)
        case .semver:
            guard let x = SemanticVersion(a), let y = SemanticVersion(b) else { return nil }
            return VersionOrder(x, y)
        case .maven:
            return VersionOrder(MavenVersion(a), MavenVersion(b))
        case .rubygems:
            guard let x = RubyGemsVersion(a), let y = RubyGemsVersion(b) else { return nil }
            return VersionOrder(x, y)
        }
    }

    /// Whether `version` parses under this scheme.
    public func isValid(_ version: String) -> Bool {
        compare(version, version) != nil
    }
}

/// The outcome of comparing two versions.
public enum VersionOrder: Sendable, Equatable {
    case older
    case same
    case newer

    init<V: Comparable>(_ a: V, _ b: V) {
        self = a < b ? .older : (b < a ? .newer : .same)
    }
}
