import Accounts
import Logging
import Registry

/// Deleting a repository drops its pending builds (the guide): queued ones end cancelled,
/// running ones are told to stop at their next heartbeat.
struct BuildCancellationOnRepositoryDeletion: RepositoryDeletionObserver {
    let queue: BuildQueue
    let logger: Logger

    func repositoryDeleted(_ repository: Repository) async {
        do {
            let n = try await queue.cancelBuilds(repositoryID: repository.id)
            if n > 0 { logger.info("builds of a deleted repository cancelled", metadata: ["repository": "\(repository.path)", "builds": "\(n)"]) }
        } catch {
            logger.error("cancelling the builds of a deleted repository failed", metadata: ["repository": "\(repository.path)", "error": "\(error)"])
        }
    }
}
