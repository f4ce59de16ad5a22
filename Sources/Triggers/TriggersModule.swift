import BuildOrchestrator
import Hummingbird
import Registry

/// Build triggers (custom-git, GitHub, GitLab, Bitbucket webhooks) as a server module: the
/// trigger API, the webhook endpoints, and (through `buildSources`) what the build farm asks
/// about a trigger build's source at lease time.
public struct TriggersModule: SlipwayModule {
    public static let supportedServices = ["custom-git", "github", "gitlab", "bitbucket"]

    let services: RegistryServices
    /// Triggers and their activity.
    public let store: TriggerStore
    let buildFarm: BuildFarmModule
    let builder: TriggerBuilder
    let views: TriggerViews
    let lifecycle: TriggerLifecycle
    let activityLog: TriggerActivityLog
    let hostKeys: TriggerHostKeys
    let manualRefs: ManualRunRefs

    /// What the build farm asks this module about trigger builds (deploy key, ssh host keys,
    /// the trigger view): the composition root builds it first and passes it to
    /// `BuildFarmModule`, which this module then builds on.
    public static func buildSources(services: RegistryServices) -> any BuildSourceSecrets {
        TriggerBuildSources(services: services, store: TriggerStore(database: services.database))
    }

    public init(services: RegistryServices, buildFarm: BuildFarmModule) {
        self.services = services
        let store = TriggerStore(database: services.database)
        self.store = store
        self.buildFarm = buildFarm
        self.builder = TriggerBuilder(services: services, queue: buildFarm.queue)
        self.views = TriggerViews(services: services)
        self.lifecycle = TriggerLifecycle(store: store)
        self.activityLog = TriggerActivityLog(store: store)
        let hostKeys = TriggerHostKeys(services: services, store: store)
        self.hostKeys = hostKeys
        self.manualRefs = ManualRunRefs(services: services, hostKeys: hostKeys)
    }

    public func registerAPI(_ api: APIRoutes) {
        TriggersAPI(services: services, store: store, builds: buildFarm.store, builder: builder, views: views, lifecycle: lifecycle, activityLog: activityLog,
                    hostKeys: hostKeys, manualRefs: manualRefs).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        WebhookEndpoint(services: services, store: store, builder: builder, views: views, lifecycle: lifecycle, activityLog: activityLog).register(router)
    }
}
