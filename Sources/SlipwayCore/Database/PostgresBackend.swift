import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL through PostgresNIO's connection pool. The pool works while `runPool()` runs:
/// `Databases.with` (servers, commands) runs it as a child task of its scope, so nothing
/// outlives the scope; `shutdown()` ends it early and waits until its connections are closed.
public final class PostgresBackend: Database {
    public let flavor = SQLFlavor.postgres
    private let client: PostgresClient
    private let logger: Logger
    private let lifetime = PoolLifetime()

    /// A backend whose pool does not run yet: run `runPool()` in a task of the caller's scope
    /// (or use `PostgresBackend.with`).
    public init(url: String, logger: Logger) throws {
        let config = try Self.configuration(from: url)
        self.client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.logger = logger
    }

    /// Opens a backend for the duration of `body`: its pool runs as a child task of this scope
    /// and is shut down (connections closed) when `body` returns or throws.
    public static func with<T>(url: String, logger: Logger, _ body: (PostgresBackend) async throws -> T) async throws -> T {
        let backend = try PostgresBackend(url: url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await backend.runPool() }
            do {
                let result = try await body(backend)
                await backend.shutdown()
                return result
            } catch {
                await backend.shutdown()
                throw error
            }
        }
    }

    /// Runs the connection pool until the task is cancelled or `shutdown()` is called.
    public func runPool() async {
        guard lifetime.start() else { return }
        let client = self.client
        let stop = lifetime.stopSignal
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { for await _ in stop {} }
            await group.next()
            group.cancelAll()
        }
        lifetime.ended()
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

    /// Ends `runPool()` and waits until the pool has closed its connections. Later calls, and
    /// calls on a backend whose pool never ran, return at once.
    public func shutdown() async {
        await lifetime.stop()
    }
}

/// The life of one `runPool()`: started at most once, stopped by `shutdown()`, whose callers
/// wait until the pool has really ended.
private final class PoolLifetime: Sendable {
    private struct State {
        var started = false
        var ended = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let stop = AsyncStream<Void>.makeStream()

    var stopSignal: AsyncStream<Void> { stop.stream }

    /// False when a pool already ran (or was stopped before it started).
    func start() -> Bool {
        state.withLock { s in
            guard !s.started else { return false }
            s.started = true
            return true
        }
    }

    func ended() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.ended = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func stop() async {
        stop.continuation.finish()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                // Never started: mark it so a later `runPool()` does not start either.
                if !s.started { s.started = true; s.ended = true }
                if s.ended { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
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
