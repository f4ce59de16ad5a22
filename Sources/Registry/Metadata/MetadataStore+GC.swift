import Foundation
import SlipwayCore
import SQLKit

/// The database half of garbage collection. Every delete re-checks its condition inside its own
/// statement or transaction, so a concurrent push either keeps a row alive or fails cleanly
/// (foreign keys on `manifest_blobs` and `repository_blobs` guard blob rows on PostgreSQL;
/// SQLite serializes writers).
extension MetadataStore {
    /// Deletes tag rows that left the time-machine window of their namespace. Returns how many.
    public func collectTags(now: Int64) async throws -> Int {
        try await database.transaction { db in
            let rows = try await db.raw("""
                DELETE FROM tags WHERE id IN (
                  SELECT t.id FROM tags t JOIN repository_view r ON r.id = t.repository_id
                  WHERE COALESCE(t.lifetime_end, CASE WHEN t.expiration <= \(bind: now) THEN t.expiration END) <= \(bind: now) - r.tag_expiration_s * 1000)
                RETURNING id
                """).all()
            return rows.count
        }
    }

    /// Repositories that have manifests, for the per-repository manifest pass.
    public func repositoriesWithManifests() async throws -> [Int64] {
        try await database.read { db in
            try await db.raw("SELECT DISTINCT repository_id FROM manifests").all().map { try $0.int64("repository_id") }
        }
    }

    /// Deletes the repository's manifests that nothing keeps: no tag row (live or still in the
    /// time machine), not a child of a kept index, not a referrer of a kept subject, and not
    /// pushed within `graceMillis` (children and referrers arrive before what points at them).
    public func collectManifests(repositoryID: Int64, now: Int64, graceMillis: Int64) async throws -> Int {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            struct M { let id: Int64; let digest: String; let subject: String?; let created: Int64 }
            let manifests = try await db.raw("""
                SELECT id, digest, subject_digest, created_at FROM manifests WHERE repository_id = \(bind: repositoryID)
                """).all().map { M(id: try $0.int64("id"), digest: try $0.string("digest"), subject: try $0.optionalString("subject_digest"),
                                   created: try $0.int64("created_at")) }
            let tagged = Set(try await db.raw("""
                SELECT DISTINCT manifest_id FROM tags WHERE repository_id = \(bind: repositoryID)
                """).all().map { try $0.int64("manifest_id") })
            var children: [Int64: [String]] = [:]
            for row in try await db.raw("""
                SELECT c.manifest_id, c.child_digest FROM manifest_children c JOIN manifests m ON m.id = c.manifest_id
                WHERE m.repository_id = \(bind: repositoryID)
                """).all() {
                children[try row.int64("manifest_id"), default: []].append(try row.string("child_digest"))
            }
            let byDigest = Dictionary(manifests.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
            var kept = Set(manifests.filter { tagged.contains($0.id) || $0.created > now - graceMillis }.map(\.id))
            // Fixpoint: children of kept indexes, referrers of kept subjects.
            var changed = true
            while changed {
                changed = false
                for m in manifests where kept.contains(m.id) {
                    for child in children[m.id] ?? [] {
                        if let c = byDigest[child], kept.insert(c.id).inserted { changed = true }
                    }
                }
                for m in manifests where !kept.contains(m.id) {
                    if let subject = m.subject, let s = byDigest[subject], kept.contains(s.id) {
                        kept.insert(m.id)
                        changed = true
                    }
                }
            }
            let doomed = manifests.filter { !kept.contains($0.id) }.map(\.id)
            for chunk in stride(from: 0, to: doomed.count, by: 500) {
                let ids = Array(doomed[chunk..<min(chunk + 500, doomed.count)])
                try await db.raw("DELETE FROM manifests WHERE id IN (\(binds: ids))").run()
            }
            return doomed.count
        }
    }

    /// Repositories that link blobs, for the per-repository link pass.
    public func repositoriesWithBlobLinks() async throws -> [Int64] {
        try await database.read { db in
            try await db.raw("SELECT DISTINCT repository_id FROM repository_blobs").all().map { try $0.int64("repository_id") }
        }
    }

    /// Removes the repository's links to blobs no manifest there uses, once older than the grace
    /// period (a push links its blobs before it sends the manifest). Runs under the same
    /// repository lock as manifest writes, so a manifest being pushed is always seen.
    public func collectBlobLinks(repositoryID: Int64, now: Int64, graceMillis: Int64) async throws -> Int {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            return try await db.raw("""
                DELETE FROM repository_blobs WHERE repository_id = \(bind: repositoryID) AND created_at < \(bind: now - graceMillis)
                  AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id
                                  WHERE m.repository_id = \(bind: repositoryID) AND mb.digest = repository_blobs.digest)
                RETURNING digest
                """).all().count
        }
    }

    /// Upload sessions of repositories queued for deletion (their files go before the rows).
    public func uploadsOfDeletedRepositories() async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT u.id FROM uploads u JOIN repository_view r ON r.id = u.repository_id WHERE r.state = 'MARKED_FOR_DELETION'
                """).all().map { try $0.string("id") }
        }
    }

    /// Blob rows nothing references any more.
    public func unreferencedBlobs(limit: Int) async throws -> [String] {
        try await database.read { db in
            try await db.raw("""
                SELECT b.digest FROM blobs b
                WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
                  AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest)
                LIMIT \(bind: limit)
                """).all().map { try $0.string("digest") }
        }
    }

    /// Deletes the blob row if still unreferenced and leaves a tombstone for its bytes. Returns
    /// false when a concurrent push referenced it (the foreign keys refuse the delete).
    public func tombstoneBlob(_ digest: String, now: Int64, tombstones: BlobTombstones) async throws -> Bool {
        do {
            return try await database.transaction { db in
                let deleted = try await db.raw("""
                    DELETE FROM blobs WHERE digest = \(bind: digest)
                      AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = \(bind: digest))
                      AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = \(bind: digest))
                    RETURNING digest
                    """).first()
                guard deleted != nil else { return false }
                try await tombstones.add(digest, now: now, in: db)
                return true
            }
        } catch {
            return false  // a foreign-key violation: someone referenced it just now
        }
    }

    /// Upload sessions idle for longer than `idleMillis`.
    public func staleUploads(now: Int64, idleMillis: Int64) async throws -> [String] {
        try await database.read { db in
            try await db.raw("SELECT id FROM uploads WHERE updated_at < \(bind: now - idleMillis) LIMIT 1000").all().map { try $0.string("id") }
        }
    }
}
