import Foundation
import Hummingbird
import Registry
import ServiceLifecycle

/// The build farm as a server module: the builds API, the worker protocol, the durable queue
/// and its lease ticker. `slipway serve` and the tests install it through `SlipwayApplication`.
public struct BuildFarmModule: SlipwayModule {
    public let queue: BuildQueue
    public let workerToken: String
    /// Filled in by modules that build on the farm (triggers).
    public let hooks: BuildFarmHooks
    let services: RegistryServices
    let uploadKeys: FileDropUploadKeys

    public init(services: RegistryServices) {
        self.services = services
        let hooks = BuildFarmHooks()
        self.hooks = hooks
        self.queue = BuildQueue(services: services, hooks: hooks)
        self.uploadKeys = FileDropUploadKeys(store: services.store)
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
        BuildsAPI(services: services, queue: queue, hooks: hooks, uploadKeys: uploadKeys).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        WorkerEndpoints(services: services, queue: queue, workerToken: workerToken, hooks: hooks).register(router)
        FileDropUpload(services: services, uploadKeys: uploadKeys).register(router)
    }

    public func observedRoutes() -> [ObservedRoute] { WorkerEndpoints.observedRoutes }

    public func backgroundServices() -> [any Service] {
        [BuildQueueTicker(queue: queue)]
    }
}
