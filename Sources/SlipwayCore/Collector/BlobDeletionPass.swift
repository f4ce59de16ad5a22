import SQLKit

/// The last pass of every collector round: deletes the bytes of tombstoned digests once no
/// owner of stored bytes (OCI blobs, file drops, build log archives, log exports) references
/// them any more. Owners never delete shared bytes themselves; they let go (a tombstone in the
/// transaction that dropped their reference) and this pass decides, asking every owner inside
/// the transaction that consumes the tombstone. So a digest two owners hold stays until both
/// have let go, whichever goes first.
public struct BlobDeletionPass: CollectorPass {
    let tombstones: BlobTombstones
    let storage: any BlobStorageDriver
    let owners: [any BlobOwner]

    public init(tombstones: BlobTombstones, storage: any BlobStorageDriver, owners: [any BlobOwner]) {
        self.tombstones = tombstones
        self.storage = storage
        self.owners = owners
    }

    public var stage: CollectorStage { .byteDeletion }

    public func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        var deleted = 0
        for digest in try await tombstones.due(before: now - settings.tombstoneSeconds * 1000, limit: 10_000) {
            if try await deleteIfUnreferenced(digest) { deleted += 1 }
        }
        return CollectorReport(["blobsDeleted": deleted])
    }

    /// Consumes `digest`'s tombstone and deletes its bytes unless an owner still references
    /// them, in one transaction (see `BlobTombstones.consume`). `deleteBytes` replaces the
    /// storage deletion (tests use it to interleave a push). True when the bytes went.
    public func deleteIfUnreferenced(_ digest: String, deleteBytes: (@Sendable () async throws -> Void)? = nil) async throws -> Bool {
        let owners = self.owners
        let storage = self.storage
        return try await tombstones.consume(digest, stillUnreferenced: { db in
            for owner in owners where try await !owner.referenced(among: [digest], in: db).isEmpty { return false }
            return true
        }, deleteBytes: deleteBytes ?? {
            guard let d = try? Digest(parsing: digest), try await storage.stat(d) != nil else { return }
            try await storage.delete(d)
        })
    }
}
