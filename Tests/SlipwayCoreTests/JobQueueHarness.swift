import Foundation
import Logging
import SlipwayTestSupport
import Synchronization
@testable import SlipwayCore

/// A throwaway database with the `jobs` table and one job queue driver per "replica": on
/// PostgreSQL each replica has its own connection pool (and `LISTEN` connection), so races
/// between replicas are real; on SQLite the drivers share the process's one database handle.
/// The drivers' services run for the duration of `body`.
struct JobQueueHarness: Sendable {
    let backend: TestBackend
    let databases: [any Database]
    let drivers: [any JobQueueDriver]

    var database: any Database { databases[0] }
    var driver: any JobQueueDriver { drivers[0] }

    static func with(_ backend: TestBackend, replicas: Int = 2, clock: JobClock = .system,
                     _ body: @Sendable (JobQueueHarness) async throws -> Void) async throws {
        var logger = Logger(label: "job-queue-test")
        logger.logLevel = ProcessInfo.processInfo.environment["SLIPWAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let (databases, dropDatabase) = try await openDatabases(backend, count: replicas, logger: logger)
        // Run in a task of its own: a cancelled test (time limit) must still close its
        // connections (SQLiteNIO asserts that a connection is closed before it is freed).
        let teardown: @Sendable () async -> Void = {
            await Task {
                for database in databases where !(database is SQLiteBackend) { await database.shutdown() }
                if let sqlite = databases.first as? SQLiteBackend { await sqlite.shutdown() }
                await dropDatabase()
            }.value
        }
        do {
            // The jobs table is SlipwayCore's own.
            try await SchemaMigrator.run(on: databases[0], schemas: [CoreSchema.schema], legacy: LegacySchemaMap([:]), logger: logger)
            let drivers = try databases.map { try JobQueueDrivers.driver(for: $0, clock: clock, logger: logger) }
            let harness = JobQueueHarness(backend: backend, databases: databases, drivers: drivers)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in drivers { group.addTask { try await driver.run() } }
                if backend == .postgres {
                    try await harness.waitUntil("every replica listens") {
                        drivers.allSatisfy { ($0 as? PostgresJobQueueDriver)?.listenerConnections ?? 0 >= 1 }
                    }
                    // Each replica's pool holds a connection before the test measures anything:
                    // while the whole suite runs, PostgreSQL refuses new connections for a while
                    // (max_connections), which is not what these tests are about.
                    for database in databases { try await database.read { db in try await db.raw("SELECT 1").run() } }
                }
                try await body(harness)
                group.cancelAll()
            }
        } catch {
            await teardown()
            throw error
        }
        await teardown()
    }

    private static func openDatabases(_ backend: TestBackend, count: Int, logger: Logger) async throws
        -> ([any Database], @Sendable () async -> Void) {
        switch backend {
        case .sqlite:
            let dir = NSTemporaryDirectory() + "slipway-jobs-" + UUID().uuidString.prefix(8).lowercased()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // SQLite is one process's database: its replicas share the one handle (and so its
            // one writer), as every part of `slipway serve` does.
            let database = try await SQLiteBackend.open(path: dir + "/metadata.sqlite", logger: logger)
            return (Array(repeating: database, count: count), { try? FileManager.default.removeItem(atPath: dir) })
        case .postgres:
            guard let base = ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES_URL"], !base.isEmpty else {
                throw TestFailure("SLIPWAY_TEST_POSTGRES_URL is not set")
            }
            let name = "slipway_j_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
            try await PostgresBackend.with(url: base, logger: logger) { admin in
                try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            }
            var components = URLComponents(string: base)!
            components.path = "/" + name
            var databases: [any Database] = []
            for _ in 0..<count { databases.append(try PostgresBackend.running(url: components.string!, logger: logger)) }
            return (databases, {
                _ = try? await PostgresBackend.with(url: base, logger: logger) { admin in
                    try await admin.read { db in try await db.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
                }
            })
        }
    }

    /// Polls `condition` every 10 ms until it holds; fails after `timeout`.
    func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Consumers of `driver` currently suspended waiting for a wake-up.
    static func waitingConsumers(_ driver: any JobQueueDriver) -> Int {
        if let sqlite = driver as? SQLiteJobQueueDriver { return sqlite.signal.waiterCount }
        if let postgres = driver as? PostgresJobQueueDriver { return postgres.signal.waiterCount }
        return 0
    }
}

/// A clock the test moves by hand.
final class ManualJobClock: Sendable {
    private let millis = Mutex<Int64>(1_700_000_000_000)

    var clock: JobClock { JobClock { self.now } }
    var now: Int64 { millis.withLock { $0 } }

    func advance(by duration: Duration) {
        millis.withLock { $0 += JobTable.millis(duration) }
    }
}

/// A value shared between a test and the tasks and handlers it starts.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}
