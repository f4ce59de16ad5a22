import Accounts
import Events
import Foundation
import SlipwayCore
import Synchronization
import SQLKit

/// Manifests and tags. A tag is a row with a lifetime: moving or deleting a tag ends the live row
/// and (for a move) inserts a new one, so history is kept for the time machine. At most one live
/// row per (repository, name) is enforced by a partial unique index.
extension MetadataStore {
    static let manifestColumns = "m.id, m.digest, m.media_type, m.artifact_type, m.annotations, m.content"

    static func manifest(from row: any SQLRow) throws -> StoredManifest {
        let annotations = try row.optionalString("annotations").flatMap {
            try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
        }
        return StoredManifest(id: try row.int64("id"), digest: try Digest(parsing: try row.string("digest")),
                              mediaType: try row.string("media_type"), artifactType: try row.optionalString("artifact_type"),
                              annotations: annotations, content: try row.string("content"))
    }

    /// Serializes concurrent manifest and tag writes within one repository: a row lock on
    /// PostgreSQL; SQLite has a single writer already.
    static func lockRepositoryForTagChanges(on db: any SQLDatabase, flavor: SQLFlavor, repositoryID: Int64) async throws {
        guard flavor == .postgres else { return }
        try await db.raw("SELECT id FROM repositories WHERE id = \(bind: repositoryID) FOR UPDATE").run()
    }

    static func liveTagCondition(now: Int64) -> SQLQueryString {
        "t.lifetime_end IS NULL AND t.hidden = 0 AND (t.expiration IS NULL OR t.expiration > \(bind: now))"
    }

    public func manifest(repositoryID: Int64, digest: Digest) async throws -> StoredManifest? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.manifestColumns) FROM manifests m
                WHERE m.repository_id = \(bind: repositoryID) AND m.digest = \(bind: digest.description) AND m.deleted_at IS NULL
                """).first().map(Self.manifest(from:))
        }
    }

    public func manifest(repositoryID: Int64, tag: String) async throws -> StoredManifest? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.manifestColumns) FROM tags t JOIN manifests m ON m.id = t.manifest_id
                WHERE t.repository_id = \(bind: repositoryID) AND t.name = \(bind: tag) AND \(Self.liveTagCondition(now: Clock.nowMillis()))
                """).first().map(Self.manifest(from:))
        }
    }

    public struct ManifestPutResult: Sendable {
        public let manifestID: Int64
        /// The tag now points here and did not before (a `repo_push` for that tag).
        public let tagChanged: Bool
    }

    /// Stores a validated manifest and optionally points `tag` at it, atomically. Every blob the
    /// manifest references must already be in the repository, and every child of an index must
    /// be a manifest in the repository.
    ///
    /// A manifest already live in the repository (a re-tag, a re-push) is not written again:
    /// only the tag moves. `labelsOfNewManifest` is asked only for a manifest stored now, and its
    /// labels are written in the same transaction; a `quay.expires-after` label then sets the
    /// expiry of the manifest's tags, as Quay does on every push.
    public func putManifest(repositoryID: Int64, digest: Digest, document: ManifestDocument, content: String, tag: String?,
                            labelsOfNewManifest: @escaping @Sendable () async -> [String: String] = { [:] },
                            pushEvent: (Repository, [String: EventValue])? = nil,
                            observers: [any ManifestStoredObserver] = []) async throws -> ManifestPutResult {
        // Moving a tag onto a manifest already stored writes only the tag (and its event), in a
        // group commit with concurrent moves. The look-up is repeated inside the batch.
        if let tag, let manifestID = try await liveManifestID(repositoryID: repositoryID, digest: digest),
           case .moved(let result) = try await tagMoves.move(TagMove(repositoryID: repositoryID, manifestID: manifestID, tag: tag, pushEvent: pushEvent),
                                                               database: database) {
            return result
        }
        let flavor = database.flavor
        let events = EventOutbox(database: database)
        return try await database.transaction { db in
            try await Self.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            let now = Clock.nowMillis()
            let manifestID: Int64
            let expiresAfter: String?
            if let live = try await db.raw("""
                SELECT id FROM manifests WHERE repository_id = \(bind: repositoryID) AND digest = \(bind: digest.description) AND deleted_at IS NULL
                """).first() {
                manifestID = try live.int64("id")
                expiresAfter = try await Self.manifestLabel(db: db, manifestID: manifestID, key: ExpiresAfter.labelKey)
            } else {
                manifestID = try await Self.insertManifest(db: db, repositoryID: repositoryID, digest: digest, document: document, content: content, now: now)
                let labels = await labelsOfNewManifest()
                try await Self.replaceManifestLabels(db: db, manifestID: manifestID, labels: labels, now: now)
                expiresAfter = labels[ExpiresAfter.labelKey]
                let notice = StoredManifestNotice(repositoryID: repositoryID, manifestID: manifestID, digest: digest, document: document)
                for observer in observers { try await observer.manifestStored(notice, in: db) }
            }
            var tagChanged = false
            if let tag {
                tagChanged = try await Self.pointTag(db: db, repositoryID: repositoryID, name: tag, manifestID: manifestID, now: now)
            }
            if let expiresAfter, let seconds = ExpiresAfter.seconds(expiresAfter) {
                try await Self.setExpirationForManifestTags(db: db, manifestID: manifestID, expiration: now + seconds * 1000, now: now)
            }
            if tagChanged, let (repository, payload) = pushEvent {
                try await events.append(NewRepositoryEvent(kind: .repoPush, repository: repository, payload: payload), in: db)
            }
            return ManifestPutResult(manifestID: manifestID, tagChanged: tagChanged)
        }
    }

    /// The id of the live manifest `digest` in the repository, if any (committed state).
    func liveManifestID(repositoryID: Int64, digest: Digest) async throws -> Int64? {
        try await database.read { db in
            try await db.raw("""
                SELECT id FROM manifests WHERE repository_id = \(bind: repositoryID) AND digest = \(bind: digest.description) AND deleted_at IS NULL
                """).first()?.int64("id")
        }
    }

    /// Checks what the manifest references and writes it (or brings back a deleted row of the
    /// same digest) with its blob and child links. Returns the manifest's id.
    static func insertManifest(db: any SQLDatabase, repositoryID: Int64, digest: Digest, document: ManifestDocument,
                               content: String, now: Int64) async throws -> Int64 {
        let blobDigests = Array(Set(document.requiredBlobs.map(\.digest.description)))
        if !blobDigests.isEmpty {
            let present = try await db.raw("""
                SELECT digest FROM repository_blobs WHERE repository_id = \(bind: repositoryID) AND digest IN (\(binds: blobDigests))
                """).all().map { try $0.string("digest") }
            if let missing = blobDigests.first(where: { !present.contains($0) }) {
                throw RegistryError(.manifestBlobUnknown, "manifest references blob \(missing), which is not in this repository; push it first",
                                    detail: ["digest": missing])
            }
        }
        let childDigests = Array(Set(document.manifests.map(\.digest.description)))
        if !childDigests.isEmpty {
            let present = try await db.raw("""
                SELECT digest FROM manifests WHERE repository_id = \(bind: repositoryID) AND deleted_at IS NULL AND digest IN (\(binds: childDigests))
                """).all().map { try $0.string("digest") }
            if let missing = childDigests.first(where: { !present.contains($0) }) {
                throw RegistryError(.manifestBlobUnknown, "index references manifest \(missing), which is not in this repository; push it first",
                                    detail: ["digest": missing])
            }
        }
        let annotations = document.annotations.flatMap { try? String(decoding: JSONEncoder().encode($0), as: UTF8.self) }
        let manifestID = try await db.raw("""
            INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, annotations, size, content, created_at)
            VALUES (\(bind: repositoryID), \(bind: digest.description), \(bind: document.mediaType), \(bind: document.effectiveArtifactType),
                    \(bind: document.subject?.digest.description), \(bind: annotations), \(bind: Int64(content.utf8.count)), \(bind: content), \(bind: now))
            ON CONFLICT (repository_id, digest) DO UPDATE SET deleted_at = NULL
            RETURNING id
            """).first()!.int64("id")
        for blob in blobDigests {
            try await db.raw("""
                INSERT INTO manifest_blobs (manifest_id, digest) VALUES (\(bind: manifestID), \(bind: blob)) ON CONFLICT DO NOTHING
                """).run()
        }
        for child in childDigests {
            try await db.raw("""
                INSERT INTO manifest_children (manifest_id, child_digest) VALUES (\(bind: manifestID), \(bind: child)) ON CONFLICT DO NOTHING
                """).run()
        }
        return manifestID
    }

    /// Ends the live row of `name` (if it points elsewhere) and starts a new one. Must run in a
    /// transaction that serializes writers of the repository.
    static func pointTag(db: any SQLDatabase, repositoryID: Int64, name: String, manifestID: Int64, now: Int64) async throws -> Bool {
        let live = try await db.raw("""
            SELECT id, manifest_id, expiration FROM tags WHERE repository_id = \(bind: repositoryID) AND name = \(bind: name) AND lifetime_end IS NULL
            """).first()
        if let live {
            let expired = try live.optionalInt64("expiration").map { $0 <= now } ?? false
            if try live.int64("manifest_id") == manifestID && !expired { return false }
            let end = expired ? try live.optionalInt64("expiration")! : now
            try await db.raw("UPDATE tags SET lifetime_end = \(bind: end) WHERE id = \(bind: try live.int64("id"))").run()
        }
        try await db.raw("""
            INSERT INTO tags (repository_id, name, manifest_id, lifetime_start) VALUES (\(bind: repositoryID), \(bind: name), \(bind: manifestID), \(bind: now))
            """).run()
        return true
    }

    /// Ends the tag's live row. Returns false when there is no live tag of that name.
    public func deleteTag(repositoryID: Int64, name: String) async throws -> Bool {
        try await endTag(repositoryID: repositoryID, name: name) != nil
    }

    /// Deletes a manifest by digest: every live tag on it ends and the manifest stops being
    /// served. The row stays (marked deleted) until garbage collection so the time machine can
    /// still restore it. Returns false when the manifest is not in the repository.
    public func deleteManifest(repositoryID: Int64, digest: Digest) async throws -> Bool {
        try await endManifest(repositoryID: repositoryID, digest: digest) != nil
    }

    /// Live tag names in lexical order after `last`.
    public func tagNames(repositoryID: Int64, after last: String?, limit: Int?) async throws -> [String] {
        let names = Mutex<[String]>([])
        try await forEachTagName(repositoryID: repositoryID, after: last, limit: limit) { name in
            names.withLock { $0.append(name) }
        }
        return names.withLock { $0 }
    }

    /// Calls `body` with each live tag name in lexical order after `last`, as the rows arrive
    /// from the `tags_live` index: a full list of 100,000 tags is never held as rows or as an
    /// array on the way to the response.
    public func forEachTagName(repositoryID: Int64, after last: String?, limit: Int?,
                               _ body: @escaping @Sendable (String) -> Void) async throws {
        var query: SQLQueryString = """
            SELECT t.name FROM tags t WHERE t.repository_id = \(bind: repositoryID) AND \(Self.liveTagCondition(now: Clock.nowMillis()))
            """
        if let last { query += " AND t.name > \(bind: last)" }
        query += " ORDER BY t.name"
        if let limit { query += " LIMIT \(bind: limit)" }
        try await database.forEachText(query, column: "name", body)
    }

    public struct Referrer: Sendable {
        public let digest: Digest
        public let mediaType: String
        public let artifactType: String?
        public let annotations: [String: String]?
        public let size: Int64
    }

    /// Manifests in the repository whose `subject` is `digest`.
    public func referrers(repositoryID: Int64, subject: Digest, artifactType: String?) async throws -> [Referrer] {
        try await database.read { db in
            var query: SQLQueryString = """
                SELECT m.id, m.digest, m.media_type, m.artifact_type, m.annotations, m.content FROM manifests m
                WHERE m.repository_id = \(bind: repositoryID) AND m.subject_digest = \(bind: subject.description) AND m.deleted_at IS NULL
                """
            if let artifactType { query += " AND m.artifact_type = \(bind: artifactType)" }
            query += " ORDER BY m.digest"
            return try await db.raw(query).all().map { row in
                let m = try Self.manifest(from: row)
                return Referrer(digest: m.digest, mediaType: m.mediaType, artifactType: m.artifactType, annotations: m.annotations, size: m.size)
            }
        }
    }
}
