import Logging
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Keeps a replica's build queue in step with the others on PostgreSQL: one `LISTEN
/// slipway_builds` connection whose notices are handed to the queue in batches (while the
/// queue applies one batch, the next collects), so a burst costs one read per batch. On
/// (re)connect the queue resyncs, since notices sent meanwhile are lost; a dropped connection
/// is re-established, backing off up to 5 s.
public struct BuildQueueListener: Service {
    let queue: BuildQueue
    let database: PostgresBackend
    let logger: Logger

    public init(queue: BuildQueue, database: PostgresBackend, logger: Logger) {
        self.queue = queue
        self.database = database
        self.logger = logger
    }

    /// Notices received and not yet applied.
    final class Inbox: Sendable {
        private let pending = Mutex<[BuildNotice]>([])
        let (arrivals, arrived) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

        func put(_ notices: [BuildNotice]) {
            guard !notices.isEmpty else { return }
            pending.withLock { $0.append(contentsOf: notices) }
            arrived.yield()
        }

        func take() -> [BuildNotice] { pending.withLock { p in defer { p = [] }; return p } }
    }

    public func run() async throws {
        let inbox = Inbox()
        let queue = self.queue, origin = queue.origin
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in inbox.arrivals {
                        await queue.apply(inbox.take())
                    }
                }
                group.addTask { await self.listen(inbox, origin: origin) }
                group.addTask {
                    // Stops the applier when the listener ends (cancellation ends both).
                    await withTaskCancellationHandler { await Task.never() } onCancel: { inbox.arrived.finish() }
                }
            }
        }
    }

    private func listen(_ inbox: Inbox, origin: String) async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await database.listen(on: BuildNotice.channel, connected: {
                    self.logger.debug("build queue listener connected")
                    try? await self.queue.resyncChangedNamespaces()
                }, received: { payload in
                    inbox.put(BuildNotice.parse(payload).filter { $0.origin != origin })
                })
            } catch {
                if Task.isCancelled { break }
                logger.warning("build queue listener lost its connection", metadata: ["error": "\(String(reflecting: error))"])
            }
            if Task.isCancelled { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// Suspends until cancelled.
    static func never() async {
        let (stream, _) = AsyncStream<Void>.makeStream()
        for await _ in stream {}
    }
}
