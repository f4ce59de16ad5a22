/// Something that keeps bytes in blob storage under their digest (OCI blobs, build log
/// archives, log exports). Whoever is about to delete bytes asks every other owner first which
/// of the digests it still references, and keeps those.
public protocol BlobOwner: Sendable {
    /// Names the owner in logs.
    var name: String { get }
    /// The digests among `digests` this owner still references.
    func referenced(among digests: [String]) async throws -> Set<String>
}
