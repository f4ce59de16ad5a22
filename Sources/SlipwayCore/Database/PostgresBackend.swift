import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL through PostgresNIO's connection pool. The pool works while `runPool()` runs:
/// `Databases.with` (servers, commands) runs it as a child task of its scope, so nothing but a
/// pool stuck in its own shutdown outlives the scope (see `runPool()`); `shutdown()` ends it
/// early and waits until its connections are closed.
public final class PostgresBackend: Database {
    public let flavor = SQLFlavor.postgres
    private let client: PostgresClient
    private let logger: Logger
    private let lifetime = PoolLifetime()
    private let holders = ConnectionHolders()

    /// A backend whose pool does not run yet: run `runPool()` in a task of the caller's scope
    /// (or use `PostgresBackend.with`).
    public static let defaultMaxConnections = 16

    public init(url: String, maxConnections: Int = PostgresBackend.defaultMaxConnections, logger: Logger) throws {
        let config = try Self.configuration(from: url, maxConnections: maxConnections)
        self.client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.logger = logger
    }

    /// Opens a backend for the duration of `body`: its pool runs as a child task of this scope
    /// and is shut down (connections closed) when `body` returns or throws.
    public static func with<T>(url: String, maxConnections: Int = PostgresBackend.defaultMaxConnections, logger: Logger,
                               _ body: (PostgresBackend) async throws -> T) async throws -> T {
        let backend = try PostgresBackend(url: url, maxConnections: maxConnections, logger: logger)
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
    ///
    /// The pool itself runs in a task of its own, awaited for at most `poolStopGrace` once it
    /// is told to stop: PostgresNIO's pool (1.33) can stay suspended after every one of its
    /// connections has closed, and a store that cannot close would hold the process's shutdown
    /// with it. Seen in tests under load: nothing leased, the server listing no connection, the
    /// pool's log showing a keep-alive ping started on two connections just as the shutdown
    /// closed all of them, and `run()` not returning for minutes. Past the grace, the stop is logged and left behind: it
    /// holds no socket, only that suspended task.
    public func runPool() async {
        guard lifetime.start() else { return }
        let client = self.client
        let pool = Task { await client.run() }
        // Ends on `shutdown()`, or when this task is cancelled (the stream then ends too).
        for await _ in lifetime.stopSignal {}
        pool.cancel()
        if await !Self.finishes(pool, within: Self.poolStopGrace) {
            logger.error("database connection pool did not finish stopping; leaving it",
                         metadata: ["grace": "\(Self.poolStopGrace)", "held": "\(holders.describe())"])
        }
        lifetime.ended()
    }

    /// How long a stopping pool may take to close its connections.
    static let poolStopGrace: Duration = .seconds(10)

    /// Whether `task` finishes within `limit`; a task that does not is left running.
    private static func finishes(_ task: Task<Void, Never>, within limit: Duration) async -> Bool {
        let outcome = FirstOutcome()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            Task {
                await task.value
                if outcome.claim() { continuation.resume(returning: true) }
            }
            Task {
                try? await Task.sleep(for: limit)
                if outcome.claim() { continuation.resume(returning: false) }
            }
        }
    }

    static func configuration(from url: String, maxConnections: Int = PostgresBackend.defaultMaxConnections) throws -> PostgresClient.Configuration {
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
        config.options.maximumConnections = maxConnections
        return config
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await leased("read") { conn in
            try await body(conn.sql(queryLogLevel: .trace))
        }
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await leased("transaction") { conn in
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
    public func withConnection<T: Sendable>(_ purpose: String = "connection",
                                            _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await leased(purpose, body)
    }

    /// A pooled connection for `body`, recorded under `purpose` while it is held.
    private func leased<T: Sendable>(_ purpose: String, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { conn in
            let id = holders.add(purpose)
            defer { holders.remove(id) }
            return try await body(conn)
        }
    }

    /// Ends `runPool()` and waits until the pool has closed its connections (at most
    /// `poolStopGrace`). Later calls, and calls on a backend whose pool never ran, return at once.
    public func shutdown() async {
        await lifetime.stop()
    }

    /// What holds pooled connections now and for how long, e.g. `listen slipway_jobs 12s`.
    public var connectionHolders: [String] { holders.describe() }
}

/// True for exactly one caller: the first of two racing outcomes.
private final class FirstOutcome: Sendable {
    private let claimed = Atomic(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Who holds pooled connections, so a shutdown that waits can say for whom.
private final class ConnectionHolders: Sendable {
    private struct State {
        var next = 0
        var held: [Int: (purpose: String, since: ContinuousClock.Instant)] = [:]
    }
    private let state = Mutex(State())

    func add(_ purpose: String) -> Int {
        state.withLock { s in
            s.next += 1
            s.held[s.next] = (purpose, .now)
            return s.next
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { s in s.held.removeValue(forKey: id) }
    }

    func describe() -> [String] {
        let now = ContinuousClock.now
        return state.withLock { s in
            s.held.sorted { $0.key < $1.key }.map { "\($0.value.purpose) \((now - $0.value.since).components.seconds)s" }
        }
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

