import BuildProtocol

/// The `platforms` of a manual build or a trigger (#18): validated once here, for every way a
/// build is started. Empty means one build for the worker's own platform, exactly as before the
/// field existed; otherwise each platform is built and the result is one image index.
public enum BuildPlatforms {
    /// - Returns: the platforms as given (order kept: it is the order of the index's children).
    /// - Throws: `BuildInputError` naming the first thing wrong.
    public static func validated(_ platforms: [String]?) throws(BuildInputError) -> [String] {
        let platforms = platforms ?? []
        guard platforms.count <= BuildPlatform.maxPerBuild else {
            throw .init("platforms: at most \(BuildPlatform.maxPerBuild) platforms are allowed")
        }
        var seen = Set<String>()
        for platform in platforms {
            guard BuildPlatform(platform) != nil else {
                throw .init("platforms: \"\(platform.prefix(64))\" is not a known platform (use one of \(BuildPlatform.known.joined(separator: ", ")))")
            }
            guard seen.insert(platform).inserted else { throw .init("platforms: \(platform) is listed twice") }
        }
        return platforms
    }

    /// Whether a worker that reported `workerPlatforms` (nil: a worker that reports none) can
    /// run a build of `platforms`.
    public static func canRun(_ platforms: [String], on workerPlatforms: Set<String>?) -> Bool {
        platforms.isEmpty || (workerPlatforms.map { Set(platforms).isSubset(of: $0) } ?? false)
    }
}
