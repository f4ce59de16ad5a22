import BuildProtocol
import Foundation
import SlipwayCore
import SQLKit

/// Live log entries of running builds, and the digest of a finished build's archived log.
extension BuildStore {
    /// Appends log entries with sequence numbers; duplicates are ignored, entries past a gap are
    /// refused. Returns the next expected sequence. Past `cap` entries, one truncation notice is
    /// written and the rest dropped.
    public func appendBuildLogs(buildID: Int64, first: Int, entries: [BuildLogEntry], cap: Int) async throws -> Int {
        let encoder = JSONEncoder()
        // The same batch may arrive twice at once: a worker resends a batch whose answer it
        // stopped waiting for, and the load balancer hands it to another replica. On PostgreSQL
        // the row lock makes the second request wait for the first and then skip what that one
        // stored, instead of both inserting the same sequence numbers (SQLite's write
        // transactions are serialized already).
        let lock = database.flavor == .postgres ? " FOR UPDATE" : ""
        return try await database.transaction { db in
            let count = try await db.raw("SELECT log_count, logs_truncated FROM builds WHERE id = \(bind: buildID)\(unsafeRaw: lock)").first()
            var next = try count?.decode(column: "log_count", as: Int.self) ?? 0
            var truncated = try count?.decode(column: "logs_truncated", as: Int.self) ?? 0
            guard first <= next else { return next }  // a gap: the worker resends from `next`
            for (offset, entry) in entries.enumerated() where first + offset >= next {
                if next >= cap {
                    if truncated == 0 {
                        let notice = BuildLogEntry(message: "the build log exceeded \(cap) entries; further output was dropped", type: "error")
                        try await db.raw("INSERT INTO build_logs (build_id, seq, entry) VALUES (\(bind: buildID), \(bind: next), \(bind: String(decoding: try encoder.encode(notice), as: UTF8.self)))").run()
                        truncated = 1
                    }
                    break
                }
                try await db.raw("INSERT INTO build_logs (build_id, seq, entry) VALUES (\(bind: buildID), \(bind: next), \(bind: String(decoding: try encoder.encode(entry), as: UTF8.self)))").run()
                next += 1
            }
            let stored = truncated == 1 ? next + 1 : next
            try await db.raw("UPDATE builds SET log_count = \(bind: stored), logs_truncated = \(bind: truncated) WHERE id = \(bind: buildID)").run()
            // Past the cap everything is accepted (and dropped), so the worker never resends.
            return truncated == 1 ? max(first + entries.count, next) : next
        }
    }

    public func buildLogs(buildID: Int64, start: Int) async throws -> [BuildLogEntry] {
        try await database.read { db in
            try await db.raw("SELECT entry FROM build_logs WHERE build_id = \(bind: buildID) AND seq >= \(bind: start) ORDER BY seq").all().map {
                try JSONDecoder().decode(BuildLogEntry.self, from: Data(try $0.decode(column: "entry", as: String.self).utf8))
            }
        }
    }

    /// Records the archive and drops the live rows, atomically.
    func recordBuildLogArchive(buildID: Int64, digest: String) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE builds SET log_archive_digest = \(bind: digest) WHERE id = \(bind: buildID)").run()
            try await db.raw("DELETE FROM build_logs WHERE build_id = \(bind: buildID)").run()
        }
    }

    func buildLogArchiveDigest(buildID: Int64) async throws -> String? {
        try await database.read { db in
            try await db.raw("SELECT log_archive_digest FROM builds WHERE id = \(bind: buildID)").first()?
                .decode(column: "log_archive_digest", as: String?.self)
        }
    }
}
