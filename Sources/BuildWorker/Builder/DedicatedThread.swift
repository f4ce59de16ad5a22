// Long blocking work (a builder's output loop, a libgit2 fetch, deleting a build's storage) runs
// on a thread of its own: the cooperative pool must never block, and NIOThreadPool.singleton is
// small and shared with the context extractor.

import Foundation

enum DedicatedThread {
    /// Runs `body` on a new thread and returns its result. Not interrupted by task cancellation;
    /// callers pass cancellation to `body` themselves.
    static func run<T: Sendable, E: Error>(name: String, _ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(E) -> T in try body() })
            }
            thread.name = name
            thread.start()
        }
        return try result.get()
    }
}
