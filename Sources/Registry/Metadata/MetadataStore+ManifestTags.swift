import Accounts
import Events
import SlipwayCore
import SQLKit

/// Where a manifest digest is tagged, across repositories: what a module announcing news about
/// a manifest's content (the scanner's `vulnerability_found`) needs to address its events.
extension MetadataStore {
    public struct TaggedManifest: Sendable, Equatable {
        public let repository: EventRepository
        /// Live tags on the manifest in that repository, sorted.
        public let tags: [String]
    }

    /// The live tags on manifests of `digest` in every repository not marked for deletion,
    /// grouped by repository. Reads inside the caller's transaction, so what it announces
    /// commits with what it saw.
    public static func liveTags(ofManifest digest: Digest, in db: any SQLDatabase) async throws -> [TaggedManifest] {
        let rows = try await db.raw("""
            SELECT r.id AS repository_id, r.namespace AS namespace, r.name AS repository_name, t.name AS tag
            FROM manifests m
            JOIN tags t ON t.manifest_id = m.id
            JOIN repository_view r ON r.id = m.repository_id
            WHERE m.digest = \(bind: digest.description) AND m.deleted_at IS NULL AND r.state <> 'MARKED_FOR_DELETION'
              AND \(liveTagCondition(now: Clock.nowMillis()))
            ORDER BY r.id, t.name
            """).all()
        var result: [TaggedManifest] = []
        for row in rows {
            let id = try row.int64("repository_id")
            let tag = try row.string("tag")
            if let last = result.last, last.repository.id == id {
                result[result.count - 1] = TaggedManifest(repository: last.repository, tags: last.tags + [tag])
            } else {
                result.append(TaggedManifest(repository: EventRepository(id: id, namespace: try row.string("namespace"),
                                                                          name: try row.string("repository_name")), tags: [tag]))
            }
        }
        return result
    }
}
