import SlipwayCore
import SQLKit

/// Log exports as owners of stored bytes: the files of exports not yet expired.
public struct LogExportBlobOwner: BlobOwner {
    let store: MetadataStore

    public init(store: MetadataStore) {
        self.store = store
    }

    public var name: String { "log-export" }

    public func referenced(among digests: [String]) async throws -> Set<String> {
        try await store.logExportDigests(among: digests)
    }
}

extension MetadataStore {
    /// The digests among `digests` that a log export's file uses.
    func logExportDigests(among digests: [String]) async throws -> Set<String> {
        guard !digests.isEmpty else { return [] }
        var found = Set<String>()
        for start in stride(from: 0, to: digests.count, by: 500) {
            let chunk = Array(digests[start..<min(start + 500, digests.count)])
            let rows = try await database.read { db in
                try await db.raw("SELECT DISTINCT storage_digest FROM log_exports WHERE storage_digest IN (\(binds: chunk))").all()
                    .map { try $0.string("storage_digest") }
            }
            found.formUnion(rows)
        }
        return found
    }
}
