import Foundation
import Logging
import SQLKit
import Synchronization

/// The shared database handle every module's store wraps. Both backends speak SQLKit, so each
/// query is written once; the few dialect differences (identity columns, blob types) live in
/// `SQLFlavor`. A module's store touches only its own module's tables; what it needs from
/// another module goes through that module's store API, and a write that must commit together
/// with another module's row goes through the owner's API taking the caller's transaction
/// (the `any SQLDatabase` handed to `transaction`'s body).
public protocol Database: Sendable {
    var flavor: SQLFlavor { get }
    /// Runs `body` with a database for reads (may be a pooled or shared connection).
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` inside one transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Closes connections. The database must not be used afterwards.
    func shutdown() async
    /// Runs a read query and calls `body` with `column` of each row as text, in order, as the
    /// rows arrive: for long single-column lists (a full tag list) where building a generic
    /// SQLKit row and decoding it costs more than the query itself.
    func forEachText(_ query: SQLQueryString, column: String, _ body: @escaping @Sendable (String) -> Void) async throws
}

extension Database {
    /// Through SQLKit rows (PostgreSQL's rows decode cheaply already).
    public func forEachText(_ query: SQLQueryString, column: String, _ body: @escaping @Sendable (String) -> Void) async throws {
        try await read { db in
            let failure = Mutex<(any Error)?>(nil)
            try await db.raw(query).run { row in
                do { body(try row.string(column)) } catch { failure.withLock { $0 = $0 ?? error } }
            }
            if let error = failure.withLock({ $0 }) { throw error }
        }
    }
}

/// Opening the configured backend.
public enum Databases {
    /// Opens the backend `config.database` names (SQLite creates its directory) for the
    /// duration of `body` and closes it when `body` returns or throws. PostgreSQL's connection
    /// pool runs as a child task of this scope. The schema is not touched: run `SchemaMigrator`
    /// before the stores use it.
    public static func with<T>(config: SlipwayConfig, logger: Logger, _ body: (any Database) async throws -> T) async throws -> T {
        switch config.database.driver {
        case .sqlite:
            let path = config.resolvedSQLitePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let database = try await SQLiteBackend.open(path: path, logger: logger)
            do {
                let result = try await body(database)
                await database.shutdown()
                return result
            } catch {
                await database.shutdown()
                throw error
            }
        case .postgres:
            return try await PostgresBackend.with(url: config.database.postgresURL, maxConnections: config.database.postgresMaxConnections,
                                                  logger: logger) { try await body($0) }
        }
    }
}
