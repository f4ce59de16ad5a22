import Accounts

/// Something a feature module does when a repository is deleted, without Registry depending on
/// the module: the build farm drops the repository's queued builds and stops its running ones
/// (the guide: deleting a repository drops its pending builds). Modules contribute observers
/// through `SlipwayModule.repositoryDeletionObservers()`; the composition root hands them to
/// the repository API when it builds the routes.
public protocol RepositoryDeletionObserver: Sendable {
    /// Called after the repository was marked for deletion (it is no longer visible). Failures
    /// are the observer's to log: the deletion itself has happened.
    func repositoryDeleted(_ repository: Repository) async
}
