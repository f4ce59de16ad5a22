import SlipwayCore
import SQLKit

/// A manifest the registry has just stored (a new digest in a repository, or a deleted one
/// brought back), as a manifest `PUT` reports it to feature modules.
public struct StoredManifestNotice: Sendable {
    public let repositoryID: Int64
    public let manifestID: Int64
    public let digest: Digest
    public let document: ManifestDocument

    public init(repositoryID: Int64, manifestID: Int64, digest: Digest, document: ManifestDocument) {
        self.repositoryID = repositoryID
        self.manifestID = manifestID
        self.digest = digest
        self.document = document
    }
}

/// Something a feature module records when a manifest is stored, inside the transaction that
/// stores it, without Registry depending on the module: the scanner queues the manifest's scan,
/// so a stored manifest and its queued scan commit together (or not at all). Modules contribute
/// observers through `SlipwayModule.manifestStoredObservers()`; the composition root hands them
/// to the `/v2` handler when it builds the routes. An observer writes only its own module's
/// tables (through its own store) and must be quick: the push waits for it.
public protocol ManifestStoredObserver: Sendable {
    func manifestStored(_ notice: StoredManifestNotice, in db: any SQLDatabase) async throws
}
