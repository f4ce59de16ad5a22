import BuildOrchestrator
import Hummingbird
import Notifications
import Registry
import Triggers

/// The server-rendered web UI: pages at Quay's URLs, rendered from Mustache templates, calling
/// the same services as `/api/v1`.
public struct WebUIModule: SlipwayModule {
    let services: RegistryServices
    let buildFarm: BuildFarmModule

    public init(services: RegistryServices, buildFarm: BuildFarmModule) {
        self.services = services
        self.buildFarm = buildFarm
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {}
}
