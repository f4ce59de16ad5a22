import Accounts
import Events
import SlipwayCore
import SQLKit

/// Manifest PUTs that only move a tag onto a manifest already stored in the repository (a
/// re-tag, the same image pushed under another tag) are group-committed: moves submitted while
/// an earlier batch is being written go into one transaction, with one statement per step for
/// the whole batch (check the manifests, read their expiry labels, read the live tags, end the
/// moved ones, insert the new rows, append the `repo_push` events). Every caller returns only
/// after its batch committed, and every tag that moved gets its own event in that transaction.
struct TagMove: Sendable {
    let repositoryID: Int64
    let manifestID: Int64
    let tag: String
    let pushEvent: (Repository, [String: EventValue])?
}

enum TagMoveOutcome: Sendable {
    case moved(MetadataStore.ManifestPutResult)
    /// The manifest was deleted between the caller's look-up and the batch: the caller stores
    /// it again through the full path.
    case manifestGone
}

/// The process-wide batcher of one store's tag moves.
final class TagMoveBatcher: Sendable {
    let batches = GroupCommit<TagMove, TagMoveOutcome>(maxBatch: 64)

    func move(_ move: TagMove, database: any Database) async throws -> TagMoveOutcome {
        try await batches.submit(move) { moves in try await Self.write(moves, database: database) }
    }

    static func write(_ moves: [TagMove], database: any Database) async throws -> [TagMoveOutcome] {
        let flavor = database.flavor
        let outbox = EventOutbox(database: database)
        return try await database.transaction { db in
            // Ascending ids: two batches over the same repositories lock them in the same order.
            for repositoryID in Set(moves.map(\.repositoryID)).sorted() {
                try await MetadataStore.lockRepositoryForTagChanges(on: db, flavor: flavor, repositoryID: repositoryID)
            }
            let now = Clock.nowMillis()
            let manifestIDs = Array(Set(moves.map(\.manifestID)))
            let live = Set(try await db.raw("""
                SELECT id FROM manifests WHERE id IN (\(binds: manifestIDs)) AND deleted_at IS NULL
                """).all().map { try $0.int64("id") })
            var expiresAfter: [Int64: String] = [:]
            if !live.isEmpty {
                for row in try await db.raw("""
                    SELECT manifest_id, label_value FROM manifest_labels
                    WHERE manifest_id IN (\(binds: Array(live))) AND label_key = \(bind: ExpiresAfter.labelKey) AND source_type = 'manifest'
                    """).all() {
                    expiresAfter[try row.int64("manifest_id")] = try row.string("label_value")
                }
            }
            let moving = moves.filter { live.contains($0.manifestID) }
            let changed = try await pointTags(moving, db: db, now: now)
            var outcomes: [TagMoveOutcome] = []
            var events: [NewRepositoryEvent] = []
            var index = 0
            for move in moves {
                guard live.contains(move.manifestID) else {
                    outcomes.append(.manifestGone)
                    continue
                }
                let tagChanged = changed[index]
                index += 1
                if tagChanged, let (repository, payload) = move.pushEvent {
                    events.append(NewRepositoryEvent(kind: .repoPush, repository: repository, payload: payload))
                }
                outcomes.append(.moved(.init(manifestID: move.manifestID, tagChanged: tagChanged)))
            }
            // A `quay.expires-after` label sets the expiry of its manifest's tags on every push.
            for manifestID in Set(moving.map(\.manifestID)).sorted() {
                if let label = expiresAfter[manifestID], let seconds = ExpiresAfter.seconds(label) {
                    try await MetadataStore.setExpirationForManifestTags(db: db, manifestID: manifestID, expiration: now + seconds * 1000, now: now)
                }
            }
            try await outbox.append(events, in: db)
            return outcomes
        }
    }

    /// Points each move's tag at its manifest; returns, per move, whether the tag changed. A
    /// batch that moves one tag twice is applied one move after another (the later move ends
    /// the earlier one's row, as two separate PUTs would); otherwise with one statement per step.
    static func pointTags(_ moves: [TagMove], db: any SQLDatabase, now: Int64) async throws -> [Bool] {
        struct Key: Hashable { let repositoryID: Int64; let tag: String }
        let keys = moves.map { Key(repositoryID: $0.repositoryID, tag: $0.tag) }
        guard Set(keys).count == keys.count else {
            var changed: [Bool] = []
            for move in moves {
                changed.append(try await MetadataStore.pointTag(db: db, repositoryID: move.repositoryID, name: move.tag, manifestID: move.manifestID, now: now))
            }
            return changed
        }
        struct LiveTag { let id: Int64; let manifestID: Int64; let expiration: Int64? }
        var current: [Key: LiveTag] = [:]
        for (repositoryID, names) in Dictionary(grouping: moves, by: \.repositoryID).mapValues({ $0.map(\.tag) }) {
            for row in try await db.raw("""
                SELECT id, name, manifest_id, expiration FROM tags
                WHERE repository_id = \(bind: repositoryID) AND name IN (\(binds: names)) AND lifetime_end IS NULL
                """).all() {
                current[Key(repositoryID: repositoryID, tag: try row.string("name"))] =
                    LiveTag(id: try row.int64("id"), manifestID: try row.int64("manifest_id"), expiration: try row.optionalInt64("expiration"))
            }
        }
        var endNow: [Int64] = [], endAtExpiry: [Int64] = [], inserts: [SQLQueryString] = [], changed: [Bool] = []
        for (move, key) in zip(moves, keys) {
            if let live = current[key] {
                let expired = live.expiration.map { $0 <= now } ?? false
                if live.manifestID == move.manifestID && !expired {
                    changed.append(false)
                    continue
                }
                // An expired tag's history ends when it expired, not now (as `pointTag`).
                if expired { endAtExpiry.append(live.id) } else { endNow.append(live.id) }
            }
            inserts.append("(\(bind: move.repositoryID), \(bind: move.tag), \(bind: move.manifestID), \(bind: now))")
            changed.append(true)
        }
        if !endNow.isEmpty {
            try await db.raw("UPDATE tags SET lifetime_end = \(bind: now) WHERE id IN (\(binds: endNow))").run()
        }
        if !endAtExpiry.isEmpty {
            try await db.raw("UPDATE tags SET lifetime_end = expiration WHERE id IN (\(binds: endAtExpiry))").run()
        }
        if !inserts.isEmpty {
            try await db.raw("""
                INSERT INTO tags (repository_id, name, manifest_id, lifetime_start) VALUES \(inserts.joined(separator: ", "))
                """).run()
        }
        return changed
    }
}
