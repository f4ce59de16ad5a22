import Logging
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Records usage logs without putting a database write on every request's path: events are
/// buffered and written in one transaction every 200 ms (or when 500 are waiting). Readers of the
/// logs call `flush()` first so what they just did is visible. Shutdown flushes the rest.
public final class AuditLog: Service, Sendable {
    private let store: AuditStore
    private let logger: Logger
    private let pending = Mutex<[AuditEvent]>([])
    private let flushLock = AsyncLock()

    public init(store: AuditStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func record(_ event: AuditEvent) {
        pending.withLock { $0.append(event) }
    }

    public func flush() async {
        _ = try? await flushLock.withLock {
            let batch = pending.withLock { events -> [AuditEvent] in
                let out = events
                events.removeAll(keepingCapacity: true)
                return out
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.insertUsageLogs(batch)
            } catch {
                // Put them back: a transient database error must not lose the audit trail.
                pending.withLock { $0.insert(contentsOf: batch, at: 0) }
                logger.error("writing usage logs failed", metadata: ["error": "\(error)", "events": "\(batch.count)"])
            }
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: .milliseconds(200))
                await flush()
            }
        } onGracefulShutdown: {}
        await flush()
    }
}
