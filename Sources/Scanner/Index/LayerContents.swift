// What one layer contributes to the index: the package metadata files it holds (already
// parsed) and what it deletes from the layers below (OCI whiteouts). A layer is read once per
// digest; images that share it reuse its `LayerContents`.
//
//   regular file `a/b`          → a file at `a/b` (replaces a lower layer's `a/b`)
//   `a/.wh.b`                   → `a/b` and everything under it is deleted from lower layers
//   `a/.wh..wh..opq`            → everything under `a/` from lower layers is hidden

public struct LayerContents: Sendable, Equatable, Codable {
    public var files: [String: MetadataFile] = [:]
    /// Paths deleted from lower layers (file or directory).
    public var whiteouts: Set<String> = []
    /// Directories whose lower-layer contents are hidden.
    public var opaqueDirectories: Set<String> = []

    public init() {}

    /// A parsed metadata file: what it says the image has installed.
    public struct MetadataFile: Sendable, Equatable, Codable {
        public var distribution: Distribution?
        public var packages: [IndexedPackage]
        /// Set for a database the scanner recognises but cannot read (an rpm Berkeley DB, say).
        public var unsupported: String?

        public init(distribution: Distribution? = nil, packages: [IndexedPackage] = [], unsupported: String? = nil) {
            self.distribution = distribution
            self.packages = packages
            self.unsupported = unsupported
        }
    }

    /// Records a tar entry's name for whiteouts; returns the path a regular entry stands for, or
    /// nil when the entry was a whiteout marker.
    public mutating func noteEntry(_ rawPath: String) -> String? {
        let path = Self.normalised(rawPath)
        let (directory, name) = Self.split(path)
        if name == ".wh..wh..opq" {
            opaqueDirectories.insert(directory)
            return nil
        }
        if name.hasPrefix(".wh.") {
            whiteouts.insert(Self.join(directory, String(name.dropFirst(4))))
            return nil
        }
        return path
    }

    /// `./usr/lib/x`, `/usr/lib/x/` and `usr//lib/x` are all `usr/lib/x`; `..` components are
    /// dropped (they cannot climb out of the image, which the indexer never writes to disk).
    public static func normalised(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." && $0 != ".." && !$0.isEmpty }.joined(separator: "/")
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory + "/" + name
    }

    /// Whether `path` is `prefix` or lies under it.
    static func isWithin(_ path: String, _ prefix: String) -> Bool {
        prefix.isEmpty || path == prefix || path.hasPrefix(prefix + "/")
    }
}
