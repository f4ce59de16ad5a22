// Which files in a layer the indexer reads, decided from the path alone (Go executables, found
// by their content, are `LayerReader`'s), with a size cap per kind so that a hostile image cannot make the
// scanner read a gigabyte "status" file into memory.

import Foundation

public enum MetadataFileKind: String, Sendable, CaseIterable {
    case osRelease
    case dpkgStatus
    case dpkgStatusD
    case apkInstalled
    case rpmSQLite
    case rpmBerkeleyDB
    case pythonMetadata
    case gemspec
    case pomProperties
    case npmPackage

    /// The largest file of this kind the indexer reads; a larger one is reported, not read.
    public var maximumSize: Int {
        switch self {
        case .osRelease, .pomProperties, .gemspec: 1 << 20
        case .npmPackage, .pythonMetadata: 4 << 20
        case .dpkgStatus, .dpkgStatusD, .apkInstalled: 64 << 20
        case .rpmSQLite: 256 << 20
        case .rpmBerkeleyDB: 0
        }
    }

    /// The kind of metadata file at `path` (normalised, no leading slash), if any.
    public static func classify(_ path: String) -> MetadataFileKind? {
        switch path {
        case "etc/os-release", "usr/lib/os-release": return .osRelease
        case "var/lib/dpkg/status": return .dpkgStatus
        case "lib/apk/db/installed": return .apkInstalled
        case "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite": return .rpmSQLite
        case "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db":
            return .rpmBerkeleyDB
        default: break
        }
        let components = path.split(separator: "/")
        guard let name = components.last else { return nil }
        let parent = components.count >= 2 ? components[components.count - 2] : ""
        if path.hasPrefix("var/lib/dpkg/status.d/") && components.count == 5 && !name.hasSuffix(".md5sums") { return .dpkgStatusD }
        if name == "METADATA" && parent.hasSuffix(".dist-info") { return .pythonMetadata }
        if name == "PKG-INFO" && parent.hasSuffix(".egg-info") { return .pythonMetadata }
        if name.hasSuffix(".gemspec") && parent == "specifications" { return .gemspec }
        if name == "pom.properties" && components.contains("META-INF") && components.contains("maven") { return .pomProperties }
        if name == "package.json" && components.count >= 3 {
            // node_modules/NAME/package.json or node_modules/@SCOPE/NAME/package.json, not files
            // deeper in a package (tests, fixtures).
            if components[components.count - 3] == "node_modules" && !parent.hasPrefix("@") { return .npmPackage }
            if components.count >= 4 && components[components.count - 4] == "node_modules" && components[components.count - 3].hasPrefix("@") {
                return .npmPackage
            }
        }
        return nil
    }

    /// Parses one file of this kind.
    public func parse(_ data: [UInt8], path: String) -> LayerContents.MetadataFile {
        let text = String(decoding: data, as: UTF8.self)
        switch self {
        case .osRelease:
            return .init(distribution: Distribution(osRelease: text))
        case .dpkgStatus, .dpkgStatusD:
            return .init(packages: PackageDatabases.dpkgStatus(text, namespace: .unboundDistribution(.dpkg), path: path))
        case .apkInstalled:
            return .init(packages: PackageDatabases.apkInstalled(text, namespace: .unboundDistribution(.apk), path: path))
        case .rpmSQLite:
            // `LayerReader` streams the database to a file instead of holding it in memory.
            do throws(RPMDatabase.Failure) {
                return .init(packages: try RPMDatabase.packages(bytes: data, path: path))
            } catch {
                return .init(unsupported: "the rpm database cannot be read: \(error.message)")
            }
        case .rpmBerkeleyDB:
            return .init(unsupported: "rpm Berkeley DB / ndb databases are not supported (RHEL 8 and older); rpmdb.sqlite is")
        case .pythonMetadata:
            return .init(packages: PackageDatabases.pythonMetadata(text, path: path).map { [$0] } ?? [])
        case .gemspec:
            return .init(packages: PackageDatabases.gemspec(text, fileName: String(path.split(separator: "/").last ?? ""), path: path).map { [$0] } ?? [])
        case .pomProperties:
            return .init(packages: PackageDatabases.pomProperties(text, path: path).map { [$0] } ?? [])
        case .npmPackage:
            return .init(packages: PackageDatabases.npmPackage(data, path: path).map { [$0] } ?? [])
        }
    }
}
