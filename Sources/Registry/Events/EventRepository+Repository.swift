import Accounts
import Events
import SlipwayCore

extension EventRepository {
    /// The event subject for a repository of this registry.
    public init(_ repository: Repository) {
        self.init(id: repository.id, namespace: repository.namespace, name: repository.name)
    }
}

extension NewRepositoryEvent {
    public init(kind: RepositoryEventKind, repository: Repository, payload: [String: EventValue], dedupKey: String? = nil) {
        self.init(kind: kind, repository: EventRepository(repository), payload: payload, dedupKey: dedupKey)
    }
}

extension EventOutbox {
    /// Records an event about `repository` in a transaction of its own. Returns false when it
    /// was a duplicate.
    @discardableResult
    public func emit(kind: RepositoryEventKind, repository: Repository, payload: [String: EventValue], dedupKey: String? = nil) async throws -> Bool {
        try await emit(kind: kind, repository: EventRepository(repository), payload: payload, dedupKey: dedupKey)
    }
}
