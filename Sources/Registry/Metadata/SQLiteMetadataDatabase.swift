import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// SQLite in WAL mode: one writer connection (SQLite allows one writer at a time; transactions are
/// serialized through `writeLock`) and a few reader connections that see committed data
/// concurrently. `busy_timeout` lets `slipway admin ...` write while the server runs.
public final class SQLiteMetadataDatabase: MetadataDatabase {
    public let flavor = SQLFlavor.sqlite
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = ManagedAtomicCounter()
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    public static func open(path: String, readers readerCount: Int = 2, logger: Logger) async throws -> SQLiteMetadataDatabase {
        let writer = try await openConnection(path: path, logger: logger)
        var readers: [SQLiteConnection] = []
        for _ in 0..<readerCount {
            readers.append(try await openConnection(path: path, logger: logger))
        }
        return SQLiteMetadataDatabase(writer: writer, readers: readers, logger: logger)
    }

    private static func openConnection(path: String, logger: Logger) async throws -> SQLiteConnection {
        let conn = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 10000"] {
            _ = try await conn.query(pragma)
        }
        return conn
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let conn = readers.isEmpty ? writer : readers[nextReader.next() % readers.count]
        return try await body(conn.sql(queryLogLevel: .trace))
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            let db = writer.sql(queryLogLevel: .trace)
            // IMMEDIATE takes the write lock up front so a concurrent CLI writer waits (busy_timeout)
            // instead of failing half-way through.
            try await db.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                // SQLiteNIO refuses work from a cancelled task, so a cancelled caller's ROLLBACK
                // runs in a task of its own; otherwise the shared writer would stay inside this
                // transaction and every later one would fail.
                await Task { try? await db.raw("ROLLBACK").run() }.value
                throw error
            }
        }
    }

    /// Closes every connection once. A second call returns at once: SQLiteNIO's `close()` on an
    /// already closed connection hands SQLite a NULL handle, which crashes release builds.
    public func shutdown() async {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        for conn in readers + [writer] {
            try? await conn.close()
        }
    }
}
