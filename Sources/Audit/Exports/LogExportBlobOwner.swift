import SlipwayCore
import SQLKit

/// Log exports as owners of stored bytes: the files of exports not yet deleted.
public struct LogExportBlobOwner: BlobOwner {
    public init() {}

    public var name: String { "log-export" }

    public func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String> {
        try await Self.selectDigests(among: digests, column: "storage_digest", in: db) { chunk in
            "SELECT DISTINCT storage_digest FROM log_exports WHERE storage_digest IN (\(binds: chunk))"
        }
    }
}
