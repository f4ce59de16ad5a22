// Blocking network calls (libssh2, libgit2) run on a thread of their own: the cooperative pool
// must never wait on a socket, and NIOThreadPool.singleton is small and shared.

import Foundation
import Synchronization

enum BlockingThread {
    /// Runs `body` on a new thread and returns its result.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = name
            thread.start()
        }
    }

    /// Like `run`, but gives up waiting after `timeout` (nil): the thread finishes on its own
    /// and its result is dropped; `onTimeout` lets the caller ask it to stop early.
    static func run<T: Sendable>(name: String, timeout: Duration, onTimeout: @escaping @Sendable () -> Void,
                                 _ body: @escaping @Sendable () -> T) async -> T? {
        let once = ResumeOnce<T?>()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled, once.resume(nil) { onTimeout() }
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            once.set(continuation)
            let thread = Thread { once.resume(body()) }
            thread.name = name
            thread.start()
        }
    }
}

/// A continuation resumed by whichever side comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)

    func set(_ c: CheckedContinuation<T, Never>) { continuation.withLock { $0 = c } }

    /// True when this call resumed the continuation.
    @discardableResult
    func resume(_ value: T) -> Bool {
        let c = continuation.withLock { stored -> CheckedContinuation<T, Never>? in
            defer { stored = nil }
            return stored
        }
        c?.resume(returning: value)
        return c != nil
    }
}
