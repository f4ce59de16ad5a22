// Parsers for the package databases and metadata files the indexer reads, each a pure function
// of a file's text. They never fail as a whole: an entry without a name or version is left out
// (a half-written database in an image is the image's problem, not a reason to stop the scan).

import Foundation

public enum PackageDatabases {
    /// dpkg's `/var/lib/dpkg/status` (or one `status.d/` file): installed packages, named by
    /// their source package (what Debian's advisories name) at the source version.
    public static func dpkgStatus(_ text: String, namespace: PackageNamespace, path: String) -> [IndexedPackage] {
        stanzas(text).compactMap { fields in
            guard let package = fields["Package"], let version = fields["Version"] else { return nil }
            // A status file lists removed and half-configured packages too; distroless
            // status.d entries have no Status field and are all installed.
            if let status = fields["Status"], !status.hasSuffix(" installed") { return nil }
            var name = package
            var sourceVersion = version
            if let source = fields["Source"]?.trimmingCharacters(in: .whitespaces), !source.isEmpty {
                // "Source: glibc (2.36-9)" names the source version when it differs (binNMUs).
                let parts = source.split(separator: " ", maxSplits: 1)
                name = String(parts[0])
                if parts.count == 2 {
                    sourceVersion = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "() "))
                }
            }
            return IndexedPackage(namespace: namespace, name: name, version: sourceVersion, binaryName: package, path: path)
        }
    }

    /// apk's `/lib/apk/db/installed`: `P:` name, `V:` version, `o:` origin (the aport that
    /// SecDB names).
    public static func apkInstalled(_ text: String, namespace: PackageNamespace, path: String) -> [IndexedPackage] {
        var packages: [IndexedPackage] = []
        var fields: [Character: String] = [:]
        func flush() {
            if let name = fields["P"], let version = fields["V"] {
                packages.append(IndexedPackage(namespace: namespace, name: fields["o"] ?? name, version: version, binaryName: name, path: path))
            }
            fields = [:]
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { flush(); continue }
            guard line.count >= 2, line.dropFirst().first == ":" else { continue }
            fields[line.first!] = String(line.dropFirst(2))
        }
        flush()
        return packages
    }

    /// A Python distribution's `METADATA` (`*.dist-info`) or `PKG-INFO` (`*.egg-info`): the
    /// `Name` and `Version` headers.
    public static func pythonMetadata(_ text: String, path: String) -> IndexedPackage? {
        let fields = headers(text)
        guard let name = fields["Name"], let version = fields["Version"], PEP440Version(version) != nil else { return nil }
        return IndexedPackage(namespace: .pypi, name: PackageName.normalised(name, in: .pypi), version: version, binaryName: name, path: path)
    }

    /// A gem's `specifications/NAME-VERSION.gemspec`: `s.name = "..."` and `s.version = "..."`,
    /// falling back to the file name, which RubyGems writes as NAME-VERSION[-PLATFORM].
    public static func gemspec(_ text: String, fileName: String, path: String) -> IndexedPackage? {
        func assigned(_ attribute: String) -> String? {
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard let dot = trimmed.firstIndex(of: "."),
                      trimmed[trimmed.index(after: dot)...].hasPrefix(attribute),
                      let equals = trimmed.firstIndex(of: "=") else { continue }
                let between = trimmed[trimmed.index(after: dot)..<equals].trimmingCharacters(in: .whitespaces)
                guard between == attribute else { continue }
                let value = trimmed[trimmed.index(after: equals)...]
                guard let open = value.firstIndex(where: { $0 == "\"" || $0 == "'" }) else { continue }
                let quote = value[open]
                let rest = value[value.index(after: open)...]
                guard let close = rest.firstIndex(of: quote) else { continue }
                return String(rest[..<close])
            }
            return nil
        }
        var name = assigned("name"), version = assigned("version")
        if name == nil || version == nil {
            // NAME-VERSION[-PLATFORM]: the version is the first part that starts with a digit.
            let base = fileName.hasSuffix(".gemspec") ? String(fileName.dropLast(8)) : fileName
            let parts = base.split(separator: "-", omittingEmptySubsequences: false)
            if let at = parts.indices.dropFirst().first(where: { parts[$0].first?.isNumber == true }) {
                name = name ?? parts[..<at].joined(separator: "-")
                version = version ?? String(parts[at])
            }
        }
        guard let name, let version, RubyGemsVersion(version) != nil else { return nil }
        return IndexedPackage(namespace: .rubygems, name: name, version: version, path: path)
    }

    /// A jar's `META-INF/maven/GROUP/ARTIFACT/pom.properties`.
    public static func pomProperties(_ text: String, path: String) -> IndexedPackage? {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            fields[trimmed[..<equals].trimmingCharacters(in: .whitespaces)] = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        guard let group = fields["groupId"], let artifact = fields["artifactId"], let version = fields["version"],
              !group.isEmpty, !artifact.isEmpty, !version.isEmpty else { return nil }
        return IndexedPackage(namespace: .maven, name: "\(group):\(artifact)", version: version, path: path)
    }

    /// A `package.json` under `node_modules/`.
    public static func npmPackage(_ data: [UInt8], path: String) -> IndexedPackage? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
              let name = object["name"] as? String, let version = object["version"] as? String,
              !name.isEmpty, SemanticVersion(version) != nil else { return nil }
        return IndexedPackage(namespace: .npm, name: name, version: version, path: path)
    }

    /// Debian control-file stanzas: `Field: value` with indented continuation lines, separated
    /// by blank lines.
    static func stanzas(_ text: String) -> [[String: String]] {
        var result: [[String: String]] = []
        var fields: [String: String] = [:]
        var last: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !fields.isEmpty { result.append(fields) }
                fields = [:]
                last = nil
            } else if line.first == " " || line.first == "\t" {
                if let last { fields[last, default: ""] += "\n" + line.trimmingCharacters(in: .whitespaces) }
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                last = key
            }
        }
        if !fields.isEmpty { result.append(fields) }
        return result
    }

    /// RFC 822 style headers up to the first blank line (Python's core metadata).
    static func headers(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            guard line.first != " ", line.first != "\t", let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            // The first occurrence wins (a later `Name:` would be in a description).
            if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }
}
