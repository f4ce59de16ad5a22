import Foundation
import Logging
import SlipwayCore
import SlipwayServer

/// Databases for tests that open in one call and close in another (`TestRegistry.start` and
/// `stop`, a replica a test kills): PostgreSQL's pool runs in a task of its own until
/// `shutdown()`. `slipway serve` and the commands use `SlipwaySchema.withDatabase`, a scope.
public enum TestDatabases {
    /// The backend `config.database` names; the schema is not touched.
    /// `poolLogger` gets the PostgreSQL connection pool's own events (default: `logger`).
    public static func open(config: SlipwayConfig, logger: Logger, poolLogger: Logger? = nil) async throws -> any Database {
        switch config.database.driver {
        case .sqlite:
            let path = config.resolvedSQLitePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return try await SQLiteBackend.open(path: path, logger: logger)
        case .postgres:
            return try PostgresBackend.running(url: config.database.postgresURL, maxConnections: config.database.postgresMaxConnections,
                                               logger: poolLogger ?? logger)
        }
    }

    /// The backend with its schema brought up to date (closed again if that fails).
    public static func openMigrated(config: SlipwayConfig, logger: Logger, poolLogger: Logger? = nil) async throws -> any Database {
        let database = try await open(config: config, logger: logger, poolLogger: poolLogger)
        do {
            try await SlipwaySchema.migrate(database, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        return database
    }
}

extension PostgresBackend {
    /// A backend whose pool runs until `shutdown()`, outside any scope.
    public static func running(url: String, maxConnections: Int = PostgresBackend.defaultMaxConnections, logger: Logger) throws -> PostgresBackend {
        let backend = try PostgresBackend(url: url, maxConnections: maxConnections, logger: logger)
        Task { await backend.runPool() }
        return backend
    }
}
