import BuildOrchestrator
import Hummingbird
import Registry

/// Build triggers (custom-git, GitHub, GitLab, Bitbucket webhooks) as a server module: the
/// trigger API, the webhook endpoints, and the build farm hooks that resolve a trigger's
/// deploy key at lease time.
public struct TriggersModule: SlipwayModule {
    public static let supportedServices = ["custom-git", "github", "gitlab", "bitbucket"]

    let services: RegistryServices
    let buildFarm: BuildFarmModule

    public init(services: RegistryServices, buildFarm: BuildFarmModule) {
        self.services = services
        self.buildFarm = buildFarm
    }

    public func registerAPI(_ api: APIRoutes) {}

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {}
}
