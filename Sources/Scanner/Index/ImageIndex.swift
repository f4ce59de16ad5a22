// An image's index: its layers' contents folded bottom to top with whiteouts applied, giving
// the distribution and every package present in the final filesystem, each with the layer that
// added it (Quay's `AddedBy`: the first layer from which it is continuously present).

public struct ImageIndex: Sendable, Equatable, Codable {
    public var distribution: Distribution?
    public var packages: [Entry]
    /// Why parts of the image could not be indexed (unsupported package databases).
    public var unsupported: [String]

    public struct Entry: Sendable, Equatable, Codable, Hashable {
        public let package: IndexedPackage
        public let addedBy: String
    }

    /// Folds layers (bottom first) given as (digest, contents).
    public init(layers: [(digest: String, contents: LayerContents)]) {
        var files: [String: LayerContents.MetadataFile] = [:]
        var firstSeen: [IndexedPackage: String] = [:]
        for (digest, layer) in layers {
            if !layer.whiteouts.isEmpty || !layer.opaqueDirectories.isEmpty {
                files = files.filter { path, _ in
                    !layer.whiteouts.contains { LayerContents.isWithin(path, $0) }
                        && !layer.opaqueDirectories.contains { path != $0 && LayerContents.isWithin(path, $0) }
                }
            }
            for (path, file) in layer.files { files[path] = file }
            // A package keeps the layer it first appeared in only while every layer since has it.
            let present = Set(files.values.flatMap(\.packages))
            firstSeen = firstSeen.filter { present.contains($0.key) }
            for package in present where firstSeen[package] == nil { firstSeen[package] = digest }
        }
        // /etc/os-release wins over /usr/lib/os-release (os-release(5)).
        distribution = files["etc/os-release"]?.distribution ?? files["usr/lib/os-release"]?.distribution
        var unsupported = files.compactMap { path, file in file.unsupported.map { "\(path): \($0)" } }
        // Distribution packages take the distribution's namespace, if it has one with their
        // version scheme; otherwise they cannot be matched, and the report says why.
        let namespace = distribution?.namespace
        var unbound = false
        packages = firstSeen.map { package, digest -> Entry in
            guard package.namespace.isUnboundDistribution else { return Entry(package: package, addedBy: digest) }
            guard let namespace, namespace.format == package.namespace.format else {
                unbound = true
                return Entry(package: package, addedBy: digest)
            }
            return Entry(package: IndexedPackage(namespace: namespace, name: package.name, version: package.version,
                                                 binaryName: package.binaryName, path: package.path), addedBy: digest)
        }
            .sorted { ($0.package.namespace.name, $0.package.name, $0.package.version, $0.package.path)
                < ($1.package.namespace.name, $1.package.name, $1.package.version, $1.package.path) }
        if unbound {
            unsupported.append("distribution \(distribution.map { "\($0.id) \($0.versionID)" } ?? "unknown (no os-release)") has no vulnerability data; its packages are not matched")
        }
        self.unsupported = unsupported.sorted()
    }
}
