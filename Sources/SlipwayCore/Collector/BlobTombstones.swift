import SQLKit

/// `blob_deletions`: digests whose bytes are to be deleted once nothing references them, one
/// collector pass after their last reference went (so a push racing the collector always
/// wins). Taking a reference removes the digest's tombstone in the referencing transaction;
/// the collector deletes the bytes only inside the transaction that consumes the tombstone.
public struct BlobTombstones: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    /// Leaves a tombstone for `digest`, in the caller's transaction (the one that dropped its
    /// last reference).
    public func add(_ digest: String, now: Int64, in db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO blob_deletions (digest, created_at) VALUES (\(bind: digest), \(bind: now)) ON CONFLICT (digest) DO NOTHING
            """).run()
    }

    /// Calls off a pending deletion of `digest`, in the caller's transaction (the one that
    /// references it again).
    public func remove(_ digest: String, in db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM blob_deletions WHERE digest = \(bind: digest)").run()
    }

    /// Leaves tombstones for `digests` (the ones an owner just let go of), in the caller's
    /// transaction. Bytes another owner still holds survive: the deletion pass asks every owner.
    public func add(_ digests: [String], now: Int64, in db: any SQLDatabase) async throws {
        for digest in Set(digests) { try await add(digest, now: now, in: db) }
    }

    /// Calls off a pending deletion of `digest` before its bytes are published by an owner that
    /// records its reference only afterwards (file drops, build log archives, log exports). A
    /// deletion of these bytes in progress finishes first (this waits for its transaction), so
    /// what is published next stays. The owner must record its reference within the tombstone
    /// delay (`gc.tombstoneSeconds`) of a new tombstone, which publishing one blob always does.
    public func hold(_ digest: String) async throws {
        try await database.transaction { db in try await remove(digest, in: db) }
    }

    /// Lets go of bytes published for a reference that was then not recorded (a refused or
    /// failed write after the bytes went to storage): a tombstone on its own, so the bytes go
    /// unless another owner holds them.
    public func release(_ digest: String, now: Int64 = Clock.nowMillis()) async throws {
        try await database.transaction { db in try await add(digest, now: now, in: db) }
    }

    /// Tombstones left before `before` (epoch ms; strictly: a tombstone a collector round left
    /// at its own `now` waits for the next round, so a push racing that round always wins).
    public func due(before: Int64, limit: Int) async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT digest FROM blob_deletions WHERE created_at < \(bind: before) ORDER BY created_at LIMIT \(bind: limit)
                """).all().map { try $0.string("digest") }
        }
    }

    /// Consumes the tombstone and, if `stillUnreferenced` (asked inside the same transaction)
    /// agrees, runs `deleteBytes` before that transaction commits. A reference taken meanwhile
    /// removes the tombstone in its own transaction, so it waits for this one (and publishes
    /// its bytes after the deletion) or came first (and there is no tombstone to consume).
    /// False when the bytes stay; the tombstone is gone either way. A failed deletion rolls
    /// back, keeping the tombstone for the next pass.
    public func consume(_ digest: String, stillUnreferenced: @escaping @Sendable (any SQLDatabase) async throws -> Bool,
                        deleteBytes: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        try await database.transaction { db in
            guard try await db.raw("DELETE FROM blob_deletions WHERE digest = \(bind: digest) RETURNING digest").first() != nil else {
                return false
            }
            guard try await stillUnreferenced(db) else { return false }
            try await deleteBytes()
            return true
        }
    }
}
