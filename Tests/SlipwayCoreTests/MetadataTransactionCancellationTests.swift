import Foundation
import SlipwayTestSupport
import SQLKit
import Testing
@testable import SlipwayCore

/// A task cancelled in the middle of a transaction (a job runner stopping its lease renewal, a
/// service cancelled at shutdown) must not leave its connection inside the transaction: the
/// next transaction on it would fail ("cannot start a transaction within a transaction") or,
/// worse, run inside the abandoned one.
@Suite("Metadata database transactions")
struct MetadataTransactionCancellationTests {
    @Test(arguments: TestBackend.available)
    func cancelledTransactionIsRolledBackAndTheConnectionStaysUsable(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend, replicas: 1) { h in
            let database = h.database
            try await database.transaction { db in try await db.raw("CREATE TABLE cancel_probe (n INTEGER NOT NULL)").run() }
            let cancelled = Task {
                try await database.transaction { db in
                    try await db.raw("INSERT INTO cancel_probe (n) VALUES (1)").run()
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await db.raw("INSERT INTO cancel_probe (n) VALUES (2)").run()
                }
            }
            let outcome = await cancelled.result
            // Whatever the driver made of the cancellation, the transaction is all or nothing ...
            let rows = try await database.read { db in
                try await db.raw("SELECT n FROM cancel_probe ORDER BY n").all().map { try $0.decode(column: "n", as: Int.self) }
            }
            switch outcome {
            case .success: #expect(rows == [1, 2])
            case .failure: #expect(rows == [], "a failed transaction leaves nothing behind")
            }
            // ... and the connections it used work normally afterwards.
            for n in 3..<13 {
                try await database.transaction { db in try await db.raw("INSERT INTO cancel_probe (n) VALUES (\(bind: n))").run() }
            }
            let after = try await database.read { db in
                try await db.raw("SELECT count(*) AS c FROM cancel_probe WHERE n >= 3").first()?.decode(column: "c", as: Int.self)
            }
            #expect(after == 10)
        }
    }

    /// Closing the pool waits for the statements running on its connections; one that never
    /// ends must not keep a stopping server (or a test run) from finishing.
    @Test func closingThePoolDoesNotWaitForEverForAStatementThatNeverEnds() async throws {
        guard TestBackend.available.contains(.postgres) else { return }
        let registry = try await TestRegistry.start(.postgres)
        let database = try #require(registry.database as? PostgresBackend)
        let leased = TestDeadline.Signal()
        let holder = Task {
            try await database.withConnection { connection in
                leased.fire()
                // A statement that does not end (as one waiting for a lock nobody gives back).
                try await connection.sql().raw("SELECT pg_sleep(3600)").run()
            }
        }
        await leased.wait()
        let started = ContinuousClock.now
        try await TestDeadline.race(.seconds(60), "closing the pool while a connection is in use") { await database.shutdown() }
        #expect(ContinuousClock.now - started < .seconds(45))
        holder.cancel()
        try await registry.stopWithinDeadline()
    }
}
