import Synchronization

/// Group commit: writes submitted while an earlier batch is being written are collected and
/// written together by the next `flush`, one transaction for the whole batch. A lone write is
/// flushed at once (no waiting for company); under a burst the per-transaction cost (lock,
/// `BEGIN`/`COMMIT`, one multi-row statement instead of one per item) is paid once per batch.
///
/// Every caller gets its own item's output, and only after the batch's transaction committed;
/// if the flush throws, every caller in the batch gets that error (nothing of the batch is
/// written). All callers of one instance must pass the same `flush`: the caller that starts a
/// drain lends its closure to the items queued behind it.
public final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    public typealias Flush = @Sendable ([Item]) async throws -> [Output]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Output, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var draining = false
    }

    private let state = Mutex(State())
    /// Upper bound of one batch, so one statement stays within the databases' bind limits.
    public let maxBatch: Int

    public init(maxBatch: Int = 128) {
        precondition(maxBatch > 0)
        self.maxBatch = maxBatch
    }

    public func submit(_ item: Item, flush: @escaping Flush) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let startDrain = state.withLock { s -> Bool in
                s.waiting.append(Waiting(item: item, continuation: continuation))
                if s.draining { return false }
                s.draining = true
                return true
            }
            // The drain runs in a task of its own, not in the submitter's: a submitter whose request
            // is cancelled (a client hanging up) must not cancel the transaction that carries other
            // callers' writes (SQLite refuses work from a cancelled task). It ends when the queue is
            // empty, and every item's caller awaits its own result, so nothing outlives its callers.
            if startDrain { Task { await self.drain(flush) } }
        }
    }

    /// Writes waiting for the next flush (for tests and metrics).
    public var waitingCount: Int { state.withLock { $0.waiting.count } }

    private func drain(_ flush: Flush) async {
        while true {
            let batch = state.withLock { s -> [Waiting] in
                guard !s.waiting.isEmpty else {
                    s.draining = false
                    return []
                }
                let n = min(maxBatch, s.waiting.count)
                defer { s.waiting.removeFirst(n) }
                return Array(s.waiting.prefix(n))
            }
            if batch.isEmpty { return }
            do {
                let outputs = try await flush(batch.map(\.item))
                guard outputs.count == batch.count else {
                    throw GroupCommitError(message: "flush returned \(outputs.count) results for \(batch.count) items")
                }
                for (waiting, output) in zip(batch, outputs) { waiting.continuation.resume(returning: output) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}

struct GroupCommitError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
