import Accounts
import Audit
import BuildOrchestrator
import Events
import Logging
import Mail
import Notifications
import Registry
import ScanService
import Scanner
import SlipwayCore
import Triggers

/// Every module's schema, in dependency order, and how databases of earlier releases map onto
/// it.
public enum SlipwaySchema {
    /// Each module's migrations, lower modules first (a table may reference only tables of
    /// modules before it).
    public static let modules: [ModuleSchema] = [
        CoreSchema.schema, MailSchema.schema, AccountsSchema.schema, AuditSchema.schema, EventsSchema.schema, RegistrySchema.schema,
        BuildsSchema.schema, TriggersSchema.schema, NotificationsSchema.schema, ScannerSchema.schema, ScanServiceSchema.schema,
    ]

    /// The global versions of releases before module migrations (`schema_migrations`: 1, 2,
    /// 20-24, 30, 31, 40, 41 as of 8f6d78d, then 32) and the module migrations that create the
    /// same tables and indexes. Global version 1 made tables of three modules, 20 of four; the
    /// trigger versions 30 and 31 made indexes on `builds`, which belong to the builds module.
    /// Versions 32 (the triggers' ssh host keys) and 50 (the job queue), which came after
    /// 8f6d78d, are mapped too, so a database that ran them before this release is not given
    /// them twice.
    public static let legacy = LegacySchemaMap([
        1: [.init("core", 1), .init("accounts", 1), .init("registry", 1)],
        2: [.init("accounts", 2)],
        20: [.init("core", 2), .init("accounts", 3), .init("audit", 1), .init("registry", 2)],
        21: [.init("audit", 2)],
        22: [.init("events", 1)],
        23: [.init("builds", 1)],
        24: [.init("builds", 2)],
        30: [.init("triggers", 1), .init("builds", 3)],
        31: [.init("builds", 4)],
        32: [.init("triggers", 2)],
        40: [.init("notifications", 1)],
        41: [.init("mail", 1)],
        50: [.init("core", 3)],
    ])

    /// Brings `database` up to date. Returns the migrations applied now.
    @discardableResult
    public static func migrate(_ database: any Database, logger: Logger) async throws -> [ModuleVersion] {
        try await SchemaMigrator.run(on: database, schemas: modules, legacy: legacy, logger: logger)
    }

    /// Opens the configured database for the duration of `body`, its schema brought up to
    /// date first; closed when `body` returns or throws.
    public static func withDatabase<T>(config: SlipwayConfig, logger: Logger, _ body: (any Database) async throws -> T) async throws -> T {
        try await Databases.with(config: config, logger: logger) { database in
            try await migrate(database, logger: logger)
            return try await body(database)
        }
    }

    /// The latest version of each module, `module version` pairs in dependency order.
    public static var versionSummary: String {
        modules.map { "\($0.module) \($0.latestVersion)" }.joined(separator: ", ")
    }
}
