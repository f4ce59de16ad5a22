/// One step of a module's schema: DDL (and, rarely, data moves) applied once, in its own
/// transaction together with the `schema_versions` row that records it.
///
/// Conventions: ids are 64-bit identities, times are epoch milliseconds (BIGINT), booleans are
/// 0/1 integers, so every query reads the same on both backends. A migration creates and
/// changes only its own module's tables (indexes included).
public struct ModuleMigration: Sendable {
    public let version: Int
    public let name: String
    public let statements: @Sendable (SQLFlavor) -> [String]

    public init(version: Int, name: String, statements: @escaping @Sendable (SQLFlavor) -> [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// A module's schema: its name in `schema_versions` and its migrations, versions 1, 2, ...
/// of its own.
public struct ModuleSchema: Sendable {
    public let module: String
    public let migrations: [ModuleMigration]

    public init(module: String, migrations: [ModuleMigration]) {
        precondition(migrations.enumerated().allSatisfy { $0.offset + 1 == $0.element.version },
                     "\(module): migration versions must be 1, 2, 3, ... in order")
        self.module = module
        self.migrations = migrations
    }

    public var latestVersion: Int { migrations.last?.version ?? 0 }
}

/// A module migration by its key in `schema_versions`.
public struct ModuleVersion: Sendable, Hashable, CustomStringConvertible {
    public let module: String
    public let version: Int

    public init(_ module: String, _ version: Int) {
        self.module = module
        self.version = version
    }

    public var description: String { "\(module)#\(version)" }
}

/// Databases written before modules owned their migrations recorded one global list in
/// `schema_migrations` (version, name, applied_at). The map says, for each of those versions,
/// which module migrations produced the same tables and indexes, so such a database is adopted
/// (recorded as having them) instead of being created again. Fixed: it describes history.
public struct LegacySchemaMap: Sendable {
    public let steps: [Int: [ModuleVersion]]

    public init(_ steps: [Int: [ModuleVersion]]) {
        self.steps = steps
    }
}
