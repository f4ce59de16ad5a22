import Audit
import Foundation
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The audit log writes a flush as multi-row inserts (500 rows a statement). A batch larger
/// than one statement, with empty and filled optional columns, must come back row for row.
@Suite("Usage log batches")
struct UsageLogBatchTests {
    @Test(arguments: TestBackend.available)
    func aLargeBatchIsWrittenRowForRow(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend)
        do {
            let admin = try #require(try await registry.services.accounts.namespace(named: "admin"))
            let count = 1_234
            for i in 0..<count {
                var event = AuditEvent(kind: i % 2 == 0 ? .pullRepo : .loginSuccess,
                                       performer: i % 3 == 0 ? nil : .init(id: admin.id, name: "admin", kind: "user"),
                                       namespace: (admin.id, "admin"), ip: i % 5 == 0 ? nil : "10.0.0.\(i % 250)",
                                       metadata: i % 7 == 0 ? [:] : ["n": "\(i)", "quote": "a\"b"])
                event.time = 1_000_000 + Int64(i)
                registry.services.auditLog.record(event)
            }
            await registry.services.auditLog.flush()
            var rows: [UsageLogEntry] = []
            var cursor: (Int64, Int64)?
            while true {
                let page = try await registry.services.auditStore.usageLogs(scope: .namespace(admin.id), start: 1_000_000, end: 2_000_000,
                                                                            performer: nil, before: cursor, limit: 500)
                rows += page
                guard let last = page.last, page.count == 500 else { break }
                cursor = (last.createdAt, last.id)
            }
            #expect(rows.count == count)
            for row in rows {
                let i = Int(row.createdAt - 1_000_000)
                #expect(row.kind == (i % 2 == 0 ? "pull_repo" : "login_success"), "\(i)")
                #expect(row.performerName == (i % 3 == 0 ? nil : "admin"), "\(i)")
                #expect(row.ip == (i % 5 == 0 ? nil : "10.0.0.\(i % 250)"), "\(i)")
                #expect(row.metadata == (i % 7 == 0 ? [:] : ["n": "\(i)", "quote": "a\"b"]), "\(i)")
            }
            try await registry.stopWithinDeadline()
        } catch {
            await registry.stop()
            throw error
        }
    }
}
