import Synchronization
import Testing
@testable import Registry
import SlipwayCore

/// `GroupCommit`: a lone write goes at once, writes arriving during a flush are batched into
/// the next one, each caller gets its own output, and a failed flush fails only its batch.
@Suite("Group commit")
struct GroupCommitTests {
    /// Records the batches a flush saw; the first flush waits until `release()`.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let firstStarted = Mutex(false)

        func flush(_ items: [Int]) async throws -> [String] {
            let isFirst = batches.withLock { b -> Bool in b.append(items); return b.count == 1 }
            if isFirst {
                await withCheckedContinuation { c in
                    gate.withLock { $0 = c }
                    firstStarted.withLock { $0 = true }
                }
            }
            if items.contains(-1) { throw TestFailure() }
            return items.map { "item \($0)" }
        }

        func release() { gate.withLock { $0?.resume(); $0 = nil } }
    }

    struct TestFailure: Error {}

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<2000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    @Test func writesDuringAFlushShareTheNextBatch() async throws {
        let commit = GroupCommit<Int, String>(maxBatch: 8)
        let recorder = Recorder()
        let flush: GroupCommit<Int, String>.Flush = { try await recorder.flush($0) }
        let first = Task { try await commit.submit(0, flush: flush) }
        try await Self.waitUntil { recorder.firstStarted.withLock { $0 } }
        // Twelve writes arrive while the first is in flight: with maxBatch 8 they go as 8 + 4.
        let rest = (1...12).map { i in Task { try await commit.submit(i, flush: flush) } }
        try await Self.waitUntil { recorder.batches.withLock { $0.count } == 1 && commit.waitingCount == 12 }
        recorder.release()
        #expect(try await first.value == "item 0")
        for (i, task) in rest.enumerated() { #expect(try await task.value == "item \(i + 1)") }
        let batches = recorder.batches.withLock { $0 }
        #expect(batches.map(\.count) == [1, 8, 4])
        #expect(batches.flatMap { $0 }.sorted() == Array(0...12))
    }

    @Test func aFailedFlushFailsOnlyItsBatch() async throws {
        let commit = GroupCommit<Int, String>()
        let recorder = Recorder()
        let flush: GroupCommit<Int, String>.Flush = { try await recorder.flush($0) }
        let first = Task { try await commit.submit(0, flush: flush) }
        try await Self.waitUntil { recorder.firstStarted.withLock { $0 } }
        let failing = [-1, 5].map { i in Task { try await commit.submit(i, flush: flush) } }
        try await Self.waitUntil { commit.waitingCount == 2 }
        recorder.release()
        #expect(try await first.value == "item 0")
        for task in failing { await #expect(throws: TestFailure.self) { try await task.value } }
        // The group commit keeps working after a failed batch.
        #expect(try await commit.submit(7, flush: flush) == "item 7")
        #expect(recorder.batches.withLock { $0 } == [[0], [-1, 5], [7]])
    }
}
