import Synchronization

/// The in-process wake-up signal of a job queue driver: `signal(queue)` wakes every consumer of
/// that queue waiting in this process. Pushes signal it (on PostgreSQL the `LISTEN` connection
/// feeds it the other replicas' pushes too).
///
/// Each queue has a generation that every signal advances. A consumer remembers the generation
/// it saw before it last claimed and waits only while it is unchanged, so a push that lands
/// between its claim and its wait is never lost.
public final class JobWakeSignal: Sendable {
    private struct Waiter {
        let queue: String
        var continuation: CheckedContinuation<Void, Never>?
        var cancelled = false
    }

    private struct State {
        /// Signals to every queue (a reconnected listener does not know what it missed).
        var broadcasts: UInt64 = 0
        var generations: [String: UInt64] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var lastWaiterID: UInt64 = 0

        func generation(of queue: String) -> UInt64 { broadcasts &+ generations[queue, default: 0] }

        mutating func takeWaiters(where matches: (Waiter) -> Bool) -> [CheckedContinuation<Void, Never>] {
            let ids = waiters.filter { matches($0.value) }.map(\.key)
            // A waiter still registering finds its entry gone and returns at once.
            return ids.compactMap { waiters.removeValue(forKey: $0)?.continuation }
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func generation(of queue: String) -> UInt64 {
        state.withLock { $0.generation(of: queue) }
    }

    public func signal(_ queue: String) {
        let woken = state.withLock { s in
            s.generations[queue, default: 0] &+= 1
            return s.takeWaiters { $0.queue == queue }
        }
        for continuation in woken { continuation.resume() }
    }

    public func signalAll() {
        let woken = state.withLock { s in
            s.broadcasts &+= 1
            return s.takeWaiters { _ in true }
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when `queue` has been signalled since generation `seen`, after `timeout`, or
    /// when the task is cancelled, whichever comes first.
    public func wait(for queue: String, after seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal(queue, after: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal(_ queue: String, after seen: UInt64) async {
        let id = state.withLock { s in
            s.lastWaiterID &+= 1
            s.waiters[s.lastWaiterID] = Waiter(queue: queue)
            return s.lastWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    guard let waiter = s.waiters[id], !waiter.cancelled, s.generation(of: queue) == seen else {
                        s.waiters[id] = nil
                        return true
                    }
                    s.waiters[id]?.continuation = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let waiter = s.waiters[id] else { return nil }
                if let continuation = waiter.continuation {
                    s.waiters[id] = nil
                    return continuation
                }
                s.waiters[id]?.cancelled = true
                return nil
            }
            continuation?.resume()
        }
    }

    /// Consumers waiting right now (tests check nothing is left behind).
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}
