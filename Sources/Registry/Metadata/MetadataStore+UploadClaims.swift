import SlipwayCore
import SQLKit

/// One writer at a time per upload, across replicas. A request claims the upload's row before
/// it writes (conditional on the size it resumes from and on no live claim), renews the claim
/// while the body streams, and records the new size and generation in the same conditional
/// write that ends it. Claim times come from the database's clock on PostgreSQL (replicas'
/// clocks may disagree), from the process clock on SQLite (one process).
extension MetadataStore {
    /// How long a claim holds without renewal (renewed every third of it while the body
    /// streams): a replica that dies mid-PATCH blocks that upload for at most this long, after
    /// which the client's retry through another replica resumes it. A late renewal loses
    /// nothing unless another writer took the upload meanwhile.
    public static let uploadClaimMillis: Int64 = 15_000

    private func nowSQL() -> SQLQueryString {
        database.flavor == .postgres ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)" : "\(bind: Clock.nowMillis())"
    }

    /// Claims the upload for `writer` if it still holds `size` bytes and nobody else's claim is
    /// live. Returns the generation of its bytes, or nil when not claimed.
    public func claimUpload(id: String, size: Int64, writer: String) async throws -> String? {
        let now = nowSQL()
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE uploads SET writer = \(bind: writer), writer_until = \(now) + \(bind: Self.uploadClaimMillis)
                WHERE id = \(bind: id) AND size = \(bind: size) AND (writer IS NULL OR writer_until < \(now))
                RETURNING generation
                """).first().map { try $0.string("generation") }
        }
    }

    /// Extends `writer`'s claim; false when it no longer holds it.
    public func renewUploadClaim(id: String, writer: String) async throws -> Bool {
        let now = nowSQL()
        return try await database.transaction { db in
            try await db.raw("""
                UPDATE uploads SET writer_until = \(now) + \(bind: Self.uploadClaimMillis)
                WHERE id = \(bind: id) AND writer = \(bind: writer) RETURNING id
                """).first() != nil
        }
    }

    /// Records a completed write of `writer` (new size, generation = the writer's id) and ends
    /// its claim unless `keepClaim` (the request goes on to publish the upload). False when the
    /// writer no longer held the claim: its bytes must not count.
    public func recordUploadWrite(id: String, writer: String, size: Int64, keepClaim: Bool) async throws -> Bool {
        try await database.transaction { db in
            let release: SQLQueryString = keepClaim ? "" : ", writer = NULL, writer_until = NULL"
            return try await db.raw("""
                UPDATE uploads SET size = \(bind: size), generation = \(bind: writer), updated_at = \(bind: Clock.nowMillis())\(release)
                WHERE id = \(bind: id) AND writer = \(bind: writer) RETURNING id
                """).first() != nil
        }
    }

    /// Ends `writer`'s claim without a write (its request failed); no-op if it no longer holds it.
    public func releaseUploadClaim(id: String, writer: String) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = \(bind: id) AND writer = \(bind: writer)").run()
        }
    }
}
