import SlipwayCore
import SQLKit

/// The OCI core as an owner of stored bytes: every digest with a `blobs` row.
public struct OCIBlobOwner: BlobOwner {
    let store: MetadataStore

    public init(store: MetadataStore) {
        self.store = store
    }

    public var name: String { "oci" }

    public func referenced(among digests: [String]) async throws -> Set<String> {
        try await store.blobDigests(among: digests)
    }
}

extension MetadataStore {
    /// The digests among `digests` that have a blob row.
    func blobDigests(among digests: [String]) async throws -> Set<String> {
        guard !digests.isEmpty else { return [] }
        var found = Set<String>()
        for start in stride(from: 0, to: digests.count, by: 500) {
            let chunk = Array(digests[start..<min(start + 500, digests.count)])
            let rows = try await database.read { db in
                try await db.raw("SELECT digest FROM blobs WHERE digest IN (\(binds: chunk))").all().map { try $0.string("digest") }
            }
            found.formUnion(rows)
        }
        return found
    }
}
