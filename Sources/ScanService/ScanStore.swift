// The scan pipeline's store: the only code that reads or writes the `scans` module's tables.
// Writes that must commit with something else (the manifest a push stores, a job's outcome,
// the events a re-match appends) take the caller's transaction.

import Foundation
import Scanner
import SlipwayCore
import SQLKit

public struct ScanStore: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    /// What is known about one layer digest.
    public enum LayerRecord: Sendable, Equatable {
        case indexed(LayerContents)
        /// The layer cannot be indexed (damaged, hostile, not a tar): every image with it fails.
        case failed(String)
    }

    /// One manifest digest's scan.
    public struct ManifestScan: Sendable {
        public let digest: String
        public let repositoryID: Int64
        public let status: ScanStatus
        public let reason: String?
        public let index: ImageIndex?
        public let report: VulnerabilityReport?
        public let matchedGeneration: String?
        public let queuedAt: Int64
        public let finishedAt: Int64?
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    // MARK: Queueing (in the pushing transaction)

    /// Records `digest` as queued and pushes its scan job, inside the caller's transaction. A
    /// digest already known (scanned from another repository, or queued) is not queued again.
    /// Returns whether a job was pushed.
    static func enqueue(digest: Digest, repositoryID: Int64, jobs: any JobQueueDriver, in db: any SQLDatabase) async throws -> Bool {
        let inserted = try await db.raw("""
            INSERT INTO scan_manifests (digest, repository_id, status, queued_at)
            VALUES (\(bind: digest.description), \(bind: repositoryID), \(bind: ScanStatus.queued.rawValue), \(bind: Clock.nowMillis()))
            ON CONFLICT (digest) DO NOTHING RETURNING digest
            """).first()
        guard inserted != nil else { return false }
        _ = try await jobs.push(try JobRequest(queue: ScanQueues.scan, encoding: ScanJob(manifest: digest.description, repositoryID: repositoryID),
                                               reference: digest.description, maxAttempts: 5), in: db)
        return true
    }

    /// Records a manifest that is never scanned (an index: its children are) with the reason.
    static func recordUnsupported(digest: Digest, repositoryID: Int64, reason: String, in db: any SQLDatabase) async throws {
        let now = Clock.nowMillis()
        try await db.raw("""
            INSERT INTO scan_manifests (digest, repository_id, status, reason, queued_at, finished_at)
            VALUES (\(bind: digest.description), \(bind: repositoryID), \(bind: ScanStatus.unsupported.rawValue), \(bind: reason), \(bind: now), \(bind: now))
            ON CONFLICT (digest) DO NOTHING
            """).run()
    }

    // MARK: Layers

    public func layer(_ digest: String) async throws -> LayerRecord? {
        try await database.read { db in
            guard let row = try await db.raw("SELECT status, contents, reason FROM scan_layers WHERE digest = \(bind: digest)").first() else {
                return nil
            }
            if try row.string("status") == "indexed", let contents = try Self.decode(LayerContents.self, try row.optionalString("contents")) {
                return .indexed(contents)
            }
            return .failed(try row.optionalString("reason") ?? "the layer could not be indexed")
        }
    }

    /// Keeps what a layer holds. A layer indexed meanwhile by another scan keeps its first row.
    func saveLayer(_ digest: String, _ record: LayerRecord) async throws {
        let (status, contents, reason): (String, String?, String?)
        switch record {
        case .indexed(let c): (status, contents, reason) = ("indexed", try Self.encode(c), nil)
        case .failed(let r): (status, contents, reason) = ("failed", nil, r)
        }
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO scan_layers (digest, status, contents, reason, indexed_at)
                VALUES (\(bind: digest), \(bind: status), \(bind: contents), \(bind: reason), \(bind: Clock.nowMillis()))
                ON CONFLICT (digest) DO NOTHING
                """).run()
        }
    }

    /// Which of `digests` have a record (indexed or failed).
    func knownLayers(_ digests: [String]) async throws -> Set<String> {
        guard !digests.isEmpty else { return [] }
        return try await database.read { db in
            Set(try await db.raw("SELECT digest FROM scan_layers WHERE digest IN (\(binds: digests))").all().map { try $0.string("digest") })
        }
    }

    /// How many layer digests have a row (indexed or failed).
    public func layerCount() async throws -> Int64 {
        try await database.read { db in try await db.raw("SELECT COUNT(*) AS n FROM scan_layers").first()!.int64("n") }
    }

    // MARK: Manifests

    public func manifest(_ digest: String) async throws -> ManifestScan? {
        try await database.read { db in
            try await db.raw("""
                SELECT digest, repository_id, status, reason, image_index, report, matched_generation, queued_at, finished_at
                FROM scan_manifests WHERE digest = \(bind: digest)
                """).first().map(Self.manifestScan(from:))
        }
    }

    static func manifestScan(from row: any SQLRow) throws -> ManifestScan {
        ManifestScan(digest: try row.string("digest"), repositoryID: try row.int64("repository_id"),
                     status: ScanStatus(rawValue: try row.string("status")) ?? .failed, reason: try row.optionalString("reason"),
                     index: try decode(ImageIndex.self, try row.optionalString("image_index")),
                     report: try decode(VulnerabilityReport.self, try row.optionalString("report")),
                     matchedGeneration: try row.optionalString("matched_generation"),
                     queuedAt: try row.int64("queued_at"), finishedAt: try row.optionalInt64("finished_at"))
    }

    /// Stores a scan's result inside the caller's transaction (the job's outcome): the status,
    /// the package list and the report, and the report's vulnerabilities as already reported
    /// (a first scan announces nothing; only what a later re-match adds is news).
    static func finish(digest: String, status: ScanStatus, reason: String?, index: ImageIndex?, report: VulnerabilityReport?,
                       generation: String?, in db: any SQLDatabase) async throws {
        let now = Clock.nowMillis()
        try await db.raw("""
            UPDATE scan_manifests SET status = \(bind: status.rawValue), reason = \(bind: reason),
              image_index = \(bind: try index.map(encode)), report = \(bind: try report.map(encode)),
              matched_generation = \(bind: generation), finished_at = \(bind: now)
            WHERE digest = \(bind: digest)
            """).run()
        if let report {
            for vulnerability in Set(report.findings().map(\.vulnerability)).sorted() {
                _ = try await insertFinding(digest: digest, vulnerability: vulnerability, in: db)
            }
        }
    }

    /// Scanned manifests after `digest` in digest order not matched with `generation` yet, for
    /// re-matching page by page.
    func scannedPage(after digest: String, notMatchedWith generation: String, limit: Int) async throws -> [ManifestScan] {
        try await database.read { db in
            try await db.raw("""
                SELECT digest, repository_id, status, reason, image_index, report, matched_generation, queued_at, finished_at
                FROM scan_manifests WHERE status = \(bind: ScanStatus.scanned.rawValue) AND digest > \(bind: digest)
                  AND (matched_generation IS NULL OR matched_generation <> \(bind: generation))
                ORDER BY digest LIMIT \(bind: limit)
                """).all().map(Self.manifestScan(from:))
        }
    }

    /// `report` is the report encoded (`encode`), done before the transaction that stores it.
    static func updateReport(digest: String, report: String, generation: String, in db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE scan_manifests SET report = \(bind: report), matched_generation = \(bind: generation)
            WHERE digest = \(bind: digest)
            """).run()
    }

    /// Records that `vulnerability` was reported for the manifest. True when it was not before.
    static func insertFinding(digest: String, vulnerability: String, in db: any SQLDatabase) async throws -> Bool {
        try await db.raw("""
            INSERT INTO scan_findings (manifest_digest, vulnerability, found_at)
            VALUES (\(bind: digest), \(bind: vulnerability), \(bind: Clock.nowMillis()))
            ON CONFLICT (manifest_digest, vulnerability) DO NOTHING RETURNING vulnerability
            """).first() != nil
    }

    /// `insertFinding` for many (manifest, vulnerability) pairs. Returns the pairs that were
    /// not recorded before. The recorded ones are read first (few: a re-match offers only what
    /// a report newly has), then the rest inserted a few hundred rows per statement, so a feed
    /// update that adds thousands of findings does not read every row back.
    static func insertFindings(_ pairs: [(digest: String, vulnerability: String)], in db: any SQLDatabase) async throws
        -> Set<Pair> {
        guard !pairs.isEmpty else { return [] }
        var known: Set<Pair> = []
        let digests = Array(Set(pairs.map(\.digest)))
        var start = 0
        while start < digests.count {
            let chunk = Array(digests[start..<min(start + 500, digests.count)])
            for row in try await db.raw("""
                SELECT manifest_digest, vulnerability FROM scan_findings WHERE manifest_digest IN (\(binds: chunk))
                """).all() {
                known.insert(Pair(digest: try row.string("manifest_digest"), vulnerability: try row.string("vulnerability")))
            }
            start += chunk.count
        }
        var fresh: [Pair] = []
        var seen = known
        for pair in pairs where seen.insert(Pair(digest: pair.digest, vulnerability: pair.vulnerability)).inserted {
            fresh.append(Pair(digest: pair.digest, vulnerability: pair.vulnerability))
        }
        let now = Clock.nowMillis()
        start = 0
        while start < fresh.count {
            let chunk = fresh[start..<min(start + 300, fresh.count)]
            var query: SQLQueryString = "INSERT INTO scan_findings (manifest_digest, vulnerability, found_at) VALUES"
            for (i, pair) in chunk.enumerated() {
                query += i == 0 ? " " : ", "
                query += "(\(bind: pair.digest), \(bind: pair.vulnerability), \(bind: now))"
            }
            // A concurrent re-match may have recorded some meanwhile (another replica): kept once.
            query += " ON CONFLICT (manifest_digest, vulnerability) DO NOTHING"
            try await db.raw(query).run()
            start += chunk.count
        }
        return Set(fresh)
    }

    struct Pair: Hashable, Sendable {
        let digest: String
        let vulnerability: String
    }

    public func findings(of digest: String) async throws -> [String] {
        try await database.read { db in
            try await db.raw("SELECT vulnerability FROM scan_findings WHERE manifest_digest = \(bind: digest) ORDER BY vulnerability")
                .all().map { try $0.string("vulnerability") }
        }
    }

    /// Manifests per status (`slipway admin vulns status`, the queue-depth gauge).
    public func counts() async throws -> [ScanStatus: Int64] {
        try await database.read { db in
            var counts: [ScanStatus: Int64] = [:]
            for row in try await db.raw("SELECT status, COUNT(*) AS n FROM scan_manifests GROUP BY status").all() {
                if let status = ScanStatus(rawValue: try row.string("status")) { counts[status] = try row.int64("n") }
            }
            return counts
        }
    }

    // MARK: Vulnerability-data generation

    /// Moves the generation a re-match was queued for to `generation`, inside the caller's
    /// transaction. False when it was there already (another replica queued that re-match).
    static func advanceGeneration(to generation: String, in db: any SQLDatabase) async throws -> Bool {
        if let row = try await db.raw("SELECT value FROM scan_state WHERE name = 'rematch_generation'").first(),
           try row.string("value") == generation {
            return false
        }
        let changed = try await db.raw("""
            INSERT INTO scan_state (name, value) VALUES ('rematch_generation', \(bind: generation))
            ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE scan_state.value <> excluded.value
            RETURNING value
            """).first()
        return changed != nil
    }
}
