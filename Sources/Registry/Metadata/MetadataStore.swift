import Foundation
import Logging
import SQLKit

/// All reads and writes of registry metadata. Queries are SQLKit raw strings where every value is
/// a bind; the same SQL runs on SQLite and PostgreSQL. Split by resource into
/// `MetadataStore+<Resource>.swift`.
public struct MetadataStore: Sendable {
    public let database: any MetadataDatabase

    public init(database: any MetadataDatabase) {
        self.database = database
    }

    /// Opens the configured backend and brings its schema up to date.
    public static func open(config: SlipwayConfig, logger: Logger) async throws -> MetadataStore {
        let database: any MetadataDatabase
        switch config.database.driver {
        case .sqlite:
            let path = config.resolvedSQLitePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            database = try await SQLiteMetadataDatabase.open(path: path, logger: logger)
        case .postgres:
            database = try PostgresMetadataDatabase(url: config.database.postgresURL, logger: logger)
        }
        do {
            try await Migrations.run(on: database, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        return MetadataStore(database: database)
    }

    public func shutdown() async { await database.shutdown() }
}

/// Errors of the metadata layer that callers turn into wire errors.
public enum MetadataError: Error, Equatable, Sendable {
    case alreadyExists(String)
    case notFound(String)
}

extension SQLRow {
    func int64(_ column: String) throws -> Int64 { try decode(column: column, as: Int64.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try decode(column: column, as: Int64?.self) }
    func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    func bool(_ column: String) throws -> Bool { try decode(column: column, as: Int.self) != 0 }
}
