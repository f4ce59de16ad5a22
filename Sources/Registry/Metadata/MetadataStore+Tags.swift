import Accounts
import Foundation
import SlipwayCore
import SQLKit

/// Tag history, expiry and restore (the time machine) on top of the tag rows of
/// `MetadataStore+Manifests`.
extension MetadataStore {
    public struct TagRecord: Sendable {
        public let name: String
        public let digest: Digest
        public let mediaType: String
        public let size: Int64
        public let start: Int64
        public let end: Int64?
        public let expiration: Int64?
        public let reversion: Bool

        /// Alive now: not ended and not expired.
        public func isLive(now: Int64) -> Bool { end == nil && (expiration.map { $0 > now } ?? true) }
        /// When the tag stopped (or will stop) pointing at its manifest.
        public var effectiveEnd: Int64? { end ?? expiration }
    }

    public enum TagNameFilter: Sendable {
        case equals(String)
        case contains(String)
    }

    /// Tag rows newest first. `onlyActive` keeps live tags only; otherwise dead and expired rows
    /// are history. Reads `limit + 1` rows so callers can report `has_additional`.
    public func tagRecords(repositoryID: Int64, filter: TagNameFilter?, onlyActive: Bool, offset: Int, limit: Int) async throws -> [TagRecord] {
        try await database.read { db in
            let now = Clock.nowMillis()
            var q: SQLQueryString = """
                SELECT t.name, t.lifetime_start, t.lifetime_end, t.expiration, t.reversion, m.digest, m.media_type,
                  (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM manifest_blobs mb JOIN blobs b ON b.digest = mb.digest WHERE mb.manifest_id = m.id) AS size
                FROM tags t JOIN manifests m ON m.id = t.manifest_id
                WHERE t.repository_id = \(bind: repositoryID) AND t.hidden = 0
                """
            if onlyActive { q += " AND t.lifetime_end IS NULL AND (t.expiration IS NULL OR t.expiration > \(bind: now))" }
            switch filter {
            case .equals(let name): q += " AND t.name = \(bind: name)"
            case .contains(let part):
                let escaped = part.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                q += " AND t.name LIKE \(bind: "%" + escaped + "%") ESCAPE '\\'"
            case nil: break
            }
            q += " ORDER BY t.lifetime_start DESC, t.id DESC LIMIT \(bind: limit) OFFSET \(bind: offset)"
            return try await db.raw(q).all().map { row in
                TagRecord(name: try row.string("name"), digest: try Digest(parsing: try row.string("digest")),
                          mediaType: try row.string("media_type"), size: try row.int64("size"),
                          start: try row.int64("lifetime_start"), end: try row.optionalInt64("lifetime_end"),
                          expiration: try row.optionalInt64("expiration"), reversion: try row.bool("reversion"))
            }
        }
    }

    /// Points `name` at the manifest `digest` already in the repository (create or move).
    /// Returns nil when the manifest is not in the repository.
    public func pointTag(repositoryID: Int64, name: String, digest: Digest) async throws -> Bool? {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            guard let row = try await db.raw("""
                SELECT id FROM manifests WHERE repository_id = \(bind: repositoryID) AND digest = \(bind: digest.description) AND deleted_at IS NULL
                """).first() else { return nil }
            return try await Self.pointTag(db: db, repositoryID: repositoryID, name: name, manifestID: try row.int64("id"), now: Clock.nowMillis())
        }
    }

    /// A live tag that a delete ended: what a `delete_tag` usage log names.
    public struct EndedTag: Sendable, Equatable {
        public let name: String
        public let digest: Digest
    }

    /// Ends the live row of `name` and says which manifest it pointed at (for the usage log), or
    /// nil when no live tag has that name. Same effect as `deleteTag`.
    public func endTag(repositoryID: Int64, name: String) async throws -> EndedTag? {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            let now = Clock.nowMillis()
            guard let row = try await db.raw("""
                SELECT t.id, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id
                WHERE t.repository_id = \(bind: repositoryID) AND t.name = \(bind: name) AND \(Self.liveTagCondition(now: now))
                """).first() else { return nil }
            try await db.raw("UPDATE tags SET lifetime_end = \(bind: now) WHERE id = \(bind: try row.int64("id"))").run()
            return EndedTag(name: name, digest: try Digest(parsing: try row.string("digest")))
        }
    }

    /// Deletes a manifest by digest (as `deleteManifest`: every tag on it ends, the row stays for
    /// the time machine until collected) and returns the live, visible tags that pointed at it,
    /// by name; nil when the manifest is not in the repository. Tags that had already expired
    /// keep their expiry as their end, so history still says they expired.
    public func endManifest(repositoryID: Int64, digest: Digest) async throws -> [EndedTag]? {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            let now = Clock.nowMillis()
            guard let row = try await db.raw("""
                UPDATE manifests SET deleted_at = \(bind: now)
                WHERE repository_id = \(bind: repositoryID) AND digest = \(bind: digest.description) AND deleted_at IS NULL
                RETURNING id
                """).first() else { return nil }
            let manifestID = try row.int64("id")
            let live = try await db.raw("""
                SELECT t.name FROM tags t WHERE t.manifest_id = \(bind: manifestID) AND \(Self.liveTagCondition(now: now)) ORDER BY t.name
                """).all().map { try $0.string("name") }
            try await db.raw("""
                UPDATE tags SET lifetime_end = CASE WHEN expiration IS NOT NULL AND expiration < \(bind: now) THEN expiration ELSE \(bind: now) END
                WHERE manifest_id = \(bind: manifestID) AND lifetime_end IS NULL
                """).run()
            return live.map { EndedTag(name: $0, digest: digest) }
        }
    }

    /// Sets (or clears) the expiry of the live tag. Returns false when no live tag has that name.
    public func setTagExpiration(repositoryID: Int64, name: String, expiration: Int64?) async throws -> Bool {
        try await database.transaction { db in
            let now = Clock.nowMillis()
            let row = try await db.raw("""
                UPDATE tags SET expiration = \(bind: expiration)
                WHERE repository_id = \(bind: repositoryID) AND name = \(bind: name) AND lifetime_end IS NULL AND hidden = 0
                  AND (expiration IS NULL OR expiration > \(bind: now))
                RETURNING id
                """).first()
            return row != nil
        }
    }

    /// Sets the expiry of every live tag pointing at the manifest (the `quay.expires-after` label).
    public func setExpirationForManifestTags(manifestID: Int64, expiration: Int64) async throws {
        try await database.transaction { db in
            try await Self.setExpirationForManifestTags(db: db, manifestID: manifestID, expiration: expiration, now: Clock.nowMillis())
        }
    }

    /// `setExpirationForManifestTags` inside a transaction the caller holds (a manifest push).
    static func setExpirationForManifestTags(db: any SQLDatabase, manifestID: Int64, expiration: Int64, now: Int64) async throws {
        try await db.raw("""
            UPDATE tags SET expiration = \(bind: expiration)
            WHERE manifest_id = \(bind: manifestID) AND lifetime_end IS NULL AND hidden = 0
              AND (expiration IS NULL OR expiration > \(bind: now))
            """).run()
    }

    /// When a visible tag of each repository last moved (the newest `lifetime_start`), for
    /// repository listings; repositories without such a tag are absent.
    public func lastModified(repositoryIDs: [Int64]) async throws -> [Int64: Int64] {
        guard !repositoryIDs.isEmpty else { return [:] }
        return try await database.read { db in
            var latest: [Int64: Int64] = [:]
            for row in try await db.raw("""
                SELECT t.repository_id, MAX(t.lifetime_start) AS last_modified FROM tags t
                WHERE t.repository_id IN (\(binds: repositoryIDs)) AND t.hidden = 0 GROUP BY t.repository_id
                """).all() {
                if let modified = try row.optionalInt64("last_modified") { latest[try row.int64("repository_id")] = modified }
            }
            return latest
        }
    }

    /// The namespace's time-machine window in seconds.
    public func timeMachineSeconds(namespaceID: Int64) async throws -> Int64 {
        try await database.read { db in
            try await db.raw("SELECT tag_expiration_s FROM namespaces WHERE id = \(bind: namespaceID)").first()?.int64("tag_expiration_s") ?? 1_209_600
        }
    }

    public enum RestoreOutcome: Sendable, Equatable { case restored, neverInRepository, outsideWindow }

    /// Points `name` back at `digest`, provided the tag pointed there within the window and the
    /// manifest has not been garbage-collected. The new row is marked as a reversion.
    public func restoreTag(repositoryID: Int64, name: String, digest: Digest, windowSeconds: Int64) async throws -> RestoreOutcome {
        let flavor = database.flavor
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            let now = Clock.nowMillis()
            let rows = try await db.raw("""
                SELECT t.lifetime_end, t.expiration, m.id AS manifest_id FROM tags t JOIN manifests m ON m.id = t.manifest_id
                WHERE t.repository_id = \(bind: repositoryID) AND t.name = \(bind: name) AND m.digest = \(bind: digest.description)
                """).all()
            guard !rows.isEmpty else { return .neverInRepository }
            let cutoff = now - windowSeconds * 1000
            var manifestID: Int64?
            for row in rows {
                let end = try row.optionalInt64("lifetime_end") ?? row.optionalInt64("expiration")
                if end == nil || end! >= cutoff { manifestID = try row.int64("manifest_id") }
            }
            guard let manifestID else { return .outsideWindow }
            try await db.raw("UPDATE manifests SET deleted_at = NULL WHERE id = \(bind: manifestID)").run()
            let live = try await db.raw("""
                SELECT id, manifest_id, expiration FROM tags WHERE repository_id = \(bind: repositoryID) AND name = \(bind: name) AND lifetime_end IS NULL
                """).first()
            if let live {
                let expiration = try live.optionalInt64("expiration")
                let end = expiration.map { min($0, now) } ?? now
                try await db.raw("UPDATE tags SET lifetime_end = \(bind: end) WHERE id = \(bind: try live.int64("id"))").run()
            }
            try await db.raw("""
                INSERT INTO tags (repository_id, name, manifest_id, lifetime_start, reversion)
                VALUES (\(bind: repositoryID), \(bind: name), \(bind: manifestID), \(bind: now), 1)
                """).run()
            return .restored
        }
    }

    /// Live tags whose expiry falls within `withinMillis` from now.
    public func tagsExpiringSoon(now: Int64, withinMillis: Int64) async throws -> [(tagID: Int64, name: String, expiration: Int64, repository: Repository)] {
        try await database.read { db in
            try await db.raw("""
                SELECT t.id AS tag_id, t.name AS tag_name, t.expiration, \(unsafeRaw: RepositoryView.columns("r", prefix: ""))
                FROM tags t JOIN \(unsafeRaw: RepositoryView.name) r ON r.id = t.repository_id
                WHERE t.lifetime_end IS NULL AND t.hidden = 0 AND t.expiration IS NOT NULL
                  AND t.expiration > \(bind: now) AND t.expiration <= \(bind: now + withinMillis)
                """).all().map { row in
                (try row.int64("tag_id"), try row.string("tag_name"), try row.int64("expiration"), try RepositoryView.repository(from: row, prefix: ""))
            }
        }
    }
}
