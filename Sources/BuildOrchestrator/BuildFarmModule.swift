import Accounts
import Foundation
import Hummingbird
import Registry
import ServiceLifecycle
import SlipwayCore

/// The build farm as a server module: the builds API, the worker protocol, the durable queue
/// and its lease ticker. `slipway serve` and the tests install it through `SlipwayApplication`.
public struct BuildFarmModule: SlipwayModule {
    public let queue: BuildQueue
    public let workerToken: String
    /// What the triggers module tells the farm about a trigger build's source.
    public let sources: any BuildSourceSecrets
    /// The builds, their logs and file drops.
    public let store: BuildStore
    let services: RegistryServices
    let uploadKeys: FileDropUploadKeys

    /// `sources` comes from the module that owns build triggers (`TriggersModule.buildSources`);
    /// without one, builds have no trigger to ask about.
    public init(services: RegistryServices, sources: any BuildSourceSecrets = NoBuildSourceSecrets()) {
        self.services = services
        let store = BuildStore(database: services.database, events: services.events)
        self.store = store
        self.sources = sources
        self.queue = BuildQueue(services: services, store: store, sources: sources)
        self.uploadKeys = FileDropUploadKeys(keys: InstanceKeys(database: services.database))
        // No configured token: a random one, known only to this process's own workers.
        self.workerToken = services.config.builds.workerToken.isEmpty ? APITokens.generate() : services.config.builds.workerToken
    }

    public func registerAPI(_ api: APIRoutes) {
        BuildsAPI(services: services, store: store, queue: queue, sources: sources, uploadKeys: uploadKeys).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        WorkerEndpoints(services: services, store: store, queue: queue, workerToken: workerToken, sources: sources).register(router)
        FileDropUpload(services: services, store: store, uploadKeys: uploadKeys).register(router)
        AttestationKeyEndpoint(services: services).register(router)
    }

    public func observedRoutes() -> [ObservedRoute] { WorkerEndpoints.observedRoutes }

    /// The archived logs of deleted repositories' builds and expired file drops: their bytes
    /// are let go of, and go once no other owner holds the same digest.
    public func collectorPasses() -> [any CollectorPass] {
        [BuildLogArchivePass(store: store, tombstones: services.tombstones),
         FileDropExpiryPass(store: store, tombstones: services.tombstones)]
    }

    /// A deleted repository's builds are cancelled: queued ones end, running ones are told to stop.
    public func repositoryDeletionObservers() -> [any RepositoryDeletionObserver] {
        [BuildCancellationOnRepositoryDeletion(queue: queue, logger: services.logger)]
    }

    /// Archived build logs and file drops: the collector keeps bytes one of them holds.
    public func blobOwners() -> [any BlobOwner] { [BuildLogArchiveOwner(), FileDropOwner()] }

    public func backgroundServices() -> [any Service] {
        var services: [any Service] = [BuildQueueTicker(queue: queue)]
        // Replicas sharing a PostgreSQL queue hear of each other's changes at once.
        if let database = store.sharedDatabase {
            services.append(BuildQueueListener(queue: queue, database: database, logger: self.services.logger))
        }
        return services
    }
}
