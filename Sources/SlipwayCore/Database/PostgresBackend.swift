import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit

/// PostgreSQL through PostgresNIO's connection pool. The pool's `run()` must be running for the
/// database to be usable: `start()` runs it in a child task owned by this object until `shutdown()`.
public final class PostgresBackend: Database {
    public let flavor = SQLFlavor.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger

    public init(url: String, logger: Logger) throws {
        let config = try Self.configuration(from: url)
        self.client = PostgresClient(configuration: config, backgroundLogger: logger)
        let client = self.client
        // The pool lives exactly as long as this database object; `shutdown()` cancels it.
        self.runTask = Task { await client.run() }
        self.logger = logger
    }

    static func configuration(from url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty else {
            throw ConfigError("invalid value for 'database.postgresURL': expected postgres://user:password@host:port/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS = sslmode == "disable" ? .disable : .require(.makeClientConfiguration())
        var config = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding },
            database: database.isEmpty ? nil : database, tls: tls)
        config.options.maximumConnections = 16
        return config
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { conn in
            try await body(conn.sql(queryLogLevel: .trace))
        }
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { conn in
            let db = conn.sql(queryLogLevel: .trace)
            try await db.raw("BEGIN").run()
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                try? await db.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Runs `body` with one pooled connection of its own, for what needs the connection itself
    /// rather than SQL: the job queue's `LISTEN` holds one for as long as it listens.
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { conn in try await body(conn) }
    }

    public func shutdown() async {
        runTask.cancel()
        _ = await runTask.value
    }
}

/// A cluster-wide lock held by one transaction (`pg_advisory_xact_lock`) on its own pooled
/// connection until `release()`. Replicas sharing the database serialize on it (the build
/// queue's scheduling decisions). Always call `release()`: the connection is held until then.
public final class ClusterLock: Sendable {
    private let releaseSignal: AsyncStream<Void>.Continuation
    private let task: Task<Void, Never>

    init(releaseSignal: AsyncStream<Void>.Continuation, task: Task<Void, Never>) {
        self.releaseSignal = releaseSignal
        self.task = task
    }

    public func release() async {
        releaseSignal.finish()
        await task.value
    }
}

extension PostgresBackend {
    /// Waits for the advisory lock `key` and returns it held.
    public func acquireClusterLock(_ key: Int64) async throws -> ClusterLock {
        let (acquired, acquiredSignal) = AsyncStream<Result<Void, any Error>>.makeStream()
        let (released, releaseSignal) = AsyncStream<Void>.makeStream()
        let client = self.client
        let task = Task {
            do {
                try await client.withConnection { conn in
                    let db = conn.sql(queryLogLevel: .trace)
                    try await db.raw("BEGIN").run()
                    do {
                        try await db.raw("SELECT pg_advisory_xact_lock(\(bind: key))").run()
                    } catch {
                        try? await db.raw("ROLLBACK").run()
                        throw error
                    }
                    acquiredSignal.yield(.success(()))
                    for await _ in released {}
                    // Ending the transaction releases the lock.
                    try? await db.raw("COMMIT").run()
                }
            } catch {
                acquiredSignal.yield(.failure(error))
            }
            acquiredSignal.finish()
        }
        var iterator = acquired.makeAsyncIterator()
        guard let outcome = await iterator.next() else {
            // The caller was cancelled while waiting. The transaction above still gets the lock
            // (PostgreSQL cannot be asked to stop waiting): with the release signalled now it
            // gives it back at once. Without this it would hold the lock, and its connection,
            // for ever: every later queue operation on the database waited on it, and closing
            // the pool waited on the connection (a test run hung at its teardown this way).
            releaseSignal.finish()
            throw CancellationError()
        }
        let lock = ClusterLock(releaseSignal: releaseSignal, task: task)
        do {
            try outcome.get()
        } catch {
            await lock.release()
            throw error
        }
        return lock
    }
}
