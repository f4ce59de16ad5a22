// Where a package comes from, as vulnerability data names it: a distribution release
// ("debian:12", "alpine:v3.19", "rhel:9") or a language ecosystem ("pypi", "go", "npm",
// "maven", "rubygems"). A package in an image matches advisories of its own namespace only, and
// its versions compare in that namespace's scheme.

public struct PackageNamespace: Hashable, Sendable, Codable, CustomStringConvertible {
    public let name: String
    public let format: VersionFormat

    public init(_ name: String, format: VersionFormat) {
        self.name = name
        self.format = format
    }

    public var description: String { name }

    public static let pypi = PackageNamespace("pypi", format: .pep440)
    public static let go = PackageNamespace("go", format: .semver)
    public static let npm = PackageNamespace("npm", format: .semver)
    public static let maven = PackageNamespace("maven", format: .maven)
    public static let rubygems = PackageNamespace("rubygems", format: .rubygems)

    /// Packages of a distribution's package manager before the image's distribution is known
    /// (os-release may sit in another layer); the index binds them to the distribution's
    /// namespace once all layers are folded.
    public static func unboundDistribution(_ format: VersionFormat) -> PackageNamespace { .init("os:\(format.rawValue)", format: format) }
    public var isUnboundDistribution: Bool { name.hasPrefix("os:") }

    public static func debian(_ release: String) -> PackageNamespace { .init("debian:\(release)", format: .dpkg) }
    public static func ubuntu(_ release: String) -> PackageNamespace { .init("ubuntu:\(release)", format: .dpkg) }
    /// Alpine releases are named by branch, `v3.19` (os-release's VERSION_ID 3.19.1 belongs to it).
    public static func alpine(_ branch: String) -> PackageNamespace { .init("alpine:\(branch)", format: .apk) }

    /// `... 15 SP5` → `15.5`, `... 15` → `15.0`; nil when the product name does not end in a
    /// release.
    static func serviceRelease(_ product: String) -> String? {
        let words = product.split(separator: " ")
        if words.count >= 2, words.last!.hasPrefix("SP"), let pack = Int(words.last!.dropFirst(2)), let major = Int(words[words.count - 2]) {
            return "\(major).\(pack)"
        }
        return words.last.flatMap { Int($0) }.map { "\($0).0" }
    }

    /// The namespace of an OSV `ecosystem` string; nil for ecosystems the scanner does not
    /// index (the entry is skipped and counted, never guessed).
    public init?(osvEcosystem ecosystem: String) {
        let parts = ecosystem.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let release = parts.dropFirst().first { $0.first?.isNumber == true || $0.hasPrefix("v") } ?? ""
        switch parts[0] {
        case "PyPI": self = .pypi
        case "Go": self = .go
        case "npm": self = .npm
        case "Maven": self = .maven
        case "RubyGems": self = .rubygems
        case "Debian" where !release.isEmpty: self = .debian(release)
        case "Ubuntu" where !release.isEmpty: self = .ubuntu(release)
        case "Alpine" where release.hasPrefix("v"): self = .alpine(release)
        case "Red Hat", "AlmaLinux", "Rocky Linux":
            // "Red Hat:enterprise_linux:9::appstream", "AlmaLinux:9", "Rocky Linux:9.3"
            let major = parts.dropFirst().lazy.compactMap { $0.split(separator: ".").first.flatMap { Int($0) } }.first
            guard let major else { return nil }
            let distribution = ["Red Hat": "rhel", "AlmaLinux": "almalinux", "Rocky Linux": "rocky"][parts[0]]!
            self.init("\(distribution):\(major)", format: .rpm)
        case "SUSE":
            // "SUSE:Linux Enterprise Server 15 SP5", "SUSE:Linux Enterprise Module for Basesystem
            // 15 SP5": every SUSE Linux Enterprise product of one service pack is the same
            // package set to an image (os-release says ID=sles, VERSION_ID=15.5).
            guard parts.count == 2, parts[1].hasPrefix("Linux Enterprise "), let release = Self.serviceRelease(parts[1]) else { return nil }
            self.init("sles:\(release)", format: .rpm)
        case "openSUSE":
            // "openSUSE:Leap 15.5", "openSUSE:Tumbleweed".
            guard parts.count == 2 else { return nil }
            if parts[1] == "Tumbleweed" { self.init("opensuse-tumbleweed", format: .rpm); return }
            let words = parts[1].split(separator: " ")
            guard words.count == 2, words[0] == "Leap", words[1].split(separator: ".").count == 2,
                  words[1].split(separator: ".").allSatisfy({ Int($0) != nil }) else { return nil }
            self.init("opensuse-leap:\(words[1])", format: .rpm)
        default:
            return nil
        }
    }
}
