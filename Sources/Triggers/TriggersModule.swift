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
    let builder: TriggerBuilder
    let views: TriggerViews
    let lifecycle: TriggerLifecycle
    let activityLog: TriggerActivityLog
    let hostKeys: TriggerHostKeys
    let manualRefs: ManualRunRefs

    public init(services: RegistryServices, buildFarm: BuildFarmModule) {
        self.services = services
        self.buildFarm = buildFarm
        self.builder = TriggerBuilder(services: services, queue: buildFarm.queue)
        self.views = TriggerViews(services: services)
        self.lifecycle = TriggerLifecycle(store: services.store)
        self.activityLog = TriggerActivityLog(store: services.store)
        let hostKeys = TriggerHostKeys(services: services)
        self.hostKeys = hostKeys
        self.manualRefs = ManualRunRefs(services: services, hostKeys: hostKeys)
        let store = services.store
        let box = services.secretBox
        let views = self.views
        // The deploy key is unsealed only when a worker leases the build, and travels only in
        // the lease response.
        buildFarm.hooks.deployKey = { triggerID in
            guard let t = try await store.trigger(id: triggerID), let sealed = t.privateKeySealed else { return nil }
            return try box.open(sealed, context: BuildTrigger.sealContext(t.uuid, "deploy-key"))
        }
        // The ssh host keys the clone trusts, also resolved at lease time (a trigger with none
        // recorded has them read now: trust on first use by its first build).
        buildFarm.hooks.gitHostKeys = { triggerID in
            guard let t = try await store.trigger(id: triggerID) else { return nil }
            return try await hostKeys.policy(for: t)
        }
        // Build views show the short trigger view, without config or credentials.
        buildFarm.hooks.triggerSummary = { triggerID in
            guard let t = try await store.trigger(id: triggerID) else { return nil }
            var v = try await views.view(t, baseURL: nil, canAdmin: false)
            v["config"] = .object(t.config.object)
            return .object(v)
        }
    }

    public func registerAPI(_ api: APIRoutes) {
        TriggersAPI(services: services, builder: builder, views: views, lifecycle: lifecycle, activityLog: activityLog,
                    hostKeys: hostKeys, manualRefs: manualRefs).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        WebhookEndpoint(services: services, builder: builder, views: views, lifecycle: lifecycle, activityLog: activityLog).register(router)
    }
}
