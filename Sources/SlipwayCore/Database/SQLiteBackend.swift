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
public final class SQLiteBackend: Database {
    public let flavor = SQLFlavor.sqlite
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = ManagedAtomicCounter()
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    public static func open(path: String, readers readerCount: Int = 2, logger: Logger) async throws -> SQLiteBackend {
        let writer = try await openConnection(path: path, logger: logger)
        var readers: [SQLiteConnection] = []
        for _ in 0..<readerCount {
            readers.append(try await openConnection(path: path, logger: logger))
        }
        return SQLiteBackend(writer: writer, readers: readers, logger: logger)
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

    private func readConnection() -> SQLiteConnection {
        readers.isEmpty ? writer : readers[nextReader.next() % readers.count]
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await body(readConnection().sql(queryLogLevel: .trace))
    }

    /// Straight from SQLiteNIO's rows on the connection's thread: no SQLKit row per result row,
    /// no generic decoder, no hop per row.
    public func forEachText(_ query: SQLQueryString, column: String, _ body: @escaping @Sendable (String) -> Void) async throws {
        let conn = readConnection()
        let (sql, binds) = conn.sql().serialize(query)
        let encoder = SQLiteDataEncoder()
        let failure = Mutex<(any Error)?>(nil)
        try await conn.query(sql, try binds.map { try encoder.encode($0) }) { row in
            guard let text = row.column(column)?.string else {
                failure.withLock { $0 = $0 ?? SQLiteTextColumnMissing(column: column) }
                return
            }
            body(text)
        }
        if let error = failure.withLock({ $0 }) { throw error }
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

/// `forEachText` found a row without a text value in the column it was asked for.
struct SQLiteTextColumnMissing: Error, CustomStringConvertible {
    let column: String
    var description: String { "no text in column \(column)" }
}
