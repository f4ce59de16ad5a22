import Logging
import SQLKit

/// Applies the modules' migrations at start-up. Each module's versions are recorded under its
/// name in `schema_versions(module, version, name, applied_at)`; modules are applied in the
/// order given (their dependency order: a module's tables may reference only lower modules'),
/// each migration in its own transaction together with the row that records it, so a crash
/// never leaves a half-applied step. On PostgreSQL every step holds the advisory lock
/// `advisoryLockKey`, so replicas starting together don't race.
///
/// A database written before modules owned their migrations (rows in the old global
/// `schema_migrations`, none in `schema_versions`) is adopted first: one transaction records
/// the module migrations that `LegacySchemaMap` says its global versions produced, with their
/// original times; then whatever is newer is applied. `schema_migrations` itself is left as it
/// was (nothing reads it again).
public enum SchemaMigrator {
    public static let advisoryLockKey: Int64 = 7405001

    public struct UnknownLegacyVersion: Error, CustomStringConvertible {
        public let version: Int
        public var description: String {
            "the database records schema version \(version), which this Slipway does not know (written by a newer release?)"
        }
    }

    /// Applies every missing migration. Returns the migrations applied now (not the adopted ones).
    @discardableResult
    public static func run(on database: any Database, schemas: [ModuleSchema], legacy: LegacySchemaMap, logger: Logger) async throws -> [ModuleVersion] {
        let known = Dictionary(schemas.flatMap { s in s.migrations.map { (ModuleVersion(s.module, $0.version), $0) } }, uniquingKeysWith: { a, _ in a })
        for (version, steps) in legacy.steps {
            for step in steps where known[step] == nil {
                preconditionFailure("legacy schema version \(version) maps to \(step), which no module declares")
            }
        }
        let flavor = database.flavor
        let adopted = try await database.transaction { db -> [Int] in
            try await lock(db, flavor)
            try await db.raw("""
                CREATE TABLE IF NOT EXISTS schema_versions (
                  module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at \(unsafeRaw: flavor.bigint) NOT NULL,
                  PRIMARY KEY (module, version))
                """).run()
            return try await adoptLegacy(db, flavor: flavor, known: known, legacy: legacy)
        }
        if !adopted.isEmpty {
            logger.notice("adopted the schema of an earlier release", metadata: ["legacy_versions": "\(adopted.map(String.init).joined(separator: ","))"])
        }
        var recorded = try await appliedVersions(database)
        var applied: [ModuleVersion] = []
        for schema in schemas {
            for migration in schema.migrations {
                let key = ModuleVersion(schema.module, migration.version)
                if recorded.contains(key) { continue }
                let didApply = try await database.transaction { db -> Bool in
                    try await lock(db, flavor)
                    let exists = try await db.raw("""
                        SELECT version FROM schema_versions WHERE module = \(bind: key.module) AND version = \(bind: key.version)
                        """).first()
                    if exists != nil { return false }
                    for statement in migration.statements(flavor) {
                        try await db.raw("\(unsafeRaw: statement)").run()
                    }
                    try await db.raw("""
                        INSERT INTO schema_versions (module, version, name, applied_at)
                        VALUES (\(bind: key.module), \(bind: key.version), \(bind: migration.name), \(bind: Clock.nowMillis()))
                        """).run()
                    return true
                }
                recorded.insert(key)
                if didApply {
                    logger.info("applied schema migration", metadata: ["module": "\(key.module)", "version": "\(key.version)", "name": "\(migration.name)"])
                    applied.append(key)
                }
            }
        }
        return applied
    }

    /// Every module migration the database records.
    public static func appliedVersions(_ database: any Database) async throws -> Set<ModuleVersion> {
        try await database.read { db in
            Set(try await db.raw("SELECT module, version FROM schema_versions").all().map {
                ModuleVersion(try $0.string("module"), Int(try $0.int64("version")))
            })
        }
    }

    private static func lock(_ db: any SQLDatabase, _ flavor: SQLFlavor) async throws {
        if flavor == .postgres {
            try await db.raw("SELECT pg_advisory_xact_lock(\(bind: advisoryLockKey))").run()
        }
    }

    /// Records the module migrations of a legacy database's global versions. Returns the legacy
    /// versions adopted (none when `schema_versions` already has rows or there is no legacy table).
    private static func adoptLegacy(_ db: any SQLDatabase, flavor: SQLFlavor, known: [ModuleVersion: ModuleMigration],
                                    legacy: LegacySchemaMap) async throws -> [Int] {
        guard try await db.raw("SELECT module FROM schema_versions LIMIT 1").first() == nil else { return [] }
        let legacyTable: SQLQueryString = flavor == .postgres
            ? "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
            : "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        guard try await db.raw(legacyTable).first() != nil else { return [] }
        let rows = try await db.raw("SELECT version, applied_at FROM schema_migrations ORDER BY version").all().map {
            (version: Int(try $0.int64("version")), appliedAt: try $0.int64("applied_at"))
        }
        for row in rows {
            guard let steps = legacy.steps[row.version] else { throw UnknownLegacyVersion(version: row.version) }
            for step in steps {
                guard let migration = known[step] else { continue }
                try await db.raw("""
                    INSERT INTO schema_versions (module, version, name, applied_at)
                    VALUES (\(bind: step.module), \(bind: step.version), \(bind: migration.name), \(bind: row.appliedAt))
                    ON CONFLICT (module, version) DO NOTHING
                    """).run()
            }
        }
        return rows.map(\.version)
    }
}
