import SlipwayCore
import SQLKit

/// The OCI core as an owner of stored bytes: every digest with a `blobs` row.
public struct OCIBlobOwner: BlobOwner {
    public init() {}

    public var name: String { "oci" }

    public func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String> {
        try await Self.selectDigests(among: digests, column: "digest", in: db) { chunk in
            "SELECT digest FROM blobs WHERE digest IN (\(binds: chunk))"
        }
    }
}
