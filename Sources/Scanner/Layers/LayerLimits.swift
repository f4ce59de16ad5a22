// Bounds on what one layer may make the indexer do: a layer that exceeds them is reported as
// failed instead of holding a scan worker for hours.

public struct LayerLimits: Sendable, Equatable {
    /// Entries in one layer (a tar of a billion empty files is a denial of service, not an image).
    public var maximumEntries: Int = 2_000_000
    /// Uncompressed bytes in one layer (a decompression bomb stops here).
    public var maximumUncompressedBytes: Int64 = 64 << 30
    /// A jar/war/ear read into memory to look for pom.properties; larger archives are skipped.
    public var maximumJavaArchiveSize: Int = 64 << 20
    /// Executables larger than this are not searched for Go build info.
    public var maximumExecutableSize: Int64 = 512 << 20
    /// How deep jars nested in wars/ears/jars are opened.
    public var maximumJavaNesting: Int = 2

    public init() {}
}
