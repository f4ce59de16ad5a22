import Synchronization

/// Lets feature modules react when a repository is deleted, without Registry depending on them:
/// the build farm registers here and drops the repository's queued builds and stops its running
/// ones (the guide: deleting a repository drops its pending builds).
public final class RepositoryDeletionObservers: Sendable {
    public typealias Observer = @Sendable (Repository) async -> Void

    private let observers = Mutex<[Observer]>([])

    public init() {}

    public func add(_ observer: @escaping Observer) {
        observers.withLock { $0.append(observer) }
    }

    /// Called after the repository was marked for deletion (it is no longer visible).
    public func repositoryDeleted(_ repository: Repository) async {
        for observer in observers.withLock({ $0 }) { await observer(repository) }
    }
}
