// The fetch state of configured feeds (`vulnerability_feeds`): what the last good fetch's
// validators were, when each feed is next due, and when its data was last confirmed current.
// A replica takes a due feed with one conditional UPDATE that moves `next_check_at` past the
// fetch's lease; another replica's UPDATE then matches nothing, so each feed is fetched by one
// replica per interval, and by another one if the fetching replica dies (once the lease ends).

import Foundation
import SlipwayCore
import SQLKit

public struct FeedStateStore: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    /// A feed taken for fetching: the validators to send.
    public struct Claim: Sendable, Equatable {
        public let etag: String?
        public let lastModified: String?
    }

    public struct State: Sendable, Equatable {
        public let name: String
        public let url: String
        public let etag: String?
        public let lastModified: String?
        public let nextCheckAt: Int64
        public let checkedAt: Int64?
        /// The last time the feed's data was confirmed current (imported, unchanged or 304).
        public let currentAt: Int64?
        public let lastError: String?
    }

    /// Creates the rows of feeds not seen before (due at once).
    public func register(_ feeds: [(name: String, url: String)]) async throws {
        try await database.transaction { db in
            for feed in feeds {
                try await db.raw("""
                    INSERT INTO vulnerability_feeds (name, url, next_check_at) VALUES (\(bind: feed.name), \(bind: feed.url), 0)
                    ON CONFLICT (name) DO NOTHING
                    """).run()
            }
        }
    }

    /// Takes `name` for fetching when it is due at `now` (or its URL changed: the old URL's
    /// validators are dropped then), holding it until `now + lease`. nil: not due, or another
    /// replica took it.
    public func claim(name: String, url: String, now: Int64, lease: Int64) async throws -> Claim? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                UPDATE vulnerability_feeds SET next_check_at = \(bind: now + lease), url = \(bind: url),
                  etag = CASE WHEN url = \(bind: url) THEN etag ELSE NULL END,
                  last_modified = CASE WHEN url = \(bind: url) THEN last_modified ELSE NULL END
                WHERE name = \(bind: name) AND (next_check_at <= \(bind: now) OR url <> \(bind: url))
                RETURNING etag, last_modified
                """).first() else { return nil }
            return Claim(etag: try row.optionalString("etag"), lastModified: try row.optionalString("last_modified"))
        }
    }

    /// The fetch succeeded (new data imported, the same data, or 304): remember the validators
    /// of what is imported and when the feed is next due.
    public func succeeded(name: String, etag: String?, lastModified: String?, now: Int64, next: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE vulnerability_feeds SET etag = \(bind: etag), last_modified = \(bind: lastModified), next_check_at = \(bind: next),
                  checked_at = \(bind: now), current_at = \(bind: now), last_error = NULL
                WHERE name = \(bind: name)
                """).run()
        }
    }

    /// The fetch failed: the data and validators stay as they were; retried at `next`.
    public func failed(name: String, error: String, now: Int64, next: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE vulnerability_feeds SET next_check_at = \(bind: next), checked_at = \(bind: now), last_error = \(bind: error)
                WHERE name = \(bind: name)
                """).run()
        }
    }

    public func states() async throws -> [State] {
        try await database.read { db in
            try await db.raw("""
                SELECT name, url, etag, last_modified, next_check_at, checked_at, current_at, last_error
                FROM vulnerability_feeds ORDER BY name
                """).all().map { row in
                State(name: try row.string("name"), url: try row.string("url"), etag: try row.optionalString("etag"),
                      lastModified: try row.optionalString("last_modified"), nextCheckAt: try row.int64("next_check_at"),
                      checkedAt: try row.optionalInt64("checked_at"), currentAt: try row.optionalInt64("current_at"),
                      lastError: try row.optionalString("last_error"))
            }
        }
    }
}
