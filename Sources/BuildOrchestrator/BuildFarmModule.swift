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
        let queue = self.queue
        let logger = services.logger
        services.repositoryDeletion.add { repository in
            do {
                let n = try await queue.cancelBuilds(repositoryID: repository.id)
                if n > 0 { logger.info("builds of a deleted repository cancelled", metadata: ["repository": "\(repository.path)", "builds": "\(n)"]) }
            } catch {
                logger.error("cancelling the builds of a deleted repository failed", metadata: ["repository": "\(repository.path)", "error": "\(error)"])
            }
        }
    }

    public func registerAPI(_ api: APIRoutes) {
        BuildsAPI(services: services, store: store, queue: queue, sources: sources, uploadKeys: uploadKeys).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        WorkerEndpoints(services: services, store: store, queue: queue, workerToken: workerToken, sources: sources).register(router)
        FileDropUpload(services: services, store: store, uploadKeys: uploadKeys).register(router)
    }

    public func observedRoutes() -> [ObservedRoute] { WorkerEndpoints.observedRoutes }

    /// The archived logs of deleted repositories' builds; a pushed blob or a log export with
    /// the same bytes keeps them.
    public func collectorPasses() -> [any CollectorPass] {
        [BuildLogArchivePass(store: store, storage: services.storage,
                             otherOwners: [OCIBlobOwner(), LogExportBlobOwner()])]
    }

    /// Archived build logs: the OCI collector keeps bytes one of them shares.
    public func blobOwners() -> [any BlobOwner] { [BuildLogArchiveOwner()] }

    public func backgroundServices() -> [any Service] {
        var services: [any Service] = [BuildQueueTicker(queue: queue)]
        // Replicas sharing a PostgreSQL queue hear of each other's changes at once.
        if let database = store.sharedDatabase {
            services.append(BuildQueueListener(queue: queue, database: database, logger: self.services.logger))
        }
        return services
    }
}
