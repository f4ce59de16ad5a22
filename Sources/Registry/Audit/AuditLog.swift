import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SQLKit
import Synchronization

/// One usage-log entry (Quay's "action logs"): who did what, where, from which address.
public struct AuditEvent: Sendable {
    public struct Actor: Sendable {
        public let id: Int64?
        public let name: String
        public let kind: String  // user | robot | anonymous | token
        public init(id: Int64?, name: String, kind: String) {
            self.id = id
            self.name = name
            self.kind = kind
        }
    }

    public var kind: AuditKind
    public var performer: Actor?
    public var namespace: (id: Int64, name: String)?
    public var repository: (id: Int64, name: String)?
    public var ip: String?
    public var metadata: [String: String]
    public var time: Int64

    public init(kind: AuditKind, performer: Actor?, namespace: (id: Int64, name: String)? = nil, repository: (id: Int64, name: String)? = nil,
                ip: String?, metadata: [String: String] = [:], time: Int64? = nil) {
        self.kind = kind
        self.performer = performer
        self.namespace = namespace
        self.repository = repository
        self.ip = ip
        self.metadata = metadata
        self.time = time ?? Clock.nowMillis()
    }

    /// The event for an action on a repository.
    public static func repository(_ kind: AuditKind, _ repo: Repository, performer: Actor?, ip: String?, _ metadata: [String: String] = [:]) -> AuditEvent {
        var meta = metadata
        meta["namespace"] = repo.namespace
        meta["repo"] = repo.name
        return AuditEvent(kind: kind, performer: performer, namespace: (repo.namespaceID, repo.namespace),
                          repository: (repo.id, repo.name), ip: ip, metadata: meta)
    }
}

/// Records usage logs without putting a database write on every request's path: events are
/// buffered and written in one transaction every 200 ms (or when 500 are waiting). Readers of the
/// logs call `flush()` first so what they just did is visible. Shutdown flushes the rest.
public final class AuditLog: Service, Sendable {
    private let store: MetadataStore
    private let logger: Logger
    private let pending = Mutex<[AuditEvent]>([])
    private let flushLock = AsyncLock()

    public init(store: MetadataStore, logger: Logger) {
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

extension MetadataStore {
    func insertUsageLogs(_ events: [AuditEvent]) async throws {
        try await database.transaction { db in
            for e in events {
                let meta = (try? String(decoding: JSONEncoder().encode(e.metadata), as: UTF8.self)) ?? "{}"
                try await db.raw("""
                    INSERT INTO usage_logs (kind, performer_id, performer_name, performer_kind, namespace_id, namespace_name,
                                            repository_id, repository_name, ip, metadata, created_at)
                    VALUES (\(bind: e.kind.rawValue), \(bind: e.performer?.id), \(bind: e.performer?.name), \(bind: e.performer?.kind),
                            \(bind: e.namespace?.id), \(bind: e.namespace?.name), \(bind: e.repository?.id), \(bind: e.repository?.name),
                            \(bind: e.ip), \(bind: meta), \(bind: e.time))
                    """).run()
            }
        }
    }
}
