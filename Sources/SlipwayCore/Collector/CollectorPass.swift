/// One pass of the background collector, contributed by the module that owns what it removes
/// (the OCI core its tags, manifests and blobs; the accounts module the rows of deleted
/// repositories; the build farm the log archives of deleted repositories). `slipway admin gc`
/// and the background collector run the same passes, ordered by `stage`.
public protocol CollectorPass: Sendable {
    /// When the pass runs within one collector round.
    var stage: CollectorStage { get }
    /// Removes what `settings` no longer protect as of `now` (epoch ms); returns what it removed,
    /// by counter name.
    func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport
}

/// The order of passes within a round. Deleting a repository's row cascades to every module's
/// rows of it, so what must be read from those rows first (upload files, log archives) is
/// collected before the purge; what only becomes unreferenced by the purge, after it. Bytes go
/// last, once every owner has let go of them (`BlobDeletionPass`).
public enum CollectorStage: Int, Sendable, Comparable, CaseIterable {
    case beforeRepositoryPurge
    case repositoryPurge
    case afterRepositoryPurge
    case byteDeletion

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// What the passes of a round keep and for how long.
public struct CollectorSettings: Sendable {
    /// Pause between rounds of the background collector.
    public var interval: Duration = .seconds(30)
    /// How long fresh, still-unreferenced manifests and blob links are protected.
    public var graceSeconds: Int64 = 3600
    /// How long an uploaded build context nobody started a build from is kept
    /// (`builds.fileDropTTLSeconds`).
    public var fileDropTTLSeconds: Int64 = 3600
    /// How long a tombstoned blob's bytes wait before deletion.
    public var tombstoneSeconds: Int64 = 60
    public var uploadIdleSeconds: Int64 = 2 * 86_400
    /// `repo_image_expiry` is emitted this many days before a tag expires.
    public var expiryNoticeDays: Int64 = 7

    public init() {}

    /// The settings `gc.*` and `builds.fileDropTTLSeconds` configure.
    public init(config: SlipwayConfig) {
        self.init()
        interval = .seconds(config.gc.intervalSeconds)
        graceSeconds = Int64(config.gc.graceSeconds)
        uploadIdleSeconds = Int64(config.gc.uploadIdleSeconds)
        tombstoneSeconds = Int64(config.gc.tombstoneSeconds)
        fileDropTTLSeconds = Int64(config.builds.fileDropTTLSeconds)
    }
}

/// What one pass (or a whole round) removed, by counter: `report.tags`, `report.blobsDeleted`.
/// A counter nobody reported reads 0.
@dynamicMemberLookup
public struct CollectorReport: Sendable, Equatable {
    public private(set) var counts: [String: Int]

    public init(_ counts: [String: Int] = [:]) {
        self.counts = counts
    }

    public subscript(dynamicMember name: String) -> Int {
        get { counts[name] ?? 0 }
        set { counts[name] = newValue }
    }

    public var isEmpty: Bool { counts.values.allSatisfy { $0 == 0 } }

    public mutating func add(_ other: CollectorReport) {
        counts.merge(other.counts, uniquingKeysWith: +)
    }
}
