import Accounts
import SlipwayCore

/// Deletes the rows of repositories queued for deletion; the database cascades to every
/// module's rows of them (manifests, tags, links, permissions, labels, builds, triggers,
/// notifications).
public struct RepositoryPurgePass: CollectorPass {
    let accounts: AccountStore

    public init(accounts: AccountStore) {
        self.accounts = accounts
    }

    public var stage: CollectorStage { .repositoryPurge }

    public func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        CollectorReport(["repositories": try await accounts.purgeDeletedRepositories()])
    }
}
