import Foundation

// What the indexer finds in an image: the distribution and each installed package, with the
// namespace its advisories live in and the file it was read from.

public struct IndexedPackage: Sendable, Equatable, Hashable, Codable {
    public let namespace: PackageNamespace
    /// The name advisories use: the source package for dpkg, the origin for apk, the
    /// normalised name for Python, `group:artifact` for Maven.
    public let name: String
    public let version: String
    /// The binary package's own name where it differs from `name` (shown in reports).
    public let binaryName: String?
    /// The file the package was read from, inside the image.
    public let path: String

    public init(namespace: PackageNamespace, name: String, version: String, binaryName: String? = nil, path: String) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.binaryName = binaryName == name ? nil : binaryName
        self.path = path
    }
}

/// `/etc/os-release` (or `/usr/lib/os-release`): the distribution an image is built on.
public struct Distribution: Sendable, Equatable, Codable {
    public let id: String
    public let versionID: String
    public let prettyName: String

    /// The namespace of the distribution's packages; nil for distributions the scanner has no
    /// vulnerability data model for (reported as unsupported, not as clean).
    public var namespace: PackageNamespace? {
        let major = versionID.split(separator: ".").first.map(String.init) ?? versionID
        switch id {
        case "debian" where !versionID.isEmpty: return .debian(major)
        case "ubuntu" where !versionID.isEmpty: return .ubuntu(versionID)
        case "alpine":
            // VERSION_ID 3.19.1 belongs to branch v3.19.
            let parts = versionID.split(separator: ".")
            guard parts.count >= 2 else { return nil }
            return .alpine("v\(parts[0]).\(parts[1])")
        case "rhel", "almalinux", "rocky" where !major.isEmpty: return PackageNamespace("\(id):\(major)", format: .rpm)
        // SUSE by service pack (VERSION_ID 15.5 is 15 SP5), as OSV's SUSE and openSUSE entries.
        case "sles", "opensuse-leap" where versionID.split(separator: ".").count == 2:
            return PackageNamespace("\(id):\(versionID)", format: .rpm)
        case "sles", "opensuse-leap" where versionID.split(separator: ".").count == 1 && !versionID.isEmpty:
            return PackageNamespace("\(id):\(versionID).0", format: .rpm)
        case "opensuse-tumbleweed": return PackageNamespace("opensuse-tumbleweed", format: .rpm)
        default: return nil
        }
    }

    public init(id: String, versionID: String, prettyName: String) {
        self.id = id
        self.versionID = versionID
        self.prettyName = prettyName
    }

    /// Parses os-release(5): `KEY=value` lines, values optionally quoted with shell escapes.
    public init?(osRelease text: String) {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            var value = String(trimmed[trimmed.index(after: equals)...])
            if let quote = value.first, quote == "\"" || quote == "'", value.count >= 2, value.last == quote {
                value = String(value.dropFirst().dropLast())
                value = value.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
            }
            fields[String(trimmed[..<equals])] = value
        }
        guard let id = fields["ID"], !id.isEmpty else { return nil }
        self.init(id: id.lowercased(), versionID: fields["VERSION_ID"] ?? "", prettyName: fields["PRETTY_NAME"] ?? id)
    }
}
