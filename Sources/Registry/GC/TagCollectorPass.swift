import SlipwayCore

/// The OCI core's collector pass before deleted repositories are purged: tag rows past their
/// namespace's time-machine window, and the upload sessions of repositories queued for
/// deletion (their files go before the purge removes the rows that name them).
public struct TagCollectorPass: CollectorPass {
    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    public var stage: CollectorStage { .beforeRepositoryPurge }

    public func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        let store = services.store
        var r = CollectorReport()
        r.tags = try await store.collectTags(now: now)
        for id in try await store.uploadsOfDeletedRepositories() {
            services.uploads.forget(id)
            try? await services.storage.deleteUpload(id)
            try await store.deleteUpload(id: id)
        }
        return r
    }
}
